/**
 * Every flashQ HTTP route, for /openapi.json and /docs. A unit test checks this list against the
 * routes the app actually registers, both ways, so it cannot drift.
 */
import type { CommandName } from '../../protocol/commands.ts'

export type RouteDoc = {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  path: string
  summary: string
  command?: CommandName
  /** Request fields that come from the path, not the body. */
  fromPath?: string[]
  query?: string[]
  /** false: the route takes no body (its command's fields all come from the path or query). */
  body?: false
}

const q = ['queue']
const id = ['id']

export const httpRoutes: RouteDoc[] = [
  // The dashboard (src/dashboard/): the page and its hashed assets; no auth, no data
  { method: 'GET', path: '/', summary: 'The dashboard page', body: false },
  { method: 'GET', path: '/dashboard', summary: 'Redirects to /dashboard/', body: false },
  { method: 'GET', path: '/dashboard/*', summary: 'The dashboard page, or /dashboard/assets/<name> (script, stylesheet)', body: false },
  // Queues
  { method: 'GET', path: '/queues', summary: 'List queues (QueueInfo[])', command: 'LISTQUEUES', body: false },
  { method: 'POST', path: '/queues/:queue/jobs', summary: 'Push a job; answers the full Job', command: '_PUSHJOB', fromPath: q },
  { method: 'POST', path: '/queues/:queue/jobs/batch', summary: 'Push up to 1000 jobs; answers their ids (SDK path)', command: 'PUSHB', fromPath: q },
  { method: 'GET', path: '/queues/:queue/jobs', summary: 'Pull: Job[] (count=1 PULL, else PULLB); [] on timeout', command: 'PULLB', query: ['count', 'timeout'], body: false },
  { method: 'POST', path: '/queues/:queue/pause', summary: 'Pause delivery', command: 'PAUSE', body: false },
  { method: 'POST', path: '/queues/:queue/resume', summary: 'Resume delivery', command: 'RESUME', body: false },
  { method: 'GET', path: '/queues/:queue/dlq', summary: 'Dead-letter jobs, oldest first', command: 'DLQ', query: ['count'], body: false },
  { method: 'DELETE', path: '/queues/:queue/dlq', summary: 'Purge the DLQ; answers the count', command: 'PURGEDLQ', body: false },
  { method: 'POST', path: '/queues/:queue/dlq/retry', summary: 'Retry one DLQ job ({job_id}) or all', command: 'RETRYDLQ', fromPath: q },
  { method: 'POST', path: '/queues/:queue/dlq/:id/retry', summary: 'Retry one DLQ job (SDK path)', command: 'RETRYDLQ', body: false },
  { method: 'GET', path: '/queues/:queue/paused', summary: 'Whether the queue is paused', command: 'ISPAUSED', body: false },
  { method: 'GET', path: '/queues/:queue/counts', summary: '{waiting,active,delayed,completed,failed}', command: 'GETJOBCOUNTS', body: false },
  { method: 'GET', path: '/queues/:queue/count', summary: 'Waiting + delayed', command: 'COUNT', body: false },
  { method: 'POST', path: '/queues/:queue/rate-limit', summary: 'Set the rate limit {limit} (jobs/s)', command: 'RATELIMIT', fromPath: q },
  { method: 'DELETE', path: '/queues/:queue/rate-limit', summary: 'Clear the rate limit', command: 'RATELIMITCLEAR', body: false },
  { method: 'POST', path: '/queues/:queue/ratelimit', summary: 'Set the rate limit (SDK path)', command: 'RATELIMIT', fromPath: q },
  { method: 'DELETE', path: '/queues/:queue/ratelimit', summary: 'Clear the rate limit (SDK path)', command: 'RATELIMITCLEAR', body: false },
  { method: 'POST', path: '/queues/:queue/concurrency', summary: 'Set the concurrency limit {limit}', command: 'SETCONCURRENCY', fromPath: q },
  { method: 'DELETE', path: '/queues/:queue/concurrency', summary: 'Clear the concurrency limit', command: 'CLEARCONCURRENCY', body: false },
  { method: 'POST', path: '/queues/:queue/drain', summary: 'Remove waiting and delayed jobs; answers the count', command: 'DRAIN', body: false },
  { method: 'DELETE', path: '/queues/:queue/obliterate', summary: 'Remove the queue and everything in it; answers the count', command: 'OBLITERATE', body: false },
  { method: 'POST', path: '/queues/:queue/clean', summary: 'Remove jobs of a state older than grace {grace,state,limit,ids?}; data: the count, or with ids:true {count,ids,custom_ids,more}', command: 'CLEAN', fromPath: q },
  { method: 'POST', path: '/queues/:queue/flow', summary: 'Push a parent and its children {data,children,priority}', command: 'FLOW', fromPath: q },
  { method: 'GET', path: '/queues/:queue/events', summary: 'SSE events of the queue (alias of /events/{queue})' },
  // Jobs
  { method: 'GET', path: '/jobs', summary: 'Browse jobs, newest first', command: 'GETJOBS', query: ['queue', 'state', 'limit', 'offset'], body: false },
  { method: 'POST', path: '/jobs/ack-batch', summary: 'Ack many jobs {ids}; answers the count', command: 'ACKB' },
  { method: 'POST', path: '/jobs/ack/batch', summary: 'Ack many jobs (SDK path)', command: 'ACKB' },
  { method: 'GET', path: '/jobs/custom/:customId', summary: 'The job with this custom id (SDK path)', command: 'GETJOBBYCUSTOMID', body: false },
  { method: 'POST', path: '/flows', summary: 'Push a flow {queue,data,children,priority}', command: 'FLOW' },
  { method: 'GET', path: '/jobs/:id', summary: 'The job (flattened, plus job, state, result)', command: 'GETJOB', body: false },
  { method: 'PATCH', path: '/jobs/:id', summary: 'Replace the job data {data} (SDK path)', command: 'UPDATEJOB', fromPath: id },
  { method: 'DELETE', path: '/jobs/:id', summary: 'Remove the job in any state, completed and failed included (extension; ?queue= refuses another queue\'s job)', command: 'REMOVEJOB', query: q, body: false },
  { method: 'GET', path: '/jobs/:id/state', summary: 'The job state', command: 'GETSTATE', body: false },
  { method: 'GET', path: '/jobs/:id/result', summary: 'The stored result or null', command: 'GETRESULT', body: false },
  { method: 'GET', path: '/jobs/:id/progress', summary: 'Progress [p, message]', command: 'GETPROGRESS', body: false },
  { method: 'POST', path: '/jobs/:id/progress', summary: 'Report progress {progress,message}', command: 'PROGRESS', fromPath: id },
  { method: 'GET', path: '/jobs/:id/logs', summary: 'The job log', command: 'GETLOGS', body: false },
  { method: 'POST', path: '/jobs/:id/logs', summary: 'Add a log line {message,level}', command: 'LOG', fromPath: id },
  { method: 'GET', path: '/jobs/:id/children', summary: 'Flow children {children,completed,total}', command: 'GETCHILDREN', body: false },
  { method: 'GET', path: '/jobs/:id/wait', summary: 'Wait for completion; answers the result', command: 'WAITJOB', query: ['timeout'], body: false },
  { method: 'POST', path: '/jobs/:id/ack', summary: 'Complete an active job {result}', command: 'ACK', fromPath: id },
  { method: 'POST', path: '/jobs/:id/fail', summary: 'Fail an active job {error}', command: 'FAIL', fromPath: id },
  { method: 'POST', path: '/jobs/:id/cancel', summary: 'Cancel a job', command: 'CANCEL', body: false },
  { method: 'POST', path: '/jobs/:id/promote', summary: 'Make a delayed job waiting now', command: 'PROMOTE', body: false },
  { method: 'POST', path: '/jobs/:id/discard', summary: 'Move a job to the DLQ now', command: 'DISCARD', body: false },
  { method: 'POST', path: '/jobs/:id/heartbeat', summary: 'Heartbeat an active job', command: 'HEARTBEAT', body: false },
  { method: 'POST', path: '/jobs/:id/partial', summary: 'Emit a partial result {data,index}', command: 'PARTIAL', fromPath: id },
  { method: 'POST', path: '/jobs/:id/priority', summary: 'Change priority {priority}', command: 'CHANGEPRIORITY', fromPath: id },
  { method: 'POST', path: '/jobs/:id/move-to-delayed', summary: 'Move an active job back, delayed {delay}', command: 'MOVETODELAYED', fromPath: id },
  { method: 'POST', path: '/jobs/:id/delay', summary: 'Move an active job back, delayed (SDK path)', command: 'MOVETODELAYED', fromPath: id },
  { method: 'POST', path: '/jobs/:id/update', summary: 'Replace the job data {data}', command: 'UPDATEJOB', fromPath: id },
  // Cron
  { method: 'GET', path: '/crons', summary: 'List cron entries', command: 'CRONLIST', body: false },
  { method: 'POST', path: '/crons/:name', summary: 'Create or replace a cron {queue,data,schedule|repeat_every,priority,limit}', command: 'CRON', fromPath: ['name'] },
  { method: 'PUT', path: '/crons/:name', summary: 'Create or replace a cron (SDK path)', command: 'CRON', fromPath: ['name'] },
  { method: 'DELETE', path: '/crons/:name', summary: 'Delete a cron; answers whether it existed', command: 'CRONDELETE', body: false },
  // Stats and metrics
  { method: 'GET', path: '/stats', summary: '{queued,processing,delayed,dlq,completed}', command: 'STATS', body: false },
  { method: 'GET', path: '/metrics', summary: 'Prometheus text, or JSON (format=json, Accept preferring JSON, or Content-Type: application/json)', query: ['format'] },
  { method: 'GET', path: '/metrics/prometheus', summary: 'Prometheus text (no auth)' },
  { method: 'GET', path: '/metrics/history', summary: 'Sampled history of counts, throughput and latency' },
  // Events
  { method: 'GET', path: '/events', summary: 'SSE: every event' },
  { method: 'GET', path: '/events/:queue', summary: 'SSE: events of one queue' },
  { method: 'GET', path: '/events/job/:id', summary: 'SSE: events of one job (events=a,b filters types)', query: ['events'] },
  // Workers
  { method: 'GET', path: '/workers', summary: 'Workers with a heartbeat in the last 30 s' },
  { method: 'POST', path: '/workers/:id/heartbeat', summary: 'Worker heartbeat {queues,concurrency,jobs_processed}' },
  // Settings and server
  { method: 'GET', path: '/settings', summary: 'Server settings' },
  { method: 'POST', path: '/settings/auth', summary: 'Replace the auth tokens {tokens:"a,b"}; empty turns auth off', command: '_SETTOKENS' },
  { method: 'POST', path: '/settings/queue-defaults', summary: 'Defaults for pushes {default_timeout,default_max_attempts,default_backoff,default_ttl[,queue]}' },
  { method: 'POST', path: '/settings/cleanup', summary: 'Retention {max_completed_jobs,max_job_results,cleanup_interval_secs,metrics_history_size}: §4.18 minimums to named maxima (422 outside); runtime-only' },
  { method: 'POST', path: '/settings/cleanup/run', summary: 'Run housekeeping now on every shard; data.removed counts history and results dropped', command: '_RUNCLEANUP' },
  { method: 'POST', path: '/server/shutdown', summary: 'Graceful stop, exit 0' },
  { method: 'POST', path: '/server/restart', summary: 'Graceful stop, exit 100 (a supervisor restarts)' },
  { method: 'POST', path: '/server/reset', summary: 'Remove every queue, job and metric' },
  { method: 'POST', path: '/server/clear-queues', summary: 'Drain every queue; answers the count' },
  { method: 'POST', path: '/server/clear-dlq', summary: 'Purge every DLQ; answers the count' },
  { method: 'POST', path: '/server/clear-completed', summary: 'Remove the completed history; answers the count' },
  { method: 'POST', path: '/server/reset-metrics', summary: 'Zero the counters', command: '_RESETMETRICS', body: false },
  // System
  { method: 'GET', path: '/system/metrics', summary: 'Process memory, CPU, connections, uptime' },
  { method: 'GET', path: '/health', summary: '{status,uptime_ms,sqlite_enabled,…} (no auth)' },
  { method: 'GET', path: '/healthz', summary: '{version,durable} (no auth)' },
  { method: 'GET', path: '/debug/memory', summary: 'Memory statistics (bare object)' },
  { method: 'POST', path: '/api/command', summary: 'Any TCP command as JSON; answers the TCP reply' },
  { method: 'GET', path: '/openapi.json', summary: 'This API as OpenAPI 3.1' },
  { method: 'GET', path: '/docs', summary: 'This page' },
  // queued-compatible API (queued/routes.ts); each takes ?queue= (default `default`), errors are plain text
  { method: 'POST', path: '/push', summary: 'queued: push {contents,visibility_timeout_secs} or {messages:[…]}; answers {index,id} or per-item results', query: q },
  { method: 'POST', path: '/poll', summary: 'queued: lease the next visible message {visibility_timeout_secs,count}; answers {message} (null when none)', query: q },
  { method: 'POST', path: '/delete', summary: 'queued: delete a polled message {id,poll_tag} or {messages:[…]}', query: q },
  { method: 'POST', path: '/update', summary: 'queued: move visible-at of a polled message {id,poll_tag,visibility_timeout_secs}', query: q },
  { method: 'GET', path: '/suspend', summary: 'queued: which endpoints of the queue are suspended', query: q },
  { method: 'POST', path: '/suspend', summary: 'queued: suspend or resume endpoints {push,poll,delete,update}', query: q },
  { method: 'GET', path: '/throttle', summary: 'queued: the poll throttle {throttle}', query: q },
  { method: 'POST', path: '/throttle', summary: 'queued: set the poll throttle {throttle:{max_polls_per_time_window,time_window_sec}|null}', query: q },
  // Storage administration (storage-routes.ts)
  { method: 'GET', path: '/storage/stats', summary: 'Segments, bytes, commits, syncs, checkpoint LSN and time per shard' },
  { method: 'GET', path: '/storage/settings', summary: 'Group-commit caps, fsync mode, checkpoint policy' },
  { method: 'POST', path: '/storage/settings', summary: 'Set {checkpoint_interval_secs} (null: by log size only)' },
  { method: 'POST', path: '/storage/checkpoint', summary: 'Write a checkpoint of every shard now' },
  { method: 'GET', path: '/storage/backup', summary: 'Stream a consistent online backup (tar); checkpoint=false skips the fresh checkpoint', query: ['checkpoint'] },
  { method: 'POST', path: '/storage/restore', summary: 'Replace the state with an uploaded backup (tar body)' },
  // Webhooks (webhooks.ts)
  { method: 'GET', path: '/webhooks', summary: 'Registered webhooks with delivery counters and circuit state' },
  { method: 'POST', path: '/webhooks', summary: 'Register a webhook {url,events,queue,secret}; answers its id' },
  { method: 'DELETE', path: '/webhooks/:id', summary: 'Remove a webhook; answers whether it existed' },
  { method: 'POST', path: '/webhooks/incoming/:queue', summary: 'Push the JSON body as a job (no auth); answers the Job' },
]
