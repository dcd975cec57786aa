import { expect, test } from 'bun:test'
import { stringifyJson } from '../protocol/raw-json.ts'
import { prng } from '../base/prng.ts'
import { Job, LOC_GONE, jobToWire, readyBefore, snapshotEpochsMod } from './job.ts'

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

test('the packed fields (bits, prio) keep every value apart, and jobs sharing a home stay apart: random writes read back as a plain model', () => {
  const random = prng(13).next
  const int = (max: number) => Math.floor(random() * max)
  // Three jobs made alike share one home at first: a write to one must never show in another.
  const jobs = [new Job(1, 'q', 5), new Job(2, 'q', 5), new Job(3, 'q', 5)]
  const models = jobs.map((): Record<string, number | boolean> => ({
    priority: 0, attempts: 0, maxAttempts: 0, heapIndex: -1, loc: LOC_GONE, snapshotMark: 0, createdAt: 5, runAt: 5,
    lifo: false, removeOnComplete: false, removeOnFail: false, holdsKey: false, inHistory: false,
  }))
  const writers: Array<() => [string, number | boolean]> = [
    () => ['priority', [-(2 ** 31), 2 ** 31 - 1, 0, int(2 ** 32) - 2 ** 31][int(4)] as number],
    () => ['attempts', [0, 1022, 1023, 2 ** 32 - 1, int(2000)][int(5)] as number],
    () => ['maxAttempts', [0, 1022, 1023, 2 ** 32 - 1, int(2000)][int(5)] as number],
    () => ['heapIndex', [-1, 0, 50_000_000, int(2 ** 26 - 1)][int(4)] as number],
    () => ['loc', int(9)],
    () => ['snapshotMark', [0, snapshotEpochsMod - 1, int(snapshotEpochsMod)][int(3)] as number],
    () => [['lifo', 'removeOnComplete', 'removeOnFail', 'holdsKey', 'inHistory'][int(5)] as string, random() < 0.5],
    () => [['createdAt', 'runAt'][int(2)] as string, [5, 6, int(2 ** 42)][int(3)] as number],
  ]
  for (let step = 0; step < 5000; step++) {
    const [field, value] = (writers[int(writers.length)] as () => [string, number | boolean])()
    const which = int(jobs.length)
    ;(jobs[which] as unknown as Record<string, unknown>)[field] = value
    ;(models[which] as Record<string, number | boolean>)[field] = value
    // Now and then a job gets its own extras (the values must move with it).
    if (step === 2500) (jobs[0] as Job).customId = 'own'
    for (const [index, job] of jobs.entries()) {
      const model = models[index] as Record<string, number | boolean>
      for (const name of Object.keys(model)) expect([index, name, (job as unknown as Record<string, unknown>)[name]]).toEqual([index, name, model[name]])
    }
  }
})

test('a heap position past the packed range is refused, not wrapped', () => {
  const job = new Job(1, 'q')
  expect(() => (job.heapIndex = 2 ** 26)).toThrow('heap position')
})

test('a job holds 4 fields (48 bytes in JSC); jobs of one queue with the same times and priority share their home', () => {
  const homeOf = (job: Job) => (job as unknown as { home: object }).home
  const job = new Job(1, 'q', 1000)
  expect(Object.keys(job).length).toBe(4)
  const sibling = new Job(2, 'q', 1000)
  expect(homeOf(sibling)).toBe(homeOf(job))
  expect(homeOf(new Job(3, 'other', 1000))).not.toBe(homeOf(job))
  expect(homeOf(new Job(4, 'q', 1001))).not.toBe(homeOf(job))
  job.runAt = 5000
  expect([job.createdAt, job.runAt, sibling.createdAt, sibling.runAt]).toEqual([1000, 5000, 1000, 1000])
  job.createdAt = 2000
  expect([job.createdAt, job.runAt]).toEqual([2000, 5000])
  job.runAt = 2000
  expect([job.createdAt, job.runAt]).toEqual([2000, 2000])
  job.createdAt = 3000
  expect([job.createdAt, job.runAt]).toEqual([3000, 2000])
  const delayed = new Job(5, 'q', 10, 20)
  expect([delayed.createdAt, delayed.runAt]).toEqual([10, 20])
})

test('a job that changes a shared value moves alone; the next job of its batch that does the same moves to the same home', () => {
  const homeOf = (job: Job) => (job as unknown as { home: object }).home
  const [a, b, c] = [new Job(1, 'q', 7), new Job(2, 'q', 7), new Job(3, 'q', 7)]
  a.maxAttempts = 3
  a.priority = -4
  expect([a.maxAttempts, a.priority, b.maxAttempts, b.priority, c.maxAttempts]).toEqual([3, -4, 0, 0, 0])
  b.maxAttempts = 3
  b.priority = -4
  expect(homeOf(b)).toBe(homeOf(a))
  expect(homeOf(c)).not.toBe(homeOf(a))
  b.attempts++
  b.lifo = true
  expect([a.attempts, a.lifo, b.attempts, b.lifo, b.maxAttempts, b.priority]).toEqual([0, false, 1, true, 3, -4])
  // With its own extras, the values are the job's alone, and keep what the home had.
  a.tags = ['t']
  a.runAt = 99
  expect([a.queue, a.createdAt, a.runAt, a.priority, a.maxAttempts, b.runAt, c.runAt]).toEqual(['q', 7, 99, -4, 3, 7, 7])
})

test('the queue name moves into the extras with the first rare field, and reads the same', () => {
  const job = new Job(1, 'emails', 5)
  expect(job.queue).toBe('emails')
  job.customId = 'c'
  expect(extrasOf(job)).not.toBeNull()
  expect([job.queue, job.customId, job.createdAt]).toEqual(['emails', 'c', 5])
  expect(jobToWire(job).queue).toBe('emails')
  // 30 fields or fewer: 256 bytes in JSC (the next size holds 32 fields in 320).
  expect(Object.keys(extrasOf(job) as object).length).toBeLessThanOrEqual(30)
})

test('a batch of jobs that each set the same options after they are made end in one shared home, not one each', () => {
  const homes = new Set<object>()
  for (let id = 1; id <= 100; id++) {
    const job = new Job(id, 'q', 42)
    job.maxAttempts = 3
    job.lifo = true
    job.attempts = 0
    homes.add((job as unknown as { home: object }).home)
  }
  expect(homes.size).toBe(1)
})

test('jobs pushed to two queues in turn, in one millisecond, share a home per queue', () => {
  const homes = new Set<object>()
  for (let id = 1; id <= 100; id++) homes.add((new Job(id, id % 2 === 0 ? 'a' : 'b', 77) as unknown as { home: object }).home)
  expect(homes.size).toBe(2)
})

test('readyBefore orders jobs that share a home and jobs that do not as the spec says (priority, lifo, run_at, id)', () => {
  const random = prng(5).next
  const pick = <T>(values: T[]) => values[Math.floor(random() * values.length)] as T
  const jobs: Job[] = []
  for (let id = 1; id <= 300; id++) {
    // Few distinct values, so many jobs share a home and many pairs tie on each key.
    const job = new Job(id, 'q', pick([10, 11]), pick([10, 11, 12]))
    const priority = pick([0, 0, 5, -5])
    if (priority !== 0) job.priority = priority
    if (random() < 0.3) job.lifo = true
    if (random() < 0.1) job.tags = ['own home']
    jobs.push(job)
  }
  const spec = (a: Job, b: Job): boolean => {
    if (a.priority !== b.priority) return a.priority > b.priority
    if (a.lifo !== b.lifo) return a.lifo
    if (a.lifo) return a.id > b.id
    if (a.runAt !== b.runAt) return a.runAt < b.runAt
    return a.id < b.id
  }
  let shared = 0
  for (const a of jobs) {
    for (const b of jobs) {
      if (a === b) continue
      if (a.sharesHome(b)) shared++
      expect([a.id, b.id, readyBefore(a, b)]).toEqual([a.id, b.id, spec(a, b)])
    }
  }
  expect(shared).toBeGreaterThan(50)
})
