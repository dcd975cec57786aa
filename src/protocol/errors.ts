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
/** An ACK result or PARTIAL data over the job data limit (they are kept or sent like job data). */
export const valueTooLarge = (field: string, estimateBytes: number): string =>
  `Field '${field}' too large (~${estimateBytes} bytes, max ${jobDataBytesMax} bytes)`
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
/** DROPDEP. */
export const jobNotWaitingForDependency = (id: number, dependency: number): string =>
  `Job ${id} not found or not waiting for job ${dependency}`
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
export const kvReplyTooLarge = (bytesMax: number): string => `Values too large for one reply (max ${bytesMax} bytes): ask for fewer keys`
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
// Shard capacity and cross-shard work (engine).
/** A push above jobsPerShardMax (base/limits.ts). */
export const tooManyJobs = (jobsMax: number): string =>
  `Too many jobs: this shard holds its maximum of ${jobsMax} jobs; ack, remove or clean some first`
/** A command that would create a queue above queuesMax (engine/engine-limits.ts). */
export const tooManyQueues = (queue: string, queuesMax: number): string =>
  `Too many queues: this shard holds its maximum of ${queuesMax} queues, so queue '${queue}' cannot be created; obliterate unused queues first`
/** A push with a new debounce_id above debounceEntriesMax (engine/engine-limits.ts). */
export const tooManyDebounceWindows = (queue: string, debounceEntriesMax: number): string =>
  `Too many debounce windows: queue '${queue}' holds its maximum of ${debounceEntriesMax}; retry when some expired`
/** A command that would add a cross-shard message to a full outbox lane (base/limits.ts outboxPendingMessagesMax). */
export const tooManyPendingShardMessages = (target: number, pendingMax: number): string =>
  `Too many pending cross-shard messages: ${pendingMax} messages to shard ${target} wait for it to acknowledge ` +
  `(outboxPendingMessagesMax; that shard is down or slow); retry later`
/** A FLOW whose children on other shards did not confirm in time (the flow itself goes on). */
export const flowChildrenNotConfirmed = (parentId: number, shards: number[], timeoutMs: number): string =>
  `Flow ${parentId}: children on shard ${shards.join(', ')} not confirmed within ${timeoutMs} ms ` +
  '(the parent exists; its children are created when their shard answers)'
/** The DLQ reason of a DISCARD. */
export const jobDiscarded = 'Job discarded'
/** KVSET of a new key into a full store (engine/kv.ts kvEntriesMax). */
export const kvStoreFull = (entriesMax: number): string => `KV store full (max ${entriesMax} entries)`
/** KVINCR results must stay exact: JavaScript numbers are exact integers only up to 2^53 - 1. */
export const kvIncrementOverflow = 'Increment overflows (result beyond 2^53 - 1)'
/** CRON of a new name into a full table (engine/cron.ts cronEntriesMax). */
export const cronTableFull = (entriesMax: number): string => `Too many cron jobs (max ${entriesMax})`

// Shard host.
export const diskFull = 'Disk full: new jobs are refused until space is freed (acks still work)'
export const shardStopped = (shardIndex: number, detail: string): string =>
  `Shard ${shardIndex} stopped after a storage failure: ${detail}`
export const recoveryFailed = (detail: string): string => `recovery failed: ${detail}`
