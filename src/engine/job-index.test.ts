import { expect, test } from 'bun:test'
import { IdOrderedJobs, isListed } from './job-index.ts'
import { Job, LOC_COMPLETED, LOC_GONE, LOC_READY } from './job.ts'

/** A tiny seeded generator (mulberry32), so a failure names its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/**
 * The list against a model: the ids added (sorted and deduplicated), looked up in the same table.
 * Ids step by `step` like a shard's; most are the next id (runs), some skip (another queue's ids),
 * some repeat or go back (replay). Jobs leave (forgotten or out of the history), others of another
 * queue take ids the list holds; pages, listings and compactions are compared with the model.
 */
function checkAgainstModel(seed: number, step: number): void {
  const next = random(seed)
  const table = new Map<number, Job>()
  const list = new IdOrderedJobs(table, 'q', step)
  const added: number[] = []
  let lastId = step + 1
  const modelListed = () =>
    [...new Set(added)].sort((a, b) => a - b).map((id) => table.get(id)).filter((job): job is Job => job !== undefined && job.queue === 'q' && isListed(job))
  for (let op = 0; op < 1500; op++) {
    const roll = next()
    if (roll < 0.55) {
      const kind = next()
      const id = kind < 0.8 ? (lastId += step) : kind < 0.93 ? (lastId += step * (2 + Math.floor(next() * 5))) : Math.max(1, lastId - step * Math.floor(next() * 20))
      const job = table.get(id) ?? new Job(id, 'q')
      job.loc = LOC_READY
      table.set(id, job)
      list.add(job)
      added.push(id)
    } else if (roll < 0.7 && added.length > 0) {
      const id = added[Math.floor(next() * added.length)] as number
      const job = table.get(id)
      if (job === undefined) continue
      if (next() < 0.5) {
        job.loc = LOC_GONE
        table.delete(id)
      } else {
        job.loc = LOC_COMPLETED
        job.inHistory = next() < 0.5
      }
    } else if (roll < 0.73 && added.length > 0) {
      // An id the list holds, taken by a job of another queue (never listed here).
      const id = added[Math.floor(next() * added.length)] as number
      const other = new Job(id, 'other')
      other.loc = LOC_READY
      table.set(id, other)
    } else if (roll < 0.76) {
      const live = modelListed().length
      list.compactIfStale(live)
    } else {
      const offset = Math.floor(next() * 30)
      const limit = Math.floor(next() * 40)
      const keep = next() < 0.5 ? () => true : (job: Job) => job.id % 3 !== 0
      const expected = modelListed().reverse().filter(keep).slice(offset, offset + limit)
      const page = list.page(keep, offset, limit)
      expect(page?.map((job) => job.id)).toEqual(expected.map((job) => job.id))
      const limited = list.page(keep, offset, limit, Math.floor(next() * 50))
      if (limited !== null) expect(limited.map((job) => job.id)).toEqual(expected.map((job) => job.id))
    }
    if (op % 200 === 0) expect(list.listed().map((job) => job.id)).toEqual(modelListed().map((job) => job.id))
  }
  list.ensureSorted()
  expect(list.listed().map((job) => job.id)).toEqual(modelListed().map((job) => job.id))
}

test('the id list pages like a sorted list of its listed jobs (randomized, one shard and four)', () => {
  for (let seed = 1; seed <= 15; seed++) {
    checkAgainstModel(seed, 1)
    checkAgainstModel(seed * 7919, 4)
  }
})

test('a run of consecutive ids costs two entries, whatever its length; a gap starts another', () => {
  const table = new Map<number, Job>()
  const list = new IdOrderedJobs(table, 'q', 2)
  for (let sequence = 1; sequence <= 100_000; sequence++) {
    const job = new Job(sequence * 2 + 1, 'q')
    job.loc = LOC_READY
    table.set(job.id, job)
    list.add(job)
  }
  expect(list.length).toBe(100_000)
  expect(list.entryCount).toBe(2)
  const after = new Job(400_001, 'q')
  after.loc = LOC_READY
  table.set(after.id, after)
  list.add(after)
  expect(list.entryCount).toBe(3)
  expect(list.page(() => true, 0, 3)?.map((job) => job.id)).toEqual([400_001, 200_001, 199_999])
  expect(list.page(() => true, 100_000, 3)?.map((job) => job.id)).toEqual([3])
})
