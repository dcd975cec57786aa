/**
 * BullMQ's option shapes, and how they map onto flashQ's PUSH fields and job objects.
 *
 * Mapping decisions (also in README "Migrating from BullMQ"):
 * - priority: BullMQ runs 1 before 2 and unprioritised (0) jobs first; flashQ runs higher first, so
 *   BullMQ priority p is sent as -p.
 * - attempts: BullMQ's default is 1 (no retry); flashQ's absent max_attempts means unlimited, so the
 *   SDK always sends `max_attempts = attempts ?? 1`.
 * - backoff: the server's backoff is exponential, `base × 2^failures`. BullMQ's exponential is
 *   `delay × 2^(failures-1)`, so base = delay / 2 gives BullMQ's exact schedule. Every other backoff
 *   (fixed, a bare number — BullMQ reads it as fixed —, a jitter, a custom type) is computed by the
 *   SDK when the job fails (retry.ts) and sent as FAIL's `retry_delay`; the job carries its backoff
 *   options in a tag (`flashq:backoff=<json>`) so any SDK worker can compute it. The base is still
 *   sent, so a client that FAILs without retry_delay gets the exponential schedule instead.
 * - the job name travels inside `data` (see encodeJobData), so jobs from flashQ's own Queue wrapper,
 *   which sends `{name, ...data}`, read back with the right name.
 */
import type { ConnectionOptions as TransportOptions } from './connection.ts'
import type { PushOptions, WireJob } from './wire-types.ts'
import type { BackoffStrategy } from './retry.ts'
import { isVisibleCustomId } from './job-ids.ts'

/** BullMQ's `connection` shape: `{host, port}`, plus flashQ's token and HTTP port. */
export type ConnectionOptions = TransportOptions & {
  /** HTTP port for QueueEvents (default: port + 1, i.e. 6790). */
  httpPort?: number
  /** Redis-only options of a BullMQ config (password, db, maxRetriesPerRequest, …) are accepted and ignored. */
  [redisOption: string]: unknown
}

export type BackoffOptions = { type: 'fixed' | 'exponential' | (string & {}); delay?: number; jitter?: number }

/** Tag under which a job carries backoff options the SDK computes (README "Migrating from BullMQ"). */
export const backoffTagPrefix = 'flashq:backoff='
/** Tag of a flow child with failParentOnFailure: the custom id of the parent it fails (flow-producer.ts). */
export const failParentTagPrefix = 'flashq:fail-parent='
/** Tags of a flow child with ignore/removeDependencyOnFailure: the custom id of the parent it releases (flow-deps.ts). */
export const ignoreDependencyTagPrefix = 'flashq:ignore-dep='
export const removeDependencyTagPrefix = 'flashq:remove-dep='
/** Tag of a job with `removeOnFail: N`: the count of failed jobs to keep, which the Worker that fails it enforces. */
export const keepFailedTagPrefix = 'flashq:keep-failed='
/** Tag of a job with `stackTraceLimit: N`: how many stack traces it keeps (0: none). */
export const stackTraceLimitTagPrefix = 'flashq:stack-limit='
/** Tag of a job added with `deduplication`: its deduplication id (job.deduplicationId, Queue.getDeduplicationJobId). */
export const deduplicationTagPrefix = 'flashq:dedup='
/** Log level of the stack trace the SDK writes to a job's log for each failed attempt (job.stacktrace reads them). */
export const stackTraceLogLevel = 'stacktrace'
/**
 * Log level of the attempt count the SDK writes when it fails a job for good with DISCARD, which
 * counts no attempt on the server (UnrecoverableError, a backoff of -1, a scheduled job's last attempt):
 * a failed job read back shows it as attemptsMade, as BullMQ counts the attempt that failed it.
 */
export const attemptsMadeLogLevel = 'attempts-made'

/** `age` in seconds, as in BullMQ; `limit` (BullMQ's most jobs removed per finish) is accepted and ignored. */
export type KeepJobs = { age?: number; count?: number; limit?: number }

/**
 * BullMQ's deduplication: while a job added with `id` is live (until it completes or fails), or for
 * `ttl` ms after it was added when `ttl` is given, adding another job with `id` adds nothing (README
 * "Migrating from BullMQ"). `extend`, `replace`, `reschedule` and `keepLastIfActive` are accepted and ignored.
 */
export type DeduplicationOptions = { id: string; ttl?: number; extend?: boolean; replace?: boolean; reschedule?: boolean; keepLastIfActive?: boolean }

export type RepeatOptions = {
  /** Milliseconds between runs. */
  every?: number
  /** Cron expression (5 or 6 fields), evaluated in UTC. */
  pattern?: string
  /** Maximum number of runs. */
  limit?: number
  immediately?: boolean
  tz?: string
  key?: string
  /** Accepted for BullMQ compatibility and ignored (README "Migrating from BullMQ"). */
  startDate?: Date | string | number
  endDate?: Date | string | number
  count?: number
  offset?: number
}

export type JobsOptions = {
  delay?: number
  priority?: number
  attempts?: number
  backoff?: number | BackoffOptions
  lifo?: boolean
  /** Custom id: adding a job whose jobId is still known returns the existing job. */
  jobId?: string
  removeOnComplete?: boolean | number | KeepJobs
  removeOnFail?: boolean | number | KeepJobs
  /** Stack traces job.stacktrace keeps, the newest (default: all; 0: none). */
  stackTraceLimit?: number
  repeat?: RepeatOptions
  timestamp?: number
  deduplication?: DeduplicationOptions
  // flashQ extensions
  /** Expire the job this many ms after it was added. */
  ttl?: number
  /** Processing timeout (ms): an active job older than this fails. */
  timeout?: number
  /** A job without heartbeat for this long gets a stall strike (default 30 000 ms). */
  stallTimeout?: number
  /** At most one active job per group. */
  groupId?: string
  /** A second add with the same key fails with a DuplicateJobError while the first job is live. */
  uniqueKey?: string
  tags?: string[]
  /** Flows: when this child fails for good, its parent fails too (and so on up). */
  failParentOnFailure?: boolean
  /** Flows: when this child fails for good, its parent runs without it; the failure is listed in parent.getIgnoredChildrenFailures(). */
  ignoreDependencyOnFailure?: boolean
  /** Flows: when this child fails for good, it is removed from its parent's dependencies and the parent runs without it. */
  removeDependencyOnFailure?: boolean
  /** Wait for these jobs to complete first: their ids (a custom jobId is looked up by Queue.add, in this queue once completed). */
  dependsOn?: Array<string | number>
  /** Other BullMQ job options (keepLogs, sizeLimit, telemetry, …) are accepted and ignored. */
  [bullmqOption: string]: unknown
}

export type QueueOptions = {
  connection?: ConnectionOptions
  defaultJobOptions?: JobsOptions
  /** Accepted for BullMQ compatibility; flashQ has no key prefix. */
  prefix?: string
  [bullmqOption: string]: unknown
}

export type RateLimiterOptions = { max: number; duration: number }

export type WorkerOptions = {
  connection?: ConnectionOptions
  /** Jobs processed at once (default 1). */
  concurrency?: number
  /** At most `max` jobs started per `duration` ms. */
  limiter?: RateLimiterOptions
  /** Start at construction (default true); otherwise call run(). */
  autorun?: boolean
  /** How long one blocking pull waits for jobs (ms, default 5000); the worker re-pulls after it. */
  drainDelay?: number
  /** Heartbeats keep active jobs alive; they are sent every lockDuration / 2 (default 30 000). */
  lockDuration?: number
  /** Jobs per ACKB at most (default 1000). */
  ackBatchMax?: number
  /**
   * flashq extension: at most this many jobs leased beyond `concurrency`, waiting locally for a free
   * slot (default 1000, at most 10 000; 0 disables; ignored with a limiter). The worker sizes its
   * prefetch to about two pull round trips of work, so slow jobs are not prefetched at all.
   */
  prefetch?: number
  name?: string
  prefix?: string
  /**
   * BullMQ's: how many completed (failed) jobs the queue keeps, for the jobs this worker finishes that
   * have no removeOnComplete (removeOnFail) of their own; `age` is not enforced.
   */
  removeOnComplete?: KeepJobs
  removeOnFail?: KeepJobs
  /** A processor file runs in worker threads instead of child processes. */
  useWorkerThreads?: boolean
  /** `backoffStrategy` computes the retry delay of jobs added with a custom backoff type. */
  settings?: { backoffStrategy?: BackoffStrategy }
  /** Other BullMQ worker options (stalledInterval, maxStalledCount, metrics, …) are accepted and ignored. */
  [bullmqOption: string]: unknown
}

export type QueueEventsOptions = {
  connection?: ConnectionOptions
  autorun?: boolean
  prefix?: string
  [bullmqOption: string]: unknown
}

/**
 * What a job made by a job scheduler (`upsertJobScheduler`, `add` with `repeat`) carries in its data as
 * `$repeat`, since the server's cron pushes data (and priority) only: the scheduler id (job.repeatJobKey),
 * its repeat options (job.opts.repeat), and the template's `attempts` and `backoff`, which the SDK
 * applies when a job the cron pushed fails (retry.ts): the server would retry it without limit.
 */
export type RepeatMark = Omit<RepeatOptions, 'key' | 'immediately'> & { key: string; attempts?: number; backoff?: number | BackoffOptions }

/** The repeat options of a scheduled job's mark (job.opts.repeat): without the scheduler id and the template's retry options. */
export function repeatOptionsOf(mark: RepeatMark): RepeatOptions {
  const { key: _key, attempts: _attempts, backoff: _backoff, ...repeat } = mark
  return repeat
}

/**
 * The attempts and backoff of a job the server's cron pushed (no max_attempts of its own: unlimited
 * on the server), from its scheduler's template (BullMQ's default: 1 attempt); null for other jobs.
 */
export function scheduledRetryOf(job: WireJob): { attempts: number; backoff: BackoffOptions | undefined } | null {
  if (job.max_attempts > 0) return null
  const mark = repeatMarkOf(job.data)
  if (mark === undefined) return null
  return { attempts: Math.max(1, mark.attempts ?? 1), backoff: normalizeBackoff(mark.backoff) }
}

/**
 * Job names are part of `data` on the wire: `{name, ...data}`, or `{name, $data: data}` when that would
 * lose something; a scheduled job's data has its `$repeat` too.
 */
export function encodeJobData(name: string, data: unknown, repeat?: RepeatMark): Record<string, unknown> {
  const encoded: Record<string, unknown> = isPlainObject(data) && !('name' in data) && !('$data' in data) && !('$repeat' in data) ? { name, ...data } : { name, $data: data }
  if (repeat !== undefined) encoded.$repeat = repeat
  return encoded
}

export function decodeJobData(wire: unknown): { name: string; data: unknown; repeat?: RepeatMark } {
  if (!isPlainObject(wire)) return { name: '', data: wire }
  if ('$repeat' in wire && typeof wire.name === 'string') {
    const { $repeat: _repeat, ...rest } = wire
    const repeat = repeatMarkOf(wire)
    return repeat === undefined ? decodeJobData(rest) : { ...decodeJobData(rest), repeat }
  }
  if ('$data' in wire && typeof wire.name === 'string') return { name: wire.name, data: wire.$data }
  if (typeof wire.name !== 'string') return { name: '', data: wire }
  const { name, ...data } = wire
  return { name, data }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

export function toPushOptions(opts: JobsOptions): PushOptions {
  const keepCompleted = keepOf(opts.removeOnComplete)
  const keepFailed = keepOf(opts.removeOnFail)
  const backoff = normalizeBackoff(opts.backoff)
  const sdkBackoff = backoff !== undefined && (backoff.type !== 'exponential' || (backoff.jitter ?? 0) > 0) ? backoff : null
  // Deduplication with a ttl is the server's debounce window; without, its unique key (held until the job completes or fails).
  const dedup = opts.deduplication
  const dedupWindowed = dedup !== undefined && (dedup.ttl ?? 0) > 0
  return {
    priority: opts.priority ? -opts.priority : 0,
    delay: opts.delay && opts.delay > 0 ? Math.round(opts.delay) : undefined,
    max_attempts: Math.max(1, opts.attempts ?? 1),
    backoff: backoffBaseMs(backoff),
    lifo: opts.lifo ?? false,
    jobId: opts.jobId,
    remove_on_complete: keepCompleted.remove,
    keep_completed_age: keepCompleted.age,
    keep_completed_count: keepCompleted.count,
    remove_on_fail: keepFailed.remove,
    ttl: opts.ttl,
    timeout: opts.timeout,
    stall_timeout: opts.stallTimeout,
    group_id: opts.groupId,
    unique_key: opts.uniqueKey ?? (dedup !== undefined && !dedupWindowed ? dedup.id : undefined),
    debounce_id: dedupWindowed ? dedup.id : undefined,
    debounce_ttl: dedupWindowed ? Math.round(dedup.ttl as number) : undefined,
    tags: withSdkTags(opts.tags, sdkBackoff, keepFailed.count, opts.stackTraceLimit, dedup?.id),
    depends_on: opts.dependsOn?.map(Number),
  }
}

function withSdkTags(tags: string[] | undefined, sdkBackoff: BackoffOptions | null, keepFailedCount: number | undefined, stackTraceLimit: number | undefined, deduplicationId: string | undefined): string[] | undefined {
  if (sdkBackoff === null && keepFailedCount === undefined && stackTraceLimit === undefined && deduplicationId === undefined) return tags
  const withTags = [...(tags ?? [])]
  if (deduplicationId !== undefined) withTags.push(`${deduplicationTagPrefix}${deduplicationId}`)
  if (sdkBackoff !== null) withTags.push(`${backoffTagPrefix}${JSON.stringify(sdkBackoff)}`)
  if (keepFailedCount !== undefined) withTags.push(`${keepFailedTagPrefix}${keepFailedCount}`)
  if (stackTraceLimit !== undefined) withTags.push(`${stackTraceLimitTagPrefix}${Math.max(0, Math.floor(stackTraceLimit))}`)
  return withTags
}

/** The `stackTraceLimit` a job carries (from its tag), or undefined for no limit. */
export function stackTraceLimitOf(tags: readonly string[]): number | undefined {
  const tag = tags.find((candidate) => candidate.startsWith(stackTraceLimitTagPrefix))
  const limit = tag === undefined ? Number.NaN : Number(tag.slice(stackTraceLimitTagPrefix.length))
  return Number.isSafeInteger(limit) && limit >= 0 ? limit : undefined
}

/** The last `limit` stack traces (all when undefined; none for 0), as BullMQ's updateStacktrace keeps them. */
export function keptStackTraces(stacks: string[], limit: number | undefined): string[] {
  return limit === undefined ? stacks : limit === 0 ? [] : stacks.slice(-limit)
}

/** The deduplication id a job was added with (from its tag), or undefined. */
export function deduplicationIdOf(tags: readonly string[]): string | undefined {
  return tags.find((candidate) => candidate.startsWith(deduplicationTagPrefix))?.slice(deduplicationTagPrefix.length)
}

/** The count of failed jobs a job with `removeOnFail: N` keeps (from its tag), or 0. */
export function keepFailedCountOf(tags: readonly string[]): number {
  const tag = tags.find((candidate) => candidate.startsWith(keepFailedTagPrefix))
  const count = tag === undefined ? 0 : Number(tag.slice(keepFailedTagPrefix.length))
  return Number.isSafeInteger(count) && count > 0 ? count : 0
}

function keepOf(option: JobsOptions['removeOnComplete']): { remove: boolean; age?: number; count?: number } {
  if (option === undefined || option === false) return { remove: false }
  if (option === true) return { remove: true }
  if (typeof option === 'number') return option <= 0 ? { remove: true } : { remove: false, count: option }
  return { remove: false, age: option.age, count: option.count }
}

/** BullMQ's Backoffs.normalize: a bare number is a fixed delay. */
export function normalizeBackoff(backoff: JobsOptions['backoff']): BackoffOptions | undefined {
  if (typeof backoff === 'number') return Number.isFinite(backoff) ? { type: 'fixed', delay: backoff } : undefined
  return backoff ?? undefined
}

function backoffBaseMs(backoff: BackoffOptions | undefined): number | undefined {
  const delayMs = backoff?.delay
  if (delayMs === undefined || delayMs <= 0) return undefined
  return Math.max(1, Math.round(delayMs / 2))
}

/** The backoff options a job carries for the SDK to compute, or null (the server's exponential, or none). */
export function sdkBackoffOf(tags: readonly string[]): BackoffOptions | null {
  const tag = tags.find((candidate) => candidate.startsWith(backoffTagPrefix))
  if (tag === undefined) return null
  try {
    const parsed = JSON.parse(tag.slice(backoffTagPrefix.length)) as BackoffOptions
    return typeof parsed?.type === 'string' ? parsed : null
  } catch {
    return null
  }
}

/** Tags the SDK adds for itself, which job.opts.tags does not show. */
function isSdkTag(tag: string): boolean {
  return tag.startsWith(backoffTagPrefix) || tag.startsWith(deduplicationTagPrefix) || tag.startsWith(keepFailedTagPrefix) || tag.startsWith(stackTraceLimitTagPrefix) || tag.startsWith(failParentTagPrefix) || tag.startsWith(ignoreDependencyTagPrefix) || tag.startsWith(removeDependencyTagPrefix)
}

/** Rebuilds BullMQ-style options from a job object (for jobs this process did not add). */
export function optionsFromWire(job: WireJob): JobsOptions {
  const scheduledRetry = scheduledRetryOf(job)
  const opts: JobsOptions = { attempts: scheduledRetry?.attempts ?? job.max_attempts, lifo: job.lifo }
  if (job.priority !== 0) opts.priority = -job.priority
  if (job.run_at > job.created_at && job.attempts === 0) opts.delay = job.run_at - job.created_at
  const sdkBackoff = scheduledRetry?.backoff ?? sdkBackoffOf(job.tags)
  if (sdkBackoff !== null) opts.backoff = sdkBackoff
  else if (job.backoff > 0) opts.backoff = { type: 'exponential', delay: job.backoff * 2 }
  if (job.tags.some((tag) => tag.startsWith(failParentTagPrefix))) opts.failParentOnFailure = true
  if (job.tags.some((tag) => tag.startsWith(ignoreDependencyTagPrefix))) opts.ignoreDependencyOnFailure = true
  if (job.tags.some((tag) => tag.startsWith(removeDependencyTagPrefix))) opts.removeDependencyOnFailure = true
  if (isVisibleCustomId(job.custom_id)) opts.jobId = job.custom_id
  if (job.remove_on_complete) opts.removeOnComplete = true
  else if (job.keep_completed_count > 0 || job.keep_completed_age > 0) opts.removeOnComplete = { count: job.keep_completed_count || undefined, age: job.keep_completed_age || undefined }
  if (job.remove_on_fail) opts.removeOnFail = true
  else if (keepFailedCountOf(job.tags) > 0) opts.removeOnFail = keepFailedCountOf(job.tags)
  const stackTraceLimit = stackTraceLimitOf(job.tags)
  if (stackTraceLimit !== undefined) opts.stackTraceLimit = stackTraceLimit
  if (job.ttl > 0) opts.ttl = job.ttl
  if (job.timeout > 0) opts.timeout = job.timeout
  if (job.group_id !== null) opts.groupId = job.group_id
  const deduplicationId = deduplicationIdOf(job.tags)
  if (deduplicationId !== undefined) opts.deduplication = { id: deduplicationId }
  if (job.unique_key !== null && job.unique_key !== deduplicationId) opts.uniqueKey = job.unique_key
  const tags = job.tags.filter((tag) => !isSdkTag(tag))
  if (tags.length > 0) opts.tags = tags
  const repeat = repeatMarkOf(job.data)
  if (repeat !== undefined) opts.repeat = repeatOptionsOf(repeat)
  return opts
}

/** The `$repeat` of a scheduled job's data, or undefined. */
export function repeatMarkOf(data: unknown): RepeatMark | undefined {
  if (!isPlainObject(data) || !isPlainObject(data.$repeat) || typeof data.$repeat.key !== 'string') return undefined
  return data.$repeat as RepeatMark
}
