/**
 * The fields a `sparse` PULLB leaves out of a job (flashq extension, src/engine/sparse-wire.ts) are
 * the ones at their default value; a pulled job gets them back as the prototype of its object. That
 * costs one prototype change per job, where copying them costs more than the shorter reply saves:
 * reading `job.attempts` works as for a full job, only `Object.keys` and JSON.stringify of the raw
 * wire object show fewer fields (the Worker keeps it inside its Job).
 */
import type { WireJob } from './wire-types.ts'

const none: readonly never[] = Object.freeze([])

const wireJobDefaults = Object.freeze({
  priority: 0,
  started_at: 0,
  attempts: 0,
  max_attempts: 0,
  backoff: 0,
  ttl: 0,
  timeout: 0,
  unique_key: null,
  depends_on: none,
  progress: 0,
  progress_msg: null,
  tags: none,
  lifo: false,
  remove_on_complete: false,
  remove_on_fail: false,
  last_heartbeat: 0,
  stall_timeout: 0,
  stall_count: 0,
  parent_id: null,
  children_ids: none,
  children_completed: 0,
  custom_id: null,
  keep_completed_age: 0,
  keep_completed_count: 0,
  completed_at: 0,
  group_id: null,
})

/** Gives the jobs of a sparse reply their default fields back (in place); returns them. */
export function withWireDefaults<Data>(jobs: Array<Partial<WireJob<Data>>>): WireJob<Data>[] {
  for (const job of jobs) Object.setPrototypeOf(job, wireJobDefaults)
  return jobs as WireJob<Data>[]
}
