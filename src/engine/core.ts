/**
 * The shard's state and its transitions. Handlers (handlers-*.ts) validate a command and call these;
 * replay (records.ts) calls the same transitions, so live and replayed state cannot drift apart.
 * Every transition that changes durable state appends exactly one record (when recording); records
 * that must survive together are grouped (beginGroup/endGroup → one `tx` record).
 *
 * Other concepts have their own homes: job links — depends_on, flows and the cross-shard outbox —
 * in links.ts / outbox.ts, time (ticks, stalls, housekeeping, wake-ups) in scheduling.ts, counters
 * in metrics.ts, GETJOBS ordering in job-index.ts, KV and cron in kv.ts / cron.ts.
 */
import { jobIdOf, sequenceOfJobId, shardOfJobId } from '../base/ids.ts'
import { jobLogEntriesMax, jobsPerShardMax } from '../base/limits.ts'
import * as errors from '../protocol/errors.ts'
import type { EngineConfig, EngineOutput, JobEvent, LogRecord, Reply, Token } from './types.ts'
import { IndexedHeap } from './heap.ts'
import {
  Job, LOC_ACTIVE, LOC_COMPLETED, LOC_DELAYED, LOC_DLQ, LOC_GONE, LOC_GROUP_WAIT, LOC_PARENT, LOC_PARKED,
  LOC_READY, expiresAt, jobToWire, setHeapIndex, setTtlIndex,
} from './job.ts'
import { jobToSparseWire } from './sparse-wire.ts'
import { QueueState } from './queue-state.ts'
import { JobTable } from './job-table.ts'
import { NumberRing, ObjectRing } from './ring.ts'
import { WAIT_PULL, Waiter, WaiterTable } from './waiters.ts'
import {
  backoffExponentMax, completedHistoryMax, completedHistoryMin, completedIdsMax, debounceEntriesMax, dlqJobsMax,
  housekeepingIntervalMs, jobsWithLogsMax, queuesMax, resultsMax, resultsMin, stallCheckIntervalMs,
} from './engine-limits.ts'
import { KvStore } from './kv.ts'
import { JobReplyBudget } from './reply-size.ts'
import { Metrics } from './metrics.ts'
import { Links, childCompleted, notifyDependents } from './links.ts'
import { type ShardMessage, sealRecords } from './outbox.ts'
import { CronTable } from './cron.ts'
import type { SnapshotCapture } from './snapshot.ts'
import { clearArray } from '../base/arrays.ts'

/** A queue's id-ordered job list is checked for stale entries every 1024 additions (a power of two, minus one). */
const staleCheckEveryMask = 1023

export type JobLogEntry = { timestamp: number; message: string; level: string }

/** Queue defaults (spec §3.1, `POST /settings/queue-defaults`): fill PUSH fields left absent. */
export type QueueDefaults = { timeout?: number; max_attempts?: number; backoff?: number; ttl?: number }

const emptyOutput = (): EngineOutput => ({ replies: [], records: [], events: [], messages: [] })

export class Core {
  readonly shardIndex: number
  readonly shardCount: number
  readonly recordsEnabled: boolean
  /** True while replaying: transitions run, output is thrown away. */
  replaying = false
  /** Last sequence handed out (id = sequence × shardCount + shardIndex). */
  sequence = 0
  /**
   * Set for a graceful shutdown: no job is handed out any more (as if every queue were paused, but
   * nothing is recorded), so the active jobs can finish while pulls wait out their timeouts.
   */
  deliveryStopped = false
  /**
   * False while nobody listens (the host toggles it with its subscribers): events are then not even
   * built, so `active` on every delivered job costs nothing at 100k jobs/s without listeners.
   */
  eventsEnabled = true

  /** Every job the shard holds, by id (completed ones while remembered). */
  readonly jobs: JobTable
  readonly queues = new Map<string, QueueState>()
  readonly customIds = new Map<string, number>()
  /** Queued jobs with a TTL, by expiry. */
  readonly ttlHeap = new IndexedHeap<Job>((a, b) => expiresAt(a) < expiresAt(b), setTtlIndex)
  /** Active jobs with a processing timeout, by deadline. */
  readonly timeoutHeap = new IndexedHeap<Job>(
    (a, b) => a.startedAt + a.timeout < b.startedAt + b.timeout,
    setHeapIndex,
  )
  readonly activeJobs = new Set<Job>()
  readonly completedIds = new NumberRing(completedIdsMax)
  readonly history = new ObjectRing<Job>(completedHistoryMax, completedHistoryMin)
  readonly results = new Map<number, unknown>()
  readonly resultIds = new NumberRing(resultsMax, resultsMin)
  /** Housekeeping period (POST /settings/cleanup; runtime-only, see handlers-internal.ts). */
  housekeepingIntervalMs = housekeepingIntervalMs
  /** When housekeeping trims retention to a lowered limit (Infinity: nothing pending). */
  retentionTrimDueMs = Infinity
  readonly logs = new Map<number, JobLogEntry[]>()
  readonly logIds = new NumberRing(jobsWithLogsMax)
  readonly waiters = new WaiterTable()
  /** Queues whose pull waiters may be servable now. */
  readonly dirty = new Set<QueueState>()
  /** Queues with at least one pull waiter. */
  readonly waitingQueues = new Set<QueueState>()
  nextStallCheckMs = Infinity
  /** Jobs this shard holds at most (completed ones included); pushes above it are refused. */
  jobsMax = jobsPerShardMax
  /** Queues this shard holds at most; commands that would create another are refused (engine.ts). */
  queuesMax = queuesMax
  /** Debounce windows one queue holds at most; a push with a new debounce_id above it is refused. */
  debounceEntriesMax = debounceEntriesMax
  /**
   * Completed ids whose job was forgotten at ACK (remove_on_complete): they count as completed for
   * depends_on (spec §4.11) while their state reads `unknown` (§4.17). A subset of completedIds.
   */
  readonly completedWithoutJob = new Set<number>()

  readonly kv = new KvStore()
  /** Queues that hold (or held) queued-API messages, for the queued_* gauges (queued-store.ts). */
  readonly queuedQueues = new Set<string>()
  readonly cron = new CronTable()

  /** Queues a command or tick touched: freed at the end of the batch when they hold nothing. */
  readonly touched = new Set<QueueState>()
  /** Queues with debounce entries (purged by housekeeping). */
  readonly debounceQueues = new Set<QueueState>()
  lastHousekeepingMs = 0

  /** depends_on, flows and the cross-shard outbox (links.ts). */
  readonly links = new Links()

  /** Counters and the completions history (not persisted; metrics.ts). */
  readonly metrics = new Metrics()

  out: EngineOutput = emptyOutput()

  /** The checkpoint capture running (copy-on-write, snapshot.ts), or null. */
  capture: SnapshotCapture | null = null

  constructor(config: EngineConfig) {
    this.shardIndex = config.shardIndex
    this.shardCount = config.shardCount
    this.recordsEnabled = config.recordsEnabled
    this.jobs = new JobTable(config.shardIndex, config.shardCount)
    this.jobs.attachHeaps((queue, loc) => {
      const q = this.queues.get(queue)
      return q === undefined ? undefined : loc === LOC_READY ? q.ready : loc === LOC_DELAYED ? q.delayed : undefined
    })
  }

  get recording(): boolean {
    return this.recordsEnabled && !this.replaying
  }

  drain(): EngineOutput {
    this.jobs.settlePayloads()
    const out = this.out
    this.out = this.spareOut ?? emptyOutput()
    this.spareOut = null
    return out
  }

  /** A drained output handed back by its reader (recycle), reused by the next drain. */
  private spareOut: EngineOutput | null = null

  /**
   * Takes back a drained output whose reader is done with it and kept none of its arrays: the next
   * drain reuses them instead of allocating five objects per request batch.
   */
  recycle(out: EngineOutput): void {
    if (out === this.out) return
    clearArray(out.replies)
    clearArray(out.records)
    clearArray(out.events)
    clearArray(out.messages)
    this.spareOut = out
  }

  reply(token: Token, reply: Reply): void {
    if (token !== 0) this.out.replies.push([token, reply])
  }

  record(record: LogRecord): void {
    this.out.records.push(record)
  }

  /** Starts a group of records that must become durable together (see endGroup). */
  beginGroup(): number {
    return this.out.records.length
  }

  /**
   * Puts the records appended since `mark` into one `tx` record (one log frame), so a crash keeps all
   * of them or none: a completion and what it released (`dd`, `cd`, outbox messages), a job and its
   * `watch`, a flow parent and its children. A single record needs no wrapper.
   */
  endGroup(mark: number): void {
    if (this.recording && this.out.records.length - mark > 1) sealRecords(this.out.records, mark, (records) => ({ t: 'tx', r: records }))
  }

  /** Where KvStore and CronTable append their records: the output, or a throwaway when not recording. */
  get sink(): LogRecord[] {
    return this.recording ? this.out.records : []
  }

  /** `job`: the job the event is about; its custom id goes along as `custom_id` (the SDK's QueueEvents shows it as the job's id). */
  event(event: JobEvent, job?: Job): void {
    if (!this.eventsEnabled) return
    if (job !== undefined && job.customId !== null) event.custom_id = job.customId
    this.out.events.push(event)
  }

  message(shardIndex: number, message: ShardMessage): void {
    this.out.messages.push({ shardIndex, message })
  }

  /**
   * Called before anything changes a job of the shard — a field the checkpoint records, its place,
   * or its removal: a running checkpoint capture first keeps the job as it was (snapshot.ts). Jobs
   * created after the capture began, and jobs it holds already, cost one comparison.
   */
  willChange(job: Job): void {
    const capture = this.capture
    if (capture === null || job.snapshotMark === capture.epoch || job.id > capture.lastIdAtStart) return
    if (this.jobs.get(job.id) === job) capture.preImage(job)
  }

  /** Takes a job out of its queue's DLQ (a running capture keeps the DLQ's order first). */
  dlqDelete(q: QueueState, job: Job): void {
    this.capture?.freezeDlq(q)
    q.dlq.delete(job.id)
  }

  /** A new job (or one replayed) joins the shard: the job table and its queue's id-ordered list. */
  addJob(job: Job, q: QueueState): void {
    // Checking for stale entries now and then is enough to keep the list within twice the live jobs.
    // Before the job joins it: it is not placed yet (unlisted), and a compaction would drop it.
    if ((q.byId.length & staleCheckEveryMask) === 0) q.byId.compactIfStale(q.listedCount)
    this.jobs.set(job.id, job)
    q.byId.add(job)
  }

  nextId(): number {
    this.sequence++
    return jobIdOf(this.sequence, this.shardIndex, this.shardCount)
  }

  noteId(id: number): void {
    this.noteSequence(sequenceOfJobId(id, this.shardCount))
  }

  /** Sequences up to `sequence` were handed out (a replayed id, a snapshot's `seq`). */
  noteSequence(sequence: number): void {
    if (sequence > this.sequence) this.sequence = sequence
  }

  isLocal(id: number): boolean {
    return shardOfJobId(id, this.shardCount) === this.shardIndex
  }

  queue(name: string): QueueState {
    let state = this.queues.get(name)
    if (state === undefined) {
      state = new QueueState(name, this.jobs, this.shardCount)
      this.queues.set(name, state)
    }
    this.touched.add(state)
    return state
  }

  /** Forgets the touched queues that hold nothing (no jobs, settings, keys or waiters). */
  sweepQueues(): void {
    if (this.touched.size === 0) return
    // Deleted one by one: Set.clear allocates a new table, and this runs after every command.
    for (const q of this.touched) {
      this.touched.delete(q)
      if (!q.isEmpty || this.queues.get(q.name) !== q) continue
      this.queues.delete(q.name)
      this.waitingQueues.delete(q)
      this.dirty.delete(q)
    }
  }

  setDebounce(q: QueueState, debounceId: string, untilMs: number): void {
    q.debounce.set(debounceId, untilMs)
    this.debounceQueues.add(q)
  }

  // ---------------------------------------------------------------------------------------------
  // Placement

  /** Puts a job into its queue: ready heap when due, delay heap otherwise; TTL heap when it has one. */
  enqueue(job: Job, q: QueueState, nowMs: number): void {
    this.willChange(job)
    // Replay parks everything in the delay heap; finishReplay promotes what is due at the real time.
    if (job.runAt > nowMs || this.replaying) {
      job.loc = LOC_DELAYED
      q.delayed.push(job)
    } else {
      job.loc = LOC_READY
      q.ready.push(job)
    }
    if (job.ttl > 0 && job.ttlIndex < 0) this.ttlHeap.push(job)
    if (this.waitingQueues.has(q)) this.dirty.add(q)
  }

  /** Takes a queued job out of its heap (or group-wait list) and the TTL heap. */
  unqueue(job: Job, q: QueueState): void {
    this.willChange(job)
    if (job.loc === LOC_READY) q.ready.removeAt(job.heapIndex)
    else if (job.loc === LOC_DELAYED) q.delayed.removeAt(job.heapIndex)
    else if (job.loc === LOC_GROUP_WAIT) {
      const list = q.groupWait.get(job.groupId as string) as Job[]
      list.splice(list.indexOf(job), 1)
      if (list.length === 0) q.groupWait.delete(job.groupId as string)
      q.groupWaitCount--
    }
    if (job.ttlIndex >= 0) this.ttlHeap.removeAt(job.ttlIndex)
    job.loc = LOC_GONE
  }

  /** Moves due delayed jobs of a queue into its ready heap. */
  promoteDue(q: QueueState, nowMs: number): void {
    const delayed = q.delayed
    for (;;) {
      const top = delayed.peek()
      if (top === undefined || top.runAt > nowMs) return
      delayed.pop()
      top.loc = LOC_READY
      q.ready.push(top)
    }
  }

  /** Waiting for its depends_on (waitingchildren) or its FLOW children (waitingparent). */
  isParked(job: Job): boolean {
    return job.loc === LOC_PARKED || job.loc === LOC_PARENT
  }

  /** A job waits for its dependencies (LOC_PARKED) or for its flow children (LOC_PARENT). */
  park(job: Job, q: QueueState, loc: typeof LOC_PARKED | typeof LOC_PARENT): void {
    job.loc = loc
    q.parked.add(job)
    if (loc === LOC_PARENT) q.parentCount++
  }

  /**
   * A parked job stops waiting (released, removed or discarded); the caller places it (or forgets it).
   * A removed or discarded job keeps its dependency links: a dependency that completes later finds the
   * job no longer parked and skips it.
   */
  unpark(job: Job, q: QueueState): void {
    q.parked.delete(job)
    if (job.loc === LOC_PARENT) q.parentCount--
  }

  isQueued(job: Job): boolean {
    return job.loc === LOC_READY || job.loc === LOC_DELAYED || job.loc === LOC_GROUP_WAIT
  }

  // ---------------------------------------------------------------------------------------------
  // Delivery

  /** Up to `countMax` deliverable jobs, activated, in delivery order (spec §4.1, §4.14). */
  take(q: QueueState, countMax: number, nowMs: number): Job[] {
    const taken: Job[] = []
    if (q.paused || this.deliveryStopped) return taken
    let limit = countMax
    if (q.concurrencyLimit !== null) limit = Math.min(limit, q.concurrencyLimit - q.activeCount)
    if (q.rateLimit !== null) {
      q.refillTokens(nowMs)
      limit = Math.min(limit, Math.floor(q.tokens))
    }
    if (limit <= 0) return taken
    if (q.delayed.size > 0) this.promoteDue(q, nowMs)
    const ready = q.ready
    // Several jobs go into one reply: stop before it would pass replyBytesMax (reply-size.ts).
    const budget = limit > 1 ? new JobReplyBudget() : null
    while (taken.length < limit) {
      const job = ready.pop()
      if (job === undefined) break
      if (job.ttl > 0 && nowMs >= job.createdAt + job.ttl) {
        job.loc = LOC_GONE
        this.expire(job, q)
        continue
      }
      const group = job.groupId
      if (group !== null && q.busyGroups.has(group)) {
        job.loc = LOC_GROUP_WAIT
        const list = q.groupWait.get(group)
        if (list === undefined) q.groupWait.set(group, [job])
        else list.push(job)
        q.groupWaitCount++
        continue
      }
      if (budget !== null && !budget.admit(job)) {
        ready.push(job)
        break
      }
      if (group !== null) q.busyGroups.add(group)
      if (job.ttlIndex >= 0) this.ttlHeap.removeAt(job.ttlIndex)
      this.activate(job, q, nowMs)
      taken.push(job)
    }
    if (q.rateLimit !== null) q.tokens -= taken.length
    if (this.eventsEnabled && taken.length > 0) this.deliveryEvents(q, taken, nowMs)
    return taken
  }

  /** `active` per delivered job, and `drained` when the delivery took the queue's last ready job. */
  private deliveryEvents(q: QueueState, taken: Job[], nowMs: number): void {
    for (const job of taken) this.event({ event_type: 'active', queue: q.name, job_id: job.id, timestamp: nowMs }, job)
    if (q.ready.size === 0 && q.groupWaitCount === 0) this.event({ event_type: 'drained', queue: q.name, job_id: 0, timestamp: nowMs })
  }

  private activate(job: Job, q: QueueState, nowMs: number): void {
    this.willChange(job)
    job.loc = LOC_ACTIVE
    job.startedAt = nowMs
    job.lastHeartbeat = nowMs
    q.activeCount++
    this.activeJobs.add(job)
    if (job.timeout > 0) this.timeoutHeap.push(job)
    if (this.nextStallCheckMs === Infinity) this.nextStallCheckMs = nowMs + stallCheckIntervalMs
  }

  /** The job stops being active: frees its slot, its group and its timeout. */
  leaveActive(job: Job, q: QueueState): void {
    this.willChange(job)
    q.activeCount--
    this.activeJobs.delete(job)
    if (job.heapIndex >= 0) this.timeoutHeap.removeAt(job.heapIndex)
    const group = job.groupId
    if (group !== null && q.busyGroups.delete(group)) {
      const parked = q.groupWait.get(group)
      if (parked !== undefined) {
        q.groupWait.delete(group)
        q.groupWaitCount -= parked.length
        for (const other of parked) {
          other.loc = LOC_READY
          q.ready.push(other)
        }
      }
    }
    job.loc = LOC_GONE
    if (this.waitingQueues.has(q)) this.dirty.add(q)
  }

  /** Serves the pull waiters of a queue, FIFO, while jobs can be delivered. */
  serveWaiters(q: QueueState, nowMs: number): void {
    for (;;) {
      const waiter = q.pullWaiters.first()
      if (waiter === undefined) {
        this.waitingQueues.delete(q)
        return
      }
      const jobs = this.take(q, waiter.kind === WAIT_PULL ? 1 : waiter.count, nowMs)
      if (jobs.length === 0) return
      this.waiters.finish(waiter)
      if (waiter.kind === WAIT_PULL) this.reply(waiter.token, { ok: true, job: jobToWire(jobs[0] as Job) })
      else this.reply(waiter.token, { ok: true, jobs: jobs.map(waiter.sparse ? jobToSparseWire : jobToWire) })
    }
  }

  serveDirty(nowMs: number): void {
    if (this.dirty.size === 0) return
    for (const q of this.dirty) this.serveWaiters(q, nowMs)
    this.dirty.clear()
  }

  addPullWaiter(waiter: Waiter, q: QueueState): void {
    this.waiters.add(waiter)
    q.pullWaiters.push(waiter)
    this.waitingQueues.add(q)
  }

  // ---------------------------------------------------------------------------------------------
  // Terminal transitions (spec §4.19)

  releaseKey(job: Job, q: QueueState): void {
    if (job.holdsKey) {
      this.willChange(job)
      q.uniqueKeys.delete(job.uniqueKey as string)
      job.holdsKey = false
    }
  }

  /** Forgets a job entirely (state `unknown`). */
  forget(job: Job): void {
    this.willChange(job)
    this.jobs.delete(job.id)
    if (job.customId !== null && this.customIds.get(job.customId) === job.id) this.customIds.delete(job.customId)
    job.loc = LOC_GONE
  }

  /**
   * Removes a job in any state (cancel, REMOVEJOB, drain, clean, obliterate, purge, replay of `rm`),
   * its log lines included: nothing can read them once the job is unknown.
   */
  remove(job: Job, q: QueueState, waitReply: string | null): void {
    this.willChange(job)
    if (this.isQueued(job)) this.unqueue(job, q)
    else if (job.loc === LOC_ACTIVE) this.leaveActive(job, q)
    else if (job.loc === LOC_DLQ) this.dlqDelete(q, job)
    else if (this.isParked(job)) this.unpark(job, q)
    else if (job.loc === LOC_COMPLETED) {
      // CLEAN of completed jobs: they leave the history, and their result goes. Their id still
      // counts as completed (depends_on, STATS), like a job removed at ACK (remove_on_complete).
      if (job.inHistory) {
        job.inHistory = false
        q.completedCount--
      }
      this.results.delete(job.id)
    }
    this.releaseKey(job, q)
    if (this.logs.size > 0) this.logs.delete(job.id) // a DRAIN of a million jobs with no logs skips the lookups
    const wasCompleted = job.loc === LOC_COMPLETED
    this.forget(job)
    if (wasCompleted) this.completedWithoutJob.add(job.id)
    if (waitReply !== null) this.answerJobWaiters(job.id, { ok: false, error: waitReply })
  }

  /** TTL expiry of a queued job (already taken out of its heap by the caller or not). */
  expire(job: Job, q: QueueState): void {
    this.willChange(job)
    if (job.ttlIndex >= 0) this.ttlHeap.removeAt(job.ttlIndex)
    if (this.isQueued(job)) this.unqueue(job, q)
    this.releaseKey(job, q)
    this.forget(job)
    if (this.recording) this.record({ t: 'rm', i: [job.id] })
    this.answerJobWaiters(job.id, { ok: false, error: errors.waitJobNotFound })
  }

  answerJobWaiters(jobId: number, reply: Reply): void {
    if (this.waiters.byJob.size === 0) return
    const list = this.waiters.takeJobWaiters(jobId)
    if (list !== undefined) for (const waiter of list) this.reply(waiter.token, reply)
  }

  /** ACK / ACKB of a job (active live; queued in replay). `withResult` false for ACKB. */
  complete(job: Job, q: QueueState, result: unknown, withResult: boolean, nowMs: number): void {
    this.willChange(job)
    if (job.loc === LOC_ACTIVE) this.leaveActive(job, q)
    else if (this.isQueued(job)) this.unqueue(job, q)
    this.releaseKey(job, q)
    if (job.customId !== null && this.customIds.get(job.customId) === job.id) this.customIds.delete(job.customId)
    job.completedAt = nowMs
    const hasResult = withResult && result !== undefined && result !== null
    const group = this.beginGroup()
    if (this.recording) {
      this.record(hasResult ? { t: 'a', i: job.id, c: nowMs, r: result } : { t: 'a', i: job.id, c: nowMs })
    }
    this.metrics.completed(nowMs - job.createdAt)
    if (!this.replaying) this.metrics.countCompletion(nowMs)
    if (job.removeOnComplete) {
      this.forget(job)
      this.markCompletedId(job.id)
    } else {
      this.markCompleted(job, q)
      if (hasResult) this.storeResult(job.id, result)
    }
    if (!this.replaying) {
      if (this.eventsEnabled) this.event(hasResult
        ? { event_type: 'completed', queue: job.queue, job_id: job.id, timestamp: nowMs, data: result }
        : { event_type: 'completed', queue: job.queue, job_id: job.id, timestamp: nowMs }, job)
      this.answerJobWaiters(job.id, withResult && result !== undefined ? { ok: true, result } : { ok: true })
      notifyDependents(this, job.id, nowMs)
      if (job.parentId !== null) childCompleted(this, job.parentId, job.id, nowMs)
    }
    this.endGroup(group)
  }

  /** Adds a completed job to the completed-id set and history (bounded; evictions are forgotten). */
  markCompleted(job: Job, q: QueueState): void {
    this.willChange(job)
    job.loc = LOC_COMPLETED
    this.jobs.set(job.id, job)
    this.evictCompletedId(this.completedIds.push(job.id))
    job.inHistory = true
    q.completedCount++
    const evicted = this.history.push(job)
    if (evicted !== undefined) this.leaveHistory(evicted)
  }

  /** A job pushed out of the completed history keeps only its completed id. */
  leaveHistory(evicted: Job): void {
    if (!evicted.inHistory) return
    this.willChange(evicted)
    evicted.inHistory = false
    evicted.data = null
    const evictedQueue = this.queues.get(evicted.queue)
    if (evictedQueue !== undefined) evictedQueue.completedCount--
  }

  /** Drops history and results beyond their (possibly lowered) limits; returns how many were dropped. */
  trimRetention(): number {
    const jobs = this.history.trim()
    for (const job of jobs) this.leaveHistory(job)
    const ids = this.resultIds.trim()
    for (const id of ids) this.results.delete(id)
    return jobs.length + ids.length
  }

  /** A completed id without its job (remove_on_complete). */
  markCompletedId(id: number): void {
    this.completedWithoutJob.add(id)
    this.evictCompletedId(this.completedIds.push(id))
  }

  private evictCompletedId(evictedId: number): void {
    if (evictedId < 0) return
    if (this.completedWithoutJob.delete(evictedId)) return
    const old = this.jobs.get(evictedId)
    if (old !== undefined && old.loc === LOC_COMPLETED) {
      this.willChange(old)
      this.jobs.delete(evictedId)
      old.loc = LOC_GONE
    }
  }

  /** True when `id` (a job of this shard) is in the completed-id set (depends_on). */
  isCompletedId(id: number): boolean {
    const job = this.jobs.get(id)
    return job !== undefined ? job.loc === LOC_COMPLETED : this.completedWithoutJob.has(id)
  }

  storeResult(id: number, result: unknown): void {
    this.results.set(id, result)
    const evicted = this.resultIds.push(id)
    if (evicted >= 0) this.results.delete(evicted)
  }

  /**
   * FAIL or timeout: attempts + 1, then retry with backoff or final failure. `retryDelayMs` (FAIL's
   * `retry_delay` extension) replaces the job's exponential backoff for this retry: the SDK computes
   * BullMQ's fixed and custom backoffs and sends the delay.
   */
  fail(job: Job, q: QueueState, reason: string, nowMs: number, cause: 'fail' | 'timeout', retryDelayMs?: number): void {
    this.willChange(job)
    if (job.loc === LOC_ACTIVE) this.leaveActive(job, q)
    else if (this.isQueued(job)) this.unqueue(job, q)
    job.attempts++
    if (!this.replaying && cause === 'timeout') {
      this.event({ event_type: 'timeout', queue: job.queue, job_id: job.id, timestamp: nowMs, error: reason }, job)
    }
    if (job.maxAttempts > 0 && job.attempts >= job.maxAttempts) {
      this.failFinally(job, q, reason, nowMs)
      return
    }
    if (retryDelayMs !== undefined) job.runAt = nowMs + retryDelayMs
    else if (job.backoff > 0) job.runAt = nowMs + job.backoff * 2 ** Math.min(job.attempts, backoffExponentMax)
    this.retry(job, q, job.attempts, job.runAt, reason, nowMs)
    if (!this.replaying) {
      const data = { attempts: job.attempts, run_at: job.runAt }
      this.event({ event_type: 'retrying', queue: job.queue, job_id: job.id, timestamp: nowMs, data, error: reason }, job)
    }
  }

  /** Retry placement (shared with replay of a `f` record). */
  retry(job: Job, q: QueueState, attempts: number, runAt: number, reason: string, nowMs: number): void {
    this.willChange(job)
    job.attempts = attempts
    job.runAt = runAt
    job.startedAt = 0
    job.progressMsg = reason
    if (this.recording) this.record({ t: 'f', i: job.id, n: attempts, r: runAt, m: reason })
    this.enqueue(job, q, nowMs)
  }

  /**
   * Final failure of FAIL or a timeout: DLQ, or dropped with remove_on_fail (`x` / `rm`). Replay of
   * `x` comes here with the attempts and heartbeat the record carries (live: the job's own).
   */
  failFinally(job: Job, q: QueueState, reason: string, nowMs: number, attempts = job.attempts, lastHeartbeatMs = job.lastHeartbeat): void {
    job.attempts = attempts
    job.lastHeartbeat = lastHeartbeatMs
    if (this.recording) {
      this.record(job.removeOnFail ? { t: 'rm', i: [job.id] } : { t: 'x', i: job.id, n: attempts, e: reason, h: lastHeartbeatMs })
    }
    this.deadLetter(job, q, reason, nowMs, true)
  }

  /**
   * The one transition to "failed for good" (final FAIL, processing timeout, last stall strike,
   * DISCARD), live and in replay: the job leaves active, its queue or its parking (DISCARD of a
   * parked job: the SDK's failParentOnFailure), frees its unique key and goes
   * to the DLQ, or is dropped when `mayDrop` and it has remove_on_fail. Callers record the cause
   * (`x`, `rm`, `st`, `dc`); replay of those records lands here too.
   */
  deadLetter(job: Job, q: QueueState, reason: string, nowMs: number, mayDrop: boolean): void {
    this.willChange(job)
    if (job.loc === LOC_ACTIVE) this.leaveActive(job, q)
    else if (this.isQueued(job)) this.unqueue(job, q)
    else if (this.isParked(job)) this.unpark(job, q)
    this.releaseKey(job, q)
    this.metrics.totalFailed++
    job.startedAt = 0
    if (mayDrop && job.removeOnFail) this.forget(job)
    else this.toDlq(job, q, reason)
    if (!this.replaying) {
      // attempts and max_attempts (an extension) tell a failure that used up the attempts (BullMQ's retries-exhausted).
      const data = { attempts: job.attempts, max_attempts: job.maxAttempts }
      this.event({ event_type: 'failed', queue: job.queue, job_id: job.id, timestamp: nowMs, data, error: reason }, job)
      this.answerJobWaiters(job.id, { ok: false, error: errors.waitJobFailed })
    }
  }

  toDlq(job: Job, q: QueueState, reason: string): void {
    this.willChange(job)
    job.loc = LOC_DLQ
    job.failReason = reason
    q.dlq.set(job.id, job)
    if (q.dlq.size > dlqJobsMax) {
      const oldest = q.dlq.values().next().value as Job
      this.willChange(oldest)
      this.dlqDelete(q, oldest)
      this.forget(oldest)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Logs

  appendLog(id: number, entry: JobLogEntry): void {
    let list = this.logs.get(id)
    if (list === undefined) {
      list = []
      this.logs.set(id, list)
      const evicted = this.logIds.push(id)
      if (evicted >= 0) this.logs.delete(evicted)
    }
    list.push(entry)
    if (list.length > jobLogEntriesMax) list.shift()
  }

  /** Re-places every queued job at `nowMs` after replay (replay placed them at their record times). */
  rebuildAfterReplay(nowMs: number): void {
    for (const q of this.queues.values()) {
      this.promoteDue(q, nowMs)
      q.byId.ensureSorted()
      this.touched.add(q)
    }
    this.sweepQueues()
    this.links.outbox.resendAll()
  }
}

export function isRetrievable(job: Job): boolean {
  return job.loc !== LOC_GONE && job.loc !== LOC_COMPLETED
}
