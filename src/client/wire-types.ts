/**
 * Shapes on the wire as the flashQ TypeScript client exposes them (spec §2, §7.4): snake_case job
 * fields, push options, and the objects the info commands return.
 */

// The job object of PULL, GETJOB, … (spec §2.1) and the job states: one definition, in the protocol.
import type { CleanedIds, CronJob, JobState, MetricsData, QueueInfo, WireJob } from '../protocol/replies.ts'
export type { CleanedIds, CronJob, JobState, QueueInfo, WireJob }
/** METRICS (spec §3): the flashQ client calls it `Metrics`. */
export type Metrics = MetricsData

/** PUSH options (spec §3.1), named as the flashQ client names them. */
export type PushOptions = {
  priority?: number
  delay?: number
  ttl?: number
  timeout?: number
  max_attempts?: number
  backoff?: number
  unique_key?: string
  depends_on?: number[]
  tags?: string[]
  lifo?: boolean
  remove_on_complete?: boolean
  remove_on_fail?: boolean
  stall_timeout?: number
  debounce_id?: string
  debounce_ttl?: number
  /** Custom id: a second push with the same id returns the existing job (spec §4.10). */
  jobId?: string
  keep_completed_age?: number
  keep_completed_count?: number
  group_id?: string
}

export type JobWithState<Data = unknown> = { job: WireJob<Data>; state: JobState }

export type JobCounts = { waiting: number; active: number; delayed: number; completed: number; failed: number }

export type CronOptions = {
  queue: string
  data?: unknown
  /** Cron expression (5 or 6 fields, UTC) or `*\/N` seconds. */
  schedule?: string
  /** Milliseconds between runs; wins over `schedule`. */
  repeat_every?: number
  priority?: number
  /** Maximum number of executions. */
  limit?: number
}

export type JobLogEntry = { timestamp: number; message: string; level: string }

export type FlowChild = { queue: string; data: unknown; priority?: number; delay?: number }

export type FlowResult = { parent_id: number; children_ids: number[] }

export type Stats = { queued: number; processing: number; delayed: number; dlq: number; completed: number }

/** A server event (spec §5.4) with the flashQ client's renaming of `event_type`/`job_id`. */
export type JobEvent = {
  eventType: string
  queue: string
  jobId: number
  timestamp: number
  data?: unknown
  error?: string
  progress?: number
}
