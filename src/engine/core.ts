/**
 * The shard's state and its transitions. Handlers (handlers-*.ts) validate a command and call these;
 * replay (records.ts) calls the same transitions, so live and replayed state cannot drift apart.
 * Every transition that changes durable state appends exactly one record (when recording).
 */
import { jobIdOf, sequenceOfJobId, shardOfJobId } from '../base/ids.ts'
import { jobsPerShardMax } from '../base/limits.ts'
import * as errors from '../protocol/errors.ts'
import type { EngineConfig, EngineOutput, JobEvent, LogRecord, Reply, Token } from './types.ts'
import { IndexedHeap } from './heap.ts'
import {
  Job, LOC_ACTIVE, LOC_COMPLETED, LOC_DELAYED, LOC_DLQ, LOC_GONE, LOC_GROUP_WAIT, LOC_PARENT, LOC_PARKED,
  LOC_READY, expiresAt, jobToWire, setHeapIndex, setTtlIndex,
} from './job.ts'
import { QueueState } from './queue-state.ts'
import { NumberRing, ObjectRing } from './ring.ts'
import { WAIT_JOB, WAIT_PULL, Waiter, WaiterTable } from './waiters.ts'
import {
  backoffExponentMax, completedHistoryMax, completedIdsMax, dlqJobsMax, flowChildKeysMax, flowReplyTimeoutMs,
  housekeepingIntervalMs, jobLogEntriesMax, jobsWithLogsMax, metricsPointMs, metricsPointsMax, resultsMax,
  stallCheckIntervalMs, stallStrikesMax, stallTimeoutDefaultMs,
} from './engine-limits.ts'
import { KvStore } from './kv.ts'
import { JobReplyBudget } from './reply-size.ts'
import { CronTable } from './cron.ts'

export type JobLogEntry = { timestamp: number; message: string; level: string }

/**
 * Cross-shard message kinds (depends_on, flows, cron and OBLITERATE whose parts live on another
 * shard). The host releases a message only once the records of the batch that produced it are
 * durable, so a message never refers to state that a crash could still take back.
 */
export type EngineMessage =
  /** Tell me (shard s, job w) when job d completes. */
  | { t: 'watch'; d: number; s: number; w: number }
  /** Job d, a dependency of job w, completed. */
  | { t: 'depdone'; d: number; w: number }
  /** Child c of flow parent p completed. */
  | { t: 'childdone'; p: number; c: number }
  /** A cron entry of the sender fired for `queue`, which this shard owns: push a plain job. */
  | { t: 'cronpush'; queue: string; data: unknown; priority: number }
  /** OBLITERATE of `queue` on its shard: delete this shard's cron entries that push to it. */
  | { t: 'cronobliterate'; queue: string }
  /** Create child number `index` of flow parent p (on shard s) in `queue`, which this shard owns. */
  | { t: 'flowchild'; p: number; s: number; index: number; queue: string; data: unknown; priority: number; delay: number | null }
  /** Child number `index` of flow parent p was created with id `id`. */
  | { t: 'flowchildid'; p: number; index: number; id: number }
  /** GETCHILDREN on shard s (query r): send the wire jobs of these children that are still here. */
  | { t: 'childrenget'; s: number; r: number; ids: number[] }
  /** Answer to `childrenget` r: the children found (wire jobs). */
  | { t: 'childrenjobs'; r: number; jobs: Array<{ id: number; [field: string]: unknown }> }

/** A child of a flow parent that lives on another shard and whose id is not known yet. */
export type FlowChildRequest = { index: number; shard: number; queue: string; data: unknown; priority: number; delay: number | null }

/** A FLOW whose reply waits for the ids of its remote children. */
export type FlowReply = { token: Token; ids: number[]; deadline: number }

/** A GETCHILDREN waiting for the children that live on other shards. */
export type ChildQuery = {
  token: Token
  reply: Reply
  /** Children found so far, by id. */
  found: Map<number, unknown>
  order: number[]
  shardsPending: number
  deadline: number
}

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

  readonly jobs = new Map<number, Job>()
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
  readonly history = new ObjectRing<Job>(completedHistoryMax)
  readonly results = new Map<number, unknown>()
  readonly resultIds = new NumberRing(resultsMax)
  readonly logs = new Map<number, JobLogEntry[]>()
  readonly logIds = new NumberRing(jobsWithLogsMax)
  readonly waiters = new WaiterTable()
  /** Local depends_on: dependency id → parked job ids (and remote watchers as `shard:job`). */
  readonly dependents = new Map<number, number[]>()
  readonly remoteWatchers = new Map<number, Array<{ s: number; w: number }>>()
  /** Queues whose pull waiters may be servable now. */
  readonly dirty = new Set<QueueState>()
  /** Queues with at least one pull waiter. */
  readonly waitingQueues = new Set<QueueState>()
  nextStallCheckMs = Infinity
  /** Jobs this shard holds at most (completed ones included); pushes above it are refused. */
  jobsMax = jobsPerShardMax
  /**
   * Completed ids whose job was forgotten at ACK (remove_on_complete): they count as completed for
   * depends_on (spec §4.11) while their state reads `unknown` (§4.17). A subset of completedIds.
   */
  readonly completedWithoutJob = new Set<number>()

  readonly kv = new KvStore()
  readonly cron = new CronTable()

  /** Queues a command or tick touched: freed at the end of the batch when they hold nothing. */
  readonly touched = new Set<QueueState>()
  /** Queues with debounce entries (purged by housekeeping). */
  readonly debounceQueues = new Set<QueueState>()
  lastHousekeepingMs = 0

  /** Flow parents of this shard → their remote children whose ids are not known yet. */
  readonly flowRequests = new Map<number, FlowChildRequest[]>()
  /** FLOW replies held until every remote child id is known. */
  readonly flowReplies = new Map<number, FlowReply>()
  /** Remote flow children created here: `parent:index` → child id (answers a repeated request). */
  readonly flowChildKeys = new Map<string, number>()
  /** After a restart, remote child requests still unanswered are sent again at the first tick. */
  resendFlowRequests = false
  /** GETCHILDREN replies waiting for other shards (not persisted: a restart drops the connections). */
  readonly childQueries = new Map<number, ChildQuery>()
  lastChildQuery = 0

  // Metrics (not persisted).
  totalPushed = 0
  totalCompleted = 0
  totalFailed = 0
  latencySumMs = 0
  latencyCount = 0
  /** Completions per metrics point (one per 5 s), oldest first, at most metricsPointsMax. */
  readonly metricsPoints: number[] = []
  /** Start of the point being counted, and its count so far. */
  metricsPointStartMs = -1
  metricsPointCount = 0

  out: EngineOutput = emptyOutput()

  constructor(config: EngineConfig) {
    this.shardIndex = config.shardIndex
    this.shardCount = config.shardCount
    this.recordsEnabled = config.recordsEnabled
  }

  get recording(): boolean {
    return this.recordsEnabled && !this.replaying
  }

  drain(): EngineOutput {
    const out = this.out
    this.out = emptyOutput()
    return out
  }

  reply(token: Token, reply: Reply): void {
    if (token !== 0) this.out.replies.push([token, reply])
  }

  record(record: LogRecord): void {
    this.out.records.push(record)
  }

  /** Where KvStore and CronTable append their records: the output, or a throwaway when not recording. */
  get sink(): LogRecord[] {
    return this.recording ? this.out.records : []
  }

  event(event: JobEvent): void {
    this.out.events.push(event)
  }

  message(shardIndex: number, message: EngineMessage): void {
    this.out.messages.push({ shardIndex, message })
  }

  nextId(): number {
    this.sequence++
    return jobIdOf(this.sequence, this.shardIndex, this.shardCount)
  }

  noteId(id: number): void {
    const sequence = sequenceOfJobId(id, this.shardCount)
    if (sequence > this.sequence) this.sequence = sequence
  }

  isLocal(id: number): boolean {
    return shardOfJobId(id, this.shardCount) === this.shardIndex
  }

  queue(name: string): QueueState {
    let state = this.queues.get(name)
    if (state === undefined) {
      state = new QueueState(name)
      this.queues.set(name, state)
    }
    this.touched.add(state)
    return state
  }

  /** Forgets the touched queues that hold nothing (no jobs, settings, keys or waiters). */
  sweepQueues(): void {
    if (this.touched.size === 0) return
    for (const q of this.touched) {
      if (!q.isEmpty || this.queues.get(q.name) !== q) continue
      this.queues.delete(q.name)
      this.waitingQueues.delete(q)
      this.dirty.delete(q)
    }
    this.touched.clear()
  }

  setDebounce(q: QueueState, debounceId: string, untilMs: number): void {
    q.debounce.set(debounceId, untilMs)
    this.debounceQueues.add(q)
  }

  // ---------------------------------------------------------------------------------------------
  // Placement

  /** Puts a job into its queue: ready heap when due, delay heap otherwise; TTL heap when it has one. */
  enqueue(job: Job, q: QueueState, nowMs: number): void {
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
    return taken
  }

  private activate(job: Job, q: QueueState, nowMs: number): void {
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
      else this.reply(waiter.token, { ok: true, jobs: jobs.map(jobToWire) })
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
      q.uniqueKeys.delete(job.uniqueKey as string)
      job.holdsKey = false
    }
  }

  /** Forgets a job entirely (state `unknown`). */
  forget(job: Job): void {
    this.jobs.delete(job.id)
    if (job.customId !== null && this.customIds.get(job.customId) === job.id) this.customIds.delete(job.customId)
    job.loc = LOC_GONE
  }

  /** Removes a job in any live state (cancel, expiry, drain, clean, obliterate, remove_on_fail). */
  remove(job: Job, q: QueueState, waitReply: string | null): void {
    // A removed flow parent stops asking for its remote children (a child already created stays).
    if (job.loc === LOC_PARENT && this.flowRequests.size > 0) this.flowRequests.delete(job.id)
    if (this.isQueued(job)) this.unqueue(job, q)
    else if (job.loc === LOC_ACTIVE) this.leaveActive(job, q)
    else if (job.loc === LOC_DLQ) q.dlq.delete(job.id)
    else if (job.loc === LOC_PARKED || job.loc === LOC_PARENT) q.parkedCount--
    else if (job.loc === LOC_COMPLETED) {
      // CLEAN of completed jobs: they leave the history, and their result goes.
      if (job.inHistory) {
        job.inHistory = false
        q.completedCount--
      }
      this.results.delete(job.id)
    }
    this.releaseKey(job, q)
    this.forget(job)
    if (waitReply !== null) this.answerJobWaiters(job.id, { ok: false, error: waitReply })
  }

  /** TTL expiry of a queued job (already taken out of its heap by the caller or not). */
  expire(job: Job, q: QueueState): void {
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
    if (job.loc === LOC_ACTIVE) this.leaveActive(job, q)
    else if (this.isQueued(job)) this.unqueue(job, q)
    this.releaseKey(job, q)
    if (job.customId !== null && this.customIds.get(job.customId) === job.id) this.customIds.delete(job.customId)
    job.completedAt = nowMs
    const hasResult = withResult && result !== undefined && result !== null
    if (this.recording) {
      this.record(hasResult ? { t: 'a', i: job.id, c: nowMs, r: result } : { t: 'a', i: job.id, c: nowMs })
    }
    this.totalCompleted++
    this.latencySumMs += nowMs - job.createdAt
    this.latencyCount++
    if (!this.replaying) this.countCompletion(nowMs)
    if (job.removeOnComplete) {
      this.forget(job)
      this.markCompletedId(job.id)
    } else {
      this.markCompleted(job, q)
      if (hasResult) this.storeResult(job.id, result)
    }
    if (!this.replaying) {
      this.event(hasResult
        ? { event_type: 'completed', queue: job.queue, job_id: job.id, timestamp: nowMs, data: result }
        : { event_type: 'completed', queue: job.queue, job_id: job.id, timestamp: nowMs })
      this.answerJobWaiters(job.id, withResult && result !== undefined ? { ok: true, result } : { ok: true })
      this.notifyDependents(job.id, nowMs)
      if (job.parentId !== null) this.childCompleted(job.parentId, job.id, nowMs)
    }
  }

  /** Adds a completed job to the completed-id set and history (bounded; evictions are forgotten). */
  markCompleted(job: Job, q: QueueState): void {
    job.loc = LOC_COMPLETED
    this.jobs.set(job.id, job)
    this.evictCompletedId(this.completedIds.push(job.id))
    job.inHistory = true
    q.completedCount++
    const evicted = this.history.push(job)
    if (evicted !== undefined && evicted.inHistory) {
      evicted.inHistory = false
      evicted.data = null
      const evictedQueue = this.queues.get(evicted.queue)
      if (evictedQueue !== undefined) evictedQueue.completedCount--
    }
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
      this.jobs.delete(evictedId)
      old.loc = LOC_GONE
    }
  }

  /** True when `id` (a job of this shard) is in the completed-id set (depends_on). */
  isCompletedId(id: number): boolean {
    const job = this.jobs.get(id)
    return job !== undefined ? job.loc === LOC_COMPLETED : this.completedWithoutJob.has(id)
  }

  // ---------------------------------------------------------------------------------------------
  // Metrics history (spec §4.18: one point per 5 s, the last 60 points)

  countCompletion(nowMs: number): void {
    this.rollMetrics(nowMs)
    this.metricsPointCount++
  }

  /** Closes the points that ended before `nowMs` (empty ones included, up to the last 60). */
  rollMetrics(nowMs: number): void {
    const start = nowMs - (nowMs % metricsPointMs)
    if (start === this.metricsPointStartMs) return
    if (this.metricsPointStartMs >= 0 && start > this.metricsPointStartMs) {
      const closed = Math.min((start - this.metricsPointStartMs) / metricsPointMs, metricsPointsMax)
      this.metricsPoints.push(this.metricsPointCount)
      for (let i = 1; i < closed; i++) this.metricsPoints.push(0)
      if (this.metricsPoints.length > metricsPointsMax) this.metricsPoints.splice(0, this.metricsPoints.length - metricsPointsMax)
    }
    this.metricsPointStartMs = start
    this.metricsPointCount = 0
  }

  /**
   * Recent completions per second: the last closed point plus the open one, over the time they span
   * (5 s plus what has passed of the open point), so a burst shows at once and fades within 10 s.
   */
  jobsPerSecond(nowMs: number): number {
    this.rollMetrics(nowMs)
    const last = this.metricsPoints[this.metricsPoints.length - 1] ?? 0
    const spanMs = metricsPointMs + (nowMs - this.metricsPointStartMs)
    return ((last + this.metricsPointCount) * 1000) / spanMs
  }

  /** The closed points, oldest first, with their start time. */
  metricsHistory(nowMs: number): Array<{ timestamp: number; completed: number; jobs_per_second: number }> {
    this.rollMetrics(nowMs)
    const points = this.metricsPoints
    return points.map((completed, index) => ({
      timestamp: this.metricsPointStartMs - (points.length - index) * metricsPointMs,
      completed,
      jobs_per_second: completed / (metricsPointMs / 1000),
    }))
  }

  storeResult(id: number, result: unknown): void {
    this.results.set(id, result)
    const evicted = this.resultIds.push(id)
    if (evicted >= 0) this.results.delete(evicted)
  }

  /** FAIL or timeout: attempts + 1, then retry with backoff or final failure. */
  fail(job: Job, q: QueueState, reason: string, nowMs: number, cause: 'fail' | 'timeout'): void {
    if (job.loc === LOC_ACTIVE) this.leaveActive(job, q)
    else if (this.isQueued(job)) this.unqueue(job, q)
    job.attempts++
    if (!this.replaying && cause === 'timeout') {
      this.event({ event_type: 'timeout', queue: job.queue, job_id: job.id, timestamp: nowMs, error: reason })
    }
    if (job.maxAttempts > 0 && job.attempts >= job.maxAttempts) {
      this.failFinally(job, q, reason, nowMs)
      return
    }
    if (job.backoff > 0) job.runAt = nowMs + job.backoff * 2 ** Math.min(job.attempts, backoffExponentMax)
    this.retry(job, q, job.attempts, job.runAt, reason, nowMs)
    if (!this.replaying) {
      this.event({ event_type: 'retrying', queue: job.queue, job_id: job.id, timestamp: nowMs, error: reason })
    }
  }

  /** Retry placement (shared with replay of a `f` record). */
  retry(job: Job, q: QueueState, attempts: number, runAt: number, reason: string, nowMs: number): void {
    job.attempts = attempts
    job.runAt = runAt
    job.startedAt = 0
    job.progressMsg = reason
    if (this.recording) this.record({ t: 'f', i: job.id, n: attempts, r: runAt, m: reason })
    this.enqueue(job, q, nowMs)
  }

  /** Final failure: DLQ (or drop with remove_on_fail). The job has left active/queued already. */
  failFinally(job: Job, q: QueueState, reason: string, nowMs: number): void {
    this.releaseKey(job, q)
    this.totalFailed++
    job.startedAt = 0
    if (job.removeOnFail) {
      this.forget(job)
      if (this.recording) this.record({ t: 'rm', i: [job.id] })
    } else {
      this.toDlq(job, q, reason)
      if (this.recording) this.record({ t: 'x', i: job.id, n: job.attempts, e: reason, h: job.lastHeartbeat })
    }
    if (!this.replaying) {
      this.event({ event_type: 'failed', queue: job.queue, job_id: job.id, timestamp: nowMs, error: reason })
      this.answerJobWaiters(job.id, { ok: false, error: errors.waitJobFailed })
    }
  }

  toDlq(job: Job, q: QueueState, reason: string): void {
    job.loc = LOC_DLQ
    job.failReason = reason
    q.dlq.set(job.id, job)
    if (q.dlq.size > dlqJobsMax) {
      const oldest = q.dlq.values().next().value as Job
      q.dlq.delete(oldest.id)
      this.forget(oldest)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Dependencies and flows

  notifyDependents(id: number, nowMs: number): void {
    const local = this.dependents.get(id)
    if (local !== undefined) {
      this.dependents.delete(id)
      for (const waiterId of local) this.dependencyDone(waiterId, id, nowMs)
    }
    const remote = this.remoteWatchers.get(id)
    if (remote !== undefined) {
      this.remoteWatchers.delete(id)
      if (this.recording) this.record({ t: 'wd', d: id })
      for (const watcher of remote) this.message(watcher.s, { t: 'depdone', d: id, w: watcher.w })
    }
  }

  /** Dependency `dependencyId` of parked job `jobId` completed. Releases the job on its last one. */
  dependencyDone(jobId: number, dependencyId: number, nowMs: number): void {
    const job = this.jobs.get(jobId)
    if (job === undefined || job.loc !== LOC_PARKED) return
    const at = job.pendingDeps.indexOf(dependencyId)
    if (at < 0) return
    job.pendingDeps = job.pendingDeps.filter((dep) => dep !== dependencyId)
    if (this.recording) this.record({ t: 'dd', i: jobId, d: dependencyId, c: nowMs })
    if (job.pendingDeps.length === 0) {
      const q = this.queue(job.queue)
      q.parkedCount--
      this.enqueue(job, q, nowMs)
    }
  }

  childCompleted(parentId: number, childId: number, nowMs: number): void {
    if (!this.isLocal(parentId)) {
      this.message(shardOfJobId(parentId, this.shardCount), { t: 'childdone', p: parentId, c: childId })
      return
    }
    const parent = this.jobs.get(parentId)
    if (parent === undefined || parent.loc !== LOC_PARENT) return
    parent.childrenCompleted++
    if (this.recording) this.record({ t: 'cd', i: parentId, c: nowMs })
    if (parent.childrenCompleted >= parent.childrenIds.length) {
      const q = this.queue(parent.queue)
      q.parkedCount--
      this.appendLog(parent.id, { timestamp: nowMs, message: 'All children completed, parent job ready', level: 'info' })
      this.enqueue(parent, q, nowMs)
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

  // ---------------------------------------------------------------------------------------------
  // Time

  /** Everything due at `nowMs`. */
  tick(nowMs: number): void {
    const deadlines = this.waiters.deadlines
    for (;;) {
      const waiter = deadlines.peek()
      if (waiter === undefined || waiter.deadline > nowMs) break
      this.waiters.finish(waiter)
      if (waiter.kind !== WAIT_JOB) {
        const q = this.queues.get(waiter.queue)
        if (q !== undefined) this.touched.add(q)
      }
      if (waiter.kind === WAIT_PULL) this.reply(waiter.token, { ok: true, job: null })
      else if (waiter.kind === WAIT_JOB) {
        this.reply(waiter.token, { ok: false, error: errors.waitJobTimeout(waiter.jobId, waiter.timeoutMs) })
      } else this.reply(waiter.token, { ok: true, jobs: [] })
    }
    for (;;) {
      const job = this.ttlHeap.peek()
      if (job === undefined || expiresAt(job) > nowMs) break
      this.expire(job, this.queue(job.queue))
    }
    for (;;) {
      const job = this.timeoutHeap.peek()
      if (job === undefined || nowMs - job.startedAt <= job.timeout) break
      this.fail(job, this.queue(job.queue), 'Job timed out', nowMs, 'timeout')
    }
    if (nowMs >= this.nextStallCheckMs) this.checkStalls(nowMs)
    if (nowMs >= this.housekeepingDueMs()) this.housekeeping(nowMs)
    if (this.resendFlowRequests) this.resendFlowChildRequests()
    if (this.flowReplies.size > 0) this.expireFlowReplies(nowMs)
    // A shard that never answers (stopped after a storage failure) leaves its children out.
    for (const [queryId, query] of this.childQueries) if (query.deadline <= nowMs) this.answerChildQuery(queryId, query)
    for (const q of this.waitingQueues) this.dirty.add(q)
    this.serveDirty(nowMs)
  }

  /** When housekeeping must run: every 5 s while there are debounce entries or KV expiries due. */
  housekeepingDueMs(): number {
    const next = this.lastHousekeepingMs + housekeepingIntervalMs
    let due = this.debounceQueues.size > 0 ? next : Infinity
    const kvExpiry = this.kv.nextExpiryMs()
    if (kvExpiry < due) due = Math.max(kvExpiry, next)
    return due
  }

  /** Purges expired KV entries and debounce entries (spec §3.9, §4.9: at least every 10 s). */
  housekeeping(nowMs: number): void {
    this.lastHousekeepingMs = nowMs
    this.kv.purgeExpired(nowMs)
    for (const q of this.debounceQueues) {
      for (const [debounceId, untilMs] of q.debounce) if (untilMs <= nowMs) q.debounce.delete(debounceId)
      if (q.debounce.size === 0) {
        this.debounceQueues.delete(q)
        this.touched.add(q)
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Flows across shards

  /** Asks the shard of a remote child to create it (recorded, so a restart can ask again). */
  requestFlowChild(parentId: number, request: FlowChildRequest): void {
    let list = this.flowRequests.get(parentId)
    if (list === undefined) this.flowRequests.set(parentId, (list = []))
    list.push(request)
    if (this.recording) {
      this.record({
        t: 'fq', i: parentId, x: request.index, s: request.shard, q: request.queue, d: request.data,
        p: request.priority, dl: request.delay,
      })
    }
    if (!this.replaying) this.sendFlowChildRequest(parentId, request)
  }

  private sendFlowChildRequest(parentId: number, request: FlowChildRequest): void {
    this.message(request.shard, {
      t: 'flowchild', p: parentId, s: this.shardIndex, index: request.index, queue: request.queue,
      data: request.data, priority: request.priority, delay: request.delay,
    })
  }

  resendFlowChildRequests(): void {
    this.resendFlowRequests = false
    for (const [parentId, list] of this.flowRequests) for (const request of list) this.sendFlowChildRequest(parentId, request)
  }

  /** The id of remote child `index` of parent `parentId` is known (live message or replayed `fci`). */
  flowChildCreated(parentId: number, index: number, childId: number): void {
    const list = this.flowRequests.get(parentId)
    const at = list === undefined ? -1 : list.findIndex((request) => request.index === index)
    if (at < 0) return // already known (a repeated answer)
    list!.splice(at, 1)
    if (list!.length === 0) this.flowRequests.delete(parentId)
    const parent = this.jobs.get(parentId)
    if (parent !== undefined && parent.childrenIds[index] === 0) parent.childrenIds[index] = childId
    if (this.recording) this.record({ t: 'fci', i: parentId, x: index, c: childId })
    const pending = this.flowReplies.get(parentId)
    if (pending === undefined) return
    pending.ids[index] = childId
    if (this.flowRequests.has(parentId)) return
    this.flowReplies.delete(parentId)
    this.reply(pending.token, { ok: true, parent_id: parentId, children_ids: pending.ids })
  }

  /** Remembers a remote flow child created here (bounded: the oldest keys are dropped). */
  noteFlowChildKey(key: string, childId: number): void {
    this.flowChildKeys.set(key, childId)
    if (this.flowChildKeys.size > flowChildKeysMax) this.flowChildKeys.delete(this.flowChildKeys.keys().next().value as string)
  }

  /** `childrenjobs`: one shard answered a GETCHILDREN; the reply goes out after the last one. */
  childrenFound(queryId: number, jobs: Array<{ id: number }>): void {
    const query = this.childQueries.get(queryId)
    if (query === undefined) return
    for (const job of jobs) query.found.set(job.id, job)
    if (--query.shardsPending === 0) this.answerChildQuery(queryId, query)
  }

  answerChildQuery(queryId: number, query: ChildQuery): void {
    this.childQueries.delete(queryId)
    const children: unknown[] = []
    for (const id of query.order) if (query.found.has(id)) children.push(query.found.get(id))
    this.reply(query.token, { ...query.reply, children })
  }

  private expireFlowReplies(nowMs: number): void {
    for (const [parentId, pending] of this.flowReplies) {
      if (pending.deadline > nowMs) continue
      this.flowReplies.delete(parentId)
      const shards = [...new Set((this.flowRequests.get(parentId) ?? []).map((request) => request.shard))]
      this.reply(pending.token, {
        ok: false,
        error: `Flow ${parentId}: children on shard ${shards.join(', ')} not confirmed within ${flowReplyTimeoutMs} ms ` +
          '(the parent exists; its children are created when their shard answers)',
      })
    }
  }

  checkStalls(nowMs: number): void {
    this.nextStallCheckMs = this.activeJobs.size > 0 ? nowMs + stallCheckIntervalMs : Infinity
    let stalled: Job[] | undefined
    for (const job of this.activeJobs) {
      const limit = job.stallTimeout > 0 ? job.stallTimeout : stallTimeoutDefaultMs
      if (nowMs - (job.lastHeartbeat || job.startedAt) > limit) (stalled ??= []).push(job)
    }
    if (stalled === undefined) return
    for (const job of stalled) this.stallStrike(job, nowMs)
  }

  stallStrike(job: Job, nowMs: number): void {
    job.lastHeartbeat = nowMs
    job.stallCount++
    const count = job.stallCount
    this.appendLog(job.id, { timestamp: nowMs, message: `Job stall detected (count: ${count})`, level: 'warn' })
    if (!this.replaying) this.event({ event_type: 'stalled', queue: job.queue, job_id: job.id, timestamp: nowMs })
    if (count < stallStrikesMax) {
      if (this.recording) this.record({ t: 'st', i: job.id, c: nowMs })
      return
    }
    const q = this.queue(job.queue)
    if (job.loc === LOC_ACTIVE) this.leaveActive(job, q)
    else if (this.isQueued(job)) this.unqueue(job, q)
    const reason = `Job stalled ${count} times`
    this.appendLog(job.id, { timestamp: nowMs, message: `Job moved to DLQ after ${count} stalls`, level: 'error' })
    if (this.recording) this.record({ t: 'st', i: job.id, c: nowMs })
    this.releaseKey(job, q)
    this.toDlq(job, q, reason)
    this.totalFailed++
    if (!this.replaying) {
      this.event({ event_type: 'failed', queue: job.queue, job_id: job.id, timestamp: nowMs, error: reason })
      this.answerJobWaiters(job.id, { ok: false, error: errors.waitJobFailed })
    }
  }

  nextWakeMs(): number {
    if (this.resendFlowRequests) return 0
    let wake = this.nextStallCheckMs
    const housekeeping = this.housekeepingDueMs()
    if (housekeeping < wake) wake = housekeeping
    const cron = this.cron.nextDueMs()
    if (cron < wake) wake = cron
    for (const pending of this.flowReplies.values()) if (pending.deadline < wake) wake = pending.deadline
    for (const query of this.childQueries.values()) if (query.deadline < wake) wake = query.deadline
    const waiter = this.waiters.deadlines.peek()
    if (waiter !== undefined && waiter.deadline < wake) wake = waiter.deadline
    const expiring = this.ttlHeap.peek()
    if (expiring !== undefined && expiresAt(expiring) < wake) wake = expiresAt(expiring)
    const timed = this.timeoutHeap.peek()
    if (timed !== undefined && timed.startedAt + timed.timeout + 1 < wake) wake = timed.startedAt + timed.timeout + 1
    for (const q of this.waitingQueues) {
      if (q.paused || this.deliveryStopped) continue
      const due = q.delayed.peek()
      if (due !== undefined && due.runAt < wake) wake = due.runAt
      if (q.rateLimit !== null && q.tokens < 1 && q.queuedCount > 0) {
        const token = q.nextTokenMs()
        if (token < wake) wake = token
      }
    }
    return wake
  }

  /** Re-places every queued job at `nowMs` after replay (replay placed them at their record times). */
  rebuildAfterReplay(nowMs: number): void {
    for (const q of this.queues.values()) {
      this.promoteDue(q, nowMs)
      this.touched.add(q)
    }
    this.sweepQueues()
    if (this.flowRequests.size > 0) this.resendFlowRequests = true
  }
}

export function isRetrievable(job: Job): boolean {
  return job.loc !== LOC_GONE && job.loc !== LOC_COMPLETED
}
