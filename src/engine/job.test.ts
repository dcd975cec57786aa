import { expect, test } from 'bun:test'
import { stringifyJson } from '../protocol/raw-json.ts'
import { Job, jobToWire } from './job.ts'

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
