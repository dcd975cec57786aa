/**
 * A queue's jobs in id order, for GETJOBS pages of one queue (spec: sorted by id, descending) without
 * a scan and sort of the whole shard (pages over every queue walk the job table: job-table.ts). A
 * shard hands out ids in increasing order, so a new job is appended at the end; replay may add them
 * out of order (a checkpoint lists completed jobs first), so the list is sorted once when replay ends
 * (and lazily, should anything else add out of order). Jobs that left (forgotten, or completed and
 * out of the history) are skipped and compacted away once they are at least half of the list.
 *
 * The list holds ids, not jobs, found in the shard's job table when read; and runs of consecutive ids
 * (a shard's ids step by the shard count: base/ids.ts) as two numbers, the first id and the count
 * that follow it, so a queue pushed to alone costs nothing per job (W5: a million waiting jobs took
 * ~12 B each as an array of jobs). Entries: an id ≥ 0, or -n after an id: the n ids after it.
 */
import { Job, LOC_COMPLETED, LOC_GONE } from './job.ts'

/** Entries kept before a compaction is considered. */
const compactFloor = 1024
/** Entries a new list has room for. */
const initialEntries = 4

/** True when GETJOBS lists the job: it is held, and a completed one is still in the history. */
export function isListed(job: Job): boolean {
  return job.loc !== LOC_GONE && (job.loc !== LOC_COMPLETED || job.inHistory)
}

/** Where the list finds its jobs by id (the shard's JobTable). */
export type JobsById = { get(id: number): Job | undefined }

export class IdOrderedJobs {
  #entries = new Float64Array(initialEntries)
  #used = 0
  /** Ids in the list (a run counts each of its ids). */
  #count = 0
  #sorted = true

  constructor(
    private readonly jobs: JobsById,
    private readonly queue: string,
    /** Between consecutive ids of the shard: its shard count. */
    private readonly idStep: number,
  ) {}

  /** Ids in the list, stale ones included. */
  get length(): number {
    return this.#count
  }

  /** Numbers held (tests: a run of ids costs two, whatever its length). */
  get entryCount(): number {
    return this.#used
  }

  add(job: Job): void {
    this.#addId(job.id)
  }

  #addId(id: number): void {
    this.#count++
    const used = this.#used
    if (used > 0) {
      const entries = this.#entries
      const last = entries[used - 1] as number
      const lastId = last < 0 ? (entries[used - 2] as number) - last * this.idStep : last
      if (id === lastId + this.idStep) {
        if (last < 0) entries[used - 1] = last - 1
        else this.#push(-1)
        return
      }
      if (id <= lastId) this.#sorted = false
    }
    this.#push(id)
  }

  #push(entry: number): void {
    if (this.#used === this.#entries.length) {
      const bigger = new Float64Array(this.#used + (this.#used >> 1) + initialEntries)
      bigger.set(this.#entries)
      this.#entries = bigger
    }
    this.#entries[this.#used++] = entry
  }

  /** The job of `id` when it is this queue's and listed. */
  #listed(id: number): Job | undefined {
    const job = this.jobs.get(id)
    return job !== undefined && job.queue === this.queue && isListed(job) ? job : undefined
  }

  /**
   * The listed jobs that pass `keep`, newest first, skipping `offset` of them, at most `limit`.
   * Costs the ids visited: O(offset + limit) when most ids pass. Gives up (null) after visiting
   * `visitMax` ids, for a caller that has a cheaper way once that many were needed.
   */
  page(keep: (job: Job) => boolean, offset: number, limit: number, visitMax = Infinity): Job[] | null {
    this.ensureSorted()
    const page: Job[] = []
    const entries = this.#entries
    const step = this.idStep
    let skipped = 0
    let stale = 0
    let visited = 0
    for (let i = this.#used - 1; i >= 0 && page.length < limit;) {
      const entry = entries[i] as number
      const first = entry < 0 ? (entries[i - 1] as number) : entry
      let id = entry < 0 ? first - entry * step : first
      i -= entry < 0 ? 2 : 1
      for (; id >= first && page.length < limit; id -= step) {
        if (++visited > visitMax) return null
        const job = this.#listed(id)
        if (job === undefined) {
          stale++
          continue
        }
        if (!keep(job)) continue
        if (skipped < offset) skipped++
        else page.push(job)
      }
    }
    if (stale > compactFloor && stale * 2 > this.#count) this.#compact()
    return page
  }

  /**
   * The first `limit` ids of the list, oldest first, that `pick` takes (it sees every id in the list,
   * stale ones included: an id whose job left or moved on). Costs the ids visited.
   */
  oldest(pick: (id: number) => boolean, limit: number): number[] {
    this.ensureSorted()
    const picked: number[] = []
    const entries = this.#entries
    const used = this.#used
    for (let i = 0; i < used && picked.length < limit; i++) {
      const first = entries[i] as number
      const next = i + 1 < used ? (entries[i + 1] as number) : 0
      const last = next < 0 ? first - next * this.idStep : first
      if (next < 0) i++
      for (let id = first; id <= last && picked.length < limit; id += this.idStep) if (pick(id)) picked.push(id)
    }
    return picked
  }

  /** The listed jobs, oldest first (a copy: callers may remove jobs while using it). */
  listed(): Job[] {
    this.ensureSorted()
    const jobs: Job[] = []
    this.#forEachId((id) => {
      const job = this.#listed(id)
      if (job !== undefined) jobs.push(job)
    })
    return jobs
  }

  /** Drops the unlisted ids when they are most of the list (called by the owner on growth). */
  compactIfStale(live: number): void {
    if (this.#count > compactFloor && this.#count > 2 * live) this.#compact()
  }

  /** Every id in list order. */
  #forEachId(visit: (id: number) => void): void {
    const entries = this.#entries
    const used = this.#used
    for (let i = 0; i < used; i++) {
      const first = entries[i] as number
      const next = i + 1 < used ? (entries[i + 1] as number) : 0
      const last = next < 0 ? first - next * this.idStep : first
      if (next < 0) i++
      for (let id = first; id <= last; id += this.idStep) visit(id)
    }
  }

  #compact(): void {
    this.ensureSorted()
    const kept: number[] = []
    this.#forEachId((id) => {
      if (this.#listed(id) !== undefined) kept.push(id)
    })
    this.#rebuild(kept)
  }

  #rebuild(ids: ArrayLike<number>): void {
    this.#entries = new Float64Array(initialEntries)
    this.#used = 0
    this.#count = 0
    this.#sorted = true
    for (let i = 0; i < ids.length; i++) this.#addId(ids[i] as number)
  }

  /** Sorts the list if replay added ids out of order (done once after replay, not in a query). */
  ensureSorted(): void {
    if (this.#sorted) return
    const ids = new Float64Array(this.#count)
    let at = 0
    this.#forEachId((id) => void (ids[at++] = id))
    ids.sort()
    // An id added twice by replay (its record and a later one) is kept once.
    this.#rebuild(ids.filter((id, index) => index === 0 || ids[index - 1] !== id))
  }
}

/**
 * The `count` jobs of `jobs` with the highest ids, highest first. The ids are read once into an
 * array of numbers and the count-th highest is found there (quickselect, no job touched), so a page
 * of a large set costs O(n + count log count), not a sort of all n jobs.
 */
export function newestFirst(jobs: Job[], count: number): Job[] {
  if (jobs.length <= count) return jobs.sort((a, b) => b.id - a.id)
  if (count <= 0) return []
  const ids = new Float64Array(jobs.length)
  for (let i = 0; i < jobs.length; i++) ids[i] = (jobs[i] as Job).id
  const lowestKept = kthHighest(ids.slice(), count)
  const kept: Job[] = []
  for (let i = 0; i < jobs.length; i++) if ((ids[i] as number) >= lowestKept) kept.push(jobs[i] as Job)
  return kept.sort((a, b) => b.id - a.id)
}

/** The k-th highest of distinct `values` (reorders them): Hoare quickselect. */
function kthHighest(values: Float64Array, k: number): number {
  let low = 0
  let high = values.length - 1
  const target = k - 1
  while (low < high) {
    const pivot = values[(low + high) >> 1] as number
    let i = low
    let j = high
    while (i <= j) {
      while ((values[i] as number) > pivot) i++
      while ((values[j] as number) < pivot) j--
      if (i <= j) {
        const swap = values[i] as number
        values[i++] = values[j] as number
        values[j--] = swap
      }
    }
    // values[low … j] ≥ pivot ≥ values[i … high]: narrow to the side that holds position `target`.
    if (target <= j) high = j
    else if (target >= i) low = i
    else break
  }
  return values[target] as number
}
