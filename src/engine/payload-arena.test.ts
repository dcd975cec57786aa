/**
 * Payloads in the job table's arena (payload-arena.ts): the text read back is the text stored
 * (ASCII, non-ASCII, empty, long), a chunk is let go once its jobs leave, stragglers are compacted
 * into few chunks, a job that left the table still reads its own payload until its batch ends, and
 * a read after that throws instead of reading bytes that are no longer its own.
 */
import { expect, test } from 'bun:test'
import { prng } from '../base/prng.ts'
import { Job, payloadText } from './job.ts'
import { JobTable } from './job-table.ts'
import { arenaPayloadCharsMax, payloadChunkBytes, registeredChunkCount } from './payload-arena.ts'

function jobWith(id: number, data: unknown): Job {
  const job = new Job(id, 'q')
  job.data = data
  return job
}

test('the payload read back is the payload stored, in the arena or not', () => {
  const table = new JobTable(0, 1)
  const values: unknown[] = [
    { a: 1, s: 'plain ascii' }, 'é, ü, 日本, emoji 😀, a lone surrogate \ud800', '', 0, null, [1, [2, [3]]],
    'x'.repeat(arenaPayloadCharsMax + 10), { nested: { deep: true } },
  ]
  values.forEach((value, index) => table.set(index + 1, jobWith(index + 1, value)))
  expect(typeof (table.get(1) as Job).dataJson).toBe('string') // until the batch ends
  table.settlePayloads()
  values.forEach((value, index) => {
    const job = table.get(index + 1) as Job
    expect(job.data).toEqual(value)
    expect(payloadText(job)).toBe(JSON.stringify(value))
  })
  // Short payloads moved into a chunk; the long one and `null` stayed strings.
  expect(typeof (table.get(1) as Job).dataJson).toBe('number')
  expect(typeof (table.get(7) as Job).dataJson).toBe('string')
  expect((table.get(5) as Job).dataJson).toBe('null')
})

test('chunks go once their jobs leave; a job that left reads its payload until the batch ends, then a read throws', () => {
  const table = new JobTable(0, 1)
  const count = 3 * Math.ceil(payloadChunkBytes / 100)
  for (let id = 1; id <= count; id++) table.set(id, jobWith(id, { id, pad: 'p'.repeat(80) }))
  table.settlePayloads()
  expect(table.payloads.chunkBytes).toBeGreaterThanOrEqual(3 * payloadChunkBytes)
  const first = table.get(1) as Job
  for (let id = 1; id <= count; id++) table.delete(id)
  expect(table.payloads.liveBytes).toBe(0)
  expect(table.payloads.chunkBytes).toBeLessThanOrEqual(payloadChunkBytes) // at most the current one
  expect(first.data).toEqual({ id: 1, pad: 'p'.repeat(80) })
  table.settlePayloads()
  expect(() => first.data).toThrow('payload read after its job left')
  // New chunks take new ids: a new job never reads the old job's bytes, nor the old job its.
  table.set(count + 1, jobWith(count + 1, { fresh: true }))
  table.settlePayloads()
  expect((table.get(count + 1) as Job).data).toEqual({ fresh: true })
  expect(() => first.data).toThrow('payload read after its job left')
})

test('stragglers are compacted: chunks stay within twice the live bytes, every payload intact', () => {
  const table = new JobTable(0, 1)
  const random = prng(7).next
  const held = new Map<number, unknown>()
  let nextId = 1
  for (let round = 0; round < 40; round++) {
    const added: number[] = []
    for (let i = 0; i < 2000; i++) {
      const value = { n: nextId, text: 'y'.repeat(Math.floor(random() * 200)) }
      table.set(nextId, jobWith(nextId, value))
      held.set(nextId, value)
      added.push(nextId++)
    }
    table.settlePayloads()
    // Most of the round's jobs leave; one in fifty stays behind, in every chunk.
    for (const id of added) {
      if (random() < 0.98) {
        table.delete(id)
        held.delete(id)
      }
    }
  }
  // A compaction moves a bounded number of jobs per batch: give it the batches to finish.
  for (let batch = 0; batch < 4; batch++) table.settlePayloads()
  const live = table.payloads.liveBytes
  expect(live).toBeGreaterThan(100_000)
  expect(table.payloads.chunkBytes).toBeLessThanOrEqual(Math.max(16 * payloadChunkBytes, 2 * live + payloadChunkBytes))
  for (const [id, value] of held) expect((table.get(id) as Job).data).toEqual(value)
  expect(table.size).toBe(held.size)
})

test('a job deleted or replaced before the batch ends never reaches the arena', () => {
  const table = new JobTable(0, 1)
  const kept = jobWith(1, { kept: true })
  table.set(1, jobWith(1, { replaced: true }))
  table.set(1, kept)
  table.set(2, jobWith(2, { deleted: true }))
  table.delete(2)
  table.settlePayloads()
  expect(table.payloads.liveBytes).toBe(JSON.stringify({ kept: true }).length)
  expect(kept.data).toEqual({ kept: true })
})

test('a disposed arena leaves none of its chunks in the registry, and other arenas keep theirs', () => {
  const before = registeredChunkCount()
  const kept = new JobTable(0, 1)
  const gone = new JobTable(0, 1)
  const payload = 'p'.repeat(900)
  for (let id = 1; id <= 200; id++) {
    kept.set(id, jobWith(id, payload))
    gone.set(id, jobWith(id, payload))
  }
  kept.settlePayloads()
  gone.settlePayloads()
  // 200 × ~900 bytes: each table holds a few 64 KiB chunks.
  const keptChunks = kept.payloads.chunkBytes / payloadChunkBytes
  expect(keptChunks).toBeGreaterThan(1)
  expect(registeredChunkCount()).toBe(before + 2 * keptChunks)
  gone.payloads.dispose()
  expect(registeredChunkCount()).toBe(before + keptChunks)
  expect(gone.payloads.chunkBytes).toBe(0)
  expect((kept.get(200) as Job).data).toBe(payload)
  kept.payloads.dispose()
  expect(registeredChunkCount()).toBe(before)
})
