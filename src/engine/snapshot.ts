/**
 * Checkpoint capture: the records (JSON text) that recreate the shard's state as of one moment P,
 * produced a few thousand at a time while the shard keeps serving (issue 7: a checkpoint of a
 * million jobs must not stall the shard for the whole state). The log pulls the records across
 * event-loop turns (storage/log.ts) and the checkpoint file says "state after LSN P".
 *
 * DECISION — copy-on-write, not a fuzzy capture made consistent by idempotent replay. The capture
 * starts at P (Core.capture set) and walks the jobs in chunks. Every transition that is about to
 * change a job the walk has not reached yet calls Core.willChange(job) first, which serializes the
 * job as it is — its state at P, since nothing changed it before — and marks it captured; the walk
 * then emits that pre-image in the job's place and skips the job itself. So the checkpoint is
 * exactly the state at P, and replaying the log from P on top of it needs no idempotence argument
 * per record type. Jobs created after P (id above the last id at P) are never captured.
 *
 * The records keep the order a capture of the frozen state would have: completed jobs in
 * completion order (the bounded rings evict the same ones after a restore), then each DLQ in
 * arrival order (its oldest is dropped beyond dlqJobsMax), then every other job (order free).
 * The completed-id ring (at most completedIdsMax ids) is copied at P. A DLQ is walked live, but the
 * first time one loses a job before the walk passed it (Core.dlqDelete), its remaining order is
 * copied (once per queue per checkpoint). What is not jobs — queue settings, debounce windows,
 * results, logs, watchers, the outbox, KV and cron — is bounded and small next to the jobs, and is
 * taken at P by reference (values are replaced, never changed in place; lists are copied).
 */
import { jobIdOf } from '../base/ids.ts'
import type { Core } from './core.ts'
import type { QueueState } from './queue-state.ts'
import type { LogRecord } from './types.ts'
import { type Job, LOC_COMPLETED, LOC_DLQ, snapshotEpochsMod } from './job.ts'
import { encodeJob, formatRecord } from './records.ts'
import { stringifyJson } from '../protocol/raw-json.ts'
import { JobRecordWriter } from './job-record-bytes.ts'

const SECTION_COMPLETED = 1
const SECTION_DLQ = 2
const SECTION_LIVE = 3
type Section = typeof SECTION_COMPLETED | typeof SECTION_DLQ | typeof SECTION_LIVE

type PreImage = { section: Section; text: string }

/**
 * One record of a capture: its text, or the capture's job record writer set to the job (it writes
 * the record's bytes; valid until the next pull).
 */
export type SnapshotBody = string | JobRecordWriter

/** A body's text (tests and tools; the log writes the bytes). */
export function snapshotBodyText(body: SnapshotBody): string {
  return typeof body === 'string' ? body : body.text()
}

let lastEpoch = 0

/**
 * One running capture. An iterator of record bodies: next() hands out the next record (a job's as
 * the reused writer, to be written before the next pull); return() (or the end of the walk) stops
 * the copy-on-write. The caller must pull it to the end or call return().
 */
export class SnapshotCapture implements IterableIterator<SnapshotBody> {
  /** Marks the jobs this capture has serialized (Job.snapshotMark). */
  readonly epoch = (lastEpoch = (lastEpoch % (snapshotEpochsMod - 1)) + 1)
  /** Jobs with a higher id were created after P. */
  readonly lastIdAtStart: number
  readonly #core: Core
  /** Pre-images of jobs changed before the walk reached them, by id. */
  readonly #preImages = new Map<number, PreImage>()
  /** Records of everything but the jobs, taken at P; serialized when pulled. */
  readonly #head: LogRecord[]
  readonly #tail: LogRecord[]
  /** The completed-id ring at P: ids, and whether the id had no job (a `ci` record). */
  readonly #completedIds: number[] = []
  readonly #completedWithoutJob: boolean[] = []
  /** Queues with a DLQ at P, in order; the one being walked, and its cursor. */
  readonly #dlqQueues: QueueState[] = []
  #dlqIndex = 0
  #dlqCursor: Iterator<Job> | null = null
  /** DLQ orders copied because they lost a job before the walk passed it: the ids still to walk. */
  readonly #frozenDlq = new Map<QueueState, number[]>()
  /** The records before the live jobs (head, completed, DLQs), then those after them (pre-images, tail). */
  readonly #before: Generator<SnapshotBody, void, undefined>
  readonly #after: Generator<SnapshotBody, void, undefined>
  /** The walk of the live jobs, between the two (stepped by next() itself: no generator result per job). */
  #live: Iterator<Job> | null = null
  #phase: 'before' | 'live' | 'after' = 'before'
  /** next()'s result for a live job, reused: a capture of a million jobs leaves no garbage per job. */
  readonly #liveResult: { done: false; value: SnapshotBody } = { done: false, value: '' }
  /** Writes the unchanged jobs' records as bytes (no text per job). */
  readonly #writer = new JobRecordWriter()
  #ended = false

  constructor(core: Core) {
    if (core.capture !== null) throw new Error('a checkpoint capture is running already')
    this.#core = core
    this.lastIdAtStart = jobIdOf(core.sequence, core.shardIndex, core.shardCount)
    this.#head = headRecords(core)
    for (const id of core.completedIds.values()) {
      const job = core.jobs.get(id)
      if (job !== undefined && job.loc === LOC_COMPLETED) {
        this.#completedIds.push(id)
        this.#completedWithoutJob.push(false)
      } else if (job === undefined && core.completedWithoutJob.has(id)) {
        this.#completedIds.push(id)
        this.#completedWithoutJob.push(true)
      }
    }
    for (const q of core.queues.values()) if (q.dlq.size > 0) this.#dlqQueues.push(q)
    this.#tail = tailRecords(core)
    this.#before = this.#walkBefore()
    this.#after = this.#walkAfter()
    core.capture = this
  }

  [Symbol.iterator](): IterableIterator<SnapshotBody> {
    return this
  }

  next(): IteratorResult<SnapshotBody, undefined> {
    if (this.#ended) return { done: true, value: undefined }
    if (this.#phase === 'before') {
      const step = this.#before.next()
      if (step.done !== true) return step
      this.#phase = 'live'
      // A live walk: jobs added since P are met (skipped by id), removed ones are not.
      this.#live = this.#core.jobs.values(true)
    }
    if (this.#phase === 'live') {
      const live = this.#live as Iterator<Job>
      for (let step = live.next(); step.done !== true; step = live.next()) {
        const job = step.value
        if (job.id > this.lastIdAtStart) continue
        const body = this.#takePreImage(job.id, SECTION_LIVE) ??
          (job.loc === LOC_COMPLETED || job.loc === LOC_DLQ ? null : this.#liveBody(job))
        if (body === null) continue
        this.#liveResult.value = body
        return this.#liveResult
      }
      this.#phase = 'after'
      this.#live = null
    }
    const step = this.#after.next()
    if (step.done !== true) return step
    return this.return()
  }

  /** Ends the capture (copy-on-write off); called by the walk's end or by a checkpoint that gave up. */
  return(): IteratorResult<string, undefined> {
    if (!this.#ended) {
      this.#ended = true
      if (this.#core.capture === this) this.#core.capture = null
      this.#preImages.clear()
      this.#frozenDlq.clear()
    }
    return { done: true, value: undefined }
  }

  /** Serializes `job` as it is now (its state at P): called by Core.willChange before a change. */
  preImage(job: Job): void {
    job.snapshotMark = this.epoch
    const section = job.loc === LOC_COMPLETED ? SECTION_COMPLETED : job.loc === LOC_DLQ ? SECTION_DLQ : SECTION_LIVE
    this.#preImages.set(job.id, { section, text: stringifyJson(encodeJob(job)) })
  }

  /** A job is about to leave `q`'s DLQ: the DLQ's order from the walk's position on is kept. */
  freezeDlq(q: QueueState): void {
    if (this.#frozenDlq.has(q)) return
    const at = this.#dlqQueues.indexOf(q, this.#dlqIndex)
    if (at < 0) return // walked already, or no DLQ at P
    const ids: number[] = []
    if (at === this.#dlqIndex && this.#dlqCursor !== null) {
      for (let step = this.#dlqCursor.next(); step.done !== true; step = this.#dlqCursor.next()) ids.push(step.value.id)
      this.#dlqCursor = null
    } else {
      for (const id of q.dlq.keys()) ids.push(id)
    }
    this.#frozenDlq.set(q, ids)
  }

  /** The records before the live jobs. */
  *#walkBefore(): Generator<SnapshotBody, void, undefined> {
    for (const record of this.#head) yield JSON.stringify(record)
    for (let i = 0; i < this.#completedIds.length; i++) {
      const id = this.#completedIds[i] as number
      if (this.#completedWithoutJob[i] === true) yield JSON.stringify({ t: 'ci', i: id })
      else yield this.#completedBody(id)
    }
    for (; this.#dlqIndex < this.#dlqQueues.length; this.#dlqIndex++) {
      const q = this.#dlqQueues[this.#dlqIndex] as QueueState
      this.#dlqCursor = q.dlq.values()
      for (;;) {
        const frozen = this.#frozenDlq.get(q)
        if (frozen !== undefined) {
          for (const id of frozen) {
            if (id > this.lastIdAtStart) continue
            const body = this.#takePreImage(id, SECTION_DLQ) ?? this.#liveBody(this.#core.jobs.get(id))
            if (body !== null) yield body
          }
          break
        }
        const step = (this.#dlqCursor as Iterator<Job>).next()
        if (step.done === true) break
        const job = step.value
        if (job.id > this.lastIdAtStart) continue
        const body = this.#takePreImage(job.id, SECTION_DLQ) ?? this.#liveBody(job)
        if (body !== null) yield body
      }
      this.#dlqCursor = null
    }
  }

  /** After the live jobs (next() walks those). */
  *#walkAfter(): Generator<SnapshotBody, void, undefined> {
    // Jobs that were live at P and have left the job table since: only their pre-image remains.
    for (const [id, pre] of this.#preImages) {
      if (pre.section !== SECTION_LIVE) continue
      this.#preImages.delete(id)
      yield pre.text
    }
    for (const record of this.#tail) yield JSON.stringify(record)
  }

  /** A completed job of P reached by the walk: its pre-image, or the job as it is (unchanged). */
  #completedBody(id: number): SnapshotBody {
    const pre = this.#takePreImage(id, SECTION_COMPLETED)
    if (pre !== null) return pre
    const job = this.#core.jobs.get(id)
    // Every completed job of P is either unchanged or left a pre-image: anything else is a
    // transition that skipped Core.willChange, and this checkpoint would be wrong.
    const body = job !== undefined && job.loc === LOC_COMPLETED ? this.#liveBody(job) : null
    if (body === null) throw new Error(`checkpoint capture: completed job ${id} changed without a pre-image`)
    return body
  }

  #takePreImage(id: number, section: Section): string | null {
    const pre = this.#preImages.get(id)
    if (pre === undefined || pre.section !== section) return null
    this.#preImages.delete(id)
    return pre.text
  }

  /** An unchanged job the walk reached (null if it is captured already). */
  #liveBody(job: Job | undefined): SnapshotBody | null {
    if (job === undefined || job.snapshotMark === this.epoch) return null
    job.snapshotMark = this.epoch
    this.#core.jobs.keepViewBits(job)
    return this.#writer.set(job)
  }
}

/** fmt, seq and the per-queue settings. */
function headRecords(core: Core): LogRecord[] {
  const records: LogRecord[] = [formatRecord(), { t: 'seq', s: core.sequence }]
  for (const q of core.queues.values()) {
    if (q.paused || q.rateLimit !== null || q.concurrencyLimit !== null) {
      records.push({ t: 'qs', q: q.name, p: q.paused, r: q.rateLimit, k: q.concurrencyLimit })
    }
    for (const [key, until] of q.debounce) records.push({ t: 'deb', q: q.name, k: key, x: until })
    if (q.defaults !== null) records.push({ t: 'qd', q: q.name, d: q.defaults })
  }
  return records
}

/** Results, logs, watchers, the outbox, legacy flow keys, KV and cron. */
function tailRecords(core: Core): LogRecord[] {
  const records: LogRecord[] = []
  for (const id of core.resultIds.values()) {
    if (core.results.has(id)) records.push({ t: 'res', i: id, r: core.results.get(id) })
  }
  // Log lists grow in place: copied.
  for (const [id, entries] of core.logs) records.push({ t: 'logs', i: id, e: entries.slice() })
  for (const [dependencyId, watchers] of core.links.remoteWatchers) {
    for (const watcher of watchers) records.push({ t: 'w', d: dependencyId, s: watcher.shard, w: watcher.jobId })
  }
  for (const record of core.links.outbox.snapshot()) records.push(record)
  for (const [key, id] of core.links.legacyFlowChildKeys) records.push({ t: 'fk', k: key, i: id })
  for (const record of core.kv.snapshot()) records.push(record)
  for (const record of core.cron.snapshot()) records.push(record)
  return records
}
