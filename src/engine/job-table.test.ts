import { expect, test } from 'bun:test'
import { jobIdOf } from '../base/ids.ts'
import { prng } from '../base/prng.ts'
import { Job } from './job.ts'
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
