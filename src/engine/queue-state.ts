/** Everything one queue owns: its heaps, DLQ, keys, groups, settings and pull waiters. */
import { msPerSecond } from '../base/units.ts'
import { JobHeap, type FrozenJobs } from './job-heap.ts'
import { Job, readyBeforeParts, runAtBeforeParts } from './job.ts'
import { WaiterFifo } from './waiters.ts'
import { IdOrderedJobs, type JobsById } from './job-index.ts'
import type { QueueDefaults } from './core.ts'

export class QueueState {
  /** Ready jobs in delivery order (spec §4.1). */
  readonly ready: JobHeap
  /** Not-ready jobs by run_at; moved to `ready` when due, so they never block ready jobs. */
  readonly delayed: JobHeap
  /** Ready jobs set aside because their group is busy, per group. */
  readonly groupWait = new Map<string, Job[]>()
  groupWaitCount = 0
  /** Groups with an active job. */
  readonly busyGroups = new Set<string>()
  /** Dead-letter queue in arrival order (oldest first). */
  readonly dlq = new Map<number, Job>()
  readonly uniqueKeys = new Set<string>()
  /** debounce id → window end (ms). */
  readonly debounce = new Map<string, number>()
  readonly pullWaiters = new WaiterFifo()
  activeCount = 0
  /** Jobs waiting for dependencies or children (waitingchildren + waitingparent): GETJOBS finds them here. */
  readonly parked = new Set<Job>()
  /** Of parkedCount: flow parents (waitingparent). */
  parentCount = 0
  /** Every job of the queue in id order (GETJOBS pages). */
  readonly byId: IdOrderedJobs
  /** Jobs of this queue in the completed history. */
  completedCount = 0

  paused = false
  /** Filled into PUSH fields left absent (Engine.setQueueDefaults); null = none. */
  defaults: QueueDefaults | null = null
  concurrencyLimit: number | null = null
  rateLimit: number | null = null
  /** Token bucket (spec §4.14): capacity = rateLimit, starts full. */
  tokens = 0
  tokensAtMs = 0

  /** `jobs`: the shard's jobs by id, whose ids step by `idStep` (the shard count). */
  constructor(readonly name: string, jobs: JobsById & FrozenJobs, idStep: number) {
    this.byId = new IdOrderedJobs(jobs, name, idStep)
    this.ready = new JobHeap(jobs, readyBeforeParts)
    this.delayed = new JobHeap(jobs, runAtBeforeParts)
  }

  get parkedCount(): number {
    return this.parked.size
  }

  get queuedCount(): number {
    return this.ready.size + this.delayed.size + this.groupWaitCount
  }

  /** Jobs GETJOBS lists in this queue. */
  get listedCount(): number {
    return this.queuedCount + this.activeCount + this.parkedCount + this.dlq.size + this.completedCount
  }

  /** True when the queue holds nothing and no setting: it can be forgotten. */
  get isEmpty(): boolean {
    return (
      this.queuedCount === 0 && this.activeCount === 0 && this.parkedCount === 0 && this.dlq.size === 0 &&
      this.completedCount === 0 && !this.paused && this.concurrencyLimit === null && this.rateLimit === null &&
      this.debounce.size === 0 && this.defaults === null && this.pullWaiters.empty
    )
  }

  refillTokens(nowMs: number): void {
    if (this.rateLimit === null) return
    const elapsed = nowMs - this.tokensAtMs
    if (elapsed > 0) {
      this.tokens = Math.min(this.rateLimit, this.tokens + (elapsed * this.rateLimit) / msPerSecond)
      this.tokensAtMs = nowMs
    }
  }

  /** When the next whole token is available (rate-limited queues). */
  nextTokenMs(): number {
    if (this.rateLimit === null || this.rateLimit === 0) return Infinity
    if (this.tokens >= 1) return this.tokensAtMs
    return this.tokensAtMs + Math.ceil(((1 - this.tokens) * msPerSecond) / this.rateLimit)
  }
}
