/**
 * How a failed attempt ends, for the Worker and for manual processing (job.moveToFailed): a retry
 * after the job's backoff, or a final failure (and, for a flow child with failParentOnFailure, its
 * parent's too).
 *
 * The server knows one backoff, exponential (spec §4.5). BullMQ's other backoffs — fixed, a bare
 * number, jitter, and custom strategies (`settings.backoffStrategy`) — are computed here, with
 * BullMQ's formulas (its Backoffs class), and sent as FAIL's `retry_delay`; the server still counts
 * the attempt, stores the reason, emits `retrying` and applies max_attempts.
 */
import { jobErrorCharsMax, jobLogMessageCharsMax, sdkFailParentLevelsMax } from '../base/limits.ts'
import { DelayedError, rateLimitExceededMessage, UnrecoverableError, WaitingChildrenError, WaitingError } from './errors.ts'
import type { FlashQ } from './flashq.ts'
import { releaseParentOnFailure } from './flow-deps.ts'
import type { Job } from './job.ts'
import { attemptsMadeLogLevel, type BackoffOptions, failParentTagPrefix, keptStackTraces, scheduledRetryOf, sdkBackoffOf, stackTraceLimitOf, stackTraceLogLevel } from './options.ts'
import type { JobLogEntry, WireJob } from './wire-types.ts'
import { visibleIdOf } from './job-ids.ts'

/** BullMQ's BackoffStrategy: the delay (ms) before the next try; -1 means do not retry. */
export type BackoffStrategy = (attemptsMade: number, type?: string, err?: Error, job?: Job) => Promise<number> | number

export type FailedAttempt = {
  error: Error
  reason: string
  final: boolean
  /** The job's stack traces, this attempt's last (BullMQ's job.stacktrace). */
  stacktrace: string[]
  /** Set when the job's backoff could not be computed (an unknown custom type); the server's backoff was used. */
  backoffError?: Error
}

/** Errors that end the processing without failing the job (the processor moved it itself). */
export function isHandOff(thrown: unknown): boolean {
  return thrown instanceof DelayedError || thrown instanceof WaitingChildrenError || thrown instanceof WaitingError
}


/** The processor threw Worker.RateLimitError(): the job goes back to the queue without an attempt. */
export function isRateLimitExceeded(thrown: unknown): boolean {
  return thrown instanceof Error && thrown.message === rateLimitExceededMessage
}

/** Anything a processor throws, as an Error (a processor that throws a string or an object still fails cleanly). */
export function asError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown
  return new Error(typeof thrown === 'string' ? thrown : `non-Error thrown: ${safeString(thrown)}`)
}

/**
 * Fails one attempt of an active job. Final when the error is unrecoverable, the attempts are used
 * up, or the backoff strategy returns -1. A final failure's reason is written as an error log line
 * (the server keeps no reason for it; getJob finds it there).
 */
export async function failAttempt(client: FlashQ, job: Job, wire: WireJob, thrown: unknown, strategy?: BackoffStrategy): Promise<FailedAttempt> {
  const error = asError(thrown)
  // The server refuses a FAIL error or a log line over its limit (the job would stay active): cut.
  const reason = (error.message || error.name || 'Error').slice(0, jobErrorCharsMax)
  const unrecoverable = error instanceof UnrecoverableError || error.name === 'UnrecoverableError' || job.discarded === true
  // A job the server's cron pushed has no attempt limit there: its scheduler template's applies.
  const scheduled = scheduledRetryOf(wire)
  const maxAttempts = scheduled?.attempts ?? wire.max_attempts
  let final = unrecoverable || (maxAttempts > 0 && wire.attempts + 1 >= maxAttempts)
  let retryDelayMs: number | undefined
  let backoffError: Error | undefined
  if (!final) {
    try {
      retryDelayMs = await sdkRetryDelayMs(scheduled === null ? sdkBackoffOf(wire.tags) : (scheduled.backoff ?? null), wire.attempts + 1, error, job, strategy)
    } catch (problem) {
      backoffError = asError(problem)
    }
  }
  const noRetry = retryDelayMs === -1
  final ||= noRetry
  // Sent together on one connection, so the log lines are there when the job turns failed (or waits for its retry).
  const stackTraceLimit = stackTraceLimitOf(wire.tags)
  const keepsStack = error.stack !== undefined && error.stack !== '' && stackTraceLimit !== 0
  const stack = keepsStack ? (error.stack as string).slice(0, jobLogMessageCharsMax) : ''
  const stackLogged = keepsStack ? client.log(wire.id, stack, stackTraceLogLevel).catch(() => {}) : undefined
  // Earlier attempts' stack traces are in the log (read after this one's is written); a first failure has none.
  const stacks = wire.attempts > 0 && stackTraceLimit !== 0 ? client.getLogs(wire.id).then(stackTracesIn, () => []) : keepsStack ? [stack] : []
  const logged = final ? client.log(wire.id, reason.slice(0, jobLogMessageCharsMax), 'error').catch(() => {}) : undefined
  const discarding = unrecoverable || noRetry || (final && scheduled !== null)
  const counted = discarding ? client.log(wire.id, String(wire.attempts + 1), attemptsMadeLogLevel).catch(() => {}) : undefined
  const failing = discarding ? client.discard(wire.id) : client.fail(wire.id, reason, retryDelayMs)
  const [stacktrace] = await Promise.all([stacks, stackLogged, logged, counted, failing])
  if (final) await Promise.all([failParents(client, wire, job.queueName), releaseParentOnFailure(client, wire, job.queueName, reason)])
  const attempt = { error, reason, final, stacktrace: keptStackTraces(stacktrace, stackTraceLimit) }
  return backoffError === undefined ? attempt : { ...attempt, backoffError }
}

/** The stack traces in a job's log, oldest first. */
export function stackTracesIn(logs: JobLogEntry[]): string[] {
  return logs.filter((entry) => entry.level === stackTraceLogLevel).map((entry) => entry.message)
}

/**
 * The delay of the next try when the SDK computes it (BullMQ's Backoffs.calculate), undefined when
 * the server's exponential backoff applies. `attemptsMade` counts this failure.
 */
export async function sdkRetryDelayMs(backoff: BackoffOptions | null, attemptsMade: number, error: Error, job: Job, strategy?: BackoffStrategy): Promise<number | undefined> {
  if (backoff === null) return undefined
  const delayMs = backoff.delay ?? 0
  const jitter = backoff.jitter ?? 0
  if (backoff.type === 'fixed') return jitter > 0 ? Math.floor(Math.random() * delayMs * jitter + delayMs * (1 - jitter)) : delayMs
  if (backoff.type === 'exponential') {
    const maxDelayMs = Math.round(2 ** (attemptsMade - 1) * delayMs)
    return jitter > 0 ? Math.floor(Math.random() * maxDelayMs * jitter + maxDelayMs * (1 - jitter)) : maxDelayMs
  }
  if (strategy === undefined) {
    throw new Error(`Unknown backoff strategy ${backoff.type}. If a custom backoff strategy is used, specify it in the Worker's settings.backoffStrategy.`)
  }
  const computed = Number(await strategy(attemptsMade, backoff.type, error, job))
  if (computed === -1) return -1
  return Number.isFinite(computed) && computed > 0 ? Math.round(computed) : 0
}

/**
 * failParentOnFailure: the parent (found by the custom id the flow gave it) goes to failed with an
 * error log line naming the child, as BullMQ's `child bull:<queue>:<id> failed`; then its own parent
 * if it carries the option too.
 */
async function failParents(client: FlashQ, child: WireJob, childQueue: string): Promise<void> {
  let current = child
  let currentQueue = childQueue
  for (let level = 0; level < sdkFailParentLevelsMax; level++) {
    const tag = current.tags.find((candidate) => candidate.startsWith(failParentTagPrefix))
    if (tag === undefined) return
    const parent = await client.getJobByCustomId(tag.slice(failParentTagPrefix.length))
    if (parent === null || (parent.state !== 'waitingchildren' && parent.state !== 'waitingparent')) return
    const reason = `child bull:${currentQueue}:${visibleIdOf(current)} failed`
    await Promise.all([client.log(parent.job.id, reason, 'error').catch(() => {}), client.discard(parent.job.id)])
    current = parent.job
    currentQueue = parent.job.queue
  }
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
