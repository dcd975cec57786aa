import { expect, test } from 'bun:test'
import { jobIdOf } from '../base/ids.ts'
import { prng } from '../base/prng.ts'
import { Job, LOC_ACTIVE, LOC_GONE, LOC_READY } from './job.ts'
import { isListed } from './job-index.ts'
import { JobTable } from './job-table.ts'

test('agrees with a Map under random sets and deletes, local and foreign ids, with pages going sparse and away', () => {
  const shardCount = 3
  const shardIndex = 1
  const random = prng(42).next
  const table = new JobTable(shardIndex, shardCount)
  const model = new Map<number, Job>()
  let sequence = 0
  const order: number[] = []
  let oldest = 0
  for (let step = 0; step < 60_000; step++) {
    const roll = random()
    if (roll < 0.5) {
      sequence++
      const id = jobIdOf(sequence, roll < 0.01 ? 2 : shardIndex, shardCount) // a few foreign ids
      const job = new Job(id, 'q')
      table.set(id, job)
      model.set(id, job)
      order.push(id)
    } else if (roll < 0.95 && model.size > 0) {
      // Mostly the oldest jobs finish (pages empty out), some at random (pages go sparse).
      while (!model.has(order[oldest] as number)) oldest++
      const id = roll < 0.9 ? (order[oldest] as number) : (order[oldest + Math.floor(random() * (order.length - oldest))] as number)
      if (!model.has(id)) continue
      expect(table.delete(id)).toBe(true)
      model.delete(id)
    } else {
      const id = jobIdOf(1 + Math.floor(random() * (sequence + 10)), Math.floor(random() * shardCount), shardCount)
      expect(table.get(id)).toBe(model.get(id))
      expect(table.has(id)).toBe(model.has(id))
      expect(table.delete(id)).toBe(model.delete(id))
    }
    expect(table.size).toBe(model.size)
  }
  expect([...table.values()].map((job) => job.id)).toEqual([...model.keys()].sort((a, b) => a - b))
  expect([...table.keys()]).toEqual([...model.keys()].sort((a, b) => a - b))
})

test('a job replaced under its id counts once; an id of another shard never finds a local job', () => {
  const table = new JobTable(0, 2)
  const first = new Job(2, 'q')
  table.set(2, first)
  table.set(2, new Job(2, 'q'))
  expect(table.size).toBe(1)
  expect(table.get(3)).toBeUndefined() // same sequence, shard 1
  expect(table.delete(3)).toBe(false)
  expect(table.size).toBe(1)
})

test('page: the listed jobs that pass the filter, newest first, after offset, at most limit (GETJOBS over every queue)', () => {
  const random = prng(7).next
  const table = new JobTable(0, 2)
  const all: Job[] = []
  for (let sequence = 1; sequence <= 5000; sequence++) {
    const job = new Job(jobIdOf(sequence, 0, 2), 'q')
    job.loc = random() < 0.3 ? LOC_GONE : random() < 0.5 ? LOC_READY : LOC_ACTIVE
    job.priority = Math.floor(random() * 3)
    table.set(job.id, job)
    all.push(job)
    if (random() < 0.4) table.delete(job.id) // pages go sparse and away
    else continue
    all.pop()
  }
  const keep = (job: Job) => job.priority !== 1
  const expected = all.filter((job) => isListed(job) && keep(job)).reverse()
  for (const [offset, limit] of [[0, 10], [5, 100], [1000, 50], [0, 100_000], [expected.length - 3, 10], [expected.length, 10]] as const) {
    expect((table.page(keep, offset, limit) ?? []).map((job) => job.id)).toEqual(expected.slice(offset, offset + limit).map((job) => job.id))
  }
})

test('an old page emptied to a few jobs and filled again (replay adds out of order) keeps every job', () => {
  const table = new JobTable(0, 1)
  const jobs = new Map<number, Job>()
  const put = (id: number) => {
    const job = new Job(id, 'q')
    table.set(id, job)
    jobs.set(id, job)
  }
  for (let id = 1; id <= 3000; id++) put(id) // pages 0, 1 and 2
  for (let id = 1; id <= 1000; id++) {
    table.delete(id) // page 0 goes sparse once below the threshold (page 2 is the newest)
    jobs.delete(id)
  }
  for (let id = 1; id <= 600; id++) put(id) // …and dense again as it refills
  for (const [id, job] of jobs) expect(table.get(id)).toBe(job)
  expect(table.size).toBe(jobs.size)
  expect([...table.keys()]).toEqual([...jobs.keys()].sort((a, b) => a - b))
})

test('values() is a live walk in id order: jobs deleted before it reaches them are not met, every job kept is met once', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const random = prng(seed).next
    const shardCount = 2
    const table = new JobTable(0, shardCount)
    let sequence = 0
    const add = () => {
      sequence++
      // A few foreign ids (another shard's): met in id order too when present at the start.
      const id = jobIdOf(sequence, random() < 0.02 ? 1 : 0, shardCount)
      table.set(id, new Job(id, 'q'))
      return id
    }
    for (let i = 0; i < 5000; i++) add()
    // Pages going sparse or away before the walk, as old jobs finish.
    for (const job of [...table.values()]) if (random() < (job.id < 4000 ? 0.97 : 0.2)) table.delete(job.id)
    const atStart = new Set([...table.values()].map((job) => job.id))
    const deletedUnmet = new Set<number>()
    const met: number[] = []
    for (const job of table.values()) {
      met.push(job.id)
      expect(deletedUnmet.has(job.id)).toBe(false)
      const roll = random()
      if (roll < 0.1) {
        const ids = [...atStart].filter((id) => id > job.id && table.has(id))
        const victim = ids[Math.floor(random() * ids.length)]
        if (victim !== undefined) {
          table.delete(victim)
          deletedUnmet.add(victim)
        }
      } else if (roll < 0.15) add()
    }
    for (let i = 1; i < met.length; i++) expect(met[i] as number).toBeGreaterThan(met[i - 1] as number)
    for (const id of atStart) expect(met.includes(id) || deletedUnmet.has(id)).toBe(true)
  }
})
