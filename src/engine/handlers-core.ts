/** Core commands (spec §3.1): PUSH, PUSHB, PULL, PULLB, ACK, ACKB, FAIL and the job queries. */
import { jobDataBytesMax } from '../base/limits.ts'
import type { CommandOf, JobInput } from '../protocol/commands.ts'
import * as errors from '../protocol/errors.ts'
import type { RawJson } from '../protocol/raw-json.ts'
import type { Token } from './types.ts'
import { type Core, isRetrievable } from './core.ts'
import { Job, LOC_ACTIVE, LOC_COMPLETED, LOC_DELAYED, LOC_DLQ, LOC_PARKED, type RequestSize, emptyNumbers, jobToWire, rawData, requestBytesOf, stateOf } from './job.ts'
import { jobToSparseWire } from './sparse-wire.ts'
import type { QueueState } from './queue-state.ts'
import { PlainPushRun, encodeJob, packAckRecords, packPushRecords } from './records.ts'
import { dependencyLinkRefusal, watchDependencies } from './links.ts'
import { WAIT_JOB, WAIT_PULL, WAIT_PULLB, Waiter } from './waiters.ts'
import { debounceTtlDefaultMs, waitersMax } from './engine-limits.ts'

/** Size estimate of job data (spec §1.8), only computed when the request itself is over the limit. */
export function estimateDataBytes(data: unknown): number {
  if (data === undefined) return 0
  const text = JSON.stringify(data)
  return text === undefined ? 0 : Buffer.byteLength(text)
}


/** A plain job (cron pushes, flow children): data and priority, everything else default. */
export function plainJobInput(data: unknown, priority: number, delay?: number | null): JobInput {
  return {
    data, priority, delay: delay ?? undefined, lifo: false, remove_on_complete: false, remove_on_fail: false,
    debounce_ttl: debounceTtlDefaultMs,
  } as JobInput
}

/** The request of a job that did not come from a client request (cron, flow child): no size check. */
export const noRequest = null

/**
 * Creates one job from a PUSH / PUSHB item; returns its id or an error message. `request` bounds the
 * request's UTF-8 size (data sizes are checked only when it passes the data limit; noRequest when
 * there is no request). `parentId` makes the job a flow child (recorded with it).
 */
export function pushJob(
  core: Core, q: QueueState, input: JobInput, nowMs: number, request: RequestSize | null, parentId: number | null = null,
  plainRun: PlainPushRun | null = null,
): number | string {
  const checkSize = request !== null && requestBytesOf(request) > jobDataBytesMax
  // Flow children are counted by FLOW itself (a remote child is never refused: its parent exists).
  if (parentId === null && core.jobs.size >= core.jobsMax) return errors.tooManyJobs(core.jobsMax)
  if (checkSize) {
    const bytes = estimateDataBytes(input.data)
    if (bytes > jobDataBytesMax) return errors.jobDataTooLarge(bytes)
  }
  const debounceId = input.debounce_id
  if (debounceId !== undefined) {
    const until = q.debounce.get(debounceId)
    if (until !== undefined && until > nowMs) return errors.debounced(debounceId)
    if (until === undefined && q.debounce.size >= core.debounceEntriesMax) return errors.tooManyDebounceWindows(q.name, core.debounceEntriesMax)
  }
  const customId = input.job_id
  if (customId !== undefined) {
    const existingId = duplicateOfCustomId(core, q.name, customId, nowMs)
    if (existingId !== null) return existingId
  }
  const uniqueKey = input.unique_key
  if (uniqueKey !== undefined && q.uniqueKeys.has(uniqueKey)) return errors.duplicateUniqueKey(uniqueKey)
  const deps = input.depends_on
  if (deps !== undefined && deps.length > 0) {
    const refusal = dependencyLinkRefusal(core, deps)
    if (refusal !== null) return refusal
  }

  const job = new Job(core.nextId(), q.name, nowMs, input.delay !== undefined ? nowMs + input.delay : nowMs)
  job.data = input.data
  // A new job has the defaults already: only other values are written (packed fields, job.ts).
  if (input.priority !== 0) job.priority = input.priority
  // Queue defaults fill what a push leaves absent (cron pushes included); flow children are plain
  // jobs with no other options (spec §4.12), so they take none.
  const defaults = parentId === null ? q.defaults : null
  const maxAttempts = input.max_attempts ?? defaults?.max_attempts
  if (maxAttempts !== undefined) job.maxAttempts = maxAttempts
  const backoff = input.backoff ?? defaults?.backoff
  if (backoff !== undefined) job.backoff = backoff
  const ttl = input.ttl ?? defaults?.ttl
  if (ttl !== undefined) job.ttl = ttl
  const timeout = input.timeout ?? defaults?.timeout
  if (timeout !== undefined) job.timeout = timeout
  job.parentId = parentId
  if (uniqueKey !== undefined) {
    job.uniqueKey = uniqueKey
    job.holdsKey = true
    q.uniqueKeys.add(uniqueKey)
  }
  if (input.tags !== undefined) job.tags = input.tags
  if (input.lifo) job.lifo = true
  if (input.remove_on_complete) job.removeOnComplete = true
  if (input.remove_on_fail) job.removeOnFail = true
  if (input.stall_timeout !== undefined) job.stallTimeout = input.stall_timeout
  if (customId !== undefined) {
    job.customId = customId
    core.customIds.set(customId, job.id)
  }
  if (input.keep_completed_age !== undefined) job.keepCompletedAge = input.keep_completed_age
  if (input.keep_completed_count !== undefined) job.keepCompletedCount = input.keep_completed_count
  if (input.group_id !== undefined) job.groupId = input.group_id
  core.addJob(job, q)
  if (deps !== undefined && deps.length > 0) job.dependsOn = deps
  const pending = deps !== undefined && deps.length > 0 ? pendingDependencies(core, deps) : emptyNumbers
  if (pending.length > 0) {
    job.pendingDeps = pending
    core.park(job, q, LOC_PARKED)
  }
  plainRun?.flush() // the PUSHB's plain jobs before this one are recorded first
  const group = core.beginGroup()
  if (core.recording) {
    const record = encodeJob(job)
    if (debounceId !== undefined) {
      record.db = debounceId
      record.dx = nowMs + input.debounce_ttl
    }
    core.record(record as { t: string })
  }
  if (debounceId !== undefined) core.setDebounce(q, debounceId, nowMs + input.debounce_ttl)
  if (pending.length > 0) watchDependencies(core, job.id, pending, nowMs)
  else core.enqueue(job, q, nowMs)
  core.endGroup(group)
  core.metrics.totalPushed++
  if (core.eventsEnabled) pushEvents(core, job, q.name, nowMs)
  return job.id
}

/**
 * pushJob for a PUSHB item that sets no option but max_attempts (isPlainItem) in a queue without
 * defaults — the SDK's addBulk sends `{data, max_attempts: 1}` — without pushJob's other option reads
 * and writes, and its record joins the batch's packed one (`run`, null when not recording). Small and
 * apart from pushJob: JSC compiles a function to its last tier in the background, and a bigger
 * pushJob (or a loop over the batch holding this body) finished that compile (20–70 ms on a busy
 * 2-core machine) only during a fresh server's first client batches, after the start-up warm-up.
 */
function pushPlainJob(core: Core, q: QueueState, input: JobInput, nowMs: number, request: RequestSize, run: PlainPushRun | null): number | string {
  if (core.jobs.size >= core.jobsMax) return errors.tooManyJobs(core.jobsMax)
  if (requestBytesOf(request) > jobDataBytesMax) {
    const bytes = estimateDataBytes(input.data)
    if (bytes > jobDataBytesMax) return errors.jobDataTooLarge(bytes)
  }
  const job = new Job(core.nextId(), q.name, nowMs)
  job.data = input.data
  const maxAttempts = input.max_attempts ?? 0
  if (maxAttempts !== 0) job.maxAttempts = maxAttempts
  core.addJob(job, q)
  if (run !== null) run.add(job, rawData(job) as RawJson, maxAttempts)
  core.enqueue(job, q, nowMs)
  core.metrics.totalPushed++
  if (core.eventsEnabled) pushEvents(core, job, q.name, nowMs)
  return job.id
}

/**
 * Whether the item sets no option but max_attempts, or each other at its default value: its job's
 * `j` record is `t i q d c` and maybe `ma` (encodeJob writes no field whose value is the default), so
 * records.ts may pack it with others of the same max_attempts.
 */
function isPlainItem(input: JobInput): boolean {
  return input.data !== undefined && input.priority === 0 && (input.delay ?? 0) === 0 && input.debounce_id === undefined
    && (input.backoff ?? 0) === 0 && (input.ttl ?? 0) === 0 && (input.timeout ?? 0) === 0
    && input.unique_key === undefined && input.job_id === undefined && input.group_id === undefined
    && (input.depends_on === undefined || input.depends_on.length === 0) && (input.tags === undefined || input.tags.length === 0)
    && !input.lifo && !input.remove_on_complete && !input.remove_on_fail
    && (input.stall_timeout ?? 0) === 0 && (input.keep_completed_age ?? 0) === 0 && (input.keep_completed_count ?? 0) === 0
}

/** `pushed`, then `delayed` (extension) when the job waits for its run_at. */
function pushEvents(core: Core, job: Job, queue: string, nowMs: number): void {
  core.event({ event_type: 'pushed', queue, job_id: job.id, timestamp: nowMs, data: rawData(job) }, job)
  if (job.loc === LOC_DELAYED) core.event({ event_type: 'delayed', queue, job_id: job.id, timestamp: nowMs, data: { run_at: job.runAt } }, job)
  else if (job.loc === LOC_PARKED) core.event({ event_type: 'waiting-children', queue, job_id: job.id, timestamp: nowMs }, job)
}

/** The dependencies not known as completed. Remote ones are always pending (their shard answers). */
function pendingDependencies(core: Core, deps: number[]): number[] {
  let pending: number[] | undefined
  for (const dep of deps) {
    if (core.isLocal(dep) && core.isCompletedId(dep)) continue
    if (pending === undefined) pending = []
    if (!pending.includes(dep)) pending.push(dep)
  }
  return pending ?? emptyNumbers
}

export function handlePush(core: Core, command: CommandOf<'PUSH'>, token: Token, nowMs: number, requestBytes: number) {
  const result = pushJob(core, core.queue(command.queue), command, nowMs, requestBytes)
  if (typeof result === 'string') core.reply(token, { ok: false, error: result })
  else core.reply(token, { ok: true, id: result })
}

export function handlePushBatch(core: Core, command: CommandOf<'PUSHB'>, token: Token, nowMs: number, requestBytes: number) {
  const q = core.queue(command.queue)
  const jobs = command.jobs
  const request = { bytes: requestBytes } // one for all its jobs: together they are bounded by it
  const ids: number[] = []
  let failures: Array<{ index: number; error: string }> | undefined
  const recordsFrom = core.out.records.length
  const plainRun = core.recording ? new PlainPushRun(core.out.records) : null
  const plainQueue = q.defaults === null
  for (let index = 0; index < jobs.length; index++) {
    const input = jobs[index] as JobInput
    const result = plainQueue && isPlainItem(input)
      ? pushPlainJob(core, q, input, nowMs, request, plainRun)
      : pushJob(core, q, input, nowMs, request, null, plainRun)
    if (typeof result === 'number') ids.push(result)
    else (failures ??= []).push({ index, error: result })
  }
  if (plainRun !== null) {
    plainRun.flush()
    // The jobs with options: their runs of alike records are packed too.
    packPushRecords(core.out.records, recordsFrom)
  }
  core.reply(token, { ok: true, ids, errors: failures ?? [] })
}

function canWait(core: Core): boolean {
  return core.waiters.size < waitersMax
}

export function handlePull(core: Core, command: CommandOf<'PULL'>, token: Token, nowMs: number) {
  const q = core.queue(command.queue)
  const jobs = core.take(q, 1, nowMs)
  if (jobs.length > 0) return core.reply(token, { ok: true, job: jobToWire(jobs[0] as Job) })
  if (command.timeout === 0 || token === 0 || !canWait(core)) return core.reply(token, { ok: true, job: null })
  const deadline = nowMs + command.timeout
  core.addPullWaiter(new Waiter(token, WAIT_PULL, q.name, 0, 1, deadline, command.timeout), q)
}

export function handlePullBatch(core: Core, command: CommandOf<'PULLB'>, token: Token, nowMs: number) {
  const q = core.queue(command.queue)
  const jobs = command.count > 0 ? core.take(q, command.count, nowMs) : []
  if (jobs.length > 0 || command.count === 0) return core.reply(token, { ok: true, jobs: jobs.map(command.sparse === true ? jobToSparseWire : jobToWire) })
  if (command.timeout === 0 || token === 0 || !canWait(core)) return core.reply(token, { ok: true, jobs: [] })
  const deadline = nowMs + command.timeout
  core.addPullWaiter(new Waiter(token, WAIT_PULLB, q.name, 0, command.count, deadline, command.timeout, command.sparse === true), q)
}

/**
 * Jobs handed out by a PULL / PULLB whose reply never reached the worker (its connection was gone):
 * back to waiting, as if never pulled. No attempt is counted and nothing is recorded (a pull writes
 * no record, so the log already has them waiting). Only a job still active from that very delivery
 * (same started_at) goes back.
 */
export function requeueUndelivered(core: Core, deliveries: Array<[number, number]>, nowMs: number): void {
  for (const [id, startedAtMs] of deliveries) {
    const job = core.jobs.get(id)
    if (job === undefined || job.loc !== LOC_ACTIVE || job.startedAt !== startedAtMs) continue
    const q = core.queue(job.queue)
    core.leaveActive(job, q)
    job.startedAt = 0
    job.lastHeartbeat = 0
    core.enqueue(job, q, nowMs)
  }
  core.serveDirty(nowMs)
  core.sweepQueues()
}

/**
 * The clients of these pulls half-closed (a killed worker's kernel sends FIN): the ones still waiting
 * end now, answered empty as on timeout, so no later job is handed to a connection that may be dead.
 * Pulls already answered are not touched.
 */
export function endPullWaits(core: Core, tokens: Iterable<Token>): void {
  for (const token of tokens) {
    const waiter = core.waiters.byToken.get(token)
    if (waiter === undefined || (waiter.kind !== WAIT_PULL && waiter.kind !== WAIT_PULLB)) continue
    core.waiters.finish(waiter)
    const q = core.queues.get(waiter.queue)
    if (q !== undefined) core.touched.add(q)
    core.reply(token, waiter.kind === WAIT_PULL ? { ok: true, job: null } : { ok: true, jobs: [] })
  }
  core.sweepQueues()
}

function activeJob(core: Core, id: number): Job | undefined {
  const job = core.jobs.get(id)
  return job !== undefined && job.loc === LOC_ACTIVE ? job : undefined
}

export function handleAck(core: Core, command: CommandOf<'ACK'>, token: Token, nowMs: number, requestBytes: number) {
  const job = activeJob(core, command.id)
  if (job === undefined) return core.reply(token, { ok: false, error: errors.jobNotFound(command.id) })
  // Results are kept and sent like job data: bounded like it (a 60 MiB result no SDK could read back).
  if (requestBytes > jobDataBytesMax) {
    const bytes = estimateDataBytes(command.result)
    if (bytes > jobDataBytesMax) return core.reply(token, { ok: false, error: errors.valueTooLarge('result', bytes) })
  }
  core.complete(job, core.queue(job.queue), command.result, true, nowMs)
  core.reply(token, { ok: true })
}

export function handleAckBatch(core: Core, command: CommandOf<'ACKB'>, token: Token, nowMs: number) {
  let count = 0
  const recordsFrom = core.out.records.length
  for (const id of command.ids) {
    const job = activeJob(core, id)
    if (job === undefined) continue
    core.complete(job, core.queue(job.queue), undefined, false, nowMs)
    count++
  }
  if (core.recording) packAckRecords(core.out.records, recordsFrom)
  core.reply(token, { ok: true, ids: [count], count })
}

export function handleFail(core: Core, command: CommandOf<'FAIL'>, token: Token, nowMs: number) {
  const job = activeJob(core, command.id)
  if (job === undefined) return core.reply(token, { ok: false, error: errors.jobNotFound(command.id) })
  core.fail(job, core.queue(job.queue), command.error ?? 'Unknown error', nowMs, 'fail', command.retry_delay)
  core.reply(token, { ok: true })
}

export function handleGetJob(core: Core, command: CommandOf<'GETJOB'>, token: Token, nowMs: number) {
  const job = core.jobs.get(command.id)
  if (job === undefined) return core.reply(token, { ok: true, job: null, state: 'unknown' })
  if (job.loc === LOC_COMPLETED) return core.reply(token, { ok: true, job: null, state: 'completed' })
  const reply = { ok: true, job: jobToWire(job), state: stateOf(job, nowMs) }
  // Extension: why a job in the DLQ failed, which the 31 job fields do not carry; the HTTP job view
  // and the dashboard show it.
  core.reply(token, job.failReason === null ? reply : { ...reply, failed_reason: job.failReason })
}

export function handleGetState(core: Core, command: CommandOf<'GETSTATE'>, token: Token, nowMs: number) {
  const job = core.jobs.get(command.id)
  core.reply(token, { ok: true, id: command.id, state: job === undefined ? 'unknown' : stateOf(job, nowMs) })
}

export function handleGetResult(core: Core, command: CommandOf<'GETRESULT'>, token: Token) {
  core.reply(token, { ok: true, id: command.id, result: core.results.get(command.id) ?? null })
}

export function handleWaitJob(core: Core, command: CommandOf<'WAITJOB'>, token: Token, nowMs: number) {
  const id = command.id
  const job = core.jobs.get(id)
  if (job === undefined) return core.reply(token, { ok: false, error: errors.waitJobNotFound })
  if (job.loc === LOC_COMPLETED) {
    const result = core.results.get(id)
    return core.reply(token, result === undefined ? { ok: true } : { ok: true, result })
  }
  if (job.loc === LOC_DLQ) return core.reply(token, { ok: false, error: errors.waitJobFailed })
  if (command.timeout === 0 || token === 0 || !canWait(core)) {
    return core.reply(token, { ok: false, error: errors.waitJobTimeout(id, command.timeout) })
  }
  core.waiters.add(new Waiter(token, WAIT_JOB, job.queue, id, 0, nowMs + command.timeout, command.timeout))
}

/**
 * The id of this shard's still retrievable job with custom id `customId` (spec §4.10), or null. A
 * push into `queueName` that finds one creates nothing: it is a `duplicated` push.
 */
export function duplicateOfCustomId(core: Core, queueName: string, customId: string, nowMs: number): number | null {
  const existingId = core.customIds.get(customId)
  if (existingId === undefined) return null
  const existing = core.jobs.get(existingId)
  if (existing === undefined || !isRetrievable(existing)) return null
  if (core.eventsEnabled) core.event({ event_type: 'duplicated', queue: queueName, job_id: existingId, timestamp: nowMs }, existing)
  return existingId
}

export function handleGetJobByCustomId(core: Core, command: CommandOf<'GETJOBBYCUSTOMID'>, token: Token, nowMs: number) {
  const id = core.customIds.get(command.job_id)
  const job = id === undefined ? undefined : core.jobs.get(id)
  if (job === undefined || !isRetrievable(job)) return core.reply(token, { ok: true, job: null, state: 'unknown' })
  core.reply(token, { ok: true, job: jobToWire(job), state: stateOf(job, nowMs) })
}

export function handleStats(core: Core, token: Token, nowMs: number) {
  let queued = 0
  let processing = 0
  let delayed = 0
  let dlq = 0
  for (const q of core.queues.values()) {
    if (q.delayed.size > 0) core.promoteDue(q, nowMs)
    queued += q.ready.size + q.groupWaitCount
    delayed += q.delayed.size
    processing += q.activeCount
    dlq += q.dlq.size
  }
  core.reply(token, { ok: true, queued, processing, delayed, dlq, completed: core.completedIds.size })
}
