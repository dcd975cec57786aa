/** Test harness for the engine: commands as plain wire objects, parsed with the real schemas. */
import { FakeClock } from '../base/clock.ts'
import { shardOfName } from '../base/hash.ts'
import { parseCommand } from '../protocol/commands.ts'
import { stringifyJson } from '../protocol/raw-json.ts'
import { Engine } from './engine.ts'
import type { EngineOutput, LogRecord, Reply } from './types.ts'

export class Harness {
  readonly clock = new FakeClock()
  engine: Engine
  private nextToken = 1
  /** Everything drained so far. */
  readonly records: LogRecord[] = []
  readonly events: EngineOutput['events'] = []
  readonly messages: EngineOutput['messages'] = []
  /** Replies that arrived for tokens of earlier blocking calls. */
  readonly late = new Map<number, Reply>()

  constructor(shardIndex = 0, shardCount = 1) {
    this.engine = new Engine({ shardIndex, shardCount, recordsEnabled: true })
  }

  get now(): number {
    return this.clock.nowMs()
  }

  /** Sends a command; returns its token and its reply if it answered at once. */
  send(request: Record<string, unknown>, requestBytes = 100): { token: number; reply: Reply | undefined } {
    const parsed = parseCommand(request, { internal: true })
    if (!parsed.ok) throw new Error(`bad test command: ${parsed.error}`)
    const token = this.nextToken++
    this.engine.execute(parsed.command, token, this.now, requestBytes)
    this.collect()
    const reply = this.late.get(token)
    this.late.delete(token)
    return { token, reply }
  }

  /** Sends a command that must answer at once. */
  call(request: Record<string, unknown>): Reply {
    const { reply } = this.send(request)
    if (reply === undefined) throw new Error(`no immediate reply to ${JSON.stringify(request)}`)
    return reply
  }

  advance(ms: number): void {
    this.clock.advance(ms)
    this.engine.tick(this.now)
    this.collect()
  }

  take(token: number): Reply | undefined {
    const reply = this.late.get(token)
    this.late.delete(token)
    return reply
  }

  collect(): void {
    const out = this.engine.drainOutput()
    // Replies and events as the host serialises them (a job's data is JSON text until then).
    for (const [token, reply] of out.replies) this.late.set(token, JSON.parse(stringifyJson(reply)) as Reply)
    // JSON round trip now, as the host encodes records at once (a record may share arrays with live state).
    this.records.push(...(JSON.parse(JSON.stringify(out.records)) as LogRecord[]))
    this.events.push(...(JSON.parse(stringifyJson(out.events)) as EngineOutput['events']))
    this.messages.push(...out.messages)
  }

  push(queue: string, fields: Record<string, unknown> = {}): number {
    const reply = this.call({ cmd: 'PUSH', queue, data: fields.data ?? {}, ...fields })
    if (!reply.ok) throw new Error(String(reply.error))
    return reply.id as number
  }

  pull(queue: string): { id: number; [field: string]: unknown } | null {
    return this.call({ cmd: 'PULL', queue, timeout: 0 }).job as { id: number } | null
  }

  state(id: number): string {
    return this.call({ cmd: 'GETSTATE', id }).state as string
  }
}

/** A fresh engine that replayed `records` (JSON round trip, as the log does) and finished at `nowMs`. */
export function replayed(records: LogRecord[], nowMs: number, shardIndex = 0, shardCount = 1): Engine {
  const engine = new Engine({ shardIndex, shardCount, recordsEnabled: true })
  for (const record of JSON.parse(JSON.stringify(records)) as LogRecord[]) engine.replay(record)
  engine.finishReplay(nowMs)
  return engine
}

/** Harness of a restarted shard: replays `h`'s records (or `records`) into a new engine, same clock. */
export function restart(h: Harness, records: LogRecord[] = h.records): Harness {
  const shardIndex = h.engine.core.shardIndex
  const shardCount = h.engine.core.shardCount
  const next = new Harness(shardIndex, shardCount)
  next.clock.advance(h.now - next.now)
  next.engine = replayed(records, h.now, shardIndex, shardCount)
  next.records.push(...(JSON.parse(JSON.stringify(records)) as LogRecord[]))
  return next
}

/**
 * Several shards on one fake clock; cross-shard messages are delivered by deliver() (the front's
 * routing), in order, until none is left. `hold` keeps messages back to simulate a crash.
 */
export class Cluster {
  readonly shards: Harness[]
  constructor(readonly shardCount: number) {
    this.shards = Array.from({ length: shardCount }, (_, index) => new Harness(index, shardCount))
  }

  advance(ms: number): void {
    for (const shard of this.shards) {
      shard.clock.advance(ms)
      shard.engine.tick(shard.now)
      shard.collect()
    }
  }

  /** Delivers every pending message (and the ones they cause). Returns how many were delivered. */
  deliver(): number {
    let delivered = 0
    for (;;) {
      const batch: EngineOutput['messages'] = []
      for (const shard of this.shards) batch.push(...shard.messages.splice(0))
      if (batch.length === 0) return delivered
      for (const { shardIndex, message } of batch) {
        const target = this.shards[shardIndex] as Harness
        target.engine.receive(message, target.now)
        target.collect()
        delivered++
      }
    }
  }
}

/** A name that hash-routes to `shard` (queues, cron names, KV keys). */
export function nameOnShard(prefix: string, shard: number, shardCount: number): string {
  for (let i = 0; ; i++) if (shardOfName(`${prefix}${i}`, shardCount) === shard) return `${prefix}${i}`
}

/** The records with `tx` and `in` groups unwrapped, in order (what replay applies). */
export function flat(records: LogRecord[]): LogRecord[] {
  return records.flatMap((r) => (r.t === 'tx' || r.t === 'in' ? flat(r.r as LogRecord[]) : [r]))
}
