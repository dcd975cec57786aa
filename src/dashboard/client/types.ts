/** Shapes of the public HTTP API as the dashboard reads them (flashq-protocol.md §2.4, §5). */

export type Stats = { queued: number; processing: number; delayed: number; dlq: number; completed: number }

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

export type Metrics = {
  total_pushed: number
  total_completed: number
  total_failed: number
  jobs_per_second: number
  avg_latency_ms: number
}

export type HistoryPoint = {
  timestamp: number
  queued?: number
  processing?: number
  completed?: number
  failed?: number
  throughput?: number
  latency_ms?: number
}

export type WorkerInfo = { id: string; queues: string[]; concurrency: number; last_heartbeat: number; jobs_processed: number }

export type CronJob = {
  name: string
  queue: string
  data: unknown
  schedule: string | null
  repeat_every: number | null
  priority: number
  next_run: number
  executions?: number
  limit?: number | null
}

export type Snapshot = {
  stats?: Stats | null
  metrics?: Metrics | null
  queues?: QueueInfo[]
  workers?: WorkerInfo[]
  crons?: CronJob[]
  metrics_history?: HistoryPoint[]
  system_metrics?: Record<string, unknown>
  storage_stats?: Record<string, unknown> | null
  timestamp?: number
}

export type JobEvent = {
  event_type: string
  queue: string
  job_id: number
  timestamp: number
  data?: unknown
  error?: string
  progress?: number
}

/** GET /jobs/{id}: the 31 job fields flattened, plus `state` and `result` (and whatever else the server adds). */
export type JobDetail = {
  id: number
  queue: string
  state: string
  data: unknown
  result?: unknown
  priority: number
  created_at: number
  run_at: number
  started_at: number
  completed_at: number
  last_heartbeat: number
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
  stall_timeout: number
  stall_count: number
  parent_id: number | null
  children_ids: number[]
  children_completed: number
  custom_id: string | null
  keep_completed_age: number
  keep_completed_count: number
  group_id: string | null
  [extra: string]: unknown
}

export type JobLogEntry = { timestamp: number; message: string; level: string }
