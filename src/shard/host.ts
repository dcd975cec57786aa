/**
 * A shard host owns the engines and logs of some shards, in a Worker (or in the main thread with
 * --workers 0). It turns request batches into engine calls, appends the records they produce to the
 * shard's log, and releases each reply only once every record produced up to it is durable
 * (DESIGN §3). It keeps one timer for the earliest engine due time (DESIGN §7).
 *
 * Owns: engines, logs, held replies, the wake-up timer. Does not own: sockets or reqIds (the front).
 */
import { join } from 'node:path'
import { presets } from '../base/config.ts'
import { pushBatchJobsMax } from '../base/limits.ts'
import { Engine } from '../engine/engine.ts'
import type { CrossShardMessage, EngineOutput, JobEvent, Token } from '../engine/types.ts'
import type { IoBackend } from '../io/backend.ts'
import { pickIo } from '../io/pick.ts'
import { parseCommand } from '../protocol/commands.ts'
import { commandTable } from '../protocol/table.ts'
import { openShardLog } from '../storage/log.ts'
import type { ShardLog } from '../storage/types.ts'
import type { HostInit, HostSink, ShardReady, ToHost } from './messages.ts'

/** Commands refused while the disk is full (the command table's diskFull); completions keep working. */
const refusedWhenDiskFull = new Set(
  Object.entries(commandTable).filter(([, spec]) => spec.diskFull === 'refuse').map(([name]) => name),
)
const diskFullError = 'Disk full: new jobs are refused until space is freed (acks still work)'
// [storage] Reservation for completion records (DESIGN §4, STYLE habit 12; docs/storage.md "Full
// disk"): every job the engine holds may still need one ack/fail/cancel record. engine.core.jobs
// also counts recently completed jobs (an over-reservation, never an under-one), and the headroom
// covers one more push command accepted before the reservation catches up.
const completionRecordBytesMax = 256
const reservationHeadroomJobs = pushBatchJobsMax

type HeldReplies = { lsn: number; text: string; cross: CrossShardMessage[]; events: JobEvent[] }

type Shard = {
  index: number
  engine: Engine
  log: ShardLog | null
  /** Replies waiting for their records to become durable, in LSN order. */
  held: HeldReplies[]
  /** Replies made by the host itself (validation errors) during the current batch. */
  staged: string[]
  dead: string | null
}

export class ShardHost {
  private readonly shards = new Map<number, Shard>()
  private io: IoBackend | null = null
  private outbound: string[] = []
  private outboundCross: CrossShardMessage[] = []
  private outboundEvents: JobEvent[] = []
  private flushScheduled = false
  private timer: ReturnType<typeof setTimeout> | null = null
  private timerDueMs = Infinity
  /** Starts from init; the front toggles it as event subscribers come and go. */
  private eventsWanted: boolean

  constructor(
    private readonly init: HostInit,
    private readonly sink: HostSink,
  ) {
    this.eventsWanted = init.eventsWanted
  }

  async start(): Promise<void> {
    const { config } = this.init
    if (!config.memory) this.io = pickIo(config.io)
    const ready: ShardReady[] = []
    for (const index of this.init.shardIndexes) ready.push(await this.openShard(index))
    this.sink({ k: 'ready', io: this.io?.name ?? 'none', ioFallbackReason: this.io?.fallbackReason ?? null, shards: ready })
    this.armTimer()
  }

  private async openShard(index: number): Promise<ShardReady> {
    const { config, shardCount } = this.init
    const engine = new Engine({ shardIndex: index, shardCount, recordsEnabled: !config.memory })
    const shard: Shard = { index, engine, log: null, held: [], staged: [], dead: null }
    this.shards.set(index, shard)
    if (config.memory || this.io === null) return { shardIndex: index, report: null, diskBytes: 0 }
    const preset = presets[config.preset]
    const opened = await openShardLog({
      dir: join(config.dataDir, `shard-${String(index).padStart(2, '0')}`),
      io: this.io,
      fsync: config.fsync,
      segmentBytes: preset.segmentBytes,
      flushBytesMax: preset.flushBytesMax,
      repair: config.repair,
    })
    const decoder = new TextDecoder()
    for (const body of opened.bodies) engine.replay(JSON.parse(decoder.decode(body)))
    engine.finishReplay(Date.now())
    engine.drainOutput() // replay produces no output by contract; drop anything defensive
    shard.log = opened.log
    opened.log.onDurable = (durableLsn) => this.releaseDurable(shard, durableLsn)
    opened.log.onFatal = (error) => this.fail(shard, error)
    this.reserveCompletions(shard) // [storage]
    return { shardIndex: index, report: opened.report, diskBytes: opened.log.diskBytes() }
  }

  /** A request batch from the front: `token TAB shard TAB json` records separated by LF. */
  handleBatch(text: string): void {
    const nowMs = Date.now()
    const touched = new Set<Shard>()
    let start = 0
    while (start < text.length) {
      let end = text.indexOf('\n', start)
      if (end < 0) end = text.length
      const tab1 = text.indexOf('\t', start)
      const tab2 = text.indexOf('\t', tab1 + 1)
      const token = Number(text.slice(start, tab1))
      const shard = this.shards.get(Number(text.slice(tab1 + 1, tab2)))
      if (shard !== undefined) {
        this.execute(shard, token, text.slice(tab2 + 1, end), nowMs)
        touched.add(shard)
      }
      start = end + 1
    }
    for (const shard of touched) this.collect(shard)
    this.afterWork()
  }

  handle(message: ToHost): void {
    if (message.k === 'cancel') {
      for (const shard of this.shards.values()) shard.engine.cancelWaiters(message.tokens)
    } else if (message.k === 'cross') {
      this.receiveCross(message.items)
    } else if (message.k === 'checkpoint') {
      for (const shard of this.shards.values()) this.checkpoint(shard)
    } else if (message.k === 'stopDelivery') {
      for (const shard of this.shards.values()) shard.engine.stopDelivery()
    } else if (message.k === 'stop') {
      void this.stop()
    } else if (message.k === 'eventsWanted') {
      this.eventsWanted = message.on
    }
  }

  private execute(shard: Shard, token: Token, line: string, nowMs: number): void {
    if (shard.dead !== null) return this.stage(shard, token, { ok: false, error: shard.dead })
    let input: unknown
    try {
      input = JSON.parse(line)
    } catch (error) {
      return this.stage(shard, token, { ok: false, error: `Invalid: ${(error as Error).message}` })
    }
    if (testHooksEnabled && (input as { cmd?: unknown } | null)?.cmd === '_CRASH') return injectCrash()
    // The front lets internal commands through only from its own transports.
    const parsed = parseCommand(input, { internal: true })
    if (!parsed.ok) return this.stage(shard, token, { ok: false, error: parsed.error })
    if (shard.log?.diskFull && refusedWhenDiskFull.has(parsed.command.cmd)) {
      return this.stage(shard, token, { ok: false, error: diskFullError })
    }
    shard.engine.execute(parsed.command, token, nowMs, line.length)
    // [storage] Right after each push-like command, so the next one is refused if the disk cannot back it.
    if (refusedWhenDiskFull.has(parsed.command.cmd)) this.reserveCompletions(shard)
  }

  /** [storage] Tells the log how much room the completions of the shard's jobs need (see the constants). */
  private reserveCompletions(shard: Shard): void {
    const jobs = shard.engine.core.jobs.size + reservationHeadroomJobs
    shard.log?.setReservation(jobs * completionRecordBytesMax)
  }

  private stage(shard: Shard, token: Token, reply: object): void {
    shard.staged.push(`${token}\t${JSON.stringify(reply)}`)
  }

  private receiveCross(items: CrossShardMessage[]): void {
    const nowMs = Date.now()
    for (const item of items) {
      const shard = this.shards.get(item.shardIndex)
      if (shard === undefined || shard.dead !== null) continue
      shard.engine.receive(item.message, nowMs)
      this.collect(shard)
    }
    this.afterWork()
  }

  /** Moves an engine's output to the log and to the held-reply queue (or out, if nothing is pending). */
  private collect(shard: Shard): void {
    const output: EngineOutput = shard.engine.drainOutput()
    const { log } = shard
    if (log !== null) for (const record of output.records) log.append(JSON.stringify(record))
    if (log !== null && output.records.length > 0) this.reserveCompletions(shard) // [storage] cron, flows, …
    const lines = shard.staged
    shard.staged = []
    // [storage] A log that failed (possibly during the appends just above, when onFatal already ran
    // fail()) never makes these records durable: answer with the error now instead of holding
    // replies that nothing would ever release.
    const dead = shard.dead
    for (const [token, reply] of output.replies) lines.push(`${token}\t${JSON.stringify(dead === null ? reply : { ok: false, error: dead })}`)
    // Events leave with the replies, after the records that produced them are durable.
    const events = this.eventsWanted && dead === null ? output.events : noEvents
    if (lines.length === 0 && output.messages.length === 0 && events.length === 0) return
    const text = lines.join('\n')
    if (dead !== null) return this.release(text, [], noEvents) // [storage] no cross messages from a dead shard
    if (log === null || (shard.held.length === 0 && log.durableLsn >= log.appendedLsn)) {
      this.release(text, output.messages, events)
    } else {
      shard.held.push({ lsn: log.appendedLsn, text, cross: output.messages, events })
    }
  }

  private releaseDurable(shard: Shard, durableLsn: number): void {
    let released = 0
    while (released < shard.held.length && (shard.held[released] as HeldReplies).lsn <= durableLsn) {
      const held = shard.held[released] as HeldReplies
      this.release(held.text, held.cross, held.events)
      released++
    }
    if (released > 0) shard.held.splice(0, released)
    this.scheduleFlush()
  }

  private release(text: string, cross: CrossShardMessage[], events: JobEvent[]): void {
    if (text.length > 0) this.outbound.push(text)
    for (const item of cross) this.outboundCross.push(item)
    for (const event of events) this.outboundEvents.push(event)
  }

  private afterWork(): void {
    this.flushOutbound()
    for (const shard of this.shards.values()) {
      if (shard.log?.needsCheckpoint()) this.checkpoint(shard)
    }
    this.armTimer()
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    queueMicrotask(() => {
      this.flushScheduled = false
      this.flushOutbound()
    })
  }

  private flushOutbound(): void {
    if (this.outbound.length > 0) {
      this.sink(this.outbound.join('\n'))
      this.outbound = []
    }
    if (this.outboundCross.length > 0) {
      this.sink({ k: 'cross', items: this.outboundCross })
      this.outboundCross = []
    }
    if (this.outboundEvents.length > 0) {
      this.sink({ k: 'events', events: this.outboundEvents })
      this.outboundEvents = []
    }
  }

  private checkpoint(shard: Shard): void {
    const { log, engine } = shard
    if (log === null) return
    log.checkpoint(mapRecords(engine.snapshot()))
  }

  /** One timer per host, armed for the earliest due time of any of its engines. */
  private armTimer(): void {
    let dueMs = Infinity
    for (const shard of this.shards.values()) dueMs = Math.min(dueMs, shard.engine.nextWakeMs())
    if (dueMs >= this.timerDueMs && this.timer !== null) return
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.timerDueMs = dueMs
    if (dueMs === Infinity) return
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, dueMs - Date.now()))
  }

  private onTimer(): void {
    this.timer = null
    this.timerDueMs = Infinity
    const nowMs = Date.now()
    for (const shard of this.shards.values()) {
      if (shard.dead !== null) continue
      shard.engine.tick(nowMs)
      this.collect(shard)
    }
    this.afterWork()
  }

  /** A log that cannot write must never acknowledge again: fail what waits and refuse the rest. */
  private fail(shard: Shard, error: Error): void {
    shard.dead = `Shard ${shard.index} stopped after a storage failure: ${error.message}`
    const lines = shard.held.flatMap((held) => held.text.split('\n'))
    shard.held = []
    const failed = lines.map((line) => `${line.slice(0, line.indexOf('\t'))}\t${JSON.stringify({ ok: false, error: shard.dead })}`)
    if (failed.length > 0) this.outbound.push(failed.join('\n'))
    this.flushOutbound()
    this.sink({ k: 'fatal', error: shard.dead })
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer)
    for (const shard of this.shards.values()) await shard.log?.close()
    this.io?.shutdown()
    this.sink({ k: 'stopped' })
  }
}

/**
 * FLASHQ_TEST_HOOKS=1 adds one command, `_CRASH`, that kills the shard's thread with an uncaught
 * exception, so tests can check that a dead worker is reported instead of hung on. Off otherwise.
 */
const testHooksEnabled = process.env.FLASHQ_TEST_HOOKS === '1'

function injectCrash(): void {
  setTimeout(() => {
    throw new Error('injected shard crash (FLASHQ_TEST_HOOKS)')
  })
}

const noEvents: JobEvent[] = []

function* mapRecords(records: Iterable<object>): Iterable<string> {
  for (const record of records) yield JSON.stringify(record)
}
