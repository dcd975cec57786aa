/**
 * The error catalogue of the flashQ wire protocol (spec §1.8). Every error text the server sends is
 * built here, so TCP, HTTP, the engine and the SDK agree on one spelling. Clients classify errors by
 * case-insensitive substring, so these strings are part of the protocol: change none of them.
 *
 * Note: `Job N not found` deliberately does not contain "job not found" (clients treat it as a server
 * error, as the reference does).
 */
import { jobDataBytesMax, kvBatchEntriesMax, kvKeyBytesMax, kvValueBytesMax, pushBatchJobsMax, queueNameCharsMax, cronScheduleCharsMax } from '../base/limits.ts'

// Transport and envelope.
/** Bad JSON, bad shape, unknown command. `detail` is ours to choose, in plain words. */
export const invalid = (detail: string): string => `Invalid: ${detail}`
export const msgpackDeserialize = (detail: string): string => `MessagePack deserialize error: ${detail}`
export const messageTooLarge = 'Message too large'
export const authenticationRequired = 'Authentication required'
export const invalidToken = 'Invalid token'

// Queue names.
export const queueNameEmpty = 'Queue name cannot be empty'
export const queueNameTooLong = `Queue name too long (max ${queueNameCharsMax} chars)`
export const queueNameCharacters =
  'Queue name must contain only alphanumeric characters, underscores, hyphens, or dots'

// Push.
/** `estimateBytes` is the server's size estimate of the job data. */
export const jobDataTooLarge = (estimateBytes: number): string =>
  `Job data too large (~${estimateBytes} bytes, max ${jobDataBytesMax} bytes)`
export const debounced = (debounceId: string): string =>
  `Debounced: job with id '${debounceId}' was pushed recently`
export const duplicateUniqueKey = (uniqueKey: string): string => `Duplicate job with key: ${uniqueKey}`
export const batchTooLarge = `Batch too large (max ${pushBatchJobsMax} jobs)`

// Jobs by id.
export const jobNotFound = (id: number): string => `Job ${id} not found`
export const jobCannotBeCancelled = (id: number): string =>
  `Job ${id} cannot be cancelled (already completed/failed)`
/** PROGRESS, PARTIAL, UPDATEJOB of an active job. */
export const jobNotFoundInProcessing = (id: number): string => `Job ${id} not found in processing`
/** HEARTBEAT, MOVETODELAYED, DISCARD. */
export const jobNotInProcessing = (id: number): string => `Job ${id} not in processing`
export const jobNotDelayed = (id: number): string => `Job ${id} is not delayed`
export const jobNotFoundInQueue = (id: number): string => `Job ${id} not found in queue`
export const jobNotFoundOrNotDelayed = (id: number): string => `Job ${id} not found or not in delayed state`
export const jobCannotChangePriority = (id: number): string => `Job ${id} not found or cannot change priority`
export const jobNotFoundInDlq = (id: number): string => `Job ${id} not found in DLQ`
export const jobNotFoundOrAlreadyFinished = (id: number): string =>
  `Job ${id} not found or already in DLQ/completed`

// WAITJOB.
export const waitJobFailed = 'Job failed'
export const waitJobNotFound = 'Job not found'
export const waitJobTimeout = (id: number, timeoutMs: number): string =>
  `Timeout waiting for job ${id} after ${timeoutMs}ms`

// Cron.
export const cronScheduleOrRepeatRequired = "Must provide either 'schedule' or 'repeat_every'"
export const cronExpressionInvalid = (schedule: string, detail: string): string =>
  `Invalid cron expression '${schedule}': ${detail}`
export const cronIntervalInvalid = (schedule: string): string => `Invalid interval format: ${schedule}`
export const cronScheduleTooLong = (chars: number): string =>
  `Cron schedule too long (${chars} chars, max ${cronScheduleCharsMax} chars)`
export const cronNotFound = 'Cron job not found'

// Flows.
export const flowChildrenEmpty = 'Flow must have at least one child'
export const parentJobNotFound = (id: number): string => `Parent job ${id} not found`

// Queue control.
export const cleanStateInvalid = 'Invalid state. Use: waiting, delayed, completed, failed'

// Key-value store.
export const kvKeyEmpty = 'Key cannot be empty'
export const kvKeyTooLong = (bytes: number): string => `Key too long (${bytes} > ${kvKeyBytesMax} bytes)`
export const kvValueTooLarge = (bytes: number): string => `Value too large (${bytes} > ${kvValueBytesMax} bytes)`
export const kvTooManyEntries = (entries: number): string => `Too many entries (${entries} > ${kvBatchEntriesMax})`
export const kvValueNotNumber = 'Value is not a number'
export const kvValueNotInteger = 'Value is not an integer'

// Hardening.
/**
 * Any error text that did not come from this catalogue (an exception's message, a worker's crash
 * report, a system error) made fit for a client: its first line only (never a stack trace), and
 * absolute paths cut to their last component (never the server's file layout).
 */
export function clientErrorText(text: string): string {
  const firstLine = text.split('\n', 1)[0] ?? ''
  return firstLine.replace(/(?:file:\/\/)?(?:\/[^\s/:'"()]+)+\/([^\s/:'"()]+)(?::\d+)*/g, '$1')
}
