/**
 * The job record the engine keeps, and its wire form (spec §2.1: exactly 31 fields, in order, always
 * present). Fields use the wire's meaning with camelCase names; `loc` says where the job lives now.
 */

/** Where a job is. The wire state is derived from it (and from runAt for queued jobs). */
export const LOC_GONE = 0
/** In its queue's ready heap (run_at ≤ now when it entered). */
export const LOC_READY = 1
/** In its queue's delay heap. */
export const LOC_DELAYED = 2
/** Ready, but set aside because its group has an active job; back to the heap when the group frees. */
export const LOC_GROUP_WAIT = 3
export const LOC_ACTIVE = 4
export const LOC_COMPLETED = 5
export const LOC_DLQ = 6
/** waitingchildren: parked on depends_on. */
export const LOC_PARKED = 7
/** waitingparent: flow parent waiting for its children. */
export const LOC_PARENT = 8

export type JobState =
  | 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'waitingchildren' | 'waitingparent' | 'unknown'

const noNumbers: readonly number[] = Object.freeze([])
const noStrings: readonly string[] = Object.freeze([])
export const emptyNumbers = noNumbers as number[]
export const emptyStrings = noStrings as string[]

/** UTF-8 bytes of one request (shared by the jobs it created; reply-size.ts). */
export type RequestSize = { readonly bytes: number }

export class Job {
  // Wire fields (spec §2.1).
  data: unknown = null
  priority = 0
  createdAt = 0
  runAt = 0
  startedAt = 0
  attempts = 0
  maxAttempts = 0
  backoff = 0
  ttl = 0
  timeout = 0
  uniqueKey: string | null = null
  dependsOn: number[] = emptyNumbers
  progress = 0
  progressMsg: string | null = null
  tags: string[] = emptyStrings
  lifo = false
  removeOnComplete = false
  removeOnFail = false
  lastHeartbeat = 0
  stallTimeout = 0
  stallCount = 0
  parentId: number | null = null
  childrenIds: number[] = emptyNumbers
  childrenCompleted = 0
  customId: string | null = null
  keepCompletedAge = 0
  keepCompletedCount = 0
  completedAt = 0
  groupId: string | null = null

  // Bookkeeping.
  loc = LOC_GONE
  /** Position in the ready, delay or timeout heap (a job is in at most one), or -1. */
  heapIndex = -1
  /** Position in the TTL heap, or -1. */
  ttlIndex = -1
  /** True while this job holds its unique key in the queue's key set. */
  holdsKey = false
  /** Dependencies not completed yet (parked jobs only). */
  pendingDeps: number[] = emptyNumbers
  /** Reason of the final failure (DLQ jobs). */
  failReason: string | null = null
  /** True while the job is in the completed history (its body is kept). */
  inHistory = false
  /**
   * The size of the request that created the job, an upper bound of everything it took from it
   * (reply-size.ts). The jobs of one PUSHB share it. null when unknown (replayed, cron, flow child):
   * measured when first needed.
   */
  request: RequestSize | null = null
  /** queued API (engine/queued-store.ts): polls so far, -1 for a job not pushed through that API. */
  pollCount = -1
  /** queued API: the current poll tag (fencing token), null until the first poll. */
  pollTag: string | null = null
  /** The epoch of the checkpoint capture that holds this job's record already (snapshot.ts). */
  snapshotMark = 0

  constructor(
    readonly id: number,
    readonly queue: string,
  ) {}
}

export function expiresAt(job: Job): number {
  return job.ttl > 0 ? job.createdAt + job.ttl : Infinity
}

export function stateOf(job: Job, nowMs: number): JobState {
  switch (job.loc) {
    case LOC_READY:
    case LOC_DELAYED:
    case LOC_GROUP_WAIT:
      return job.runAt > nowMs ? 'delayed' : 'waiting'
    case LOC_ACTIVE:
      return 'active'
    case LOC_COMPLETED:
      return 'completed'
    case LOC_DLQ:
      return 'failed'
    case LOC_PARKED:
      return 'waitingchildren'
    case LOC_PARENT:
      return 'waitingparent'
    default:
      return 'unknown'
  }
}

/** The wire object: 31 fields in spec order. One literal, so the engine builds one shape. */
export function jobToWire(job: Job) {
  return {
    id: job.id,
    queue: job.queue,
    data: job.data,
    priority: job.priority,
    created_at: job.createdAt,
    run_at: job.runAt,
    started_at: job.startedAt,
    attempts: job.attempts,
    max_attempts: job.maxAttempts,
    backoff: job.backoff,
    ttl: job.ttl,
    timeout: job.timeout,
    unique_key: job.uniqueKey,
    depends_on: job.dependsOn,
    progress: job.progress,
    progress_msg: job.progressMsg,
    tags: job.tags,
    lifo: job.lifo,
    remove_on_complete: job.removeOnComplete,
    remove_on_fail: job.removeOnFail,
    last_heartbeat: job.lastHeartbeat,
    stall_timeout: job.stallTimeout,
    stall_count: job.stallCount,
    parent_id: job.parentId,
    children_ids: job.childrenIds,
    children_completed: job.childrenCompleted,
    custom_id: job.customId,
    keep_completed_age: job.keepCompletedAge,
    keep_completed_count: job.keepCompletedCount,
    completed_at: job.completedAt,
    group_id: job.groupId,
  }
}
export type WireJob = ReturnType<typeof jobToWire>

/** JobBrowserItem (GETJOBS, GETJOBSBATCH): the 31 fields, `state`, and the nested `job` (extension). */
export function jobToBrowserItem(job: Job, nowMs: number) {
  const wire = jobToWire(job)
  return { ...wire, state: stateOf(job, nowMs), job: wire }
}

/** Delivery order (spec §4.1): priority desc; lifo first, highest id first; then run_at asc, id asc. */
export function readyBefore(a: Job, b: Job): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority
  if (a.lifo !== b.lifo) return a.lifo
  if (a.lifo) return a.id > b.id
  if (a.runAt !== b.runAt) return a.runAt < b.runAt
  return a.id < b.id
}

export function runAtBefore(a: Job, b: Job): boolean {
  return a.runAt !== b.runAt ? a.runAt < b.runAt : a.id < b.id
}

export function setHeapIndex(job: Job, index: number): void {
  job.heapIndex = index
}

export function setTtlIndex(job: Job, index: number): void {
  job.ttlIndex = index
}
