/**
 * The Worker's adaptive prefetch against a real server: fast jobs are leased beyond concurrency (and
 * still never run more than `concurrency` at once, each exactly once across competing workers), slow
 * jobs are not prefetched, close() runs what was prefetched, close(true) hands it back, and jobs that
 * turn slow after the buffer filled are handed back to other workers.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { type Job, type Processor, Queue, Worker } from '../../src/client/index.ts'
import { queueName, serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(45_000)
const fixture = serverFixture()
const newQueue = (label: string) => fixture.track(new Queue(queueName(label), { connection: fixture.connection }))
const newWorker = (queue: Queue, processor: Processor, opts: ConstructorParameters<typeof Worker>[2] = {}) =>
  fixture.track(new Worker(queue.name, processor, { connection: fixture.connection, ...opts }))
const addJobs = (queue: Queue, count: number, from = 0) => queue.addBulk(Array.from({ length: count }, (_, i) => ({ name: 'x', data: { i: from + i } })))

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

test('fast jobs are prefetched, yet at most `concurrency` run at once and each runs once across competing workers', async () => {
  const queue = newQueue('prefetch-fast')
  const runs = new Map<number, number>()
  const running = [0, 0]
  const peakRunning = [0, 0]
  let peakPrefetched = 0
  const workers: Worker[] = []
  const processor = (w: number) => async (job: Job) => {
    peakRunning[w] = Math.max(peakRunning[w] as number, ++(running[w] as number))
    for (const worker of workers) peakPrefetched = Math.max(peakPrefetched, worker.prefetched)
    runs.set(job.data.i, (runs.get(job.data.i) ?? 0) + 1)
    await Promise.resolve()
    ;(running[w] as number)--
  }
  // Under the server's completed-history floor (5000), so the completed count is exact.
  const total = 4000
  await addJobs(queue, total)
  workers.push(newWorker(queue, processor(0), { concurrency: 3 }), newWorker(queue, processor(1), { concurrency: 3 }))
  await waitFor('all completed', async () => (await queue.getCompletedCount()) === total, 30_000)
  expect(peakPrefetched).toBeGreaterThan(0)
  expect(peakRunning).toEqual([3, 3])
  expect(runs.size).toBe(total)
  expect([...runs.values()].filter((count) => count !== 1)).toEqual([])
})

test('slow jobs are not prefetched: they spread over the workers', async () => {
  const queue = newQueue('prefetch-slow')
  const byWorker = new Map<string, number>()
  let peakPrefetched = 0
  const workers: Worker[] = []
  const processor = (name: string) => async () => {
    for (const worker of workers) peakPrefetched = Math.max(peakPrefetched, worker.prefetched)
    byWorker.set(name, (byWorker.get(name) ?? 0) + 1)
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
  workers.push(newWorker(queue, processor('a'), { concurrency: 2 }))
  await addJobs(queue, 12)
  await waitFor('a started', () => (byWorker.get('a') ?? 0) > 0)
  workers.push(newWorker(queue, processor('b'), { concurrency: 2 }))
  await waitFor('all completed', async () => (await queue.getCompletedCount()) === 12)
  expect(peakPrefetched).toBe(0)
  expect(byWorker.get('b') ?? 0).toBeGreaterThan(0)
})

test('close() runs the prefetched jobs; close(true) hands them back to the queue', async () => {
  const queue = newQueue('prefetch-close')
  const done = new Set<number>()
  // Jobs of one event-loop turn each: the buffer holds some across turns (no-op jobs drain it within
  // one). They must be short next to a pull round trip, or the prefetch (about two round trips of
  // work) rounds to nothing: 1 ms jobs on a quiet machine with main-thread shards never prefetched.
  const tick = () => new Promise((resolve) => setImmediate(resolve))
  const worker = newWorker(queue, async (job) => {
    await tick()
    done.add(job.data.i)
  }, { concurrency: 2 })
  await addJobs(queue, 20_000)
  // Wait until jobs are buffered, then close gracefully: everything taken is processed and acknowledged.
  await waitFor('jobs prefetched', () => worker.prefetched > 0)
  await worker.close()
  const counts = await queue.getJobCounts('active', 'completed', 'waiting', 'delayed')
  expect(counts.active).toBe(0)
  expect(counts.completed).toBe(done.size)
  expect((counts.waiting ?? 0) + (counts.delayed ?? 0)).toBe(20_000 - done.size)

  const forced = newWorker(queue, tick, { concurrency: 2 })
  await waitFor('jobs prefetched again', () => forced.prefetched > 0)
  await forced.close(true)
  // Nothing stays leased to the closed worker: every job not completed can be pulled again.
  await waitFor('no job left active', async () => (await queue.getActiveCount()) === 0)
})

test('jobs that turn slow after the buffer filled go back to the queue for other workers', async () => {
  const queue = newQueue('prefetch-shed')
  const byWorker = new Map<string, number>()
  // Fast jobs first (the prefetch grows), then slow ones (200 ms each).
  const processor = (name: string) => async (job: Job) => {
    byWorker.set(name, (byWorker.get(name) ?? 0) + 1)
    if (job.data.i >= 3000) await new Promise((resolve) => setTimeout(resolve, 200))
  }
  const fast = newWorker(queue, processor('first'), { concurrency: 1 })
  await addJobs(queue, 3000)
  await addJobs(queue, 60, 3000)
  await waitFor('slow jobs reached', () => (byWorker.get('first') ?? 0) > 3000)
  expect(fast.prefetched).toBeGreaterThan(0) // slow jobs sit in its buffer
  newWorker(queue, processor('second'), { concurrency: 1 })
  // 60 slow jobs at 200 ms on one slot would take 12 s; the second worker gets the handed-back ones.
  await waitFor('second worker ran slow jobs', () => (byWorker.get('second') ?? 0) > 0, 10_000)
  await waitFor('all completed', async () => (await queue.getCompletedCount()) === 3060, 20_000)
})

test('a trickle does not inflate the prefetch: a pull that waited for its job is not a round trip', async () => {
  // Each job of the trickle reaches a PULLB that waited ~250 ms for it and came back full (one
  // job asked, one given). Counted as a round trip of 250 ms for 2 ms jobs, it sized the prefetch at
  // ~250 jobs, and the burst after the trickle went to one worker's buffer.
  const queue = newQueue('prefetch-trickle')
  let peakPrefetched = 0
  const workers: Worker[] = []
  const processor = async () => {
    for (const worker of workers) peakPrefetched = Math.max(peakPrefetched, worker.prefetched)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  workers.push(newWorker(queue, processor, { concurrency: 1 }))
  await workers[0]?.waitUntilReady()
  for (let i = 0; i < 8; i++) {
    await Bun.sleep(250) // the worker's pull is waiting on the empty queue meanwhile
    await addJobs(queue, 1, i)
    await waitFor(`trickle job ${i} completed`, async () => (await queue.getCompletedCount()) === i + 1)
  }
  const burst = 300
  await addJobs(queue, burst, 100)
  await waitFor('the burst completed', async () => (await queue.getCompletedCount()) === 8 + burst, 30_000)
  // ~2 ms jobs over a sub-millisecond loopback round trip: a few jobs of prefetch, not hundreds.
  expect(peakPrefetched).toBeLessThan(50)
})
