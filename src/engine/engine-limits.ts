/**
 * Limits of the engine's collections (one shard). The retention numbers are the spec §4.18 minimums;
 * everything else bounds memory so that one misbehaving client cannot grow a structure forever.
 */
import { assert } from '../base/assert.ts'
import { cleanReplyIdsMax } from '../base/limits.ts'

/** Completed ids remembered (GETSTATE, WAITJOB, depends_on). Spec minimum: 25 000. */
export const completedIdsMax = 25_000
/** Results kept by default and at least (GETRESULT, WAITJOB; spec §4.18). `POST /settings/cleanup` may raise it. */
export const resultsMin = 10_000
/** Ceiling of max_job_results: no more than the completed ids, so a kept result's job still reads completed. */
export const resultsMax = completedIdsMax
/** Completed jobs kept with their body by default and at least (GETJOBS, GETJOBCOUNTS, QueueInfo; spec §4.18). */
export const completedHistoryMin = 5000
/** Ceiling of max_completed_jobs (the history holds job bodies: memory must stay bounded). */
export const completedHistoryMax = completedIdsMax
/** Jobs whose logs are kept. Spec minimum: 10 000. */
export const jobsWithLogsMax = 10_000
/**
 * Blocking waiters (PULL, PULLB, WAITJOB) one shard holds; more get an immediate empty answer. Half
 * the queue table at most: a waiter keeps its (empty) queue, and as many waiters as queues let one
 * client, waiting on distinct names, refuse every other client's new queue.
 */
export const waitersMax = 50_000
/** Queues one shard holds. */
export const queuesMax = 100_000
/** Dead-letter jobs per queue; the oldest is dropped beyond it. */
export const dlqJobsMax = 1_000_000
/** Debounce windows per queue; expired ones are purged, and a push with a new debounce_id above it is refused. */
export const debounceEntriesMax = 1_000_000
/** `removed` events one DRAIN, CLEAN or OBLITERATE sends (the first jobs it removes); the rest are removed silently. */
export const removedEventsPerCommandMax = 10_000
/** Metrics history points kept by default and at least (spec §4.18: one per 5 s, the last 60). */
export const metricsPointsMin = 60
/** Ceiling of metrics_history_size: one hour of 5 s points. */
export const metricsPointsMax = 720
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
/** Default stall timeout (spec §2.1: 0 = 30 000 ms). */
export const stallTimeoutDefaultMs = 30_000
/** Stall detection period (spec §4.7). */
export const stallCheckIntervalMs = 10_000
/** Strikes that send a stalled job to the DLQ. */
export const stallStrikesMax = 3
/** Default period of housekeeping (debounce purge, KV expiry, retention trim). */
export const housekeepingIntervalMs = 5_000
/** Bounds of cleanup_interval_secs: spec §4.18 wants cleanup at least every 10 s. */
export const housekeepingIntervalMsMin = 1000
export const housekeepingIntervalMsMax = 10_000
/** Default debounce window (spec §3.1). */
export const debounceTtlDefaultMs = 5000
/** Exponent cap of retry backoff (spec §4.5). */
export const backoffExponentMax = 10

assert(waitersMax * 2 <= queuesMax, 'waiters alone never fill the queue table')
assert(completedIdsMax >= resultsMax && resultsMin >= completedHistoryMin, 'retention: ids ⊇ results ⊇ history')
assert(cleanReplyIdsMax <= removedEventsPerCommandMax, 'every job a listed CLEAN removes gets its removed event')
