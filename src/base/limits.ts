/**
 * Every limit of the server, in one place, named with its unit. Relationships between limits are
 * asserted at load time so that derived limits cannot drift apart.
 */
import { assert } from './assert.ts'
import { MiB } from './units.ts'

/** Largest MessagePack frame body (spec §1.4). Larger frames get `Message too large` and a close. */
export const frameBytesMax = 16 * MiB
/** Longest JSON line. The spec requires at least 64 MiB (§1.3). */
export const lineBytesMax = 64 * MiB
// A connection's unparsed input is bounded by the frame being read: at most frameBytesMax
// (MessagePack) or lineBytesMax (JSON lines); past that it gets `Message too large` and is closed.
/** Outbound bytes queued for a slow reader above which we stop reading from its socket. */
export const connectionOutputBytesHigh = 4 * MiB
/**
 * Requests one connection may have in flight before we stop reading from it. Blocking pulls do not
 * count (engine-limits.ts waitersMax bounds them): reading must go on to see the client's FIN.
 */
export const connectionRequestsInFlightMax = 10_000
/** Open TCP connections; new ones above this are closed at once. */
export const connectionsMax = 10_000
/** Queue name length (spec §3.1). */
export const queueNameCharsMax = 256
/** Estimated job data size (spec §1.8). */
export const jobDataBytesMax = 10 * MiB
/** Jobs in one PUSHB (spec §3.1). */
export const pushBatchJobsMax = 1000
/** Jobs one PULLB may return. */
export const pullBatchJobsMax = 1000
/** Ids in one ACKB. */
export const ackBatchIdsMax = 10_000
/** Cron schedule length (spec §1.8). */
export const cronScheduleCharsMax = 256
/** KV key length (spec §3.9). */
export const kvKeyBytesMax = 1024
/** KV value size (spec §3.9). */
export const kvValueBytesMax = 10 * MiB
/** KVMGET/KVMSET entries (spec §3.9). */
export const kvBatchEntriesMax = 1000
/** Log entries kept per job (spec §4.16). */
export const jobLogEntriesMax = 100
/** Longest blocking timeout accepted for PULL/PULLB/WAITJOB: one day. */
export const blockingTimeoutMsMax = 24 * 60 * 60 * 1000
/** Shards per data directory. Job ids encode the shard in their low bits modulo the shard count. */
export const shardsMax = 64
/** Worker threads hosting shards. */
export const workersMax = 64
/** Jobs (in any retained state) one shard holds; pushes above it are refused. */
export const jobsPerShardMax = 50_000_000
/** Graceful shutdown: the default wait for active jobs (spec §6), and the longest one accepted. */
export const shutdownGraceMsDefault = 30_000
export const shutdownGraceMsMax = 60 * 60 * 1000

// HTTP (port 6790).
/** Largest HTTP request body; larger ones get 413 (a job's data plus its options must fit). */
export const httpBodyBytesMax = 16 * MiB
/** A non-blocking HTTP request that the shards have not answered by then gets 503. */
export const httpRequestTimeoutMs = 30_000
/** Longest `timeout` an HTTP pull or wait may block (flashQ's default is 60 s); larger ones are capped. */
export const httpBlockingTimeoutMsMax = 60_000
/** An idle keep-alive HTTP connection is closed after this many seconds (Bun's unit). */
export const httpIdleTimeoutSeconds = 120
/** Open WebSocket connections (spec §5.4: 100); further upgrades get 503. */
export const webSocketConnectionsMax = 100
/** Open SSE streams; further ones get 503. */
export const sseConnectionsMax = 1000
/** Events buffered per SSE/WebSocket subscriber (spec §5.4: at least 1024); older ones are dropped. */
export const eventBufferEventsMax = 1024
/**
 * Bytes of events one SSE or WebSocket subscriber may be behind (taken by neither it nor its socket);
 * past it the subscriber is too slow and is dropped: the SSE stream ends with a comment saying so,
 * the WebSocket closes with 1013. One event always fits when nothing else waits, whatever its size.
 */
export const eventStreamBufferedBytesMax = 16 * MiB
/**
 * Bytes of events all subscribers together are behind, a text several of them share counted once;
 * past it the subscribers furthest behind are dropped as above. Bounds the never-reading subscribers
 * (sseConnectionsMax + webSocketConnectionsMax of them) as a whole.
 */
export const eventStreamsBufferedBytesTotalMax = 256 * MiB
/** Interval of the `/ws/dashboard` snapshot (spec §5.4 DASHBOARD_INTERVAL_MS, the default). */
export const dashboardIntervalMs = 3000
/** DASHBOARD_INTERVAL_MS bounds: a snapshot costs a fan-out to every shard. */
export const dashboardIntervalMsMin = 10
export const dashboardIntervalMsMax = 3_600_000
/** SSE keep-alive comment interval (spec §5.4: about 15 s). */
export const sseKeepAliveMs = 15_000
/** A WebSocket must authenticate within this time when a token is required (spec §5.4). */
export const webSocketAuthTimeoutMs = 10_000
/** Workers remembered from HTTP heartbeats; the least recently seen is forgotten beyond it. */
export const workersTrackedMax = 10_000
/** Queues one HTTP heartbeat may list (each a valid queue name). */
export const workerQueuesMax = 1000
/** Points of `/metrics/history` kept (one per metricsHistoryIntervalMs: an hour). */
export const metricsHistoryPointsMax = 720
export const metricsHistoryIntervalMs = 5000

assert(eventStreamsBufferedBytesTotalMax >= 4 * eventStreamBufferedBytesMax, 'one slow subscriber does not fill the total')
assert(httpBodyBytesMax >= jobDataBytesMax, 'an HTTP push must be able to carry the largest job')
assert(httpRequestTimeoutMs < httpIdleTimeoutSeconds * 1000, 'a request times out before its connection idles out')
assert(httpBlockingTimeoutMsMax < httpIdleTimeoutSeconds * 1000, 'a long-poll ends before its connection idles out')
assert(frameBytesMax >= jobDataBytesMax, 'a frame must be able to carry the largest job')
assert(lineBytesMax >= frameBytesMax, 'JSON lines carry at least what frames carry')

// Hardening (issue 8).
/**
 * Nesting depth of arrays and objects in one request (the request map itself is level 1), in both
 * modes. The reference's JSON decoder (serde_json) stops at 128 too; deeper values would overflow
 * the stack wherever they are encoded again (log records, replies).
 */
export const requestNestingDepthMax = 128
/**
 * Bytes of one reply. Replies that list jobs (PULLB, GETJOBS, DLQ, GETJOBSBATCH) return fewer when
 * the next one would pass it; at least one always goes (a single job is bounded by jobDataBytesMax).
 */
export const replyBytesMax = 16 * MiB
/**
 * Jobs one CLEAN with `ids: true` removes (fewer when their ids would pass replyBytesMax); it says
 * `more` when matching jobs remain, and the SDK's Queue.clean sends it again. As many as the
 * `removed` events one command sends (engine-limits.ts removedEventsPerCommandMax), so every job a
 * Queue.clean removes gets its event; a CLEAN without `ids` is not capped.
 */
export const cleanReplyIdsMax = 10_000
/** GETJOBS page size (a larger `limit` is clamped to it). */
export const getJobsLimitMax = 1000
/**
 * Deepest position (offset + limit) of a GETJOBS page over every shard (no queue named): the front
 * first asks each shard for the sort keys of its newest that many matches (_GETJOBKEYS).
 */
export const getJobsAcrossShardsDepthMax = 100_000
/**
 * Outbound bytes queued for one connection that does not read: past it the connection is closed
 * (reading already paused at connectionOutputBytesHigh, so only replies in flight can add to it).
 */
export const connectionOutputBytesMax = 64 * MiB
/**
 * Reply bytes a shard host serialises per event-loop turn; the rest of a turn's replies wait for the
 * next turn, so a burst of big replies never sits in memory as one string, and a connection that
 * closes meanwhile (its replies cancelled) stops costing anything.
 */
export const hostReplyBytesPerTurnMax = 32 * MiB
/** The longest delay one setTimeout takes (2^31-1 ms); later due times re-arm when it fires. */
export const timerDelayMsMax = 2 ** 31 - 1

assert(replyBytesMax >= jobDataBytesMax + 64 * 1024, 'a reply must carry the largest job')
assert(connectionOutputBytesMax >= connectionOutputBytesHigh + replyBytesMax, 'one reply above the pause mark must not close')
assert(hostReplyBytesPerTurnMax >= replyBytesMax, 'a host turn carries at least one reply')

// queued-compatible API (queued-api.md). The content and batch limits are configurable
// (QUEUED_MAX_CONTENT_BYTES, QUEUED_MAX_BATCH) up to the caps below.
/** Default largest `contents` of one message, in UTF-8 bytes (§5). */
export const queuedContentBytesMaxDefault = 1 * MiB
/** Largest value QUEUED_MAX_CONTENT_BYTES accepts: a message is a job, so the job data limit. */
export const queuedContentBytesCap = jobDataBytesMax
/** Default largest batch push or batch delete, in messages (§5). */
export const queuedBatchMessagesMaxDefault = 10_000
/** Largest value QUEUED_MAX_BATCH accepts. */
export const queuedBatchMessagesCap = 100_000
/** Longest visibility timeout: 7 days (§1.6). */
export const queuedVisibilitySecondsMax = 604_800
/**
 * Bun's own body cap: far above every route's (httpBodyBytesMax, queuedRequestBodyBytesMax), which
 * refuse first with a 413 that names them; bodies are read under those caps (server/http/body.ts).
 */
export const httpBodyBytesHardMax = 1024 * 1024 * MiB
/** Most messages one poll returns (`count`, §3.2). */
export const queuedPollMessagesMax = 1000
/** Largest request body of the queued API (413 `request body too large` above it, §1.1). */
export const queuedRequestBodyBytesMax = 128 * MiB
/** Queues with a suspension or throttle set (runtime state); setting one more answers 400. */
export const queuedSettingsQueuesMax = 10_000
/** Longest timed-checkpoint interval (POST /storage/settings): one day. */
export const storageCheckpointIntervalSecsMax = 24 * 60 * 60
/** Largest backup POST /storage/restore takes; bigger ones restore with `flashq restore` (no limit). */
export const storageRestoreBodyBytesMax = queuedRequestBodyBytesMax
assert(httpBodyBytesHardMax > Math.max(httpBodyBytesMax, queuedRequestBodyBytesMax, storageRestoreBodyBytesMax), "the routes' caps answer before Bun's")
/** Outgoing webhooks (spec §5.6): registered at most, per delivery timeout, queued deliveries and in flight. */
export const webhooksMax = 1000
export const webhookTimeoutMs = 10_000
/** Deliveries waiting for a free slot; above it new ones are dropped (and counted). */
export const webhookQueuedDeliveriesMax = 10_000
export const webhookDeliveriesInFlightMax = 64
/** A webhook's URL and secret, in characters. */
export const webhookUrlCharsMax = 2048
export const webhookSecretCharsMax = 1024
/** Circuit breaker per URL: consecutive failures that open it, how long it stays open, successes that close it. */
export const webhookBreakerFailuresMax = 5
export const webhookBreakerOpenMs = 30_000
export const webhookBreakerSuccessesToClose = 2

/** SDK: largest event message QueueEvents accepts from the WebSocket; a bigger frame drops the socket. */
export const sdkEventMessageBytesMax = 16 * MiB
/** SDK: flow levels a failParentOnFailure failure climbs at most (a guard against a cycle of custom ids). */
export const sdkFailParentLevelsMax = 100
/** SDK: jobs a Worker may lease beyond its concurrency (its adaptive prefetch; option `prefetch`, default 1000). */
export const sdkWorkerPrefetchJobsMax = 10_000

/**
 * Cross-shard messages one shard keeps pending (sent, not yet acknowledged) for one target shard
 * (engine/outbox.ts). A live target acknowledges within a flush, so only a target that is down or
 * stalled fills it; then commands that would start a new cross-shard link to it (a PUSH depending on
 * its jobs, a FLOW with children in its queues, OBLITERATE's cron part) are refused naming this limit,
 * and a cron fire for its queues is skipped. Answers and completions of links already accepted
 * (bounded by those links) still go, and no pending message is ever dropped.
 */
export const outboxPendingMessagesMax = 100_000

// Hostile-client audit: fields that a single request could make large enough to stall a shard or to
// make a job that no client can read back (a reply frame past frameBytesMax).
/** Ids in one job's `depends_on` (checking them is linear per dependency done: a huge list stalled the shard). */
export const jobDependsOnIdsMax = 10_000
/** Children of one FLOW (PUSHB's jobs are capped too; each remote child is a cross-shard message). */
export const flowChildrenMax = 10_000
/** Length of a job's `job_id`, `unique_key`, `debounce_id`, `group_id` and of each tag, in characters. */
export const jobKeyCharsMax = 1024
/** Tags of one job. */
export const jobTagsMax = 1000
/** One LOG entry's message, in characters (a job keeps jobLogEntriesMax of them). */
export const jobLogMessageCharsMax = 64 * 1024
/** A FAIL `error` and a PROGRESS `message`, in characters (kept with the job and sent in its events). */
export const jobErrorCharsMax = 1024 * 1024
/** Length of a cron entry's name, in characters. */
export const cronNameCharsMax = 1024

// Failed authentication (server/auth-failures.ts).
/** Failed AUTH commands one TCP connection may send; the one that reaches it is answered, then the connection closes. */
export const authFailuresPerConnectionMax = 10
/**
 * Failed authentications (TCP AUTH, HTTP token, WebSocket auth) from one address in one minute; past
 * it every attempt from that address is refused until the minute ends (HTTP 429 with Retry-After).
 */
export const authFailuresPerAddressPerMinuteMax = 100
/** Addresses whose failed authentications are counted at once (the oldest is forgotten beyond it). */
export const authFailureAddressesTrackedMax = 10_000

// Request bodies being received (server/http/body.ts).
/**
 * Bytes of request bodies being received, all requests together, counted as they arrive; a request
 * that would pass it gets 503 (naming it). Clients that send most of a big body and stall add up to no more.
 */
export const httpBodyBytesInFlightMax = 512 * MiB
/** A declared body up to this size is read whole (the fast path) and counts its declared length at once. */
export const httpBodyBytesReservedMax = 64 * 1024
assert(httpBodyBytesInFlightMax >= 2 * Math.max(httpBodyBytesMax, queuedRequestBodyBytesMax, storageRestoreBodyBytesMax), 'two of the largest bodies fit at once')
// HTTP state one request could make large (second audit).
/** A worker id of `POST /workers/{id}/heartbeat`, in characters (workersTrackedMax of them are kept). */
export const workerIdCharsMax = 1024
/** Tokens `POST /settings/auth` sets (each request is compared against every one). */
export const authTokensMax = 1000
