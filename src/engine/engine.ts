/**
 * The queue engine of one shard: synchronous and pure (DESIGN §2). Commands and ticks come in with the
 * current time; replies, log records, events and cross-shard messages accumulate until drainOutput().
 * This file is the dispatcher; state and transitions live in core.ts, commands in handlers-*.ts.
 */
import type { Command, CommandName, CommandOf } from '../protocol/commands.ts'
import type { EngineConfig, EngineOutput, LogRecord, Token } from './types.ts'
import { Core, type EngineMessage } from './core.ts'
import * as coreHandlers from './handlers-core.ts'
import { jobHandlers } from './handlers-job.ts'
import { queueHandlers } from './handlers-queue.ts'
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
  PING: (core, _command, token) => core.reply(token, { ok: true, pong: true }),
  ...jobHandlers,
  ...queueHandlers,
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
  }

  /** A cross-shard message (see EngineMessage in core.ts). */
  receive(message: { t: string; [field: string]: unknown }, nowMs: number): void {
    const core = this.core
    const m = message as EngineMessage
    if (m.t === 'watch') coreHandlers.receiveWatch(core, m.d, m.s, m.w)
    else if (m.t === 'depdone') core.dependencyDone(m.w, m.d, nowMs)
    else if (m.t === 'childdone') core.childCompleted(m.p, m.c, nowMs)
    else throw new Error(`unknown engine message '${message.t}'`)
    core.serveDirty(nowMs)
  }

  tick(nowMs: number): void {
    this.core.tick(nowMs)
  }

  nextWakeMs(): number {
    return this.core.nextWakeMs()
  }

  cancelWaiters(tokens: Iterable<Token>): void {
    const waiters = this.core.waiters
    for (const token of tokens) {
      const waiter = waiters.byToken.get(token)
      if (waiter !== undefined) waiters.finish(waiter)
    }
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
