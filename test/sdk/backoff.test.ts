/**
 * BullMQ's backoffs against a real server. The retry delay is read from the server's `retrying`
 * event (QueueEvents 'delayed' carries its run_at, the event id its time), so the checks are on the
 * delays the server applied, not on wall-clock timings: fixed stays constant, exponential doubles,
 * a bare number is fixed (as in BullMQ), jitter stays within its range, a custom strategy gets
 * (attemptsMade, type, error) and its delay is applied, -1 stops retrying, and an unknown type
 * without a strategy is reported while the job still retries.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { type BackoffStrategy, type JobsOptions, Queue, QueueEvents, Worker } from '../../src/client/index.ts'
import { queueName, serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture()
const connection = () => fixture.connection

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

/**
 * Adds one job that fails `failures` times then completes; resolves with the delay (run_at minus
 * failure time, as the server set it) of each retry, and the order the attempts ran in.
 */
async function retryDelays(opts: JobsOptions, failures: number, strategy?: BackoffStrategy): Promise<{ delaysMs: number[]; attempts: number[] }> {
  const queue = fixture.track(new Queue(queueName('backoff'), { connection: connection() }))
  const events = fixture.track(new QueueEvents(queue.name, { connection: connection() }))
  await events.waitUntilReady()
  const delaysMs: number[] = []
  events.on('delayed', ({ delay }: { delay: number }, eventId: string) => delaysMs.push(delay - Number(eventId.split('-')[0])))
  const attempts: number[] = []
  fixture.track(new Worker(queue.name, async (job) => {
    attempts.push(job.attemptsMade)
    if (job.attemptsMade < failures) throw new Error(`failure ${job.attemptsMade + 1}`)
    return 'ok'
  }, { connection: connection(), settings: { backoffStrategy: strategy } }))
  const job = await queue.add('flaky', {}, { attempts: failures + 1, ...opts })
  await waitFor('completion', async () => (await job.getState()) === 'completed')
  await waitFor('every retry event', () => delaysMs.length === failures)
  return { delaysMs, attempts }
}

test('fixed: every retry waits the same delay; exponential doubles it', async () => {
  const fixed = await retryDelays({ backoff: { type: 'fixed', delay: 120 } }, 3)
  expect(fixed).toEqual({ delaysMs: [120, 120, 120], attempts: [0, 1, 2, 3] })
  const exponential = await retryDelays({ backoff: { type: 'exponential', delay: 60 } }, 3)
  expect(exponential).toEqual({ delaysMs: [60, 120, 240], attempts: [0, 1, 2, 3] })
})

test('a bare number is a fixed delay, as in BullMQ', async () => {
  expect((await retryDelays({ backoff: 90 }, 2)).delaysMs).toEqual([90, 90])
})

test('jitter keeps each delay within [delay × (1 − jitter), delay]', async () => {
  const { delaysMs } = await retryDelays({ backoff: { type: 'fixed', delay: 200, jitter: 0.5 } }, 3)
  for (const delayMs of delaysMs) {
    expect(delayMs).toBeGreaterThanOrEqual(100)
    expect(delayMs).toBeLessThanOrEqual(200)
  }
})

test('a custom strategy gets (attemptsMade, type, error) and its delay is applied', async () => {
  const calls: string[] = []
  const strategy: BackoffStrategy = (attemptsMade, type, error) => {
    calls.push(`${attemptsMade}:${type}:${error?.message}`)
    return attemptsMade * 70
  }
  const { delaysMs } = await retryDelays({ backoff: { type: 'linear' } }, 3, strategy)
  expect(delaysMs).toEqual([70, 140, 210])
  expect(calls).toEqual(['1:linear:failure 1', '2:linear:failure 2', '3:linear:failure 3'])
})

test('a custom strategy returning -1 fails the job for good at once', async () => {
  const queue = fixture.track(new Queue(queueName('no-retry'), { connection: connection() }))
  let runs = 0
  const worker = fixture.track(new Worker(queue.name, async () => {
    runs++
    throw new Error('give up')
  }, { connection: connection(), settings: { backoffStrategy: () => -1 } }))
  const failed = new Promise<string>((resolve) => worker.on('failed', (job) => resolve(job?.failedReason ?? '')))
  const job = await queue.add('x', {}, { attempts: 5, backoff: { type: 'never' } })
  expect(await failed).toBe('give up')
  await waitFor('failed state', async () => (await job.getState()) === 'failed')
  expect(runs).toBe(1)
  expect((await queue.getJob(job.id as string))?.failedReason).toBe('give up')
})

test('an unknown backoff type without a strategy is reported; the job still retries (server backoff)', async () => {
  const queue = fixture.track(new Queue(queueName('unknown'), { connection: connection() }))
  const worker = fixture.track(new Worker(queue.name, async (job) => {
    if (job.attemptsMade === 0) throw new Error('first')
    return 'second'
  }, { connection: connection() }))
  const errors: string[] = []
  worker.on('error', (error) => errors.push(error.message))
  const job = await queue.add('x', {}, { attempts: 2, backoff: { type: 'mystery', delay: 20 } })
  await waitFor('completion', async () => (await job.getState()) === 'completed')
  expect(errors).toHaveLength(1)
  expect(errors[0]).toContain('Unknown backoff strategy mystery')
  // The backoff options read back from the server as given.
  expect((await queue.getJobs(['completed']))[0]?.opts.backoff).toEqual({ type: 'mystery', delay: 20 })
})
