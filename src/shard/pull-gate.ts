/**
 * When the reply of a PULL / PULLB may leave (DESIGN §3). Every other reply waits until every record
 * appended before it is durable; a pull's reply waits only for the records it depends on:
 *
 * - the not-yet-durable records of the jobs it hands out (their push, and any later change that made
 *   them pullable or changed what the reply shows: retry, promote, priority, data, a dependency or a
 *   child done, a stall strike, a DLQ retry…), so no job leaves before its push is on disk;
 * - every record that names no job but may change what a pull hands out (queue settings and defaults,
 *   and any record type this module does not know): a barrier, as conservative as the general rule;
 * - the pull's own records, if taking jobs produced any.
 *
 * It does not wait for records about other jobs: the acknowledgements in flight of earlier jobs, or
 * pushes of jobs it does not hand out. A pull writes no record (engine/records.ts), so after a crash
 * the durable log has each job it handed out waiting, exactly as the reply showed it: the job runs
 * again (at-least-once, as for every job active at a crash), and nothing unacknowledged is seen as
 * done. One consequence is accepted: an acknowledgement that freed a group lock or a concurrency slot
 * may be lost in a crash after the next job of that group was handed out; the lost one then runs
 * again, as it would after any crash.
 *
 * Owns: which jobs have records that are not durable yet (only while they are not), the barrier LSN.
 */
import { clearArray } from '../base/arrays.ts'
import type { LogRecord } from '../engine/types.ts'

/** Records after which their jobs cannot be pulled again without a further record (which is noted). */
const endsPullability = new Set(['a', 'ab', 'rm', 'x', 'dc', 'l', 'hb'])
/** Records that change no job a pull of this shard could hand out. */
const unrelatedToPulls = new Set(['fmt', 'oa', 'ob', 'w', 'wd', 'os', 'is', 'seq', 'deb', 'ci', 'res', 'logs'])
/** Forgotten notes kept at the front of the note arrays before they are cut off (amortised). */
const forgottenNotesKeptMax = 1024

export class PullGate {
  /**
   * Pushes of new jobs, the bulk of all notes: job ids grow within a shard, and so do LSNs, so they
   * are two sorted arrays (searched by id) instead of map entries. From `#pushHead` on.
   */
  #pushIds: number[] = []
  #pushLsns: number[] = []
  #pushHead = 0
  /** The highest job id noted as pushed. */
  #lastPushedId = 0
  /** Job id → LSN of its latest other record that is not known durable yet. */
  readonly #lsnByJob = new Map<number, number>()
  /** The same notes in LSN order (with repeats), to forget them once durable. */
  #noteIds: number[] = []
  #noteLsns: number[] = []
  #noteHead = 0
  /** LSN of the latest record that names no job but may change what pulls hand out. */
  barrierLsn = 0

  /** A record about to be appended (or appended) at `lsn`. */
  note(record: LogRecord, lsn: number): void {
    const type = record.t
    const ids = record.i
    // A new job's push first: the bulk of all notes, decided without the set lookups below.
    if (type === 'j' && typeof ids === 'number') return this.#noteJob(ids, lsn)
    if (type === 'jb') {
      for (const id of ids as number[]) this.#noteJob(id, lsn)
      return
    }
    if (type === 'tx' || type === 'in') {
      for (const inner of record.r as LogRecord[]) this.note(inner, lsn)
      return
    }
    if (endsPullability.has(type) || unrelatedToPulls.has(type) || type.startsWith('kv.') || type.startsWith('cron.')) return
    if (typeof ids === 'number') this.#pend(ids, lsn)
    else if (Array.isArray(ids) && ids.every((id) => typeof id === 'number')) for (const id of ids) this.#pend(id, lsn)
    else this.barrierLsn = lsn
  }

  /** A job record: a new job's push (ids grow), or a later record of a job. */
  #noteJob(id: number, lsn: number): void {
    if (id > this.#lastPushedId) {
      this.#lastPushedId = id
      this.#pushIds.push(id)
      this.#pushLsns.push(lsn)
    } else this.#pend(id, lsn)
  }

  /** The LSN that must be durable before a pull reply handing out `jobIds` may leave. */
  requiredLsn(jobIds: Iterable<number>, ownLsn: number): number {
    let lsn = Math.max(this.barrierLsn, ownLsn)
    const pushes = this.#pushIds.length > this.#pushHead
    if (this.#lsnByJob.size === 0 && !pushes) return lsn
    const oldestPushedId = pushes ? (this.#pushIds[this.#pushHead] as number) : Infinity
    for (const id of jobIds) {
      lsn = Math.max(lsn, this.#lsnByJob.get(id) ?? 0)
      if (id >= oldestPushedId) lsn = Math.max(lsn, this.#pushLsnOf(id))
    }
    return lsn
  }

  /** The LSN of job `id`'s push among the noted ones (0 if it is not among them). */
  #pushLsnOf(id: number): number {
    const ids = this.#pushIds
    let low = this.#pushHead
    let high = ids.length - 1
    while (low <= high) {
      const middle = (low + high) >>> 1
      const found = ids[middle] as number
      if (found === id) return this.#pushLsns[middle] as number
      if (found < id) low = middle + 1
      else high = middle - 1
    }
    return 0
  }

  /** Forgets the notes that `durableLsn` covers. */
  forgetDurable(durableLsn: number): void {
    this.#forgetPushes(durableLsn)
    const ids = this.#noteIds
    const lsns = this.#noteLsns
    let head = this.#noteHead
    while (head < lsns.length && (lsns[head] as number) <= durableLsn) {
      const id = ids[head] as number
      if ((this.#lsnByJob.get(id) ?? Infinity) <= durableLsn) this.#lsnByJob.delete(id)
      head++
    }
    if (head === lsns.length) {
      // Emptied in place, not replaced: this runs for every durable flush, mostly on empty arrays.
      clearArray(ids)
      clearArray(lsns)
      head = 0
    } else if (head > forgottenNotesKeptMax && head * 2 > lsns.length) {
      this.#noteIds = ids.slice(head)
      this.#noteLsns = lsns.slice(head)
      head = 0
    }
    this.#noteHead = head
  }

  #forgetPushes(durableLsn: number): void {
    const lsns = this.#pushLsns
    let head = this.#pushHead
    while (head < lsns.length && (lsns[head] as number) <= durableLsn) head++
    if (head === lsns.length) {
      clearArray(this.#pushIds)
      clearArray(lsns)
      head = 0
    } else if (head > forgottenNotesKeptMax && head * 2 > lsns.length) {
      this.#pushIds = this.#pushIds.slice(head)
      this.#pushLsns = lsns.slice(head)
      head = 0
    }
    this.#pushHead = head
  }

  /** Jobs with records not known durable (for tests and metrics). */
  get pendingJobs(): number {
    return this.#lsnByJob.size + this.#pushIds.length - this.#pushHead
  }

  #pend(id: number, lsn: number): void {
    this.#lsnByJob.set(id, lsn)
    this.#noteIds.push(id)
    this.#noteLsns.push(lsn)
  }
}

/** The ids of the jobs in a PULL (`job`) or PULLB (`jobs`) reply. */
export function pulledJobIds(reply: { job?: { id: number } | null; jobs?: Array<{ id: number }> }): number[] {
  if (reply.jobs !== undefined) return reply.jobs.map((job) => job.id)
  return reply.job ? [reply.job.id] : []
}
