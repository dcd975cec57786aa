/**
 * The queue engine of one shard: synchronous and pure (DESIGN §2). Commands and ticks come in with the
 * current time; replies, log records, events and cross-shard messages accumulate until drainOutput().
 * This file is the dispatcher; state and transitions live in core.ts, commands in handlers-*.ts.
 */
import type { Command, CommandName, CommandOf } from '../protocol/commands.ts'
import type { EngineConfig, EngineOutput, LogRecord, Token } from './types.ts'
import { Core, type EngineMessage, type QueueDefaults } from './core.ts'
import * as coreHandlers from './handlers-core.ts'
import { jobHandlers, receiveChildrenGet, receiveFlowChild } from './handlers-job.ts'
import { internalHandlers } from './handlers-internal.ts'
import { queueHandlers } from './handlers-queue.ts'
import { cronPush, fireCron, storeHandlers } from './handlers-store.ts'
import { applyRecord, snapshotRecords } from './records.ts'
import { invalid } from '../protocol/errors.ts'

export type Handler<K extends CommandName> = (
  core: Core,
  command: CommandOf<K>,
  token: Token,
  nowMs: number,
  requestBytes: number,
) => void

export type HandlerTable = { [K in CommandName]?: Handler<K> }

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
    if (handler === undefined) core.reply(token, { ok: false, error: invalid(`command '${command.cmd}' is not handled by the queue engine`) })
    else handler(core, command as never, token, nowMs, requestBytes)
    core.serveDirty(nowMs)
    core.sweepQueues()
  }

  /** A cross-shard message (see EngineMessage in core.ts). */
  receive(message: { t: string; [field: string]: unknown }, nowMs: number): void {
    const core = this.core
    const m = message as EngineMessage
    if (m.t === 'watch') coreHandlers.receiveWatch(core, m.d, m.s, m.w)
    else if (m.t === 'depdone') core.dependencyDone(m.w, m.d, nowMs)
    else if (m.t === 'childdone') core.childCompleted(m.p, m.c, nowMs)
    else if (m.t === 'cronpush') cronPush(core, m.queue, m.data, m.priority, nowMs)
    else if (m.t === 'cronobliterate') core.cron.deleteQueue(m.queue, core.sink)
    else if (m.t === 'flowchild') receiveFlowChild(core, m, nowMs)
    else if (m.t === 'flowchildid') core.flowChildCreated(m.p, m.index, m.id)
    else if (m.t === 'childrenget') receiveChildrenGet(core, m)
    else if (m.t === 'childrenjobs') core.childrenFound(m.r, m.jobs)
    else throw new Error(`unknown engine message '${message.t}'`)
    core.serveDirty(nowMs)
    core.sweepQueues()
  }

  tick(nowMs: number): void {
    const core = this.core
    fireCron(core, nowMs)
    core.tick(nowMs)
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
    q.defaults = Object.keys(kept).length === 0 ? null : kept
    if (core.recording) core.record({ t: 'qd', q: queue, d: q.defaults })
    core.sweepQueues()
  }

  nextWakeMs(): number {
    return this.core.nextWakeMs()
  }

  /** Graceful shutdown: hand out no more jobs; blocking pulls wait out their timeouts (Core.deliveryStopped). */
  stopDelivery(): void {
    this.core.deliveryStopped = true
  }

  cancelWaiters(tokens: Iterable<Token>): void {
    const waiters = this.core.waiters
    const flowReplies = this.core.flowReplies
    for (const token of tokens) {
      const waiter = waiters.byToken.get(token)
      if (waiter !== undefined) {
        waiters.finish(waiter)
        const q = this.core.queues.get(waiter.queue)
        if (q !== undefined) this.core.touched.add(q)
      }
      if (flowReplies.size > 0) for (const pending of flowReplies.values()) if (pending.token === token) pending.token = 0
      for (const query of this.core.childQueries.values()) if (query.token === token) query.token = 0
    }
    this.core.sweepQueues()
  }

  drainOutput(): EngineOutput {
    return this.core.drain()
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

  snapshot(): Iterable<LogRecord> {
    return snapshotRecords(this.core)
  }
}
