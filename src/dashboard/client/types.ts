/** Shapes of the public HTTP API as the dashboard reads them (flashq-protocol.md §2.4, §5). */
import type { QueueInfo, WireJob } from '../../protocol/replies.ts'

export type Stats = { queued: number; processing: number; delayed: number; dlq: number; completed: number }

export type { QueueInfo } from '../../protocol/replies.ts'

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
export type JobDetail = WireJob & { state: string; result?: unknown; [extra: string]: unknown }

export type { JobLogEntry } from '../../protocol/replies.ts'
