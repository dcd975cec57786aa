/**
 * The queue engine of one shard: synchronous and pure (DESIGN §2). Commands and ticks come in with the
 * current time; replies, log records, events and cross-shard messages accumulate until drainOutput().
 * This file is the dispatcher; state and transitions live in core.ts, commands in handlers-*.ts.
 */
import type { Command, CommandName, CommandOf } from '../protocol/commands.ts'
import type { EngineConfig, EngineOutput, LogRecord, Token } from './types.ts'
import { Core, type QueueDefaults } from './core.ts'
import * as coreHandlers from './handlers-core.ts'
import { jobHandlers } from './handlers-job.ts'
import { internalHandlers } from './handlers-internal.ts'
import { queueHandlers } from './handlers-queue.ts'
import { fireCron, storeHandlers } from './handlers-store.ts'
import { receiveShardMessage } from './links.ts'
import { nextWakeMs, tick } from './scheduling.ts'
import type { ShardMessage } from './outbox.ts'
import { applyRecord, formatRecord, setQueueDefaults } from './records.ts'
import { SnapshotCapture, snapshotBodyText } from './snapshot.ts'
import * as errors from '../protocol/errors.ts'
import { shardOfName } from '../base/hash.ts'
import { queuedHandlers } from './queued-store.ts'

export type Handler<K extends CommandName> = (
  core: Core,
  command: CommandOf<K>,
  token: Token,
  nowMs: number,
  requestBytes: number,
) => void

export type HandlerTable = { [K in CommandName]?: Handler<K> }

/** Commands that may create a queue that stays (jobs, settings, blocking pulls): refused above queuesMax. */
const createsQueue = new Set<CommandName>(['PUSH', 'PUSHB', 'FLOW', 'PULL', 'PULLB', 'PAUSE', 'RATELIMIT', 'SETCONCURRENCY'])

/** The refusal of a command that would create a queue past Core.queuesMax, or null. */
function queueLimitRefusal(core: Core, command: Command): string | null {
  if (!createsQueue.has(command.cmd) || core.queues.size < core.queuesMax) return null
  const names = [(command as { queue: string }).queue]
  if (command.cmd === 'FLOW') for (const child of command.children) names.push(child.queue)
  const created = names.filter((name) => !core.queues.has(name) && shardOfName(name, core.shardCount) === core.shardIndex)
  if (core.queues.size + new Set(created).size <= core.queuesMax) return null
  return errors.tooManyQueues(created[0] as string, core.queuesMax)
}

const handlers: HandlerTable = {
  PUSH: coreHandlers.handlePush,
  PUSHB: coreHandlers.handlePushBatch,
  PULL: coreHandlers.handlePull,
  PULLB: coreHandlers.handlePullBatch,
  ACK: coreHandlers.handleAck,
  ACKB: coreHandlers.handleAckBatch,
  FAIL: coreHandlers.handleFail,
  GETJOB: coreHandlers.handleGetJob,
  GETSTATE: coreHandlers.handleGetState,
  GETRESULT: coreHandlers.handleGetResult,
  WAITJOB: coreHandlers.handleWaitJob,
  GETJOBBYCUSTOMID: coreHandlers.handleGetJobByCustomId,
  STATS: (core, _command, token, nowMs) => coreHandlers.handleStats(core, token, nowMs),
  ...jobHandlers,
  ...queueHandlers,
  ...storeHandlers,
  ...internalHandlers,
  ...queuedHandlers,
}

export class Engine {
  /** Exposed for tests and the host's diagnostics; not part of the contract. */
  readonly core: Core

  constructor(config: EngineConfig) {
    this.core = new Core(config)
  }

  /** Runs one command. `requestBytes` is the size of the request as received (data-size check). */
  execute(command: Command, token: Token, nowMs: number, requestBytes: number): void {
    const core = this.core
    const handler = handlers[command.cmd] as Handler<CommandName> | undefined
    const refusal = queueLimitRefusal(core, command)
    if (refusal !== null) core.reply(token, { ok: false, error: refusal })
    else if (handler === undefined) core.reply(token, { ok: false, error: errors.invalid(`command '${command.cmd}' is not handled by the queue engine`) })
    else handler(core, command as never, token, nowMs, requestBytes)
    core.serveDirty(nowMs)
    core.sweepQueues()
  }

  /** A message from another shard's engine (ShardMessage in outbox.ts). */
  receive(message: { t: string; [field: string]: unknown }, nowMs: number): void {
    const core = this.core
    receiveShardMessage(core, message as ShardMessage, nowMs)
    core.serveDirty(nowMs)
    core.sweepQueues()
  }

  tick(nowMs: number): void {
    const core = this.core
    fireCron(core, nowMs)
    tick(core, nowMs)
    core.sweepQueues()
  }

  /**
   * Queue defaults (spec §3.1, `POST /settings/queue-defaults`): fill `timeout`, `max_attempts`,
   * `backoff` and `ttl` of later pushes to `queue` that leave them absent. null clears them. Recorded
   * (`qd`); the caller routes it to the queue's shard and waits for durability like any command.
   */
  setQueueDefaults(queue: string, defaults: QueueDefaults | null): void {
    const core = this.core
    const q = core.queue(queue)
    const kept: QueueDefaults = {}
    if (defaults !== null) {
      if (defaults.timeout !== undefined) kept.timeout = defaults.timeout
      if (defaults.max_attempts !== undefined) kept.max_attempts = defaults.max_attempts
      if (defaults.backoff !== undefined) kept.backoff = defaults.backoff
      if (defaults.ttl !== undefined) kept.ttl = defaults.ttl
    }
    setQueueDefaults(core, q, Object.keys(kept).length === 0 ? null : kept)
    core.sweepQueues()
  }

  nextWakeMs(): number {
    return nextWakeMs(this.core)
  }

  /** Graceful shutdown: hand out no more jobs; blocking pulls wait out their timeouts (Core.deliveryStopped). */
  stopDelivery(): void {
    this.core.deliveryStopped = true
  }

  /** The shard is gone (its host stopped): payload bytes leave the thread's registry; the engine is not used again. */
  dispose(): void {
    this.core.jobs.payloads.dispose()
  }

  cancelWaiters(tokens: Iterable<Token>): void {
    const waiters = this.core.waiters
    const { flowReplies, childQueries } = this.core.links
    for (const token of tokens) {
      const waiter = waiters.byToken.get(token)
      if (waiter !== undefined) {
        waiters.finish(waiter)
        const q = this.core.queues.get(waiter.queue)
        if (q !== undefined) this.core.touched.add(q)
      }
      if (flowReplies.size > 0) for (const pending of flowReplies.values()) if (pending.token === token) pending.token = 0
      for (const query of childQueries.values()) if (query.token === token) query.token = 0
    }
    this.core.sweepQueues()
  }

  drainOutput(): EngineOutput {
    return this.core.drain()
  }

  /** Hands a drained output back once its arrays are no longer needed (Core.recycle). */
  recycleOutput(output: EngineOutput): void {
    this.core.recycle(output)
  }

  replay(record: LogRecord): void {
    const core = this.core
    core.replaying = true
    applyRecord(core, record)
    core.out.replies.length = 0
    core.out.records.length = 0
    core.out.events.length = 0
    core.out.messages.length = 0
  }

  finishReplay(nowMs: number): void {
    const core = this.core
    core.replaying = false
    core.rebuildAfterReplay(nowMs)
    core.drain()
  }

  /** The record a new log starts with (its format version). */
  firstRecord(): LogRecord {
    return formatRecord()
  }

  /**
   * Begins a checkpoint capture of the state as it is now: the texts of the records that recreate
   * it, pulled a few at a time while commands keep running (copy-on-write, snapshot.ts). Pull it
   * to the end or call return(); one at a time.
   */
  captureSnapshot(): SnapshotCapture {
    return new SnapshotCapture(this.core)
  }

  /** The records that recreate the state, all at once (tests and tools). */
  snapshot(): LogRecord[] {
    return Array.from(this.captureSnapshot(), (body) => JSON.parse(snapshotBodyText(body)) as LogRecord)
  }
}
