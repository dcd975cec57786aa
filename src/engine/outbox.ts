/**
 * The cross-shard outbox: one numbered lane per (this shard → target shard) pair, and the last number
 * applied per sender. It is what makes a message between shards survive a crash of either side:
 *
 *   sender   records `ob` {to, n, m} in the same log record as the change that caused it (engine.ts
 *            wraps the records of such a call in one `tx`), keeps the message pending, and sends it
 *            once that record is durable (the host's rule). It re-sends every pending message of a
 *            lane after a restart and whenever the lane stayed unacknowledged for
 *            outboxResendIntervalMs, until the target acknowledges it (`oa` {to, n}).
 *   target   applies message n of a sender only when n = last applied + 1, records what it did and
 *            the new number in one `in` {from, n, r: records} record, and acknowledges it (the ack
 *            leaves once that record is durable). A number it already applied is acknowledged again
 *            and not applied twice; a number past a gap waits for the sender's re-send.
 *
 * Pure state: the transitions that use it live in core.ts / links.ts; the records in records.ts.
 *
 * Bounded: a lane holds at most `pendingMessagesMax` (outboxPendingMessagesMax) messages that
 * start a new link (links.ts refuses the command that would add one more, linkRefusal); the answers
 * and completions of accepted links may pass it, as they are bounded by those links. Nothing pending
 * is ever dropped: a message leaves a lane only when its target acknowledged it.
 */
import { outboxPendingMessagesMax } from '../base/limits.ts'
import { outboxResendIntervalMs } from './engine-limits.ts'

/** Version of the cross-shard message shapes below (the `v` of every envelope). */
export const shardMessageVersion = 1

/** What one shard asks of another, durably (numbered, re-sent until acknowledged). */
export type LinkMessage =
  /** Tell me when my job `jobId` may stop waiting for `dependencyId` (a job of yours). */
  | { type: 'watch'; dependencyId: number; jobId: number }
  /** Dependency `dependencyId` of your job `jobId` completed. */
  | { type: 'dependencyDone'; dependencyId: number; jobId: number }
  /** Child `childId` of your flow parent `parentId` completed. */
  | { type: 'childDone'; parentId: number; childId: number }
  /** A cron entry of mine fired for `queue`, which you own: push a plain job. */
  | { type: 'cronPush'; queue: string; data: unknown; priority: number }
  /** OBLITERATE of `queue`: delete your cron entries that push to it. */
  | { type: 'cronObliterate'; queue: string }
  /** Create child number `index` of my flow parent `parentId` in `queue`, which you own. */
  | { type: 'flowChild'; parentId: number; index: number; queue: string; data: unknown; priority: number; delay: number | null }
  /** Child number `index` of your flow parent `parentId` was created with id `childId`. */
  | { type: 'flowChildId'; parentId: number; index: number; childId: number }

/** Everything that crosses between shard engines (CrossShardMessage.message). */
export type ShardMessage =
  | { t: 'outbox'; v: number; from: number; seq: number; body: LinkMessage }
  | { t: 'outboxAck'; v: number; from: number; seq: number }
  /** GETCHILDREN: send me the wire jobs of these children that are still here (not durable: a query). */
  | { t: 'childrenQuery'; v: number; from: number; queryId: number; ids: number[] }
  | { t: 'childrenFound'; v: number; queryId: number; jobs: Array<{ id: number; [field: string]: unknown }> }

type Lane = {
  /** Last number given to a message for this target. */
  lastSeq: number
  /** Messages not acknowledged yet, in number order. */
  pending: Map<number, LinkMessage>
  /** When the lane was last sent or acknowledged; -1 = re-send at the next tick (after a restart). */
  activeAtMs: number
}

export class Outbox {
  private readonly lanes = new Map<number, Lane>()
  /** Sender shard → last message number applied here. */
  readonly applied = new Map<number, number>()
  /** Messages numbered so far (engine.ts compares it before and after a call). */
  sentCount = 0
  /** Pending messages per lane above which new links are refused (tests lower it). */
  pendingMessagesMax = outboxPendingMessagesMax

  private lane(target: number): Lane {
    let lane = this.lanes.get(target)
    if (lane === undefined) this.lanes.set(target, (lane = { lastSeq: 0, pending: new Map(), activeAtMs: -1 }))
    return lane
  }

  /** Numbers a new message for `target` and keeps it pending; returns its number. */
  add(target: number, message: LinkMessage, nowMs: number): number {
    const lane = this.lane(target)
    const seq = ++lane.lastSeq
    lane.pending.set(seq, message)
    if (lane.pending.size === 1) lane.activeAtMs = nowMs
    this.sentCount++
    return seq
  }

  /** Replay of `ob`: message `seq` for `target` is pending. */
  restore(target: number, seq: number, message: LinkMessage): void {
    const lane = this.lane(target)
    if (seq > lane.lastSeq) lane.lastSeq = seq
    lane.pending.set(seq, message)
  }

  lastSeqFor(target: number): number {
    return this.lanes.get(target)?.lastSeq ?? 0
  }

  /** Replay of a snapshot's `os`: numbers up to `seq` were used for `target`. */
  restoreLastSeq(target: number, seq: number): void {
    const lane = this.lane(target)
    if (seq > lane.lastSeq) lane.lastSeq = seq
  }

  /** `target` applied every message up to `seq`. Returns true when that released a pending one. */
  acknowledge(target: number, seq: number, nowMs: number): boolean {
    const lane = this.lanes.get(target)
    if (lane === undefined) return false
    let released = false
    for (const pendingSeq of lane.pending.keys()) {
      if (pendingSeq > seq) break
      lane.pending.delete(pendingSeq)
      released = true
    }
    if (released) lane.activeAtMs = nowMs
    return released
  }

  /** After a restart: every pending message goes again at the first tick. */
  resendAll(): void {
    for (const lane of this.lanes.values()) lane.activeAtMs = -1
  }

  /** The lanes due for a re-send at `nowMs`, marked as sent now. */
  *due(nowMs: number): Iterable<[target: number, pending: Map<number, LinkMessage>]> {
    for (const [target, lane] of this.lanes) {
      if (lane.pending.size === 0 || (lane.activeAtMs >= 0 && lane.activeAtMs + outboxResendIntervalMs > nowMs)) continue
      lane.activeAtMs = nowMs
      yield [target, lane.pending]
    }
  }

  /** The earliest time a lane is due for a re-send (0 = now), Infinity when nothing is pending. */
  nextDueMs(): number {
    let due = Infinity
    for (const lane of this.lanes.values()) {
      if (lane.pending.size === 0) continue
      const at = lane.activeAtMs < 0 ? 0 : lane.activeAtMs + outboxResendIntervalMs
      if (at < due) due = at
    }
    return due
  }

  /** Messages pending for `target` (sent, not acknowledged). */
  pendingFor(target: number): number {
    return this.lanes.get(target)?.pending.size ?? 0
  }

  pendingCount(): number {
    let count = 0
    for (const lane of this.lanes.values()) count += lane.pending.size
    return count
  }

  /** Records that recreate the outbox (checkpoint). */
  *snapshot(): Iterable<OutboxRecord> {
    for (const [target, lane] of this.lanes) {
      yield { t: 'os', to: target, n: lane.lastSeq }
      for (const [seq, message] of lane.pending) yield { t: 'ob', to: target, n: seq, m: message }
    }
    for (const [sender, seq] of this.applied) yield { t: 'is', from: sender, n: seq }
  }
}

type OutboxRecord = { t: string; [field: string]: unknown }

/**
 * Replaces the records from `mark` on with one record made by `wrap`, so that they become durable
 * together (one log frame): a change and the messages it sends, or a message and what it did.
 */
export function sealRecords(records: OutboxRecord[], mark: number, wrap: (inner: OutboxRecord[]) => OutboxRecord): void {
  records.push(wrap(records.splice(mark)))
}
