/**
 * Blocking requests (PULL, PULLB, WAITJOB): one Waiter each, in a deadline heap shared by the shard,
 * indexed by token (a closed connection cancels its waiters), and in a per-queue FIFO (pulls) or a
 * per-job list (WAITJOB).
 */
import type { Token } from './types.ts'
import { IndexedHeap } from './heap.ts'

export const WAIT_PULL = 1
export const WAIT_PULLB = 2
export const WAIT_JOB = 3

export class Waiter {
  heapIndex = -1
  done = false
  constructor(
    readonly token: Token,
    readonly kind: number,
    /** Queue name (pulls) or job id (WAITJOB). */
    readonly queue: string,
    readonly jobId: number,
    /** Jobs wanted (PULLB). */
    readonly count: number,
    readonly deadline: number,
    readonly timeoutMs: number,
    /** PULLB's `sparse`: the jobs without their default-valued fields. */
    readonly sparse = false,
  ) {}
}

/** FIFO of pull waiters of one queue, with lazy removal of the ones already answered or cancelled. */
export class WaiterFifo {
  private items: Waiter[] = []
  private head = 0

  get empty(): boolean {
    this.skipDone()
    return this.head >= this.items.length
  }

  push(waiter: Waiter): void {
    this.items.push(waiter)
  }

  first(): Waiter | undefined {
    this.skipDone()
    return this.items[this.head]
  }

  private skipDone(): void {
    const items = this.items
    while (this.head < items.length && (items[this.head] as Waiter).done) this.head++
    if (this.head > 64 && this.head * 2 > items.length) {
      this.items = items.slice(this.head)
      this.head = 0
    }
  }
}

export class WaiterTable {
  readonly deadlines = new IndexedHeap<Waiter>(
    (a, b) => a.deadline < b.deadline,
    (waiter, index) => {
      waiter.heapIndex = index
    },
  )
  readonly byToken = new Map<Token, Waiter>()
  readonly byJob = new Map<number, Waiter[]>()

  get size(): number {
    return this.byToken.size
  }

  add(waiter: Waiter): void {
    this.deadlines.push(waiter)
    this.byToken.set(waiter.token, waiter)
    if (waiter.kind === WAIT_JOB) {
      const list = this.byJob.get(waiter.jobId)
      if (list === undefined) this.byJob.set(waiter.jobId, [waiter])
      else list.push(waiter)
    }
  }

  /** Marks the waiter answered and unlinks it everywhere except the queue FIFO (lazy). */
  finish(waiter: Waiter): void {
    if (waiter.done) return
    waiter.done = true
    if (waiter.heapIndex >= 0) this.deadlines.removeAt(waiter.heapIndex)
    if (this.byToken.get(waiter.token) === waiter) this.byToken.delete(waiter.token)
    if (waiter.kind === WAIT_JOB) {
      const list = this.byJob.get(waiter.jobId)
      if (list !== undefined) {
        const at = list.indexOf(waiter)
        if (at >= 0) list.splice(at, 1)
        if (list.length === 0) this.byJob.delete(waiter.jobId)
      }
    }
  }

  /** Removes and returns every WAITJOB waiter of a job. */
  takeJobWaiters(jobId: number): Waiter[] | undefined {
    const list = this.byJob.get(jobId)
    if (list === undefined) return undefined
    this.byJob.delete(jobId)
    for (const waiter of list) {
      waiter.done = true
      if (waiter.heapIndex >= 0) this.deadlines.removeAt(waiter.heapIndex)
      if (this.byToken.get(waiter.token) === waiter) this.byToken.delete(waiter.token)
    }
    return list
  }
}
