/** Replies that list jobs stay under the byte limit, and batches of small jobs pay nothing for it. */
import { expect, test } from 'bun:test'
import { replyBytesMax } from '../base/limits.ts'
import { Harness } from './test-helpers.ts'

const MiB = 1024 * 1024

test('a PULLB of 1000 jobs from one PUSHB counts the PUSHB once: all 1000 come', () => {
  const h = new Harness()
  const jobs = Array.from({ length: 1000 }, (_, n) => ({ data: { n, text: 'x'.repeat(50) } }))
  h.send({ cmd: 'PUSHB', queue: 'q', jobs }, 3 * 90_000)
  const reply = h.send({ cmd: 'PULLB', queue: 'q', count: 1000, timeout: 0 }).reply
  expect(reply?.jobs).toHaveLength(1000)
})

test('big jobs: fewer per PULLB, each reply under the limit, at least one', () => {
  const h = new Harness()
  for (let n = 0; n < 5; n++) h.send({ cmd: 'PUSH', queue: 'q', data: 'y'.repeat(7 * MiB) }, 7 * MiB + 100)
  const sizes: number[] = []
  for (let round = 0; round < 5; round++) {
    const reply = h.send({ cmd: 'PULLB', queue: 'q', count: 10, timeout: 0 }).reply
    const jobs = reply?.jobs as unknown[]
    if (jobs.length === 0) break
    expect(Buffer.byteLength(JSON.stringify(reply))).toBeLessThanOrEqual(replyBytesMax)
    sizes.push(jobs.length)
  }
  expect(sizes).toEqual([2, 2, 1])
})

test('bounds that overestimate are measured before a job is left out', () => {
  const h = new Harness()
  // Each request claims 5 MiB (a loose bound); the jobs themselves are tiny.
  for (let n = 0; n < 10; n++) h.send({ cmd: 'PUSH', queue: 'q', data: n }, 5 * MiB)
  const reply = h.send({ cmd: 'PULLB', queue: 'q', count: 10, timeout: 0 }).reply
  expect(reply?.jobs).toHaveLength(10)
})
