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
   * Costs the entries visited: O(offset + limit) when most entries pass.
   */
  page(keep: (job: Job) => boolean, offset: number, limit: number): Job[] {
    this.ensureSorted()
    const page: Job[] = []
    let skipped = 0
    let stale = 0
    for (let i = this.items.length - 1; i >= 0 && page.length < limit; i--) {
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
