/**
 * A queue's ready or delay heap: a binary min-heap that tells each job its position (Job.heapIndex),
 * so that any job can be removed or re-sorted in O(log n) (cancel, promote, change priority), as
 * heap.ts's IndexedHeap. It holds Job objects and, for the jobs the job table froze (job-table.ts),
 * their handles: numbers, for which no Job object exists; it orders both by id and home, read from
 * the table's columns for a handle (once per item per step: a sift reads the moving job once). What
 * it hands out is always a Job: a frozen job is thawed when peeked or popped, and the table puts the
 * object in the heap in place of its handle.
 */
import { type HomeLike, type Job, homeOf } from './job.ts'

/** Where a heap reads a frozen job (the shard's JobTable). */
export type FrozenJobs = {
  /** The home of a frozen job's handle; its id is left in frozenIdRead (one lookup for both). */
  readFrozen(handle: number): HomeLike
  readonly frozenIdRead: number
  setFrozenHeapIndex(handle: number, index: number): void
  thawHandle(handle: number): Job
}

type Order = (id: number, home: HomeLike, otherId: number, otherHome: HomeLike) => boolean

export class JobHeap {
  /** Jobs and handles in heap order (the job table swaps one for the other in place). */
  readonly items: Array<Job | number> = []
  readonly #table: FrozenJobs
  readonly #before: Order
  // The item #read read last.
  #readId = 0
  #readHome: HomeLike | null = null

  constructor(table: FrozenJobs, before: Order) {
    this.#table = table
    this.#before = before
  }

  get size(): number {
    return this.items.length
  }

  #read(item: Job | number): void {
    if (typeof item === 'number') {
      this.#readHome = this.#table.readFrozen(item)
      this.#readId = this.#table.frozenIdRead
    } else {
      this.#readHome = homeOf(item)
      this.#readId = item.id
    }
  }

  #setIndex(item: Job | number, index: number): void {
    if (typeof item === 'number') this.#table.setFrozenHeapIndex(item, index)
    else item.heapIndex = index
  }

  #job(item: Job | number): Job {
    return typeof item === 'number' ? this.#table.thawHandle(item) : item
  }

  peek(): Job | undefined {
    const item = this.items[0]
    return item === undefined ? undefined : this.#job(item)
  }

  push(job: Job): void {
    this.items.push(job)
    this.#up(this.items.length - 1, job)
  }

  pop(): Job | undefined {
    const items = this.items
    const top = items[0]
    if (top === undefined) return undefined
    const last = items.pop() as Job | number
    if (items.length > 0) this.#down(0, last)
    this.#setIndex(top, -1)
    return this.#job(top)
  }

  /** Removes the job at `index` (its heapIndex). */
  removeAt(index: number): Job {
    const items = this.items
    const item = items[index] as Job | number
    const last = items.pop() as Job | number
    if (index < items.length) this.#place(index, last)
    this.#setIndex(item, -1)
    return this.#job(item)
  }

  /** Restores order after the key of the job at `index` changed. */
  update(index: number): void {
    this.#place(index, this.items[index] as Job | number)
  }

  /** Every job of the heap (thawed), in heap order. */
  jobs(): Job[] {
    const items = this.items
    const jobs: Job[] = new Array(items.length)
    for (let index = 0; index < items.length; index++) jobs[index] = this.#job(items[index] as Job | number)
    return jobs
  }

  /** Puts `item` at `index` and sifts it up or down. */
  #place(index: number, item: Job | number): void {
    if (index > 0) {
      this.#read(item)
      const id = this.#readId
      const home = this.#readHome as HomeLike
      this.#read(this.items[(index - 1) >> 1] as Job | number)
      if (this.#before(id, home, this.#readId, this.#readHome as HomeLike)) {
        this.#up(index, item)
        return
      }
    }
    this.#down(index, item)
  }

  #up(index: number, item: Job | number): void {
    const items = this.items
    this.#read(item)
    const id = this.#readId
    const home = this.#readHome as HomeLike
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = items[parentIndex] as Job | number
      this.#read(parent)
      if (!this.#before(id, home, this.#readId, this.#readHome as HomeLike)) break
      items[index] = parent
      this.#setIndex(parent, index)
      index = parentIndex
    }
    items[index] = item
    this.#setIndex(item, index)
  }

  #down(index: number, item: Job | number): void {
    const items = this.items
    const length = items.length
    this.#read(item)
    const id = this.#readId
    const home = this.#readHome as HomeLike
    for (;;) {
      let child = 2 * index + 1
      if (child >= length) break
      let childItem = items[child] as Job | number
      this.#read(childItem)
      let childId = this.#readId
      let childHome = this.#readHome as HomeLike
      const right = child + 1
      if (right < length) {
        const rightItem = items[right] as Job | number
        this.#read(rightItem)
        if (this.#before(this.#readId, this.#readHome as HomeLike, childId, childHome)) {
          child = right
          childItem = rightItem
          childId = this.#readId
          childHome = this.#readHome as HomeLike
        }
      }
      if (!this.#before(childId, childHome, id, home)) break
      items[index] = childItem
      this.#setIndex(childItem, index)
      index = child
    }
    items[index] = item
    this.#setIndex(item, index)
  }
}
