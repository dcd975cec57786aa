/**
 * A shard host owns the engines and logs of some shards, in a Worker (or in the main thread with
 * --workers 0). It turns request batches into engine calls, appends the records they produce to the
 * shard's log, and releases each reply only once every record produced up to it is durable
 * (DESIGN §3) — except a pull's, which waits only for the records it depends on (pull-gate.ts). It
 * keeps one timer for the earliest engine due time (DESIGN §7).
 *
 * Owns: engines, logs, held replies, the wake-up timer. Does not own: sockets or reqIds (the front).
 */
import { join } from 'node:path'
import { heapStats } from 'bun:jsc'
import { type Clock, realClock } from '../base/clock.ts'
import { presets } from '../base/config.ts'
import { usPerMs } from '../base/units.ts'
import { hostReplyBytesPerTurnMax, jobDataBytesMax, pushBatchJobsMax, timerDelayMsMax } from '../base/limits.ts'
import { Engine } from '../engine/engine.ts'
import { endPullWaits, requeueUndelivered } from '../engine/handlers-core.ts'
import { recordJson } from '../engine/records.ts'
import type { CrossShardMessage, EngineOutput, LogRecord, Token } from '../engine/types.ts'
import type { IoBackend } from '../io/backend.ts'
import { DiscardIo } from '../io/discard.ts'
import { pickIo } from '../io/pick.ts'
import { reportSlowIo } from '../io/slow-io.ts'
import { configureLog, log } from '../base/log.ts'
import { parseCommand } from '../protocol/commands.ts'
import * as errors from '../protocol/errors.ts'
import { commandTable } from '../protocol/table.ts'
import { stringifyJson } from '../protocol/raw-json.ts'
import { openShardLog } from '../storage/log.ts'
import type { ShardLog } from '../storage/types.ts'
import { directRequestSlots, eventToken, replyBatchText, type DirectRequests, type HostInit, type HostSink, type ReplyPairs, type ShardReady, type ToHost } from './messages.ts'
import { newWaitStats, noteReleased, runAdmin, shardDirectory, type WaitStats } from './storage-admin.ts'
import { PullGate, pulledJobIds } from './pull-gate.ts'
import { IdleCollector } from './idle-gc.ts'
import { clearArray } from '../base/arrays.ts'

/** Commands refused while the disk is full (the command table's diskFull); completions keep working. */
const refusedWhenDiskFull = new Set(
  Object.entries(commandTable).filter(([, spec]) => spec.diskFull === 'refuse').map(([name]) => name),
)
// [storage] Reservation for completion records (DESIGN §4, STYLE habit 12; docs/storage.md "Full
// disk"): every job the engine holds may still need one ack/fail/cancel record. engine.core.jobs
// also counts recently completed jobs (an over-reservation, never an under-one), and the headroom
// covers one more push command accepted before the reservation catches up.
const completionRecordBytesMax = 256
const reservationHeadroomJobs = pushBatchJobsMax

/** Time and timers of a host: the real ones, or a simulation's (a fake clock it advances itself). */
export type HostTime = {
  clock: Clock
  setTimer(callback: () => void, delayMs: number): unknown
  clearTimer(timer: unknown): void
}

export const realHostTime: HostTime = {
  clock: realClock,
  setTimer: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimer: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
}

/** parseCommand's options for every request a host runs (one object, not one per request). */
const internalAllowed = { internal: true } as const

/** `count` replies (and events) held since `heldAtMs` (performance.now), for the waiter metrics (storage-admin.ts). */
type HeldReplies = { lsn: number; replies: ReplyPairs; cross: readonly CrossShardMessage[]; count: number; heldAtMs: number }
type EngineReply = EngineOutput['replies'][number]

/** The cross messages of held replies that have none (shared, never written to). */
const noCrossMessages: readonly CrossShardMessage[] = []

/** A flush slower than this is logged (rate-limited): a healthy disk syncs in well under 10 ms. */
const slowFlushMs = 500
/** At most one slow-flush line per this many ms per host, with the count of slow flushes since. */
const slowFlushReportEveryMs = 10_000

type Shard = {
  index: number
  engine: Engine
  log: ShardLog | null
  /** Replies waiting for their records to become durable, in LSN order. */
  held: HeldReplies[]
  /** Which records pull replies depend on (pull-gate.ts). */
  pullGate: PullGate
  /** Pull replies made and not yet serialised, by token: the LSN each must wait for. */
  pullLsnByToken: Map<Token, number>
  /** Replies made by the host itself (validation errors) during the current batch, as ReplyPairs. */
  staged: ReplyPairs
  /** Replies past this turn's hostReplyBytesPerTurnMax, serialised in the next turns (in order). */
  deferred: EngineReply[]
  /** Records of this batch's requests, encoded while each request ran (so a failure is its own). */
  encoded: string[]
  dead: string | null
  waitStats: WaitStats
  /** Whether the last disk-full state was logged as full (noteDiskFull). */
  diskFullNoted: boolean
}

export class ShardHost {
  private readonly shards = new Map<number, Shard>()
  /**
   * The same shards as an array, for the loops of every batch (afterWork, armTimer): iterating a
   * Map's values() allocates an iterator each time (two per request batch, test/bench/request-objects.ts).
   */
  private readonly shardList: Shard[] = []
  private io: IoBackend | null = null
  /** Replies released since the last flush, as ReplyPairs (handed over whole to an in-thread sink). */
  private outbound: ReplyPairs = []
  /** collect()'s pull replies, emptied after each use. */
  private readonly pullReplies: ReplyPairs = []
  private outboundCross: CrossShardMessage[] = []
  private flushScheduled = false
  /**
   * Deferred replies wait until the front asks for more (it has then seen the cancels of closed
   * connections): 'due' once some are deferred, 'announced' once `moreReplies` went out.
   */
  private moreReplies: 'none' | 'due' | 'announced' = 'none'
  private timer: unknown = null
  private timerDueMs = Infinity
  /** Starts from init; the front toggles it as event subscribers come and go. */
  private eventsWanted: boolean
  /** Collects a burst's garbage once the thread is quiet (idle-gc.ts); not under a simulation's clock. */
  private readonly idleGc: IdleCollector | null

  /**
   * `time` and `ioBackend` are the simulation's seams (test/sim): a fake clock and timers, and an
   * IoBackend (a fault-injecting one) used instead of the one config.io picks.
   */
  constructor(
    private readonly init: HostInit,
    private readonly sink: HostSink,
    private readonly time: HostTime = realHostTime,
    private readonly ioBackend: IoBackend | null = null,
  ) {
    this.eventsWanted = init.eventsWanted
    this.idleGc = time === realHostTime ? new IdleCollector(undefined, () => this.releaseSpareBuffers()) : null
  }

  async start(): Promise<void> {
    const { config } = this.init
    configureLog(config)
    if (!config.memory) this.io = reportSlowIo(this.ioBackend ?? (this.init.scratch === true ? new DiscardIo() : pickIo(config.io)), slowFlushMs, slowFlushReportEveryMs, (slow) => {
      log.warn('slow-flush', `${slow.operation} of ${slow.bytes} bytes took ${slow.ms} ms (${slow.slowSinceLastReport} over ${slowFlushMs} ms since the last report)`, { shards: this.init.shardIndexes.join(',') })
    })
    const ready: ShardReady[] = []
    for (const index of this.init.shardIndexes) ready.push(await this.openShard(index))
    this.sink({ k: 'ready', io: this.io?.name ?? 'none', ioFallbackReason: this.io?.fallbackReason ?? null, shards: ready })
    this.armTimer()
  }

  private async openShard(index: number): Promise<ShardReady> {
    const { config, shardCount } = this.init
    const engine = new Engine({ shardIndex: index, shardCount, recordsEnabled: !config.memory })
    engine.core.eventsEnabled = this.eventsWanted
    const shard: Shard = {
      index, engine, log: null, held: [], pullGate: new PullGate(), pullLsnByToken: new Map(), staged: [], deferred: [], encoded: [], dead: null, waitStats: newWaitStats(),
      diskFullNoted: false,
    }
    this.shards.set(index, shard)
    this.shardList.push(shard)
    if (config.memory || this.io === null) return { shardIndex: index, report: null, diskBytes: 0 }
    const preset = presets[config.preset]
    const opened = await openShardLog({
      dir: shardDirectory(config.dataDir, index),
      io: this.io,
      fsync: config.fsync,
      segmentBytes: preset.segmentBytes,
      flushBytesMax: preset.flushBytesMax,
      repair: config.repair,
      shardsOnFilesystem: shardCount, // [storage] segments sized to fit the filesystem
    })
    const decoder = new TextDecoder()
    let replayed = 0
    let formatVersion = 1 // a log without `fmt` is format 1
    for (const body of opened.bodies) {
      const record = JSON.parse(decoder.decode(body)) as LogRecord
      if (record.t === 'fmt') formatVersion = record.v as number
      engine.replay(record)
      replayed++
    }
    // A new log says which record format it holds (an older flashq then refuses it by name), and so
    // does a log of an older format before this flashq appends records of its own format to it.
    const first = engine.firstRecord()
    if (replayed === 0 || formatVersion < (first.v as number)) opened.log.append(JSON.stringify(first))
    engine.finishReplay(this.time.clock.nowMs())
    engine.drainOutput() // replay produces no output by contract; drop anything defensive
    shard.log = opened.log
    opened.log.onDurable = (durableLsn) => this.releaseDurable(shard, durableLsn)
    opened.log.onFatal = (error) => this.fail(shard, error)
    this.reserveCompletions(shard) // [storage]
    return { shardIndex: index, report: opened.report, diskBytes: opened.log.diskBytes() }
  }

  /** A request batch from the front: `token TAB shard TAB json` records separated by LF. */
  handleBatch(text: string): void {
    const nowMs = this.time.clock.nowMs()
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
        this.execute(shard, token, text.slice(tab2 + 1, end), nowMs, undefined)
        touched.add(shard)
      }
      start = end + 1
    }
    this.finishBatch(touched)
  }

  /**
   * The same from a front in this thread (--workers 0): no text to split, and lines it parsed
   * already, directRequestSlots per request (messages.ts).
   */
  handleRequests(requests: Readonly<DirectRequests>): void {
    const nowMs = this.time.clock.nowMs()
    // An array, not a Set: a host has few shards, and a Set's table costs more per batch.
    const touched: Shard[] = []
    for (let at = 0; at + directRequestSlots <= requests.length; at += directRequestSlots) {
      const shard = this.shards.get(requests[at + 1] as number)
      if (shard === undefined) continue
      this.execute(shard, requests[at] as Token, requests[at + 2] as string, nowMs, requests[at + 3])
      if (!touched.includes(shard)) touched.push(shard)
    }
    this.finishBatch(touched, nowMs)
    if (this.io === null) return // in memory: no logs to flush (and no closure per batch)
    // Nothing else of this batch can join the flush now. Only in the main thread: measured there
    // (sequential durable pushes: one event-loop turn was ~20 µs at the median, 0.2–0.3 ms at p99);
    // in a Worker the turn lets request messages already queued share the flush.
    // A microtask, queued after the one that delivers this batch's replies: an idle log's flush may
    // block this thread for its fdatasync (IoBackend.writeDurable), and the replies that do not wait
    // for it (a pull's, sent with the ACKB before it) leave first (a no-op SDK Worker at concurrency
    // 100, io_uring, first 100k after warm-up: 194k/199k → 210k/208k jobs/s, back-to-back pairs).
    this.flushLogsAfterReplies(touched)
  }

  /** Each batch's shards, in order, for the microtask queued after that batch's replies (flushNextLogs). */
  private readonly logFlushes: Shard[][] = []
  private logFlushHead = 0

  private flushLogsAfterReplies(touched: Shard[]): void {
    this.logFlushes.push(touched)
    queueMicrotask(this.flushNextLogs)
  }

  /** One function for every batch's microtask, not a closure (and its scope) per batch. */
  private readonly flushNextLogs = () => {
    const touched = this.logFlushes[this.logFlushHead++] as Shard[]
    if (this.logFlushHead === this.logFlushes.length) {
      this.logFlushes.length = 0
      this.logFlushHead = 0
    }
    for (let index = 0; index < touched.length; index++) (touched[index] as Shard).log?.flushIfIdle()
  }

  private finishBatch(touched: Iterable<Shard>, nowMs?: number): void {
    for (const shard of touched) this.collect(shard)
    this.afterWork(nowMs)
  }

  handle(message: ToHost): void {
    if (message.k === 'cancel') {
      const cancelled = new Set(message.tokens)
      for (const shard of this.shards.values()) {
        shard.engine.cancelWaiters(message.tokens)
        if (shard.pullLsnByToken.size > 0) for (const token of message.tokens) shard.pullLsnByToken.delete(token)
        if (shard.deferred.length > 0) shard.deferred = shard.deferred.filter(([token]) => !cancelled.has(token))
      }
    } else if (message.k === 'requeue') {
      this.requeue(message.deliveries)
    } else if (message.k === 'sendMoreReplies') {
      this.moreReplies = 'none'
      for (const shard of this.shards.values()) if (shard.deferred.length > 0) this.collect(shard)
      this.afterWork()
    } else if (message.k === 'endPullWaits') {
      for (const shard of this.shards.values()) {
        if (shard.dead !== null) continue
        endPullWaits(shard.engine.core, message.tokens)
        this.collect(shard)
      }
      this.afterWork()
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
      for (const shard of this.shards.values()) shard.engine.core.eventsEnabled = message.on
    } else if (message.k === 'admin') {
      void runAdmin(message.op, [...this.shards.values()], (shard) => this.checkpoint(shard as Shard))
        .then((shards) => this.sink({ k: 'admin', id: message.id, shards }))
    }
  }

  /**
   * One request. Whatever it throws (a bug, or input that slipped past the front's checks) is
   * answered as an error to that request alone: no single request may take the shard down.
   * `parsedLine` is `line` already parsed by a front in this thread, or undefined.
   */
  private execute(shard: Shard, token: Token, line: string, nowMs: number, parsedLine: unknown): void {
    const out = shard.engine.core.out
    const repliesBefore = out.replies.length
    const recordsBefore = out.records.length
    const encodedBefore = shard.encoded.length
    try {
      const command = this.executeUnguarded(shard, token, line, nowMs, parsedLine)
      if (shard.log === null) return
      // The LSN each record will get: collect() appends this batch's encoded records first, in order.
      const lsnBefore = shard.log.appendedLsn + shard.encoded.length
      if (out.records.length > recordsBefore) {
        for (let index = recordsBefore; index < out.records.length; index++) {
          const record = out.records[index] as LogRecord
          shard.encoded.push(recordJson(record))
          shard.pullGate.note(record, lsnBefore + index - recordsBefore + 1)
        }
        out.records.length = recordsBefore
      }
      if (command === 'PULL' || command === 'PULLB') this.notePull(shard, token, repliesBefore, shard.log.appendedLsn + shard.encoded.length, lsnBefore)
    } catch (error) {
      // No reply may claim the failed request succeeded (replies to others, e.g. waiters it served,
      // stay: their jobs are theirs now). Its records are dropped: its state change, if it got that
      // far, lives in memory only, as a request that failed may or may not have been applied.
      for (let index = out.replies.length - 1; index >= repliesBefore; index--) {
        if ((out.replies[index] as EngineReply)[0] === token) out.replies.splice(index, 1)
      }
      out.records.length = recordsBefore
      shard.encoded.length = encodedBefore
      this.stage(shard, token, { ok: false, error: requestFailed(error) })
    }
  }

  /** Returns the command's name once the engine ran it. */
  private executeUnguarded(shard: Shard, token: Token, line: string, nowMs: number, parsedLine: unknown): string | undefined {
    if (shard.dead !== null) return this.stage(shard, token, { ok: false, error: shard.dead })
    let input = parsedLine
    if (input === undefined) {
      try {
        input = JSON.parse(line)
      } catch (error) {
        return this.stage(shard, token, { ok: false, error: errors.invalid(errors.clientErrorText((error as Error).message)) })
      }
    }
    if (testHooksEnabled && (input as { cmd?: unknown } | null)?.cmd === '_CRASH') return void injectCrash()
    if (testHooksEnabled && (input as { cmd?: unknown } | null)?.cmd === '_GC') return void this.stage(shard, token, collectGarbage())
    // The front lets internal commands through only from its own transports.
    const parsed = parseCommand(input, internalAllowed)
    if (!parsed.ok) return this.stage(shard, token, { ok: false, error: parsed.error })
    if ((shard.log?.diskFull === true) !== shard.diskFullNoted) this.noteDiskFull(shard)
    if (shard.log?.diskFull && refusedWhenDiskFull.has(parsed.command.cmd)) {
      return this.stage(shard, token, { ok: false, error: errors.diskFull })
    }
    shard.engine.execute(parsed.command, token, nowMs, utf8BytesBound(line))
    // [storage] Right after each push-like command, so the next one is refused if the disk cannot back it.
    if (shard.log !== null && refusedWhenDiskFull.has(parsed.command.cmd)) this.reserveCompletions(shard)
    return parsed.command.cmd
  }

  /**
   * A pull answered at once: its reply waits only for the records of the jobs it hands out, the
   * barrier and its own records (`ownLsn`, when it wrote any after `lsnBefore`), not for every record
   * appended before it (pull-gate.ts).
   */
  private notePull(shard: Shard, token: Token, repliesFrom: number, ownLsn: number, lsnBefore: number): void {
    const replies = shard.engine.core.out.replies
    for (let index = repliesFrom; index < replies.length; index++) {
      const [replyToken, reply] = replies[index] as EngineReply
      if (replyToken !== token) continue
      const jobIds = pulledJobIds(reply as Parameters<typeof pulledJobIds>[0])
      shard.pullLsnByToken.set(token, shard.pullGate.requiredLsn(jobIds, ownLsn > lsnBefore ? ownLsn : 0))
      return
    }
  }

  /** [storage] Tells the log how much room the completions of the shard's jobs need (see the constants). */
  private reserveCompletions(shard: Shard): void {
    const jobs = shard.engine.core.jobs.size + reservationHeadroomJobs
    shard.log?.setReservation(jobs * completionRecordBytesMax)
  }

  private stage(shard: Shard, token: Token, reply: object): undefined {
    shard.staged.push(token, JSON.stringify(reply))
  }

  private receiveCross(items: CrossShardMessage[]): void {
    const nowMs = this.time.clock.nowMs()
    for (const item of items) {
      const shard = this.shards.get(item.shardIndex)
      if (shard === undefined || shard.dead !== null) continue
      shard.engine.receive(item.message, nowMs)
      this.collect(shard)
    }
    this.afterWork()
  }

  /** A record of internal work (timers, cross-shard messages) that cannot be encoded is reported, not fatal. */
  private appendRecord(shard: Shard, log: ShardLog, record: object): void {
    let text: string
    try {
      text = recordJson(record as LogRecord)
    } catch (error) {
      process.stderr.write(`flashq: shard ${shard.index}: a record could not be encoded: ${requestFailed(error)}\n`)
      return
    }
    shard.pullGate.note(record as LogRecord, log.append(text))
  }

  /** Jobs whose PULL reply never reached the worker go back to waiting (server/undelivered.ts). */
  private requeue(deliveries: Array<[number, number]>): void {
    const nowMs = this.time.clock.nowMs()
    for (const shard of this.shards.values()) {
      if (shard.dead !== null) continue
      requeueUndelivered(shard.engine.core, deliveries, nowMs)
      this.collect(shard)
    }
    this.afterWork()
  }

  /** Moves an engine's output to the log and to the held-reply queue (or out, if nothing is pending). */
  private collect(shard: Shard): void {
    const output: EngineOutput = shard.engine.drainOutput()
    const { log } = shard
    if (log !== null && shard.encoded.length + output.records.length > 0) {
      const startedMs = performance.now()
      const expectedLsn = log.appendedLsn + shard.encoded.length
      for (const text of shard.encoded) log.append(text)
      // The pull LSNs were predicted in execute(); should they be off, pulls wait as every reply does.
      if (log.appendedLsn !== expectedLsn) shard.pullLsnByToken.clear()
      for (const record of output.records) this.appendRecord(shard, log, record)
      shard.waitStats.appendBatches++
      shard.waitStats.appendUs += (performance.now() - startedMs) * usPerMs
    }
    clearArray(shard.encoded)
    if (log !== null && output.records.length > 0) this.reserveCompletions(shard) // [storage] cron, flows, …
    // Both arrays are reused (emptied once released or copied): this runs for every request batch.
    const replies = shard.staged
    const pullReplies = this.pullReplies
    const pullLsn = this.serializeReplies(shard, output.replies, replies, pullReplies)
    this.releaseOrHold(shard, replies, output)
    replies.length = 0
    // Everything of the output was copied or serialised by now, except cross messages that were held.
    if (output.messages.length === 0) shard.engine.recycleOutput(output)
    if (pullReplies.length === 0) return
    // A pull whose records are durable leaves now, even while the replies made with it are held; one
    // that must wait is held after them, so replies that wait for the same flush leave in the order
    // they were made.
    if (shard.dead !== null || log === null || pullLsn <= log.durableLsn) this.release(pullReplies, noCrossMessages)
    else this.holdUntil(shard, pullReplies.slice(), pullLsn)
    pullReplies.length = 0
  }

  /** Replies and messages that wait for every record produced up to them. */
  private releaseOrHold(shard: Shard, replies: ReplyPairs, output: EngineOutput): void {
    // [storage] A log that failed (possibly during the appends in collect, when onFatal already ran
    // fail()) never makes these records durable: answer with the error now instead of holding
    // replies that nothing would ever release.
    const { log, dead } = shard
    // Events travel with the replies, as text, so they too leave only once their records are durable
    // (and never from a dead shard, whose records never will be).
    if (this.eventsWanted && dead === null) for (const event of output.events) replies.push(eventToken, stringifyJson(event))
    if (replies.length === 0 && output.messages.length === 0) return
    if (dead !== null) return this.release(replies, noCrossMessages) // [storage] no cross messages from a dead shard
    if (log === null || (shard.held.length === 0 && log.durableLsn >= log.appendedLsn)) {
      this.release(replies, output.messages)
    } else {
      const cross = output.messages.length > 0 ? output.messages : noCrossMessages // the output's arrays are reused
      shard.held.push({ lsn: log.appendedLsn, replies: replies.slice(), cross, count: replies.length / 2, heldAtMs: performance.now() })
    }
  }

  /** Holds `replies` (in LSN order, after entries of the same LSN) until records up to `lsn` are durable. */
  private holdUntil(shard: Shard, replies: ReplyPairs, lsn: number): void {
    const held = shard.held
    let at = held.length
    while (at > 0 && (held[at - 1] as HeldReplies).lsn > lsn) at--
    held.splice(at, 0, { lsn, replies, cross: noCrossMessages, count: replies.length / 2, heldAtMs: performance.now() })
  }

  /**
   * Serialises replies up to hostReplyBytesPerTurnMax bytes; the rest (and replies deferred before,
   * which go first) wait until the front has handled this batch and asks for more (`moreReplies` →
   * `sendMoreReplies`). A burst of big replies (1,500 GETJOBs of a 1 MiB job) then never becomes one
   * huge string nor a queue of them, and the replies of a connection closed meanwhile are dropped by
   * its cancel, which reaches the host before the request for more.
   */
  private serializeReplies(shard: Shard, fresh: EngineReply[], out: ReplyPairs, pullOut: ReplyPairs): number {
    let replies = fresh
    if (shard.deferred.length > 0) {
      replies = [...shard.deferred, ...fresh]
      shard.deferred = []
    }
    const dead = shard.dead
    const pullLsns = shard.pullLsnByToken
    let pullLsn = 0
    let bytes = 0
    let index = 0
    for (; index < replies.length && bytes <= hostReplyBytesPerTurnMax; index++) {
      const [token, reply] = replies[index] as EngineReply
      const json = encodeReply(dead === null ? reply : { ok: false, error: dead })
      bytes += json.length
      const lsn = pullLsns.size > 0 ? pullLsns.get(token) : undefined
      if (lsn === undefined) out.push(token, json)
      else {
        pullLsns.delete(token)
        pullOut.push(token, json)
        if (lsn > pullLsn) pullLsn = lsn
      }
    }
    if (index < replies.length) {
      shard.deferred = replies.slice(index)
      if (this.moreReplies === 'none') this.moreReplies = 'due'
    }
    return pullLsn
  }

  private releaseDurable(shard: Shard, durableLsn: number): void {
    shard.pullGate.forgetDurable(durableLsn)
    let released = 0
    while (released < shard.held.length && (shard.held[released] as HeldReplies).lsn <= durableLsn) {
      const held = shard.held[released] as HeldReplies
      this.release(held.replies, held.cross)
      released++
    }
    if (released > 0) {
      noteReleased(shard.waitStats, shard.held, released, shard.log?.stats.lastFlushStartedAtMs ?? 0)
      shard.held.splice(0, released)
    }
    this.scheduleFlush()
  }

  private release(replies: Readonly<ReplyPairs>, cross: readonly CrossShardMessage[]): void {
    const outbound = this.outbound
    for (let index = 0; index < replies.length; index++) outbound.push(replies[index] as Token | string)
    for (const item of cross) this.outboundCross.push(item)
  }

  /** `nowMs`: the batch's time (the host's clock), when it has one, for the idle collector. */
  private afterWork(nowMs?: number): void {
    this.flushOutbound()
    const shards = this.shardList
    for (let index = 0; index < shards.length; index++) {
      const shard = shards[index] as Shard
      if (shard.log?.needsCheckpoint()) this.checkpoint(shard)
    }
    this.armTimer()
    this.idleGc?.noteWork(nowMs)
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    queueMicrotask(this.flushLater)
  }

  /** One closure for every scheduled flush (one per durable flush), not one each. */
  private readonly flushLater = () => {
    this.flushScheduled = false
    this.flushOutbound()
  }

  private flushOutbound(): void {
    // Cross-shard messages first: the front forwards them before it hands the replies out, so a
    // client that acks a flow child and then asks GETCHILDREN on the parent's shard sees the ack.
    if (this.outboundCross.length > 0) {
      this.sink({ k: 'cross', items: this.outboundCross })
      this.outboundCross = []
    }
    if (this.outbound.length > 0) {
      // In the thread, the array itself is the message (the front takes it over); a Worker posts text.
      if (this.init.replyPairs === true) {
        this.sink(this.outbound)
        this.outbound = []
      } else {
        this.sink(replyBatchText(this.outbound))
        this.outbound.length = 0
      }
    }
    if (this.moreReplies === 'due') {
      this.moreReplies = 'announced'
      this.sink({ k: 'moreReplies' })
    }
  }

  private checkpoint(shard: Shard): void {
    const { log: shardLog, engine } = shard
    // One at a time: a capture still running belongs to the checkpoint being written.
    if (shardLog === null || engine.core.capture !== null) return
    log.info('checkpoint', `shard ${shard.index}: snapshot of ${engine.core.jobs.size} jobs at LSN ${shardLog.appendedLsn}`, { shard: shard.index, disk_bytes: shardLog.diskBytes() })
    try {
      // Copy-on-write capture as of now, pulled by the log across turns (engine/snapshot.ts).
      shardLog.checkpoint(engine.captureSnapshot())
      // The pieces it wrote are garbage once it is done: a collection when the thread is quiet.
      void shardLog.checkpointSettled().then(() => this.idleGc?.noteBurstEnd())
    } catch (error) {
      // The log keeps growing until the next attempt; serving goes on.
      log.error('checkpoint', `shard ${shard.index}: checkpoint failed: ${errors.clientErrorText(String(error))}`, { shard: shard.index })
    }
  }

  /** Quiet after a burst: the logs' pooled write buffers go (W5 durable: ~3.5 MB), made again by the next burst. */
  private releaseSpareBuffers(): void {
    for (const shard of this.shards.values()) shard.log?.releaseSpareBuffers()
  }

  /** One line when a shard's disk fills up and one when it has room again, however many refusals between. */
  private noteDiskFull(shard: Shard): void {
    const full = shard.log?.diskFull === true
    if (full === shard.diskFullNoted) return
    shard.diskFullNoted = full
    if (full) log.error('disk-full', `shard ${shard.index}: disk full; new jobs are refused, acks still work`, { shard: shard.index })
    else log.info('disk-full', `shard ${shard.index}: disk has room again; accepting new jobs`, { shard: shard.index })
  }

  /** One timer per host, armed for the earliest due time of any of its engines. */
  private armTimer(): void {
    let dueMs = Infinity
    const shards = this.shardList
    for (let index = 0; index < shards.length; index++) dueMs = Math.min(dueMs, (shards[index] as Shard).engine.nextWakeMs())
    if (dueMs >= this.timerDueMs && this.timer !== null) return
    if (this.timer !== null) this.time.clearTimer(this.timer)
    this.timer = null
    this.timerDueMs = dueMs
    if (dueMs === Infinity) return
    // Due times can be years away (TTLs, delays): past setTimeout's range Bun would fire every
    // millisecond, so wait at most timerDelayMsMax; onTimer then finds nothing due and re-arms.
    const delayMs = Math.min(timerDelayMsMax, Math.max(0, dueMs - this.time.clock.nowMs()))
    this.timer = this.time.setTimer(() => this.onTimer(), delayMs)
  }

  private onTimer(): void {
    this.timer = null
    this.timerDueMs = Infinity
    const nowMs = this.time.clock.nowMs()
    for (const shard of this.shards.values()) {
      if (shard.dead !== null) continue
      shard.engine.tick(nowMs)
      this.collect(shard)
    }
    this.afterWork()
  }

  /** A log that cannot write must never acknowledge again: fail what waits and refuse the rest. */
  private fail(shard: Shard, error: Error): void {
    // Clients get the reason without paths; the operator's log line keeps the whole message.
    shard.dead = errors.shardStopped(shard.index, errors.clientErrorText(error.message))
    const failed = JSON.stringify({ ok: false, error: shard.dead })
    for (const held of shard.held) {
      for (let at = 0; at < held.replies.length; at += 2) {
        const token = held.replies[at] as Token
        if (token !== eventToken) this.outbound.push(token, failed)
      }
    }
    shard.held = []
    this.flushOutbound()
    this.sink({ k: 'fatal', error: errors.shardStopped(shard.index, error.message) })
  }

  async stop(): Promise<void> {
    if (this.timer !== null) this.time.clearTimer(this.timer)
    this.idleGc?.stop()
    for (const shard of this.shards.values()) await shard.log?.close()
    for (const shard of this.shards.values()) shard.engine.dispose()
    this.io?.shutdown()
    this.sink({ k: 'stopped' })
  }
}

/**
 * FLASHQ_TEST_HOOKS=1 adds two commands: `_CRASH` kills the shard's thread with an uncaught
 * exception, so tests can check that a dead worker is reported instead of hung on; `_GC` runs a full
 * collection in the shard's thread and answers its heap statistics (test/bench/memory.ts). Off otherwise.
 */
const testHooksEnabled = process.env.FLASHQ_TEST_HOOKS === '1'

function injectCrash(): void {
  setTimeout(() => {
    throw new Error('injected shard crash (FLASHQ_TEST_HOOKS)')
  })
}

/** Object types listed by `_GC`, most numerous first. */
const gcTypesListed = 16

function collectGarbage(): object {
  Bun.gc(true)
  const stats = heapStats()
  const types = Object.entries(stats.objectTypeCounts).sort((a, b) => b[1] - a[1]).slice(0, gcTypesListed)
  return { ok: true, heap_bytes: stats.heapSize, extra_bytes: stats.extraMemorySize, objects: stats.objectCount, types: Object.fromEntries(types) }
}

/**
 * An upper bound of a request line's UTF-8 size, exact when it could pass the job data limit: the
 * engine checks data sizes only above jobDataBytesMax, and a UTF-16 unit is at most 3 UTF-8 bytes.
 */
function utf8BytesBound(line: string): number {
  return line.length * 3 <= jobDataBytesMax ? line.length * 3 : Buffer.byteLength(line)
}

/** The error answer of a request whose handling threw (never a stack trace or a path). */
function requestFailed(error: unknown): string {
  const detail = error instanceof RangeError ? 'the request is too large or too deeply nested' : errors.clientErrorText(String(error))
  return `Internal error while handling the request (the shard keeps serving): ${detail}`
}


/** A reply that cannot be encoded (a stack overflow on hostile data) becomes an error reply. */
function encodeReply(reply: object): string {
  try {
    return stringifyJson(reply)
  } catch (error) {
    return JSON.stringify({ ok: false, error: requestFailed(error) })
  }
}
