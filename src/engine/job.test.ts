import { expect, test } from 'bun:test'
import { stringifyJson } from '../protocol/raw-json.ts'
import { prng } from '../base/prng.ts'
import { Job, LOC_GONE, jobToWire, snapshotEpochsMod } from './job.ts'

const extrasOf = (job: Job) => (job as unknown as { extras: object | null }).extras

test('a job with default rare fields carries no extras object; the first non-default value makes one', () => {
  const job = new Job(1, 'q')
  job.uniqueKey = null
  job.tags = []
  job.ttlIndex = -1
  job.lifo = true
  job.inHistory = true
  expect(extrasOf(job)).toBeNull()
  expect([job.uniqueKey, job.ttlIndex, job.pollCount, job.childrenIds]).toEqual([null, -1, -1, []])
  job.groupId = 'g'
  expect(extrasOf(job)).not.toBeNull()
  expect([job.groupId, job.lifo, job.inHistory, job.removeOnFail]).toEqual(['g', true, true, false])
  job.lifo = false
  expect([job.lifo, job.inHistory]).toEqual([false, true])
})

test('data is kept as its JSON text and reads back as a value; undefined data stays absent on the wire', () => {
  const job = new Job(1, 'q')
  expect(job.data).toBeNull()
  job.data = { b: [1, 'x'], a: null }
  expect(job.dataJson).toBe('{"b":[1,"x"],"a":null}')
  expect(job.data).toEqual({ b: [1, 'x'], a: null })
  expect(stringifyJson(jobToWire(job))).toBe(JSON.stringify({ ...jobToWire(job), data: { b: [1, 'x'], a: null } }))
  job.data = undefined
  expect('data' in JSON.parse(stringifyJson(jobToWire(job)))).toBe(false)
})

test('a big payload goes into replies as text, a small one parsed: the reply bytes are the same either way', () => {
  for (const size of [10, 5000]) {
    const job = new Job(7, 'q')
    job.data = { big: 'é'.repeat(size), list: [1, 2] }
    const wire = jobToWire(job)
    expect(typeof wire.data === 'object' && wire.data !== null && 'text' in wire.data).toBe(size >= 1024)
    expect(stringifyJson({ ok: true, job: wire, state: 'waiting' })).toBe(JSON.stringify({ ok: true, job: { ...wire, data: job.data }, state: 'waiting' }))
  }
})

test('attempts and maxAttempts share one field while small, and keep any u32 value once large', () => {
  const job = new Job(1, 'q')
  job.maxAttempts = 5
  job.attempts = 3
  expect([job.attempts, job.maxAttempts]).toEqual([3, 5])
  job.attempts++
  expect([job.attempts, job.maxAttempts]).toEqual([4, 5])
  job.maxAttempts = 2 ** 32 - 1
  expect([job.attempts, job.maxAttempts]).toEqual([4, 2 ** 32 - 1])
  job.attempts = 2 ** 30
  expect([job.attempts, job.maxAttempts]).toEqual([2 ** 30, 2 ** 32 - 1])
  const other = new Job(2, 'q')
  other.attempts = 2 ** 27
  other.maxAttempts = 7
  expect([other.attempts, other.maxAttempts]).toEqual([2 ** 27, 7])
})

test('the packed fields (bits, prio) keep every value apart: random writes read back as a plain model', () => {
  const random = prng(13).next
  const int = (max: number) => Math.floor(random() * max)
  const job = new Job(1, 'q')
  const model: Record<string, number | boolean> = {
    priority: 0, attempts: 0, maxAttempts: 0, heapIndex: -1, loc: LOC_GONE, snapshotMark: 0,
    lifo: false, removeOnComplete: false, removeOnFail: false, holdsKey: false, inHistory: false,
  }
  const writers: Array<() => [string, number | boolean]> = [
    () => ['priority', [-(2 ** 31), 2 ** 31 - 1, 0, int(2 ** 32) - 2 ** 31][int(4)] as number],
    () => ['attempts', [0, 1022, 1023, 2 ** 32 - 1, int(2000)][int(5)] as number],
    () => ['maxAttempts', [0, 1022, 1023, 2 ** 32 - 1, int(2000)][int(5)] as number],
    () => ['heapIndex', [-1, 0, 50_000_000, int(2 ** 26 - 1)][int(4)] as number],
    () => ['loc', int(9)],
    () => ['snapshotMark', [0, snapshotEpochsMod - 1, int(snapshotEpochsMod)][int(3)] as number],
    () => [['lifo', 'removeOnComplete', 'removeOnFail', 'holdsKey', 'inHistory'][int(5)] as string, random() < 0.5],
  ]
  for (let step = 0; step < 5000; step++) {
    const [field, value] = (writers[int(writers.length)] as () => [string, number | boolean])()
    ;(job as unknown as Record<string, unknown>)[field] = value
    model[field] = value
    for (const name of Object.keys(model)) expect([name, (job as unknown as Record<string, unknown>)[name]]).toEqual([name, model[name]])
  }
})

test('a heap position past the packed range is refused, not wrapped', () => {
  const job = new Job(1, 'q')
  expect(() => (job.heapIndex = 2 ** 26)).toThrow('heap position')
})

test('a job holds 6 fields (64 bytes in JSC); its times are one number while created_at is run_at', () => {
  const job = new Job(1, 'q', 1000)
  expect(Object.keys(job).length).toBe(6)
  const timesOf = () => (job as unknown as { times: unknown }).times
  expect([job.createdAt, job.runAt, timesOf()]).toEqual([1000, 1000, 1000])
  job.runAt = 5000
  expect([job.createdAt, job.runAt, typeof timesOf()]).toEqual([1000, 5000, 'object'])
  job.createdAt = 2000
  expect([job.createdAt, job.runAt]).toEqual([2000, 5000])
  job.runAt = 2000
  expect([job.createdAt, job.runAt, timesOf()]).toEqual([2000, 2000, 2000])
  job.createdAt = 3000
  expect([job.createdAt, job.runAt]).toEqual([3000, 2000])
  const delayed = new Job(2, 'q', 10, 20)
  expect([delayed.createdAt, delayed.runAt]).toEqual([10, 20])
})

test('the queue name moves into the extras with the first rare field, and reads the same', () => {
  const job = new Job(1, 'emails', 5)
  expect(job.queue).toBe('emails')
  job.customId = 'c'
  expect(extrasOf(job)).not.toBeNull()
  expect([job.queue, job.customId, job.createdAt]).toEqual(['emails', 'c', 5])
  expect(jobToWire(job).queue).toBe('emails')
})
