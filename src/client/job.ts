/**
 * `Job`: BullMQ's job object over flashQ job records. `id` is the job's visible id (job-ids.ts): its
 * custom `jobId` when it has one, else the server's numeric id as a string; the server id is kept in
 * `serverId`, and it is what the job's methods send.
 */
import { DelayedError } from './errors.ts'
import type { FlashQ } from './flashq.ts'
import { attemptsMadeLogLevel, decodeJobData, encodeJobData, type JobsOptions, keepFailedCountOf, keptStackTraces, optionsFromWire, repeatMarkOf, stackTraceLimitOf, stackTraceLogLevel } from './options.ts'
import type { JobLogEntry, JobState as WireState, WireJob } from './wire-types.ts'
import { type BackoffStrategy, failAttempt, stackTracesIn } from './retry.ts'
import { type Dependencies, type DependencyCounts, dependenciesOf, ignoredChildLogLevel, removeChild, removedChildLogLevel } from './flow-deps.ts'
import { findCompleted, resolveJobId, serverIdOfText, visibleIdOf } from './job-ids.ts'

/** BullMQ's JobJson (Job.asJSON / Job.fromJSON). */
export type JobJson = {
  id: string
  name: string
  data: string
  opts: JobsOptions
  progress: JobProgress
  attemptsMade: number
  attemptsStarted: number
  finishedOn?: number
  processedOn?: number
  timestamp: number
  delay?: number
  priority?: number
  failedReason: string
  stacktrace?: string
  returnvalue: string
  parentKey?: string
  parent?: { id: string; queueKey: string }
  repeatJobKey?: string
  stalledCounter: number
}

export type JobState = 'completed' | 'failed' | 'active' | 'delayed' | 'prioritized' | 'waiting' | 'waiting-children'
export type FinishedStatus = 'completed' | 'failed'
export type JobProgress = number | object | string | boolean

/** What a job needs from its owner: the queue's name and a client to talk to the server (a Worker adds its backoff strategy). */
export type JobScope = { readonly name: string; readonly client: FlashQ; readonly backoffStrategy?: BackoffStrategy }

/**
 * Tag prefix under which a flow parent lists its children, for getChildrenValues: `<queue>:<server id>`,
 * then `:<custom id>` when the child's visible id is its custom id (queue names have no `:`).
 */
export const childTagPrefix = 'flashq:child='

/** A flow child as its parent lists it. */
export type ChildRef = { queue: string; id: number; visibleId: string }

export function childTagOf(queue: string, serverId: number, visibleId: string): string {
  return visibleId === String(serverId) ? `${childTagPrefix}${queue}:${serverId}` : `${childTagPrefix}${queue}:${serverId}:${visibleId}`
}

function childRefOf(ref: string): ChildRef {
  const queueEnd = ref.indexOf(':')
  const idEnd = ref.indexOf(':', queueEnd + 1)
  const id = Number(ref.slice(queueEnd + 1, idEnd < 0 ? undefined : idEnd))
  return { queue: ref.slice(0, queueEnd), id, visibleId: idEnd < 0 ? String(id) : ref.slice(idEnd + 1) }
}
/** Options of a job read from the server; its real ones come from `wire` when asked for (`opts`). */
const wireOptions: JobsOptions = Object.freeze({ timestamp: 0 }) as JobsOptions
/** Job waiting (WAITJOB) is done in slices of this length, so "wait forever" needs no huge timeout. */
const waitSliceMs = 30_000

export class Job<DataType = any, ReturnType = any, NameType extends string = string> {
  id: string | undefined
  name: NameType
  data: DataType
  /** Set from the constructor, or derived from `wire` on first read (most processors never read it). */
  #opts: JobsOptions | undefined
  queueName: string
  progress: JobProgress = 0
  returnvalue: ReturnType = null as ReturnType
  failedReason: string = undefined as unknown as string
  stacktrace: string[] = []
  attemptsMade = 0
  attemptsStarted = 0
  timestamp: number
  processedOn?: number
  finishedOn?: number
  delay = 0
  priority = 0
  /** Set while a Worker processes the job. */
  token?: string
  // Rarely set, so declared only (no own property on each of the many jobs a Worker builds).
  /** A FlowProducer child's parent (set on the jobs FlowProducer.add returns): `bull:<queue>:<id>`. */
  declare parentKey?: string
  declare parent?: { id: string; queueKey: string }
  /** The server id of `parent`. */
  declare parentServerId?: number
  /** The id of the job scheduler that made this job (BullMQ's repeatJobKey), else undefined. */
  declare repeatJobKey?: string
  /** BullMQ's name of the worker that processed the job; flashq does not record it. */
  declare processedBy?: string
  /** The server's job record, when this job was read from the server. */
  wire?: WireJob
  /** flashq extension: the server's numeric id (job.id shows the custom jobId when there is one). */
  serverId?: number

  constructor(readonly queue: JobScope, name: NameType, data: DataType, opts: JobsOptions = {}, id?: string) {
    this.queueName = queue.name
    this.name = name
    this.data = data
    this.#opts = opts
    this.id = id
    this.timestamp = opts.timestamp ?? Date.now()
    this.delay = opts.delay ?? 0
    this.priority = opts.priority ?? 0
  }

  get opts(): JobsOptions {
    this.#opts ??= this.wire === undefined ? {} : optionsFromWire(this.wire)
    return this.#opts
  }

  set opts(opts: JobsOptions) {
    this.#opts = opts
  }

  /** A job from a server record (PULL, GETJOB, GETJOBS…). */
  static fromWire<D = any, R = any, N extends string = string>(scope: JobScope, wire: WireJob, state?: WireState): Job<D, R, N> {
    const { name, data, repeat } = decodeJobData(wire.data)
    const job = new Job<D, R, N>(scope, name as N, data as D, wireOptions, wire.custom_id === null ? String(wire.id) : visibleIdOf(wire))
    if (repeat !== undefined) job.repeatJobKey = repeat.key
    job.wire = wire
    job.serverId = wire.id
    job.#opts = undefined
    job.timestamp = wire.created_at
    job.priority = wire.priority === 0 ? 0 : -wire.priority
    if (wire.run_at > wire.created_at && wire.attempts === 0) job.delay = wire.run_at - wire.created_at // BullMQ's job.delay is opts.delay
    job.attemptsMade = wire.attempts + (state === 'completed' ? 1 : 0) // BullMQ counts the attempt that completed it too
    job.attemptsStarted = wire.attempts + (wire.started_at > 0 ? 1 : 0)
    job.progress = wire.attempts === 0 ? progressFromMessage(wire.progress_msg) ?? wire.progress : wire.progress
    if (wire.started_at > 0) job.processedOn = wire.started_at
    if (wire.completed_at > 0) job.finishedOn = wire.completed_at
    if (wire.attempts > 0 && wire.progress_msg !== null) job.failedReason = wire.progress_msg
    if (state === 'failed' && job.finishedOn === undefined) job.finishedOn = wire.last_heartbeat || wire.started_at || undefined
    return job
  }

  /** BullMQ's Job.create: adds a job to the queue. */
  static create<D = any, R = any, N extends string = string>(queue: { add(name: N, data: D, opts?: JobsOptions): Promise<Job<D, R, N>> }, name: N, data: D, opts?: JobsOptions): Promise<Job<D, R, N>> {
    return queue.add(name, data, opts)
  }

  /** BullMQ's Job.fromId: reads a job by id (or custom jobId). */
  static fromId<D = any, R = any, N extends string = string>(queue: { getJob(id: string): Promise<Job<D, R, N> | undefined> }, jobId: string): Promise<Job<D, R, N> | undefined> {
    return queue.getJob(jobId)
  }

  /** BullMQ's Job.createBulk: adds jobs to the queue. */
  static createBulk<D = any, R = any, N extends string = string>(queue: { addBulk(jobs: Array<{ name: N; data: D; opts?: JobsOptions }>): Promise<Job<D, R, N>[]> }, jobs: Array<{ name: N; data: D; opts?: JobsOptions }>): Promise<Job<D, R, N>[]> {
    return queue.addBulk(jobs)
  }

  /** BullMQ's Job.addJobLog: appends a log line to a job by id; resolves with its number of log lines. */
  static async addJobLog(queue: JobScope, jobId: string, logRow: string): Promise<number> {
    const id = await serverIdOf(queue, jobId)
    const [, logs] = await Promise.all([queue.client.log(id, logRow), userLogsOf(queue.client, id)])
    return logs.length
  }

  /** BullMQ's Job.fromJSON: a job from its asJSON() form (data, return value and stack trace as JSON text). */
  static fromJSON<D = any, R = any, N extends string = string>(queue: JobScope, json: JobJson, jobId?: string): Job<D, R, N> {
    const job = new Job<D, R, N>(queue, json.name as N, parseJson(json.data) as D, json.opts ?? {}, jobId ?? json.id)
    job.progress = json.progress ?? 0
    job.attemptsMade = json.attemptsMade ?? 0
    job.attemptsStarted = json.attemptsStarted ?? 0
    job.timestamp = json.timestamp
    job.processedOn = json.processedOn
    job.finishedOn = json.finishedOn
    job.failedReason = json.failedReason
    job.returnvalue = parseJson(json.returnvalue) as R
    job.stacktrace = (parseJson(json.stacktrace) as string[] | null) ?? []
    if (json.delay !== undefined) job.delay = json.delay
    if (json.priority !== undefined) job.priority = json.priority
    job.parentKey = json.parentKey
    job.parent = json.parent
    if (json.repeatJobKey) job.repeatJobKey = json.repeatJobKey
    return job
  }

  /** BullMQ's key prefix; flashq has none, so always `bull` (the `bull:<queue>:<id>` keys of flows). */
  get prefix(): string {
    return 'bull'
  }

  /** BullMQ's `bull:<queue>` (flashq has no key prefix). */
  get queueQualifiedName(): string {
    return `bull:${this.queueName}`
  }

  /** How many times the job was found stalled (the server's stall strikes). */
  get stalledCounter(): number {
    return this.wire?.stall_count ?? 0
  }

  /** The deduplication id the job was added with (opts.deduplication), else undefined. */
  get deduplicationId(): string | undefined {
    return this.opts.deduplication?.id
  }

  /** The server id, NaN while not known (a job made from JSON or by `new Job` with a custom id). */
  get numericId(): number {
    return this.serverId ?? (this.id === undefined ? Number.NaN : (serverIdOfText(this.id) ?? Number.NaN))
  }

  /** The custom id given at add time, else the server id. */
  get jobId(): string | undefined {
    return this.opts.jobId ?? this.id
  }

  /** The server id, looked up by the custom id when not known yet. */
  async #serverId(): Promise<number> {
    const known = this.numericId
    if (!Number.isNaN(known)) return known
    this.serverId = await serverIdOf(this.queue, this.id ?? '')
    return this.serverId
  }

  /** Progress: numbers go to the server (0–100); other values are kept here and sent as the progress message. */
  async updateProgress(progress: JobProgress): Promise<void> {
    this.progress = progress
    const id = await this.#serverId()
    if (typeof progress === 'number') await this.queue.client.progress(id, progress)
    else await this.queue.client.progress(id, this.wire?.progress ?? 0, JSON.stringify(progress))
    this.onProgress?.(progress, this)
  }

  /** Set by the Worker to emit its 'progress' event. */
  onProgress?: (progress: JobProgress, job: Job<any, any, any>) => void

  /** Appends a log line; resolves with the number of log lines the job has. */
  async log(logRow: string): Promise<number> {
    const id = await this.#serverId()
    const [, logs] = await Promise.all([this.queue.client.log(id, logRow), userLogsOf(this.queue.client, id)])
    return logs.length
  }

  async getState(): Promise<JobState | 'unknown'> {
    return bullState(await this.queue.client.getState(await this.#serverId()))
  }

  async isCompleted(): Promise<boolean> {
    return (await this.getState()) === 'completed'
  }

  async isFailed(): Promise<boolean> {
    return (await this.getState()) === 'failed'
  }

  async isActive(): Promise<boolean> {
    return (await this.getState()) === 'active'
  }

  async isDelayed(): Promise<boolean> {
    return (await this.getState()) === 'delayed'
  }

  async isWaiting(): Promise<boolean> {
    return (await this.getState()) === 'waiting'
  }

  async isWaitingChildren(): Promise<boolean> {
    return (await this.getState()) === 'waiting-children'
  }

  /**
   * Resolves with the job's return value once it completes, rejects with its failure reason when it
   * fails. Uses WAITJOB on the queue's connection; `queueEvents` is accepted for BullMQ compatibility.
   */
  async waitUntilFinished(_queueEvents?: unknown, ttl?: number): Promise<ReturnType> {
    const deadline = ttl === undefined ? Infinity : Date.now() + ttl
    const id = await this.#serverId()
    for (;;) {
      const sliceMs = Math.max(1, Math.min(waitSliceMs, deadline - Date.now()))
      try {
        const result = await this.queue.client.finished<ReturnType>(id, sliceMs)
        this.returnvalue = (result ?? null) as ReturnType
        return this.returnvalue
      } catch (error) {
        const message = (error as Error).message
        if (message.includes('Job failed')) throw new Error(await failedReasonOf(this.queue.client, id))
        if (!message.includes('Timeout waiting')) throw error
        if (Date.now() >= deadline) throw new Error(`Job wait ${this.name} timed out before finishing, no finish notification arrived after ${ttl}ms (id=${this.id})`)
      }
    }
  }

  /**
   * Removes the job in any state: waiting, delayed, active, completed or failed (REMOVEJOB; rejects
   * with `Job N not found` when it is already gone). `removeChildren` is accepted and ignored.
   */
  async remove(_opts: { removeChildren?: boolean } = {}): Promise<void> {
    await this.queue.client.removeJob(await this.#serverId(), this.queueName)
  }

  /**
   * Moves a failed job back to waiting (RETRYDLQ). The server resets its attempts whatever
   * `resetAttemptsMade` says (BullMQ keeps them unless asked).
   */
  async retry(_state: FinishedStatus = 'failed', _opts: { resetAttemptsMade?: boolean; resetAttemptsStarted?: boolean } = {}): Promise<void> {
    await this.queue.client.retryDlq(this.queueName, await this.#serverId())
    this.failedReason = undefined as unknown as string
    this.attemptsMade = 0
    this.returnvalue = null as ReturnType
    this.finishedOn = undefined
    this.processedOn = undefined
  }

  /** Makes a delayed job run now. */
  async promote(): Promise<void> {
    await this.queue.client.promote(await this.#serverId())
    this.delay = 0
  }

  /** Reschedules a delayed job to run `delay` ms from now (CHANGEDELAY). */
  async changeDelay(delay: number): Promise<void> {
    await this.queue.client.changeDelay(await this.#serverId(), delay)
    this.delay = delay
    this.opts.delay = delay
  }

  async changePriority(options: { priority?: number; lifo?: boolean }): Promise<void> {
    const priority = options.priority ?? 0
    await this.queue.client.changePriority(await this.#serverId(), -priority)
    this.priority = priority
    this.opts.priority = priority
  }

  async updateData(data: DataType): Promise<void> {
    const repeat = this.repeatJobKey === undefined ? undefined : (repeatMarkOf(this.wire?.data) ?? { ...this.opts.repeat, key: this.repeatJobKey })
    await this.queue.client.update(await this.#serverId(), encodeJobData(this.name, data, repeat))
    this.data = data
  }

  /**
   * Moves the active job back to the queue until `timestamp` (ms since the epoch), without counting
   * an attempt. In a processor, throw `DelayedError` afterwards so the worker does not complete it.
   */
  async moveToDelayed(timestamp: number, _token?: string): Promise<void> {
    const delayMs = Math.max(0, Math.round(timestamp - Date.now()))
    await this.queue.client.moveToDelayed(await this.#serverId(), delayMs)
    this.delay = delayMs
    this.movedToDelayed = true
  }

  /** True after moveToDelayed: the worker leaves the job alone even if the processor returns. */
  movedToDelayed = false

  /** The results of this flow parent's completed children, keyed `bull:<queue>:<id>` as BullMQ keys them. */
  async getChildrenValues<ChildType = unknown>(): Promise<Record<string, ChildType>> {
    return (await this.getDependencies()).processed as Record<string, ChildType>
  }

  /** This flow parent's children by outcome: processed (with results), unprocessed, failed, ignored. */
  async getDependencies(_opts?: unknown): Promise<Dependencies> {
    return dependenciesOf(this.queue.client, await this.#serverId(), this.childRefs())
  }

  async getDependenciesCount(opts: { failed?: boolean; ignored?: boolean; processed?: boolean; unprocessed?: boolean } = {}): Promise<Partial<DependencyCounts>> {
    const dependencies = await this.getDependencies()
    const all: DependencyCounts = {
      processed: Object.keys(dependencies.processed).length,
      unprocessed: dependencies.unprocessed.length,
      failed: dependencies.failed.length,
      ignored: Object.keys(dependencies.ignored).length,
    }
    const picked = (Object.keys(all) as Array<keyof DependencyCounts>).filter((kind) => opts[kind] === true)
    return picked.length === 0 ? all : Object.fromEntries(picked.map((kind) => [kind, all[kind]]))
  }

  /** Children that failed with ignoreDependencyOnFailure: key → failure reason. */
  async getIgnoredChildrenFailures(): Promise<Record<string, string>> {
    return (await this.getDependencies()).ignored
  }

  /** BullMQ's deprecated name of getIgnoredChildrenFailures. */
  getFailedChildrenValues(): Promise<Record<string, string>> {
    return this.getIgnoredChildrenFailures()
  }

  /** Children of a flow parent: from FlowProducer's tags, or a FLOW command's children_ids. */
  childRefs(): ChildRef[] {
    const tags = this.wire?.tags ?? this.opts.tags ?? []
    const tagged = tags.filter((tag) => tag.startsWith(childTagPrefix)).map((tag) => childRefOf(tag.slice(childTagPrefix.length)))
    if (tagged.length > 0) return tagged
    return (this.wire?.children_ids ?? []).map((id) => ({ queue: this.queueName, id, visibleId: String(id) }))
  }

  // ---- manual processing (worker.getNextJob) ----

  /** Completes the active job with `returnValue` (ACK). `fetchNext` is not supported: call getNextJob. */
  async moveToCompleted(returnValue: ReturnType, _token?: string, _fetchNext = false): Promise<void> {
    await this.queue.client.ack(await this.#serverId(), returnValue ?? undefined)
    this.returnvalue = returnValue
    this.finishedOn = Date.now()
    this.attemptsMade = (this.wire?.attempts ?? 0) + 1
    const keep = this.wire?.keep_completed_count ?? 0
    if (keep > 0) await trimFinished(this.queue.client, this.queueName, 'completed', keep)
  }

  /** Fails the active job as a Worker would: a retry after its backoff, or failed for good. */
  async moveToFailed(err: Error, _token?: string, _fetchNext = false): Promise<void> {
    const wire = this.wire
    if (wire === undefined) throw new Error(`moveToFailed: job ${this.id} was not fetched from the server (use worker.getNextJob)`)
    const { reason, final, stacktrace } = await failAttempt(this.queue.client, this, wire, err, this.queue.backoffStrategy)
    this.failedReason = reason
    this.stacktrace = stacktrace
    this.attemptsMade = wire.attempts + 1
    if (!final) return
    this.finishedOn = Date.now()
    const keep = keepFailedCountOf(wire.tags)
    if (keep > 0) await trimFinished(this.queue.client, this.queueName, 'failed', keep)
  }

  /** Keeps the active job from being declared stalled (HEARTBEAT); the duration is the server's stall timeout. */
  async extendLock(_token: string, _durationMs: number): Promise<number> {
    await this.queue.client.heartbeat(await this.#serverId())
    return 1
  }

  /** Set by discard(): a failure of this attempt is final, whatever attempts are left. */
  declare discarded?: boolean

  /** BullMQ (v4)'s discard: if the processor then fails, the job fails for good without retries. */
  discard(): void {
    this.discarded = true
  }

  /** BullMQ's asJSON: the job with data, return value and stack trace as JSON text. */
  asJSON(): JobJson {
    return {
      id: this.id as string,
      name: this.name,
      data: JSON.stringify(this.data ?? {}),
      opts: this.opts,
      progress: this.progress,
      attemptsMade: this.attemptsMade,
      attemptsStarted: this.attemptsStarted,
      finishedOn: this.finishedOn,
      processedOn: this.processedOn,
      timestamp: this.timestamp,
      delay: this.delay,
      priority: this.priority,
      failedReason: this.failedReason,
      stacktrace: JSON.stringify(this.stacktrace),
      returnvalue: JSON.stringify(this.returnvalue),
      parentKey: this.parentKey,
      parent: this.parent,
      repeatJobKey: this.repeatJobKey,
      stalledCounter: this.stalledCounter,
    }
  }

  /**
   * Moves the active job back to waiting without counting an attempt (MOVETODELAYED 0). In a
   * processor, throw `WaitingError` (or `DelayedError`) afterwards, as BullMQ asks.
   */
  async moveToWait(_token?: string): Promise<number> {
    await this.queue.client.moveToDelayed(await this.#serverId(), 0)
    this.movedToDelayed = true
    return 0
  }

  /**
   * This FlowProducer child leaves its parent's dependencies (DROPDEP): the parent no longer waits for
   * it. False when the parent is not known here (only the jobs FlowProducer.add returns know it) or
   * no longer waits for this job.
   */
  async removeChildDependency(): Promise<boolean> {
    const parentId = this.parentServerId
    if (parentId === undefined) return false
    try {
      await removeChild(this.queue.client, parentId, this.queueName, await this.#serverId(), this.id as string)
      return true
    } catch (error) {
      if ((error as Error).message.includes('not waiting for')) return false
      throw error
    }
  }

  toJSON() {
    return {
      id: this.id,
      name: this.name,
      data: this.data,
      opts: this.opts,
      progress: this.progress,
      returnvalue: this.returnvalue,
      failedReason: this.failedReason,
      attemptsMade: this.attemptsMade,
      attemptsStarted: this.attemptsStarted,
      stacktrace: this.stacktrace,
      stalledCounter: this.stalledCounter,
      timestamp: this.timestamp,
      processedOn: this.processedOn,
      finishedOn: this.finishedOn,
      delay: this.delay,
      priority: this.priority,
      queueName: this.queueName,
      parentKey: this.parentKey,
      repeatJobKey: this.repeatJobKey,
    }
  }
}

/**
 * A job by server id with BullMQ's fields filled (return value, failure reason), or null. A completed
 * job's body comes from the completed history (GETJOB has none for it), or is empty when it has left it.
 */
export async function readJob(scope: JobScope, id: number): Promise<Job | null> {
  const found = await scope.client.getJob(id)
  // Server ids are global: a job of another queue is not found here, as BullMQ's ids are per queue.
  if (found !== null) return found.job.queue === scope.name ? withOutcome(scope, Job.fromWire(scope, found.job, found.state), found.state) : null
  if ((await scope.client.getState(id)) !== 'completed') return null
  const wire = await findCompleted(scope.client, scope.name, (job) => job.id === id)
  if (wire !== null) return withOutcome(scope, Job.fromWire(scope, wire, 'completed'), 'completed')
  const job = new Job(scope, '', undefined, {}, String(id))
  job.serverId = id
  return withOutcome(scope, job, 'completed')
}

/** A job by the id a BullMQ user knows it by (job-ids.ts), or null. */
export async function readJobByVisibleId(scope: JobScope, id: string): Promise<Job | null> {
  const serverId = serverIdOfText(id)
  if (serverId !== null) return readJob(scope, serverId)
  const live = await scope.client.getJobByCustomId(id)
  if (live !== null && live.job.queue === scope.name) return withOutcome(scope, Job.fromWire(scope, live.job, live.state), live.state)
  const wire = await findCompleted(scope.client, scope.name, (job) => job.custom_id === id)
  return wire === null ? null : withOutcome(scope, Job.fromWire(scope, wire, 'completed'), 'completed')
}

/** Fills what the job record does not carry: a completed job's return value, a failed job's reason. */
export async function withOutcome<J extends Job>(scope: JobScope, job: J, state: WireState): Promise<J> {
  const failedBefore = state === 'failed' || (job.wire?.attempts ?? 0) > 0
  const [result, logs] = await Promise.all([
    state === 'completed' ? scope.client.getResult(job.numericId) : undefined,
    failedBefore ? scope.client.getLogs(job.numericId).catch(() => []) : undefined,
  ])
  if (state === 'completed') job.returnvalue = result
  if (logs === undefined) return job
  job.stacktrace = keptStackTraces(stackTracesIn(logs), job.wire === undefined ? undefined : stackTraceLimitOf(job.wire.tags))
  if (state === 'failed') {
    job.failedReason = lastErrorIn(logs) ?? job.wire?.progress_msg ?? 'Job failed'
    const counted = Number(logs.findLast((entry) => entry.level === attemptsMadeLogLevel)?.message)
    if (Number.isSafeInteger(counted) && counted > job.attemptsMade) job.attemptsMade = counted
  }
  return job
}

/** The server id of the job a BullMQ user names; rejects when no job has it. */
export async function serverIdOf(scope: JobScope, id: string): Promise<number> {
  const serverId = await resolveJobId(scope.client, scope.name, id)
  if (serverId === null) throw new Error(`Job ${id} not found in queue ${scope.name}`)
  return serverId
}

/**
 * BullMQ's `removeOnComplete: N` / `removeOnFail: N`: the queue keeps its newest N completed (failed)
 * jobs. The server only stores the count, so whoever finishes such a job removes the oldest (CLEAN).
 */
export async function trimFinished(client: FlashQ, queue: string, state: 'completed' | 'failed', keep: number): Promise<void> {
  const count = (await client.getJobCounts(queue))[state]
  if (count > keep) await client.clean(queue, 0, state, count - keep)
}

/** flashQ state names → BullMQ's. */
export function bullState(state: WireState | null): JobState | 'unknown' {
  switch (state) {
    case 'waiting':
    case 'delayed':
    case 'active':
    case 'completed':
    case 'failed':
      return state
    case 'waitingchildren':
    case 'waitingparent':
      return 'waiting-children'
    default:
      return 'unknown'
  }
}

/** The reason a failed job failed: the last error log line the worker wrote, else the last retry reason. */
export async function failedReasonOf(client: FlashQ, id: number): Promise<string> {
  const [logs, found] = await Promise.all([client.getLogs(id).catch(() => []), client.getJob(id).catch(() => null)])
  return lastErrorIn(logs) ?? found?.job.progress_msg ?? 'Job failed'
}

function lastErrorIn(logs: JobLogEntry[]): string | undefined {
  return logs.findLast((entry) => entry.level === 'error')?.message
}

/**
 * Log levels BullMQ's job logs do not show: what the SDK writes for itself (stack traces, attempt counts,
 * flow notes) and failure reasons (`error`: the SDK's final reason, the server's stall verdict), which
 * BullMQ keeps in failedReason, not in the logs.
 */
const sdkLogLevels = new Set([stackTraceLogLevel, attemptsMadeLogLevel, ignoredChildLogLevel, removedChildLogLevel, 'error'])

/** A job's log lines as BullMQ's getJobLogs shows them: without the SDK's own entries. */
export async function userLogsOf(client: FlashQ, id: number): Promise<string[]> {
  return (await client.getLogs(id)).filter((entry) => !sdkLogLevels.has(entry.level)).map((entry) => entry.message)
}


function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * Progress that is not a number, as updateProgress sent it (JSON in the progress message); undefined for
 * a plain-text message (a flashQ client's, sent with its number). After a failure the message is the reason.
 */
export function progressFromMessage(message: string | null | undefined): JobProgress | undefined {
  if (typeof message !== 'string' || !/^[{["]|^(true|false)$/.test(message)) return undefined
  try {
    return JSON.parse(message) as JobProgress
  } catch {
    return undefined
  }
}
