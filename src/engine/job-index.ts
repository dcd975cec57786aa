/**
 * A queue's jobs in id order, for GETJOBS pages of one queue (spec: sorted by id, descending) without
 * a scan and sort of the whole shard (pages over every queue walk the job table: job-table.ts). A shard hands out ids in increasing order, so a new job is appended at the end;
 * replay may add them out of order (a checkpoint lists completed jobs first), so the list is sorted
 * once when replay ends (and lazily, should anything else add out of order). Jobs that left (forgotten, or completed and out of the history) are skipped and
 * compacted away once they are at least half of the list.
 */
import { Job, LOC_COMPLETED, LOC_GONE } from './job.ts'

/** Entries kept before a compaction is considered. */
const compactFloor = 1024

/** True when GETJOBS lists the job: it is held, and a completed one is still in the history. */
export function isListed(job: Job): boolean {
  return job.loc !== LOC_GONE && (job.loc !== LOC_COMPLETED || job.inHistory)
}

export class IdOrderedJobs {
  private items: Job[] = []
  private sorted = true

  get length(): number {
    return this.items.length
  }

  add(job: Job): void {
    const last = this.items[this.items.length - 1]
    if (last !== undefined && last.id >= job.id) this.sorted = false
    this.items.push(job)
  }

  /**
   * The listed jobs that pass `keep`, newest first, skipping `offset` of them, at most `limit`.
   * Costs the entries visited: O(offset + limit) when most entries pass. Gives up (null) after
   * visiting `visitMax` entries, for a caller that has a cheaper way once that many were needed.
   */
  page(keep: (job: Job) => boolean, offset: number, limit: number, visitMax = Infinity): Job[] | null {
    this.ensureSorted()
    const page: Job[] = []
    let skipped = 0
    let stale = 0
    let visited = 0
    for (let i = this.items.length - 1; i >= 0 && page.length < limit; i--) {
      if (++visited > visitMax) return null
      const job = this.items[i] as Job
      if (!isListed(job)) {
        stale++
        continue
      }
      if (!keep(job)) continue
      if (skipped < offset) skipped++
      else page.push(job)
    }
    if (stale > compactFloor && stale * 2 > this.items.length) this.compact()
    return page
  }

  /** The listed jobs, oldest first (a copy: callers may remove jobs while using it). */
  listed(): Job[] {
    return this.items.filter(isListed)
  }

  /** Drops the unlisted entries when they are most of the list (called by the owner on growth). */
  compactIfStale(live: number): void {
    if (this.items.length > compactFloor && this.items.length > 2 * live) this.compact()
  }

  private compact(): void {
    this.items = this.items.filter(isListed)
  }

  /** Sorts the list if replay added jobs out of order (done once after replay, not in a query). */
  ensureSorted(): void {
    if (this.sorted) return
    this.items.sort((a, b) => a.id - b.id)
    // A job added twice by replay (its record and a later one) is kept once.
    this.items = this.items.filter((job, index, all) => index === 0 || (all[index - 1] as Job) !== job)
    this.sorted = true
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
