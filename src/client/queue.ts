/**
 * `Queue`: BullMQ's producer and queue-admin API over one flashQ connection.
 */
import { EventEmitter } from 'node:events'
import { pullBatchJobsMax, pushBatchJobsMax } from '../base/limits.ts'
import { FlashQ, checkQueue, pushFields } from './flashq.ts'
import { bullState, Job, type JobProgress, type JobState, readJobByVisibleId, serverIdOf, userLogsOf, withOutcome } from './job.ts'
import { checkCustomId, findCompleted, resolveJobId, serverIdOfText, visibleIdOf } from './job-ids.ts'
import { decodeJobData, deduplicationTagPrefix, encodeJobData, type JobsOptions, type QueueOptions, type RepeatMark, type RepeatOptions, repeatOptionsOf, toPushOptions } from './options.ts'
import type { CronJob, JobState as WireState, JobWithState, QueueInfo, WireJob } from './wire-types.ts'
import { type WorkerInfo, workersOf } from './worker-registry.ts'

export type JobType = JobState | 'wait' | 'paused' | 'repeat' | 'waiting-children'

export type JobSchedulerJson<D = any> = {
  key: string
  name: string
  id?: string | null
  iterationCount?: number
  limit?: number
  pattern?: string
  every?: number
  next?: number
  template?: { data?: D; opts?: JobsOptions }
}

/** Counts by the state names asked for, as BullMQ's `{ [index: string]: number }`. */
export type JobCountsResult = { [index: string]: number }

/** PUSHB requests one addBulk keeps in flight (pipelined on the one connection). */
const addBulkBatchesInFlightMax = 8

const allCountTypes: JobType[] = ['active', 'completed', 'delayed', 'failed', 'paused', 'prioritized', 'waiting', 'waiting-children']
/** BullMQ's getJobs with no types: these, in this order. */
const allJobTypes: JobType[] = ['active', 'completed', 'delayed', 'failed', 'prioritized', 'waiting', 'waiting-children']

export class Queue<DataType = any, ResultType = any, NameType extends string = string> extends EventEmitter {
  readonly client: FlashQ
  readonly opts: QueueOptions
  closing: Promise<void> | undefined

  constructor(readonly name: string, opts: QueueOptions = {}) {
    super()
    checkQueue(name)
    this.opts = opts
    this.client = new FlashQ({ host: '127.0.0.1', ...opts.connection })
    this.client.connection.onError = (error) => this.emit('error', error)
  }

  get defaultJobOptions(): JobsOptions {
    return this.opts.defaultJobOptions ?? {}
  }

  /** Resolves once connected (and authenticated). */
  async waitUntilReady(): Promise<FlashQ> {
    await this.client.connect()
    return this.client
  }

  add(name: NameType, data: DataType, opts?: JobsOptions): Promise<Job<DataType, ResultType, NameType>> {
    if (opts === undefined && hasNoKeys(this.opts.defaultJobOptions)) return this.#addPlain(name, data)
    return this.#add(name, data, opts ?? {})
  }

  /**
   * `add` of a job without options (none given, no queue defaults), the common case, made lean: the
   * PUSH fields every such job gets are known (`plainPushCommand`), and no local job record is built.
   * It must give what #add gives for `{}` (test/sdk/queue-add-plain.test.ts compares them).
   */
  async #addPlain(name: NameType, data: DataType): Promise<Job<DataType, ResultType, NameType>> {
    const reply = await this.client.connection.request({ cmd: 'PUSH', queue: this.name, data: encodeJobData(name, data), max_attempts: plainMaxAttempts })
    const id = reply.id as number
    const job = new Job<DataType, ResultType, NameType>(this, name, data, {}, String(id))
    job.serverId = id
    this.emit('waiting', job)
    return job
  }

  async #add(name: NameType, data: DataType, opts: JobsOptions): Promise<Job<DataType, ResultType, NameType>> {
    const merged = { ...this.defaultJobOptions, ...opts }
    if (merged.jobId !== undefined) checkCustomId(merged.jobId)
    if (merged.repeat !== undefined) return this.#addRepeatable(name, data, merged, merged.repeat)
    if (merged.deduplication !== undefined) return this.#addDeduplicated(name, data, merged, merged.deduplication.id)
    const push = toPushOptions(merged)
    if (merged.dependsOn?.some((id) => typeof id === 'string' && serverIdOfText(id) === null)) push.depends_on = await Promise.all(merged.dependsOn.map((id) => serverIdOf(this, String(id))))
    const pushed = await this.client.push(this.name, encodeJobData(name, data), push)
    const job = new Job<DataType, ResultType, NameType>(this, name, data, merged, merged.jobId ?? String(pushed.id))
    job.serverId = pushed.id
    this.emit('waiting', job)
    return job
  }

  /** Visible ids of the jobs this Queue added with a deduplication id, newest last, to answer a deduplicated add. */
  readonly #deduplicatedIds = new Map<string, string>()

  /**
   * BullMQ's deduplication: when the server refuses the add (the id's job is live, or its ttl window
   * open), nothing is added and the Job returned is the job that holds the id, as BullMQ returns it.
   */
  async #addDeduplicated(name: NameType, data: DataType, opts: JobsOptions, deduplicationId: string): Promise<Job<DataType, ResultType, NameType>> {
    const push = toPushOptions(opts)
    try {
      const pushed = await this.client.push(this.name, encodeJobData(name, data), push)
      const job = new Job<DataType, ResultType, NameType>(this, name, data, opts, opts.jobId ?? String(pushed.id))
      job.serverId = pushed.id
      this.#rememberDeduplicated(deduplicationId, job.id as string)
      this.emit('waiting', job)
      return job
    } catch (error) {
      if (!isDeduplicationRefusal(error as Error)) throw error
      const existingId = await this.getDeduplicationJobId(deduplicationId)
      return new Job<DataType, ResultType, NameType>(this, name, data, opts, existingId ?? undefined)
    }
  }

  #rememberDeduplicated(deduplicationId: string, jobId: string): void {
    this.#deduplicatedIds.delete(deduplicationId)
    this.#deduplicatedIds.set(deduplicationId, jobId)
    if (this.#deduplicatedIds.size > deduplicatedIdsRememberedMax) this.#deduplicatedIds.delete(this.#deduplicatedIds.keys().next().value as string)
  }

  /**
   * The id of the job that holds a deduplication id: the one this Queue added last with it, else the
   * newest live (waiting, delayed, active) job carrying it, among the first 1000 of each state; null when none.
   */
  async getDeduplicationJobId(deduplicationId: string): Promise<string | null> {
    const known = this.#deduplicatedIds.get(deduplicationId)
    if (known !== undefined) return known
    const tag = `${deduplicationTagPrefix}${deduplicationId}`
    const pages = await Promise.all(['waiting', 'delayed', 'active'].map((state) => this.client.getJobs({ queue: this.name, state, limit: pullBatchJobsMax })))
    const holders = pages.flatMap((page) => page.jobs).filter((item) => item.job.tags.includes(tag))
    if (holders.length === 0) return null
    const newest = holders.reduce((a, b) => (b.job.id > a.job.id ? b : a))
    return visibleIdOf(newest.job)
  }

  /**
   * Adds many jobs: PUSHB batches of 1000, up to 8 in flight on the one connection. Not atomic across batches:
   * if the server rejects an item, the others stay added and the error names the rejected ones.
   */
  async addBulk(jobs: Array<{ name: NameType; data: DataType; opts?: JobsOptions }>): Promise<Job<DataType, ResultType, NameType>[]> {
    const batches = Math.ceil(jobs.length / pushBatchJobsMax)
    const defaults = this.defaultJobOptions
    for (const job of jobs) {
      const jobId = job.opts === undefined ? defaults.jobId : (job.opts.jobId ?? defaults.jobId)
      if (jobId !== undefined) checkCustomId(jobId)
    }
    const wireItems = bulkWireEncoder(defaults)
    const noDefaults = Object.keys(defaults).length === 0
    // A window of batches in flight: each PUSHB's timeout starts when it is sent, not behind 99 others.
    // A batch's Jobs are built while the server works on it: the request is written in a microtask
    // (connection.ts), so after one turn it is out, and building 1000 Jobs (~0.1 ms) is no longer part
    // of the round trip. As in BullMQ, a Job is made (and its timestamp taken) before the server has it.
    const added: Array<Job<DataType, ResultType, NameType>[]> = new Array(batches)
    const rejected: string[][] = new Array(batches)
    let nextBatch = 0
    const sender = async () => {
      while (nextBatch < batches) {
        const index = nextBatch++
        const from = index * pushBatchJobsMax
        const to = Math.min(jobs.length, from + pushBatchJobsMax)
        const reply = this.client.pushWireBatch(this.name, wireItems(jobs, from, to))
        await null
        const batchJobs: Job<DataType, ResultType, NameType>[] = new Array(to - from)
        for (let at = from; at < to; at++) {
          const input = jobs[at] as (typeof jobs)[number]
          // Each job gets its own options object, as in BullMQ; no spread when there is nothing to merge.
          const opts = input.opts === undefined ? (noDefaults ? {} : { ...defaults }) : { ...defaults, ...input.opts }
          batchJobs[at - from] = new Job(this, input.name, input.data, opts, opts.jobId)
        }
        const result = await reply
        const failedAt = result.errors.length === 0 ? null : new Map(result.errors.map((error) => [error.index, error.error]))
        const batchRejected: string[] = []
        let next = 0
        for (let at = 0; at < batchJobs.length; at++) {
          const error = failedAt?.get(at)
          if (error !== undefined) batchRejected.push(`#${from + at}: ${error}`)
          else {
            const job = batchJobs[at] as Job<DataType, ResultType, NameType>
            const id = result.ids[next++] as number
            job.serverId = id
            job.id ??= String(id) // a custom jobId is the id already
          }
        }
        added[index] = failedAt === null ? batchJobs : batchJobs.filter((_job, at) => !failedAt.has(at))
        rejected[index] = batchRejected
      }
    }
    await Promise.all(Array.from({ length: Math.min(addBulkBatchesInFlightMax, batches) }, sender))
    const failures = rejected.flat()
    if (failures.length > 0) throw new Error(`addBulk: ${failures.length} of ${jobs.length} jobs rejected (${failures.slice(0, 5).join('; ')})`)
    return added.flat()
  }

  // ---- job schedulers (flashQ cron entries named `<queue>:<schedulerId>`) ----

  /**
   * Creates or replaces a scheduler. `every` runs every N ms (the first job is added at once, as
   * BullMQ does); `pattern` is a cron expression in UTC. Template options other than `priority` are
   * not applied to scheduled jobs (flashQ cron pushes data and priority only).
   */
  async upsertJobScheduler(schedulerId: NameType, repeat: Omit<RepeatOptions, 'key'>, template: { name?: NameType; data?: DataType; opts?: JobsOptions } = {}): Promise<Job<DataType, ResultType, NameType> | undefined> {
    const name = (template.name ?? schedulerId) as NameType
    const data = (template.data ?? {}) as DataType
    const runNow = repeat.every !== undefined ? repeat.immediately !== false : repeat.immediately === true
    const limit = repeat.limit !== undefined && runNow ? repeat.limit - 1 : repeat.limit
    const { key: _key, immediately: _immediately, ...repeatOpts } = repeat as RepeatOptions
    const templateOpts: JobsOptions = { ...this.defaultJobOptions, ...template.opts, repeat: undefined }
    const mark: RepeatMark = { ...repeatOpts, key: schedulerId }
    // The cron's jobs get no max_attempts (unlimited on the server): the SDK applies these when one fails.
    if (templateOpts.attempts !== undefined) mark.attempts = templateOpts.attempts
    if (templateOpts.backoff !== undefined) mark.backoff = templateOpts.backoff
    let first: Job<DataType, ResultType, NameType> | undefined
    if (runNow) first = await this.#addScheduled(name, data, templateOpts, mark)
    if (limit === undefined || limit > 0) {
      await this.client.addCron(this.#cronName(schedulerId), {
        queue: this.name,
        data: encodeJobData(name, data, mark),
        schedule: repeat.every === undefined ? repeat.pattern : undefined,
        repeat_every: repeat.every,
        priority: template.opts?.priority ? -template.opts.priority : 0,
        limit,
      })
    }
    return first
  }

  /** A scheduler's job added now: its data carries the scheduler (`$repeat`), as the cron's jobs do. */
  async #addScheduled(name: NameType, data: DataType, opts: JobsOptions, mark: RepeatMark): Promise<Job<DataType, ResultType, NameType>> {
    if (opts.jobId !== undefined) checkCustomId(opts.jobId)
    const pushed = await this.client.push(this.name, encodeJobData(name, data, mark), toPushOptions(opts))
    const job = new Job<DataType, ResultType, NameType>(this, name, data, { ...opts, repeat: repeatOptionsOf(mark) }, opts.jobId ?? String(pushed.id))
    job.serverId = pushed.id
    job.repeatJobKey = mark.key
    this.emit('waiting', job)
    return job
  }

  async removeJobScheduler(schedulerId: string): Promise<boolean> {
    try {
      return await this.client.deleteCron(this.#cronName(schedulerId))
    } catch (error) {
      if ((error as Error).message.includes('Cron job not found')) return false
      throw error
    }
  }

  async getJobSchedulers(start = 0, end = -1, asc = false): Promise<JobSchedulerJson<DataType>[]> {
    const prefix = this.#cronName('')
    const mine = (await this.client.listCrons()).filter((cron) => cron.queue === this.name && cron.name.startsWith(prefix))
    mine.sort((a, b) => (asc ? a.next_run - b.next_run : b.next_run - a.next_run))
    return mine.slice(start, end < 0 ? undefined : end + 1).map((cron) => this.#schedulerJson(cron))
  }

  async getJobScheduler(schedulerId: string): Promise<JobSchedulerJson<DataType> | undefined> {
    return (await this.getJobSchedulers()).find((scheduler) => scheduler.key === schedulerId)
  }

  async getJobSchedulersCount(): Promise<number> {
    return (await this.getJobSchedulers()).length
  }

  // ---- BullMQ v5's repeatable jobs (deprecated there, gone in v6): the schedulers `repeat` creates ----

  /** The schedulers made by add(…, {repeat}) and upsertJobScheduler, in BullMQ v5's RepeatableJob shape. */
  async getRepeatableJobs(start = 0, end = -1, asc = false): Promise<Array<{ key: string; name: string; id: string | null; endDate: number | null; tz: string | null; pattern: string | null; every: string | null; next?: number }>> {
    return (await this.getJobSchedulers(start, end, asc)).map((scheduler) => ({
      key: scheduler.key,
      name: scheduler.name,
      id: null,
      endDate: null,
      tz: null,
      pattern: scheduler.pattern ?? null,
      every: scheduler.every === undefined ? null : String(scheduler.every),
      next: scheduler.next,
    }))
  }

  /** Removes the repeatable job add(name, data, {repeat}) created; the key is built as add builds it. */
  removeRepeatable(name: NameType, repeat: RepeatOptions, _jobId?: string): Promise<boolean> {
    return this.removeJobScheduler(repeatKeyOf(name, repeat))
  }

  removeRepeatableByKey(key: string): Promise<boolean> {
    return this.removeJobScheduler(key)
  }

  #cronName(schedulerId: string): string {
    return `${this.name}:${schedulerId}`
  }

  #schedulerJson(cron: CronJob): JobSchedulerJson<DataType> {
    const key = cron.name.slice(this.name.length + 1)
    const template = decodeJobData(cron.data)
    return {
      key,
      id: key,
      name: template.name !== '' ? template.name : key,
      every: cron.repeat_every ?? undefined,
      pattern: cron.schedule ?? undefined,
      next: cron.next_run,
      iterationCount: cron.executions,
      limit: cron.limit ?? undefined,
      template: template.repeat?.attempts === undefined && template.repeat?.backoff === undefined
        ? { data: (template.data ?? {}) as DataType }
        : { data: (template.data ?? {}) as DataType, opts: { attempts: template.repeat.attempts, backoff: template.repeat.backoff } },
    }
  }

  async #addRepeatable(name: NameType, data: DataType, opts: JobsOptions, repeat: RepeatOptions): Promise<Job<DataType, ResultType, NameType>> {
    const key = repeatKeyOf(name, repeat)
    const first = await this.upsertJobScheduler(key as NameType, repeat, { name, data, opts: { ...opts, repeat: undefined } })
    if (first !== undefined) return first
    const { key: _key, immediately: _immediately, ...repeatOpts } = repeat
    const job = new Job<DataType, ResultType, NameType>(this, name, data, { ...opts, repeat: repeatOpts }, `repeat:${key}`)
    job.repeatJobKey = key
    return job
  }

  // ---- reading jobs ----

  /** By the job's id: its server id, or the custom `jobId` given at add time (job-ids.ts). */
  async getJob(jobId: string): Promise<Job<DataType, ResultType, NameType> | undefined> {
    return ((await readJobByVisibleId(this, jobId)) ?? undefined) as Job<DataType, ResultType, NameType> | undefined
  }

  async #fromWire(wire: WireJob, state: WireState): Promise<Job<DataType, ResultType, NameType>> {
    return withOutcome(this, Job.fromWire<DataType, ResultType, NameType>(this, wire, state), state)
  }

  async getJobState(jobId: string): Promise<JobState | 'unknown'> {
    const serverId = serverIdOfText(jobId)
    if (serverId !== null) {
      // Server ids are global: a job of another queue is unknown here, as BullMQ's ids are per queue.
      const found = await this.client.getJob(serverId)
      if (found !== null) return found.job.queue === this.name ? bullState(found.state) : 'unknown'
      return bullState(await this.client.getState(serverId)) // completed (GETJOB has no body for it), or unknown
    }
    const live = await this.client.getJobByCustomId(jobId)
    if (live !== null && live.job.queue === this.name) return bullState(live.state)
    return (await findCompleted(this.client, this.name, (job) => job.custom_id === jobId)) === null ? 'unknown' : 'completed'
  }

  /**
   * BullMQ's getJobs: for each state in the order given, its jobs from index `start` to `end`
   * (inclusive; negative counts from the end), newest first or oldest first (`asc`); the ranges are
   * concatenated, as BullMQ ranges each state's list on its own. Within a state jobs are in id order;
   * at most 1000 per state per call.
   */
  async getJobs(types: JobType | JobType[] = [], start = 0, end = -1, asc = false): Promise<Job<DataType, ResultType, NameType>[]> {
    const given = Array.isArray(types) ? types : [types]
    const states = [...new Set((given.length > 0 ? given : allJobTypes).map(wireStateOf).filter((state) => state !== null))]
    const ranges = await Promise.all(states.map((state) => this.#range(state, start, end, asc)))
    return Promise.all(ranges.flat().map((item) => this.#fromWire(item.job, item.state)))
  }

  /** Indexes start..end of one state's jobs, newest first, or oldest first with `asc` (GETJOBS pages newest first). */
  async #range(state: string, start: number, end: number, asc: boolean): Promise<JobWithState[]> {
    const needsTotal = asc || start < 0 || end < -1
    const total = needsTotal ? (await this.client.getJobs({ queue: this.name, state, limit: 0 })).total : Infinity
    const first = start < 0 ? Math.max(0, total + start) : start
    const last = Math.min(total - 1, end < 0 ? total + end : end)
    if (last < first) return []
    const count = Math.min(pullBatchJobsMax, last - first + 1)
    // Oldest-first index i is newest-first index total - 1 - i.
    const page = await this.client.getJobs({ queue: this.name, state, limit: count, offset: asc ? total - first - count : first })
    return asc ? page.jobs.reverse() : page.jobs
  }

  getWaiting(start = 0, end = -1) {
    return this.getJobs(['waiting'], start, end, true)
  }

  getActive(start = 0, end = -1) {
    return this.getJobs(['active'], start, end, true)
  }

  getDelayed(start = 0, end = -1) {
    return this.getJobs(['delayed'], start, end, true)
  }

  getCompleted(start = 0, end = -1) {
    return this.getJobs(['completed'], start, end, false)
  }

  getFailed(start = 0, end = -1) {
    return this.getJobs(['failed'], start, end, false)
  }

  getWaitingChildren(start = 0, end = -1) {
    return this.getJobs(['waiting-children'], start, end, true)
  }

  /**
   * flashQ keeps prioritized jobs in its one waiting list (ordered by priority), so getJobCounts
   * counts them as waiting; this returns the waiting jobs that have a priority, among the first 1000.
   */
  async getPrioritized(start = 0, end = -1): Promise<Job<DataType, ResultType, NameType>[]> {
    const prioritized = (await this.getJobs(['waiting'], 0, -1, true)).filter((job) => job.priority !== 0)
    return prioritized.slice(start, end < 0 ? undefined : end + 1)
  }

  /**
   * BullMQ's getCountsPerPriority: the waiting jobs of each priority asked for, keyed by the priority
   * (0: the jobs without one). Reads the whole waiting list, 1000 jobs per request.
   */
  async getCountsPerPriority(priorities: number[]): Promise<{ [index: string]: number }> {
    const byPriority = new Map<number, number>()
    for (let offset = 0, total = 1; offset < total; offset += pullBatchJobsMax) {
      const page = await this.client.getJobs({ queue: this.name, state: 'waiting', limit: pullBatchJobsMax, offset })
      total = page.jobs.length === 0 ? 0 : page.total
      for (const item of page.jobs) {
        const priority = item.job.priority === 0 ? 0 : -item.job.priority
        byPriority.set(priority, (byPriority.get(priority) ?? 0) + 1)
      }
    }
    return Object.fromEntries(priorities.map((priority) => [String(priority), byPriority.get(priority) ?? 0]))
  }

  /** Counts per state; with no states given, all of BullMQ's. */
  async getJobCounts(...types: JobType[]): Promise<JobCountsResult> {
    const wanted = types.length > 0 ? types : allCountTypes
    const needsChildren = wanted.includes('waiting-children')
    const needsPaused = wanted.includes('paused') || wanted.includes('wait') || wanted.includes('waiting')
    const [counts, children, paused] = await Promise.all([
      this.client.getJobCounts(this.name),
      needsChildren ? this.client.getJobs({ queue: this.name, state: 'waitingchildren', limit: 1 }) : null,
      needsPaused ? this.client.isPaused(this.name) : false,
    ])
    const result: JobCountsResult = {}
    for (const type of wanted) {
      if (type === 'waiting' || type === 'wait') result[type] = paused ? 0 : counts.waiting
      else if (type === 'paused') result[type] = paused ? counts.waiting : 0
      else if (type === 'waiting-children') result[type] = children?.total ?? 0
      else if (type === 'active' || type === 'completed' || type === 'delayed' || type === 'failed') result[type] = counts[type]
      else result[type] = 0
    }
    return result
  }

  async getJobCountByTypes(...types: JobType[]): Promise<number> {
    const counts = await this.getJobCounts(...types)
    return Object.values(counts).reduce((sum, value) => sum + value, 0)
  }

  /** Waiting + delayed jobs. */
  count(): Promise<number> {
    return this.client.count(this.name)
  }

  getWaitingCount() {
    return this.getJobCountByTypes('waiting')
  }

  getActiveCount() {
    return this.getJobCountByTypes('active')
  }

  getDelayedCount() {
    return this.getJobCountByTypes('delayed')
  }

  getCompletedCount() {
    return this.getJobCountByTypes('completed')
  }

  getFailedCount() {
    return this.getJobCountByTypes('failed')
  }

  getWaitingChildrenCount() {
    return this.getJobCountByTypes('waiting-children')
  }

  getPrioritizedCount() {
    return this.getJobCountByTypes('prioritized')
  }

  async getJobLogs(jobId: string, start = 0, end = -1, asc = true): Promise<{ logs: string[]; count: number }> {
    const serverId = await resolveJobId(this.client, this.name, jobId)
    const logs = serverId === null ? [] : await userLogsOf(this.client, serverId)
    const ordered = asc ? logs : logs.reverse()
    return { logs: ordered.slice(start, end < 0 ? undefined : end + 1), count: logs.length }
  }

  // ---- queue control ----

  async pause(): Promise<void> {
    await this.client.pause(this.name)
    this.emit('paused')
  }

  async resume(): Promise<void> {
    await this.client.resume(this.name)
    this.emit('resumed')
  }

  isPaused(): Promise<boolean> {
    return this.client.isPaused(this.name)
  }

  /** Removes the waiting jobs, and the delayed ones too when `delayed` (BullMQ's drain). */
  async drain(delayed = false): Promise<void> {
    if (delayed) await this.client.drain(this.name)
    else await this.client.clean(this.name, 0, 'waiting')
  }

  /**
   * Removes up to `limit` (0 = no limit) jobs of `type` older than `grace` ms, oldest first; resolves
   * with exactly the ids the server removed (custom ids where set). Types: completed, failed, waiting
   * (wait), delayed.
   */
  async clean(grace: number, limit: number, type: 'completed' | 'wait' | 'waiting' | 'active' | 'paused' | 'prioritized' | 'delayed' | 'failed' = 'completed'): Promise<string[]> {
    const state = type === 'wait' || type === 'paused' || type === 'prioritized' ? 'waiting' : type
    if (state === 'active') throw new Error('clean: flashQ cannot clean active jobs (cancel them with job.remove())')
    // The server lists what each CLEAN removed, up to its cap per reply (`more`: send it again).
    // Each call adds the time since the first to `grace`, so all of them cut at the first one's moment.
    const startedMs = performance.now()
    const ids: string[] = []
    for (let more = true; more && (limit <= 0 || ids.length < limit); ) {
      const elapsedMs = Math.floor(performance.now() - startedMs)
      const reply = await this.client.cleanListed(this.name, grace + elapsedMs, state, limit > 0 ? limit - ids.length : undefined)
      for (const id of reply.ids) ids.push(visibleIdOf({ id, custom_id: reply.custom_ids[id] ?? null }))
      more = reply.more
    }
    this.emit('cleaned', ids, type)
    return ids
  }

  /** Removes the queue's jobs in every state but completed history, and its settings and schedulers. */
  async obliterate(_opts: { force?: boolean; count?: number } = {}): Promise<void> {
    await this.client.obliterate(this.name)
  }

  /** Removes a job in any state (completed and failed too); 1 when removed, 0 when not. `removeChildren` is accepted and ignored. */
  async remove(jobId: string, _opts: { removeChildren?: boolean } = {}): Promise<number> {
    try {
      const serverId = await resolveJobId(this.client, this.name, jobId)
      if (serverId === null) return 0
      // Server ids (and custom ids) are global: the server leaves a job of another queue alone.
      await this.client.removeJob(serverId, this.name)
      this.emit('removed', jobId)
      return 1
    } catch {
      return 0
    }
  }

  /**
   * Moves every failed job back to waiting (`count`, BullMQ's batch size, and `timestamp` are ignored).
   * Completed jobs cannot be retried: `state: 'completed'` is refused rather than retrying the failed ones.
   */
  async retryJobs(opts: { state?: 'failed' | 'completed'; count?: number; timestamp?: number } = {}): Promise<void> {
    if (opts.state === 'completed') throw new Error(`retryJobs: flashq cannot retry completed jobs (queue ${this.name})`)
    await this.client.retryDlq(this.name)
  }

  /** Makes every delayed job run now. */
  async promoteJobs(_opts: { count?: number } = {}): Promise<void> {
    // 1000 at a time until none is left (BullMQ promotes them all); a round that promotes none ends it.
    for (;;) {
      const delayed = await this.client.getJobs({ queue: this.name, state: 'delayed', limit: pullBatchJobsMax })
      const promoted = await Promise.all(delayed.jobs.map((item) => this.client.promote(item.job.id).then(() => true, () => false)))
      if (delayed.jobs.length < pullBatchJobsMax || !promoted.includes(true)) return
    }
  }

  /** As job.updateProgress: a number is the server's progress, other values travel as the progress message (JSON). */
  async updateJobProgress(jobId: string, progress: JobProgress): Promise<void> {
    const id = await serverIdOf(this, jobId)
    if (typeof progress === 'number') await this.client.progress(id, progress)
    else await this.client.progress(id, (await this.client.getProgress(id)).progress, JSON.stringify(progress))
    this.emit('progress', jobId, progress)
  }

  /** Appends a log line; `keepLogs` is accepted and ignored (the server keeps a job's last 100 lines). */
  addJobLog(jobId: string, logRow: string, _keepLogs?: number): Promise<number> {
    return Job.addJobLog(this, jobId, logRow)
  }

  /** At most `concurrency` active jobs in this queue across all workers. */
  async setGlobalConcurrency(concurrency: number): Promise<void> {
    await this.client.setConcurrency(this.name, concurrency)
  }

  /** The queue's concurrency limit, or null when it has none. */
  async getGlobalConcurrency(): Promise<number | null> {
    return (await this.#info())?.concurrency_limit ?? null
  }

  /** The queue's rate limit as BullMQ's {max, duration}: the server counts jobs per second. Null when none is set. */
  async getGlobalRateLimit(): Promise<{ max: number; duration: number } | null> {
    const limit = (await this.#info())?.rate_limit ?? null
    return limit === null ? null : { max: limit, duration: 1000 }
  }

  /** True when the queue's concurrency limit is reached (as many active jobs as it allows). */
  async isMaxed(): Promise<boolean> {
    const info = await this.#info()
    return info?.concurrency_limit != null && info.processing >= info.concurrency_limit
  }

  /** Workers of this queue heard from in the last 30 s (SDK Workers report to the server's worker registry over HTTP). */
  getWorkers(): Promise<WorkerInfo[]> {
    return workersOf(this.client, this.name)
  }

  async getWorkersCount(): Promise<number> {
    return (await this.getWorkers()).length
  }

  async #info(): Promise<QueueInfo | undefined> {
    return (await this.client.listQueues()).find((queue) => queue.name === this.name)
  }

  async removeGlobalConcurrency(): Promise<void> {
    await this.client.clearConcurrency(this.name)
  }

  /** At most `max` jobs per `duration` ms across all workers (the server's limit is in jobs per second). */
  async setGlobalRateLimit(max: number, duration: number): Promise<void> {
    await this.client.setRateLimit(this.name, Math.max(1, Math.round((max * 1000) / duration)))
  }

  async removeGlobalRateLimit(): Promise<void> {
    await this.client.clearRateLimit(this.name)
  }

  /** Events are not stored, so there is nothing to trim. */
  async trimEvents(_maxLength: number): Promise<number> {
    return 0
  }

  async close(): Promise<void> {
    this.closing ??= this.client.close()
    return this.closing
  }

  disconnect(): Promise<void> {
    return this.close()
  }
}

/** Deduplication ids a Queue remembers the job of (the oldest are forgotten first). */
const deduplicatedIdsRememberedMax = 10_000

/** The server refused an add for its deduplication id: a live job holds the unique key, or the debounce window is open. */
function isDeduplicationRefusal(error: Error): boolean {
  return error.message.includes('Duplicate job with key') || error.message.includes('Debounced: job with id')
}

/** A job without options has one PUSH field, `max_attempts` (BullMQ's default of 1 attempt); the test pins it. */
const plainMaxAttempts = toPushOptions({}).max_attempts

function hasNoKeys(options: object | undefined): boolean {
  if (options === undefined) return true
  for (const _key in options) return false
  return true
}

/** The scheduler id of a repeatable job: its `repeat.key`, else `<name>:<every or pattern>`. */
function repeatKeyOf(name: string, repeat: RepeatOptions): string {
  return repeat.key ?? `${name}:${repeat.every ?? repeat.pattern}`
}

/** BullMQ state names → the flashQ state filter of GETJOBS. */
function wireStateOf(type: JobType): string | null {
  switch (type) {
    case 'wait':
    case 'waiting':
    case 'paused':
    case 'prioritized':
      return 'waiting'
    case 'waiting-children':
      return 'waitingchildren'
    case 'active':
    case 'delayed':
    case 'completed':
    case 'failed':
      return type
    default:
      return null
  }
}

type BulkInput = { name: string; data: unknown; opts?: JobsOptions }

/** Encodes jobs[from, to) as PUSHB items; a job's options are merged over the queue's defaults. */
function bulkWireEncoder(defaults: JobsOptions): (jobs: BulkInput[], from: number, to: number) => Array<Record<string, unknown>> {
  const defaultFields = pushFields(toPushOptions(defaults))
  const noDefaultFields = Object.keys(defaultFields).length === 0
  return (jobs, from, to) => {
    const items: Array<Record<string, unknown>> = new Array(to - from)
    for (let at = from; at < to; at++) {
      const job = jobs[at] as BulkInput
      const data = encodeJobData(job.name, job.data)
      // No spread for the common job without options: a plain `{data}` is the cheapest item to build.
      items[at - from] = job.opts !== undefined ? { data, ...pushFields(toPushOptions({ ...defaults, ...job.opts })) } : noDefaultFields ? { data } : { data, ...defaultFields }
    }
    return items
  }
}
