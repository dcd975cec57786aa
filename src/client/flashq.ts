/**
 * `FlashQ`: the flashQ TypeScript client's API (spec §7.1–§7.4) over one multiplexed connection, so
 * code written for that client runs unchanged. The BullMQ-style Queue, Worker, Job and FlowProducer
 * are built on it.
 */
import { pushBatchJobsMax } from '../base/limits.ts'
import { validateQueueName } from '../protocol/validate.ts'
import { Connection, type ConnectionOptions, type Reply, type RequestOptions } from './connection.ts'
import { EventEmitter } from 'node:events'
import { FlashQError, ValidationError } from './errors.ts'
import { EventStream, type ServerEvent } from './event-stream.ts'
import { withWireDefaults } from './wire-defaults.ts'
import type { CleanedIds, CronJob, CronOptions, FlowChild, FlowResult, JobCounts, JobEvent, JobLogEntry, JobState, JobWithState, Metrics, PushOptions, QueueInfo, Stats, WireJob } from './wire-types.ts'

export type ClientOptions = ConnectionOptions & {
  /** HTTP port of the server, for event subscriptions (default: TCP port + 1, i.e. 6790). */
  httpPort?: number
}

/** Extra time a blocking call's client-side deadline gets over its server timeout (spec §7.2). */
const blockingGraceMs = 5000
const retried: RequestOptions = { idempotent: true }

export class FlashQ {
  readonly connection: Connection
  readonly options: ClientOptions

  constructor(options: ClientOptions = {}) {
    this.options = { host: 'localhost', ...options }
    this.connection = new Connection(this.options)
  }

  get connected(): boolean {
    return this.connection.connected
  }

  get httpPort(): number {
    return this.options.httpPort ?? this.connection.port + 1
  }

  connect(): Promise<void> {
    return this.connection.connect()
  }

  close(): Promise<void> {
    return this.connection.close()
  }

  /** Sends a raw command; resolves with the whole reply object. */
  send<T extends Reply = Reply>(command: Record<string, unknown>, options?: RequestOptions): Promise<T> {
    return this.connection.request(command, options) as Promise<T>
  }

  async auth(token: string): Promise<boolean> {
    return Boolean((await this.connection.auth(token)).ok)
  }

  async ping(): Promise<boolean> {
    try {
      const reply = await this.send({ cmd: 'PING' }, retried)
      return Boolean(reply.ok || reply.pong)
    } catch {
      return false
    }
  }

  // ---- core ----

  /** PUSH; like the flashQ client it reads only `id` and fills the rest of the job locally. */
  async push<Data = unknown>(queue: string, data: Data, options: PushOptions = {}): Promise<WireJob<Data>> {
    checkQueue(queue)
    const fields = pushFields(options)
    const reply = await this.send<{ id: number }>({ cmd: 'PUSH', queue, data, ...fields })
    return localJob(reply.id, queue, data, options)
  }

  /** PUSHB of at most 1000 jobs; returns the ids in input order. */
  async pushBatch<Data = unknown>(queue: string, jobs: Array<{ data: Data } & PushOptions>): Promise<number[]> {
    return (await this.pushBatchSafe(queue, jobs)).ids
  }

  /** PUSHB that also reports rejected items (`errors[i].index` is the input position). */
  async pushBatchSafe<Data = unknown>(queue: string, jobs: Array<{ data: Data } & PushOptions>): Promise<{ ids: number[]; errors: Array<{ index: number; error: string }> }> {
    return this.pushWireBatch(queue, jobs.map((job) => ({ data: job.data, ...pushFields(job) })))
  }

  /** PUSHB of items already in wire form (`{data, ...pushFields}`). */
  async pushWireBatch(queue: string, items: Array<Record<string, unknown>>): Promise<{ ids: number[]; errors: Array<{ index: number; error: string }> }> {
    checkQueue(queue)
    if (items.length > pushBatchJobsMax) throw new ValidationError(`Batch too large (max ${pushBatchJobsMax} jobs)`)
    const reply = await this.send<{ ids: number[]; errors?: Array<{ index: number; error: string }> }>({ cmd: 'PUSHB', queue, jobs: items })
    const errors = reply.errors ?? []
    // With no rejected items every id is a job's: the filter (for servers that send 0 for a rejected one) is skipped.
    return { ids: errors.length === 0 ? reply.ids : reply.ids.filter((id) => id > 0), errors }
  }

  async pull<Data = unknown>(queue: string, timeout = 60_000): Promise<WireJob<Data> | null> {
    const reply = await this.send<{ job: WireJob<Data> | null }>({ cmd: 'PULL', queue, timeout }, { timeoutMs: timeout + blockingGraceMs })
    return reply.job ?? null
  }

  async pullBatch<Data = unknown>(queue: string, count: number, timeout = 60_000): Promise<WireJob<Data>[]> {
    const reply = await this.send<{ jobs?: WireJob<Data>[] }>({ cmd: 'PULLB', queue, count, timeout }, { timeoutMs: timeout + blockingGraceMs })
    return reply.jobs ?? []
  }

  /**
   * flashq extension: PULLB whose reply leaves out the jobs' default-valued fields (a third of the
   * bytes for plain jobs), filled back in here, so the jobs read as pullBatch's (wire-defaults.ts).
   */
  pullBatchSparse<Data = unknown>(queue: string, count: number, timeout = 60_000): Promise<WireJob<Data>[]> {
    // Not async, and a module function to read the reply: a Worker's every pull goes through here.
    return this.send({ cmd: 'PULLB', queue, count, timeout, sparse: true }, { timeoutMs: timeout + blockingGraceMs }).then(sparseJobsOf) as Promise<WireJob<Data>[]>
  }

  async ack(id: number, result?: unknown): Promise<void> {
    await this.send({ cmd: 'ACK', id, result })
  }

  async ackBatch(ids: number[]): Promise<number> {
    const reply = await this.send<{ count?: number }>({ cmd: 'ACKB', ids })
    return reply.count ?? ids.length
  }

  /** FAIL. `retryDelayMs` (flashq extension) sets this retry's delay instead of the job's exponential backoff. */
  async fail(id: number, error?: string, retryDelayMs?: number): Promise<void> {
    await this.send(retryDelayMs === undefined ? { cmd: 'FAIL', id, error } : { cmd: 'FAIL', id, error, retry_delay: Math.max(0, Math.round(retryDelayMs)) })
  }

  // ---- job queries ----

  async getJob<Data = unknown>(id: number): Promise<JobWithState<Data> | null> {
    const reply = await this.send<{ job: WireJob<Data> | null; state: JobState }>({ cmd: 'GETJOB', id }, retried)
    return reply.job ? { job: reply.job, state: reply.state } : null
  }

  async getState(id: number): Promise<JobState | null> {
    return (await this.send<{ state: JobState | null }>({ cmd: 'GETSTATE', id }, retried)).state
  }

  async getResult<Result = unknown>(id: number): Promise<Result | null> {
    return (await this.send({ cmd: 'GETRESULT', id }, retried)).result ?? null
  }

  /** WAITJOB: resolves with the result once the job completes; rejects when it fails or times out. */
  async finished<Result = unknown>(id: number, timeout = 30_000): Promise<Result | undefined> {
    const reply = await this.send({ cmd: 'WAITJOB', id, timeout }, { timeoutMs: timeout + blockingGraceMs, idempotent: true })
    return reply.result
  }

  async getJobByCustomId<Data = unknown>(customId: string): Promise<JobWithState<Data> | null> {
    const reply = await this.send<{ job: WireJob<Data> | null; state: JobState }>({ cmd: 'GETJOBBYCUSTOMID', job_id: customId }, retried)
    return reply.job ? { job: reply.job, state: reply.state } : null
  }

  async getJobsBatch<Data = unknown>(ids: number[]): Promise<JobWithState<Data>[]> {
    const reply = await this.send<{ jobs?: Array<WireJob<Data> & { state: JobState; job?: WireJob<Data> }> }>({ cmd: 'GETJOBSBATCH', ids }, retried)
    return (reply.jobs ?? []).map(({ state, job, ...flat }) => ({ job: job ?? (flat as WireJob<Data>), state }))
  }

  async getJobs<Data = unknown>(options: { queue?: string; state?: string; limit?: number; offset?: number } = {}): Promise<{ jobs: JobWithState<Data>[]; total: number }> {
    const reply = await this.send<{ jobs: Array<WireJob<Data> & { state: JobState; job?: WireJob<Data> }>; total: number }>(
      { cmd: 'GETJOBS', queue: options.queue, state: options.state, limit: options.limit ?? 100, offset: options.offset ?? 0 },
      retried,
    )
    return { jobs: reply.jobs.map(({ state, job, ...flat }) => ({ job: job ?? (flat as WireJob<Data>), state })), total: reply.total }
  }

  async getJobCounts(queue: string): Promise<JobCounts> {
    const reply = await this.send({ cmd: 'GETJOBCOUNTS', queue }, retried)
    return { waiting: reply.waiting, active: reply.active, delayed: reply.delayed, completed: reply.completed, failed: reply.failed }
  }

  async count(queue: string): Promise<number> {
    return (await this.send({ cmd: 'COUNT', queue }, retried)).count
  }

  // ---- job control ----

  async cancel(id: number): Promise<void> {
    await this.send({ cmd: 'CANCEL', id })
  }

  async progress(id: number, progress: number, message?: string): Promise<void> {
    await this.send({ cmd: 'PROGRESS', id, progress: Math.round(Math.min(100, Math.max(0, progress))), message })
  }

  async getProgress(id: number): Promise<{ progress: number; message: string | null }> {
    const reply = await this.send<{ progress: { progress: number; message: string | null } }>({ cmd: 'GETPROGRESS', id }, retried)
    return { progress: reply.progress.progress, message: reply.progress.message }
  }

  async log(id: number, message: string, level: 'info' | 'warn' | 'error' | (string & {}) = 'info'): Promise<void> {
    await this.send({ cmd: 'LOG', job_id: id, message, level })
  }

  async getLogs(id: number): Promise<JobLogEntry[]> {
    return (await this.send({ cmd: 'GETLOGS', job_id: id }, retried)).logs ?? []
  }

  async heartbeat(id: number): Promise<void> {
    await this.send({ cmd: 'HEARTBEAT', job_id: id }, retried)
  }

  async partial(id: number, data: unknown, index?: number): Promise<void> {
    await this.send({ cmd: 'PARTIAL', id, data, index })
  }

  async changePriority(id: number, priority: number): Promise<void> {
    await this.send({ cmd: 'CHANGEPRIORITY', id, priority }, retried)
  }

  async moveToDelayed(id: number, delay: number): Promise<void> {
    await this.send({ cmd: 'MOVETODELAYED', id, delay })
  }

  async promote(id: number): Promise<void> {
    await this.send({ cmd: 'PROMOTE', id })
  }

  async update(id: number, data: unknown): Promise<void> {
    await this.send({ cmd: 'UPDATEJOB', id, data }, retried)
  }

  async discard(id: number): Promise<void> {
    await this.send({ cmd: 'DISCARD', id })
  }

  /** CHANGEDELAY (flashq extension): a delayed job becomes due `delay` ms from now. */
  async changeDelay(id: number, delay: number): Promise<void> {
    await this.send({ cmd: 'CHANGEDELAY', id, delay: Math.max(0, Math.round(delay)) })
  }

  /**
   * REMOVEJOB (flashq extension): removes job `id` in any state, completed and failed included, which
   * `cancel` refuses. With `queue`, a job of another queue is not found (`Job N not found`).
   */
  async removeJob(id: number, queue?: string): Promise<void> {
    await this.send({ cmd: 'REMOVEJOB', id, queue })
  }

  /** DROPDEP (flashq extension): job `id`, parked on its dependencies, stops waiting for `dependency`. */
  async dropDependency(id: number, dependency: number): Promise<void> {
    await this.send({ cmd: 'DROPDEP', id, dependency }, retried)
  }

  // ---- queue control ----

  async pause(queue: string): Promise<void> {
    await this.send({ cmd: 'PAUSE', queue }, retried)
  }

  async resume(queue: string): Promise<void> {
    await this.send({ cmd: 'RESUME', queue }, retried)
  }

  async isPaused(queue: string): Promise<boolean> {
    return (await this.send<{ paused: boolean }>({ cmd: 'ISPAUSED', queue }, retried)).paused
  }

  async setRateLimit(queue: string, limit: number): Promise<void> {
    await this.send({ cmd: 'RATELIMIT', queue, limit }, retried)
  }

  async clearRateLimit(queue: string): Promise<void> {
    await this.send({ cmd: 'RATELIMITCLEAR', queue }, retried)
  }

  async setConcurrency(queue: string, limit: number): Promise<void> {
    await this.send({ cmd: 'SETCONCURRENCY', queue, limit }, retried)
  }

  async clearConcurrency(queue: string): Promise<void> {
    await this.send({ cmd: 'CLEARCONCURRENCY', queue }, retried)
  }

  async listQueues(): Promise<QueueInfo[]> {
    return (await this.send({ cmd: 'LISTQUEUES' }, retried)).queues
  }

  async clean(queue: string, grace: number, state: 'waiting' | 'delayed' | 'completed' | 'failed', limit?: number): Promise<number> {
    return (await this.send({ cmd: 'CLEAN', queue, grace, state, limit })).count
  }

  /**
   * CLEAN that answers what it removed (extension `ids`): the ids, the custom ids of those that have
   * one, and `more` when the server's cap per reply (cleanReplyIdsMax) stopped it with matches left.
   */
  async cleanListed(queue: string, grace: number, state: 'waiting' | 'delayed' | 'completed' | 'failed', limit?: number): Promise<{ count: number } & CleanedIds> {
    const reply = await this.send({ cmd: 'CLEAN', queue, grace, state, limit, ids: true })
    // A server without the extension (a reference flashQ server) answers the count alone, after removing.
    if (!Array.isArray(reply.ids)) throw new FlashQError(`CLEAN removed ${reply.count} jobs but did not list them: the server does not support \`ids\` (a flashq extension), so their ids are unknown`, 'UNSUPPORTED')
    return reply as { count: number } & CleanedIds
  }

  async drain(queue: string): Promise<number> {
    return (await this.send({ cmd: 'DRAIN', queue })).count
  }

  async obliterate(queue: string): Promise<number> {
    return (await this.send({ cmd: 'OBLITERATE', queue })).count
  }

  // ---- DLQ ----

  async getDlq<Data = unknown>(queue: string, count = 100): Promise<WireJob<Data>[]> {
    return (await this.send({ cmd: 'DLQ', queue, count }, retried)).jobs
  }

  /** Moves one DLQ job (or all of them) back to the queue; returns how many moved. */
  async retryDlq(queue: string, id?: number): Promise<number> {
    const reply = await this.send({ cmd: 'RETRYDLQ', queue, id })
    return reply.count ?? reply.ids?.[0] ?? 0
  }

  async purgeDlq(queue: string): Promise<number> {
    return (await this.send({ cmd: 'PURGEDLQ', queue })).count
  }

  // ---- cron ----

  async addCron(name: string, options: CronOptions): Promise<void> {
    await this.send(
      { cmd: 'CRON', name, queue: options.queue, data: options.data ?? null, schedule: options.schedule, repeat_every: options.repeat_every, priority: options.priority ?? 0, limit: options.limit },
      retried,
    )
  }

  async deleteCron(name: string): Promise<boolean> {
    return Boolean((await this.send({ cmd: 'CRONDELETE', name })).ok)
  }

  async listCrons(): Promise<CronJob[]> {
    return (await this.send({ cmd: 'CRONLIST' }, retried)).crons
  }

  // ---- flows ----

  async pushFlow(queue: string, data: unknown, children: FlowChild[], options: { priority?: number } = {}): Promise<FlowResult> {
    checkQueue(queue)
    const reply = await this.send<FlowResult>({
      cmd: 'FLOW',
      queue,
      data,
      priority: options.priority ?? 0,
      children: children.map((child) => ({ queue: child.queue, data: child.data, priority: child.priority ?? 0, delay: child.delay })),
    })
    return { parent_id: reply.parent_id, children_ids: reply.children_ids }
  }

  async getChildren(parentId: number): Promise<number[]> {
    return (await this.send({ cmd: 'GETCHILDREN', parent_id: parentId }, retried)).children_ids ?? []
  }

  // ---- stats ----

  async stats(): Promise<Stats> {
    const reply = await this.send({ cmd: 'STATS' }, retried)
    return { queued: reply.queued, processing: reply.processing, delayed: reply.delayed, dlq: reply.dlq, completed: reply.completed }
  }

  async metrics(): Promise<Metrics> {
    return (await this.send({ cmd: 'METRICS' }, retried)).metrics
  }

  // ---- events ----

  /**
   * Subscribes to the server's job events for one queue (or all): resolves once subscribed. The
   * subscriber emits 'event' with every JobEvent and the event's own type ('completed', 'failed', …).
   * Over WebSocket (`/ws[/{queue}]` on the HTTP port); `subscribe` is the same call, since SSE has no
   * client in Bun or Node 20.
   */
  async subscribeWs(queue?: string): Promise<EventSubscriber> {
    if (queue !== undefined) checkQueue(queue)
    const subscriber = new EventSubscriber()
    const stream = new EventStream(
      { host: this.connection.host, httpPort: this.httpPort, token: this.options.token ?? '', timeoutMs: this.connection.timeoutMs, queue },
      {
        onEvent: (event) => subscriber.deliver(event),
        onReady: () => subscriber.emit('connected'),
        onError: (error) => subscriber.emit('error', error),
      },
    )
    subscriber.stream = stream
    await stream.connect()
    return subscriber
  }

  subscribe(queue?: string): Promise<EventSubscriber> {
    return this.subscribeWs(queue)
  }

  // ---- key-value store ----

  async kvSet(key: string, value: unknown, options: { ttl?: number } = {}): Promise<void> {
    await this.send({ cmd: 'KVSET', key, value, ttl: options.ttl }, retried)
  }

  async kvGet<Value = unknown>(key: string): Promise<Value | null> {
    return (await this.send({ cmd: 'KVGET', key }, retried)).value ?? null
  }

  async kvDel(key: string): Promise<boolean> {
    return (await this.send({ cmd: 'KVDEL', key })).exists
  }

  async kvMget<Value = unknown>(keys: string[]): Promise<Array<Value | null>> {
    return (await this.send({ cmd: 'KVMGET', keys }, retried)).values
  }

  async kvMset(entries: Array<{ key: string; value: unknown; ttl?: number }>): Promise<number> {
    return (await this.send({ cmd: 'KVMSET', entries }, retried)).count
  }

  async kvExists(key: string): Promise<boolean> {
    return (await this.send({ cmd: 'KVEXISTS', key }, retried)).exists
  }

  async kvExpire(key: string, ttl: number): Promise<boolean> {
    return (await this.send({ cmd: 'KVEXPIRE', key, ttl }, retried)).exists
  }

  async kvTtl(key: string): Promise<number> {
    return (await this.send({ cmd: 'KVTTL', key }, retried)).ttl
  }

  async kvKeys(pattern?: string): Promise<string[]> {
    return (await this.send({ cmd: 'KVKEYS', pattern }, retried)).keys
  }

  async kvIncr(key: string, by = 1): Promise<number> {
    return (await this.send({ cmd: 'KVINCR', key, by })).value
  }
}

/** Job events of one subscription, as the flashQ client names them (`eventType`, `jobId`). */
export class EventSubscriber extends EventEmitter {
  stream: EventStream | null = null

  deliver(event: ServerEvent): void {
    const { event_type: eventType, job_id: jobId, ...rest } = event
    const renamed: JobEvent = { ...rest, eventType, jobId }
    this.emit('event', renamed)
    this.emit(eventType, renamed)
  }

  async close(): Promise<void> {
    await this.stream?.close()
  }
}

export function checkQueue(queue: string): void {
  const problem = validateQueueName(queue)
  if (problem !== null) throw new ValidationError(problem)
}

/**
 * The PUSH fields of a job. Fields at the server's default (priority 0, flags false) and absent ones
 * are left out: the server fills the same defaults, and a 1000-job PUSHB stays small.
 */
export function pushFields(options: PushOptions): Record<string, unknown> {
  const fields: Record<string, unknown> = {}
  if (options.priority) fields.priority = options.priority
  if (options.delay !== undefined) fields.delay = options.delay
  if (options.ttl !== undefined) fields.ttl = options.ttl
  if (options.timeout !== undefined) fields.timeout = options.timeout
  if (options.max_attempts !== undefined) fields.max_attempts = options.max_attempts
  if (options.backoff !== undefined) fields.backoff = options.backoff
  if (options.unique_key !== undefined) fields.unique_key = options.unique_key
  if (options.depends_on !== undefined) fields.depends_on = options.depends_on
  if (options.tags !== undefined) fields.tags = options.tags
  if (options.lifo) fields.lifo = true
  if (options.remove_on_complete) fields.remove_on_complete = true
  if (options.remove_on_fail) fields.remove_on_fail = true
  if (options.stall_timeout !== undefined) fields.stall_timeout = options.stall_timeout
  if (options.debounce_id !== undefined) fields.debounce_id = options.debounce_id
  if (options.debounce_ttl !== undefined) fields.debounce_ttl = options.debounce_ttl
  if (options.jobId !== undefined) fields.job_id = options.jobId
  if (options.keep_completed_age !== undefined) fields.keep_completed_age = options.keep_completed_age
  if (options.keep_completed_count !== undefined) fields.keep_completed_count = options.keep_completed_count
  if (options.group_id !== undefined) fields.group_id = options.group_id
  return fields
}

function sparseJobsOf(reply: Reply): WireJob[] {
  return withWireDefaults((reply.jobs as Array<Partial<WireJob>> | undefined) ?? [])
}

/** The job a push returns: the server sends only the id, so the rest is filled from the request. */
export function localJob<Data>(id: number, queue: string, data: Data, options: PushOptions, nowMs = Date.now()): WireJob<Data> {
  return {
    id,
    queue,
    data,
    priority: options.priority ?? 0,
    created_at: nowMs,
    run_at: nowMs + (options.delay ?? 0),
    started_at: 0,
    attempts: 0,
    max_attempts: options.max_attempts ?? 0,
    backoff: options.backoff ?? 0,
    ttl: options.ttl ?? 0,
    timeout: options.timeout ?? 0,
    unique_key: options.unique_key ?? null,
    depends_on: options.depends_on ?? [],
    progress: 0,
    progress_msg: null,
    tags: options.tags ?? [],
    lifo: options.lifo ?? false,
    remove_on_complete: options.remove_on_complete ?? false,
    remove_on_fail: options.remove_on_fail ?? false,
    last_heartbeat: 0,
    stall_timeout: options.stall_timeout ?? 30_000,
    stall_count: 0,
    parent_id: null,
    children_ids: [],
    children_completed: 0,
    custom_id: options.jobId ?? null,
    keep_completed_age: options.keep_completed_age ?? 0,
    keep_completed_count: options.keep_completed_count ?? 0,
    completed_at: 0,
    group_id: options.group_id ?? null,
  }
}
