/**
 * A job for a `sparse` PULLB (flashq extension, the SDK's Worker): the wire object of jobToWire
 * without the fields that hold their default value (0, false, null, []), which a client fills back
 * in (src/client/wire-defaults.ts). A no-op Worker's pulled job is ~190 bytes instead of ~580: a
 * third of the text to write and, on the client, to parse. Written out field by field, like encodeJob's
 * record: filtering jobToWire's object by protocol/wire-job-defaults.ts was measured 16% slower for a
 * no-op Worker (235k → 196k jobs/s durable); sparse-wire.test.ts holds it to those defaults.
 */
import { type Job, wireData } from './job.ts'

type SparseWireJob = { id: number; queue: string; data?: unknown; created_at: number; run_at: number; [field: string]: unknown }

export function jobToSparseWire(job: Job): SparseWireJob {
  const wire: SparseWireJob = { id: job.id, queue: job.queue, data: wireData(job), created_at: job.createdAt, run_at: job.runAt }
  if (job.priority !== 0) wire.priority = job.priority
  if (job.startedAt !== 0) wire.started_at = job.startedAt
  if (job.attempts !== 0) wire.attempts = job.attempts
  if (job.maxAttempts !== 0) wire.max_attempts = job.maxAttempts
  if (job.backoff !== 0) wire.backoff = job.backoff
  if (job.ttl !== 0) wire.ttl = job.ttl
  if (job.timeout !== 0) wire.timeout = job.timeout
  if (job.uniqueKey !== null) wire.unique_key = job.uniqueKey
  if (job.dependsOn.length > 0) wire.depends_on = job.dependsOn
  if (job.progress !== 0) wire.progress = job.progress
  if (job.progressMsg !== null) wire.progress_msg = job.progressMsg
  if (job.tags.length > 0) wire.tags = job.tags
  if (job.lifo) wire.lifo = true
  if (job.removeOnComplete) wire.remove_on_complete = true
  if (job.removeOnFail) wire.remove_on_fail = true
  if (job.lastHeartbeat !== 0) wire.last_heartbeat = job.lastHeartbeat
  if (job.stallTimeout !== 0) wire.stall_timeout = job.stallTimeout
  if (job.stallCount !== 0) wire.stall_count = job.stallCount
  if (job.parentId !== null) wire.parent_id = job.parentId
  if (job.childrenIds.length > 0) wire.children_ids = job.childrenIds
  if (job.childrenCompleted !== 0) wire.children_completed = job.childrenCompleted
  if (job.customId !== null) wire.custom_id = job.customId
  if (job.keepCompletedAge !== 0) wire.keep_completed_age = job.keepCompletedAge
  if (job.keepCompletedCount !== 0) wire.keep_completed_count = job.keepCompletedCount
  if (job.completedAt !== 0) wire.completed_at = job.completedAt
  if (job.groupId !== null) wire.group_id = job.groupId
  return wire
}
