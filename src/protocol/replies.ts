/**
 * Reply types of every command (spec §2.1, §2.4, §3), for the SDK and the HTTP routes. Request types
 * come from the schemas (`RequestOf<K>` in commands.ts); `ReplyOf<K>` is the matching reply. The map
 * is checked against the command names, so a command without a reply type is a type error.
 */
import type { CommandName } from './commands.ts'

/** The Job object: all 31 fields, optional ones null (spec §2.1). The SDK types `data` as its Data. */
export type WireJob<Data = unknown> = {
  id: number
  queue: string
  data: Data
  priority: number
  created_at: number
  run_at: number
  started_at: number
  attempts: number
  max_attempts: number
  backoff: number
  ttl: number
  timeout: number
  unique_key: string | null
  depends_on: number[]
  progress: number
  progress_msg: string | null
  tags: string[]
  lifo: boolean
  remove_on_complete: boolean
  remove_on_fail: boolean
  last_heartbeat: number
  stall_timeout: number
  stall_count: number
  parent_id: number | null
  children_ids: number[]
  children_completed: number
  custom_id: string | null
  keep_completed_age: number
  keep_completed_count: number
  completed_at: number
  group_id: string | null
}

export type JobState =
  | 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'waitingchildren' | 'waitingparent' | 'stalled' | 'unknown'

/** GETJOBS / GETJOBSBATCH items: the job flattened, its state, and a nested copy (spec §2.1). */
export type JobBrowserItem = WireJob & { state: JobState; job: WireJob }

export type QueueInfo = {
  name: string
  pending: number
  processing: number
  completed: number
  delayed: number
  dlq: number
  paused: boolean
  rate_limit: number | null
  concurrency_limit: number | null
}

export type MetricsData = {
  total_pushed: number
  total_completed: number
  total_failed: number
  jobs_per_second: number
  avg_latency_ms: number
  queues: Array<{ name: string; pending: number; processing: number; dlq: number; rate_limit: number | null }>
}

export type CronJob = {
  name: string
  queue: string
  data: unknown
  schedule: string | null
  repeat_every: number | null
  priority: number
  next_run: number
  executions: number
  limit: number | null
}

export type JobLogEntry = { timestamp: number; message: string; level: string }

type Unit = Record<never, never>
type Count = { count: number }
/**
 * What a CLEAN with `ids: true` adds to its count: the removed jobs' ids (oldest first), the custom
 * id (`job_id`) of those that have one, by id, and `more` when the reply's id cap stopped the clean
 * with matching jobs left (send it again).
 */
export type CleanedIds = { ids: number[]; custom_ids: Record<string, string>; more: boolean }

/** The retention settings a shard now uses (POST /settings/cleanup). */
export type CleanupSettings = { max_completed_jobs: number; max_job_results: number; cleanup_interval_secs: number; metrics_history_size: number }

/** The fields after `ok: true`, per command. */
export type ReplyFields = {
  PUSH: { id: number }
  PUSHB: { ids: number[]; errors?: Array<{ index: number; error: string }> }
  PULL: { job: WireJob | null }
  PULLB: { jobs: WireJob[] }
  ACK: Unit
  ACKB: { ids: [number]; count: number }
  FAIL: Unit
  GETRESULT: { id: number; result: unknown }
  GETJOB: { job: WireJob | null; state: JobState; failed_reason?: string }
  GETSTATE: { id: number; state: JobState }
  WAITJOB: { result?: unknown }
  GETJOBBYCUSTOMID: { job: WireJob | null; state: JobState }
  CANCEL: Unit
  PROGRESS: Unit
  GETPROGRESS: { progress: { id: number; progress: number; message: string | null } }
  DLQ: { jobs: WireJob[] }
  RETRYDLQ: { ids: [number]; count: number }
  PURGEDLQ: Count
  GETJOBSBATCH: { jobs: JobBrowserItem[] }
  CHANGEPRIORITY: Unit
  MOVETODELAYED: Unit
  PROMOTE: Unit
  UPDATEJOB: Unit
  DISCARD: Unit
  DROPDEP: Unit
  CHANGEDELAY: Unit
  REMOVEJOB: Unit
  LOG: Unit
  GETLOGS: { id: number; logs: JobLogEntry[] }
  HEARTBEAT: Unit
  PARTIAL: Unit
  PAUSE: Unit
  RESUME: Unit
  ISPAUSED: { paused: boolean }
  RATELIMIT: Unit
  RATELIMITCLEAR: Unit
  SETCONCURRENCY: Unit
  CLEARCONCURRENCY: Unit
  LISTQUEUES: { queues: QueueInfo[] }
  COUNT: Count
  GETJOBCOUNTS: { waiting: number; active: number; delayed: number; completed: number; failed: number }
  GETJOBS: { jobs: JobBrowserItem[]; total: number }
  CLEAN: Count & Partial<CleanedIds>
  DRAIN: Count
  OBLITERATE: Count
  STATS: { queued: number; processing: number; delayed: number; dlq: number; completed: number }
  METRICS: { metrics: MetricsData }
  CRON: Unit
  CRONDELETE: Unit
  CRONLIST: { crons: CronJob[] }
  FLOW: { parent_id: number; children_ids: number[] }
  GETCHILDREN: { parent_id: number; children: WireJob[]; children_ids: number[]; completed: number; total: number }
  SUBSCRIBE: Unit
  UNSUBSCRIBE: Unit
  AUTH: Unit
  PING: { pong: true }
  KVSET: Unit
  KVGET: { value: unknown }
  KVDEL: { exists: boolean }
  KVMGET: { values: unknown[] }
  KVMSET: Count
  KVEXISTS: { exists: boolean }
  KVEXPIRE: { exists: boolean }
  KVTTL: { ttl: number }
  KVKEYS: { keys: string[] }
  KVINCR: { value: number }
  _PUSHJOB: { id: number; job: WireJob | null }
  _QUEUEDEFAULTS: Unit
  _GETJOBKEYS: { ids: number[]; created: number[]; total: number }
  _CUSTOMIDS: { ids: Array<number | null> }
  _RESETMETRICS: Unit
  _SETCLEANUP: CleanupSettings
  _RUNCLEANUP: Count
  _SETTOKENS: Count
  // queued-compatible API (engine/queued-store.ts).
  _QPUSH: { ids: number[] }
  _QPOLL: { messages: Array<{ id: number; created_at: number; poll_count: number; contents: string }> }
  _QDELETE: { deleted: boolean[] }
  _QUPDATE: { updated: boolean }
  _QSTATS: { available: number; visible: number; invisible: number }
}

/** The whole reply of command K: `{ok:true, …fields}` or `{ok:false, error}` (spec §1.6). */
export type ReplyOf<K extends CommandName> = ({ ok: true } & ReplyFields[K]) | { ok: false; error: string }

// Every command has a reply type, and nothing else does.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const replyFieldsCoverCommands: Exact<keyof ReplyFields, CommandName> = true
void replyFieldsCoverCommands
