/**
 * The shard's jobs by id, with the part of Map's interface the engine uses. A shard's ids are
 * sequence × shardCount + shardIndex with an increasing sequence (base/ids.ts), so the sequence
 * indexes a dense table: 8 bytes per job instead of a Map entry (~70 bytes measured), which matters
 * with a million waiting jobs.
 *
 * The table is cut into pages of pageSlots slots, kept in a Map by page number. A page is dropped
 * when its last job leaves, and an older page down to a few jobs (long-lived ones among many
 * finished) becomes a small Map, so a straggler never pins a whole page. Ids that are not this shard's (never
 * stored by the engine, but looked up) are told apart by the job's own id.
 *
 * The table also keeps its jobs' payloads as bytes in a PayloadArena (payload-arena.ts): moved there
 * at the end of the batch that stored the job (settlePayloads), released when it is deleted.
 */
import type { Job } from './job.ts'
import { isListed } from './job-index.ts'
import { PayloadArena, chunkIdOf } from './payload-arena.ts'

const pageBits = 10
const pageSlots = 1 << pageBits
/**
 * A dense page that new ids have moved past becomes sparse below this many jobs (a Map of that size
 * takes about a quarter of a dense page); a sparse page that grows to denseFrom jobs (replay) is made
 * dense again.
 */
const sparseBelow = 32
const denseFrom = 4 * sparseBelow
/** Jobs a compaction visits per batch: ~0.3 ms of copying, so no turn stalls on it (issue #7). */
const compactionJobsPerBatch = 4096

class Page {
  count = 0
  /** Jobs by slot, while the page is dense. */
  dense: Array<Job | undefined> | null = new Array(pageSlots)
  /** Jobs by slot, once few are left. */
  sparse: Map<number, Job> | null = null
}

export class JobTable {
  readonly #pages = new Map<number, Page>()
  /** Jobs whose id is not of this shard (kept apart; not expected, but never mixed up). */
  readonly #foreign = new Map<number, Job>()
  #size = 0
  /** The highest page number used: the page new ids go to, never made sparse while they do. */
  #newestPage = 0
  readonly payloads = new PayloadArena()
  /** Jobs stored since the last settlePayloads(): their payloads are still strings. */
  #unsettled: Job[] = []
  /** A compaction under way: where it is in the table, and the chunks it empties. */
  #compaction: { jobs: Iterator<Job>; oldChunks: Set<number> } | null = null

  constructor(
    private readonly shardIndex: number,
    private readonly shardCount: number,
  ) {}

  get size(): number {
    return this.#size
  }

  #isLocal(id: number): boolean {
    return id % this.shardCount === this.shardIndex
  }

  get(id: number): Job | undefined {
    if (!this.#isLocal(id)) return this.#foreign.get(id)
    const sequence = Math.floor(id / this.shardCount)
    const page = this.#pages.get(sequence >>> pageBits)
    if (page === undefined) return undefined
    const slot = sequence & (pageSlots - 1)
    return page.dense !== null ? page.dense[slot] : page.sparse?.get(slot)
  }

  has(id: number): boolean {
    return this.get(id) !== undefined
  }

  /** Stores `job` under its own id (`id` must be job.id). */
  set(id: number, job: Job): this {
    const previous = this.get(id)
    if (previous !== job) {
      if (previous !== undefined) this.payloads.release(previous)
      this.#unsettled.push(job)
    }
    if (!this.#isLocal(id)) {
      if (!this.#foreign.has(id)) this.#size++
      this.#foreign.set(id, job)
      return this
    }
    const sequence = Math.floor(id / this.shardCount)
    const pageNumber = sequence >>> pageBits
    let page = this.#pages.get(pageNumber)
    if (page === undefined) {
      page = new Page()
      this.#pages.set(pageNumber, page)
      if (pageNumber > this.#newestPage) this.#newestPage = pageNumber
    }
    const slot = sequence & (pageSlots - 1)
    if (page.dense !== null) {
      if (page.dense[slot] === undefined) this.#added(page)
      page.dense[slot] = job
    } else {
      const sparse = page.sparse as Map<number, Job>
      if (!sparse.has(slot)) this.#added(page)
      sparse.set(slot, job)
      if (page.count >= denseFrom) this.#makeDense(page)
    }
    return this
  }

  /**
   * Moves the payloads of the jobs stored since the last call into the arena, and lets the arena
   * drop the chunks the batch emptied. Called once per batch (Core.drain), after the batch's records
   * and events took the payload texts as they were.
   */
  settlePayloads(): void {
    if (this.#unsettled.length > 0) {
      const jobs = this.#unsettled
      this.#unsettled = []
      for (const job of jobs) if (this.get(job.id) === job) this.payloads.store(job)
    }
    this.#compactSome()
    this.payloads.endBatch()
  }

  /**
   * One step of a running compaction (starting one when the arena needs it): moves the payloads of
   * the next compactionJobsPerBatch jobs, in id order, out of the chunks the arena held when it
   * started. Jobs deleted or replaced since are skipped; jobs added since are already in new chunks.
   */
  #compactSome(): void {
    if (this.#compaction === null) {
      if (!this.payloads.needsCompaction()) return
      this.#compaction = { jobs: this.values(), oldChunks: this.payloads.chunks() }
    }
    const { jobs, oldChunks } = this.#compaction
    for (let visited = 0; visited < compactionJobsPerBatch; visited++) {
      const next = jobs.next()
      if (next.done === true) {
        this.#compaction = null
        return
      }
      const job = next.value
      const at = job.dataJson
      if (typeof at === 'number' && oldChunks.has(chunkIdOf(at)) && this.get(job.id) === job) this.payloads.move(job)
    }
  }

  delete(id: number): boolean {
    const job = this.get(id)
    if (job === undefined) return false
    this.#remove(id)
    this.payloads.release(job)
    return true
  }

  #remove(id: number): void {
    if (!this.#isLocal(id)) {
      this.#foreign.delete(id)
      this.#size--
      return
    }
    const sequence = Math.floor(id / this.shardCount)
    const pageNumber = sequence >>> pageBits
    const page = this.#pages.get(pageNumber) as Page
    const slot = sequence & (pageSlots - 1)
    if (page.dense !== null) page.dense[slot] = undefined
    else (page.sparse as Map<number, Job>).delete(slot)
    this.#size--
    if (--page.count === 0) this.#pages.delete(pageNumber)
    else if (page.dense !== null && page.count < sparseBelow && pageNumber < this.#newestPage) this.#makeSparse(page)
  }

  /**
   * Every job, in id order: a live walk (jobs that leave before it reaches them are not met; jobs
   * added since it started may be), one result object reused for every step, so a checkpoint's
   * walk of a million jobs leaves no garbage per job (JobCursor).
   */
  values(): IterableIterator<Job> {
    const pageNumbers = [...this.#pages.keys()].sort((a, b) => a - b)
    const foreign = [...this.#foreign.values()].sort((a, b) => a.id - b.id)
    return new JobCursor(this.#pages, pageNumbers, foreign, (job) => this.get(job.id) === job)
  }

  /** Every job, newest (highest id) first. */
  *newestFirst(): IterableIterator<Job> {
    const pageNumbers = [...this.#pages.keys()].sort((a, b) => b - a)
    const foreign = [...this.#foreign.values()].sort((a, b) => b.id - a.id)
    let next = 0
    for (const pageNumber of pageNumbers) {
      const page = this.#pages.get(pageNumber) as Page
      const jobs = page.dense !== null
        ? page.dense.filter((job) => job !== undefined).reverse()
        : [...(page.sparse as Map<number, Job>).entries()].sort((a, b) => b[0] - a[0]).map(([, job]) => job)
      for (const job of jobs) {
        while (next < foreign.length && (foreign[next] as Job).id > job.id) yield foreign[next++] as Job
        yield job
      }
    }
    while (next < foreign.length) yield foreign[next++] as Job
  }

  /**
   * GETJOBS without a queue: the listed jobs (job-index.ts) that pass `keep`, newest first, skipping
   * `offset` of them, at most `limit`. The table is already in id order, so the shard needs no
   * second list of all its jobs. Gives up (null) after visiting `visitMax` jobs, for a caller that
   * has a cheaper way once that many were needed (as JobIndex.page).
   */
  page(keep: (job: Job) => boolean, offset: number, limit: number, visitMax = Infinity): Job[] | null {
    const page: Job[] = []
    let skipped = 0
    let visited = 0
    if (limit <= 0) return page
    for (const job of this.newestFirst()) {
      if (++visited > visitMax) return null
      if (!isListed(job) || !keep(job)) continue
      if (skipped < offset) skipped++
      else if (page.push(job) >= limit) break
    }
    return page
  }

  /** Every job id, in id order. */
  *keys(): IterableIterator<number> {
    for (const job of this.values()) yield job.id
  }

  #added(page: Page): void {
    page.count++
    this.#size++
  }

  #makeDense(page: Page): void {
    const dense = new Array<Job | undefined>(pageSlots)
    for (const [slot, job] of page.sparse as Map<number, Job>) dense[slot] = job
    page.sparse = null
    page.dense = dense
  }

  #makeSparse(page: Page): void {
    const sparse = new Map<number, Job>()
    const dense = page.dense as Array<Job | undefined>
    for (let slot = 0; slot < pageSlots; slot++) {
      const job = dense[slot]
      if (job !== undefined) sparse.set(slot, job)
    }
    page.dense = null
    page.sparse = sparse
  }
}

/** JobTable.values(): the jobs of the pages, in page order, merged by id with the foreign jobs. */
class JobCursor implements IterableIterator<Job> {
  readonly #result: { done: false; value: Job } = { done: false, value: undefined as unknown as Job }
  readonly #done: IteratorResult<Job> = { done: true, value: undefined }
  #pageAt = 0
  #page: Page | null = null
  #slot = 0
  /** A sparse page's jobs from #slot on, by slot (each checked to be there still when its turn comes). */
  #list: Array<[number, Job]> | null = null
  #listAt = 0
  /** The next job of the pages, once looked at (null: no more; undefined: not looked at). */
  #pending: Job | null | undefined = undefined
  #foreignAt = 0

  constructor(
    private readonly pages: Map<number, Page>,
    private readonly pageNumbers: number[],
    private readonly foreign: Job[],
    private readonly isHeld: (job: Job) => boolean,
  ) {}

  [Symbol.iterator](): IterableIterator<Job> {
    return this
  }

  next(): IteratorResult<Job> {
    // A job looked at in an earlier step (foreign jobs went first) may have left since.
    if (this.#pending !== undefined && this.#pending !== null && !this.isHeld(this.#pending)) this.#pending = undefined
    if (this.#pending === undefined) this.#pending = this.#nextOfPages()
    const pending = this.#pending
    let foreign = this.foreign[this.#foreignAt]
    while (foreign !== undefined && !this.isHeld(foreign)) foreign = this.foreign[++this.#foreignAt]
    if (foreign !== undefined && (pending === null || foreign.id < pending.id)) {
      this.#foreignAt++
      this.#result.value = foreign
      return this.#result
    }
    if (pending === null) return this.#done
    this.#pending = undefined
    this.#result.value = pending
    return this.#result
  }

  #nextOfPages(): Job | null {
    for (;;) {
      const page = this.#page
      if (page !== null && page.dense !== null && this.#list === null) {
        const dense = page.dense
        while (this.#slot < pageSlots) {
          const job = dense[this.#slot++]
          if (job !== undefined) return job
        }
      } else if (page !== null) {
        // A sparse page (or one made sparse under the walk): its jobs from the walk's slot on.
        const list = (this.#list ??= [...(page.sparse as Map<number, Job>).entries()]
          .filter(([slot]) => slot >= this.#slot).sort((a, b) => a[0] - b[0]))
        while (this.#listAt < list.length) {
          const [slot, job] = list[this.#listAt++] as [number, Job]
          if ((page.dense !== null ? page.dense[slot] : page.sparse?.get(slot)) === job) return job
        }
      }
      if (this.#pageAt >= this.pageNumbers.length) return null
      this.#page = this.pages.get(this.pageNumbers[this.#pageAt++] as number) ?? null
      this.#slot = 0
      this.#list = null
      this.#listAt = 0
    }
  }
}
