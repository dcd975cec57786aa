/**
 * Limits of the engine's collections (one shard). The retention numbers are the spec §4.18 minimums;
 * everything else bounds memory so that one misbehaving client cannot grow a structure forever.
 */
import { assert } from '../base/assert.ts'

/** Completed ids remembered (GETSTATE, WAITJOB, depends_on). Spec minimum: 25 000. */
export const completedIdsMax = 25_000
/** Results kept (GETRESULT, WAITJOB). Spec minimum: 10 000. */
export const resultsMax = 10_000
/** Completed jobs kept with their body (GETJOBS, GETJOBCOUNTS, QueueInfo). Spec minimum: 5000. */
export const completedHistoryMax = 5000
/** Jobs whose logs are kept. Spec minimum: 10 000. */
export const jobsWithLogsMax = 10_000
/** Blocking waiters (PULL, PULLB, WAITJOB) one shard holds; more get an immediate empty answer. */
export const waitersMax = 100_000
/** Queues one shard holds. */
export const queuesMax = 100_000
/** Dead-letter jobs per queue; the oldest is dropped beyond it. */
export const dlqJobsMax = 1_000_000
/** Debounce windows per queue; expired ones are purged, and a push with a new debounce_id above it is refused. */
export const debounceEntriesMax = 1_000_000
/** Metrics history points (spec §4.18: one per 5 s, the last 60). */
export const metricsPointsMax = 60
export const metricsPointMs = 5000
/**
 * Remote flow children a shard remembers by `parent:index`, so that a request repeated after the
 * parent's shard restarted gets the same child instead of a second one. Oldest dropped first.
 */
export const flowChildKeysMax = 100_000
/** An outbox lane unacknowledged this long is sent again (a lost message or a restarted target). */
export const outboxResendIntervalMs = 1000
/** A FLOW whose remote children are not confirmed within this time gets an error reply. */
export const flowReplyTimeoutMs = 30_000
/** GETJOBS page size. */
export const getJobsLimitMax = 1000
/** Default stall timeout (spec §2.1: 0 = 30 000 ms). */
export const stallTimeoutDefaultMs = 30_000
/** Stall detection period (spec §4.7). */
export const stallCheckIntervalMs = 10_000
/** Strikes that send a stalled job to the DLQ. */
export const stallStrikesMax = 3
/** Period of housekeeping (debounce purge, metrics points). */
export const housekeepingIntervalMs = 5_000
/** Default debounce window (spec §3.1). */
export const debounceTtlDefaultMs = 5000
/** Exponent cap of retry backoff (spec §4.5). */
export const backoffExponentMax = 10

assert(completedIdsMax >= resultsMax && resultsMax >= completedHistoryMax, 'retention: ids ⊇ results ⊇ history')
