/**
 * BullMQ's manual processing against a real server: a Worker without a processor takes jobs with
 * getNextJob and finishes them with job.moveToCompleted / job.moveToFailed (retries with the job's
 * backoff, then failed for good), keeping a long one alive with job.extendLock.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { type Job, Queue, Worker } from '../../src/client/index.ts'
import { queueName, serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture()
const connection = () => fixture.connection
const newQueue = (label: string) => fixture.track(new Queue(queueName(label), { connection: connection() }))
/** A worker without processor; drainDelay 0.2 s keeps a blocking getNextJob on an empty queue short. */
const manualWorker = (queue: Queue) => fixture.track(new Worker(queue.name, null, { connection: connection(), drainDelay: 0.2 }))

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

test('getNextJob takes the next job (active); moveToCompleted completes it with the value', async () => {
  const queue = newQueue('manual')
  const worker = manualWorker(queue)
  const added = await queue.add('first', { n: 1 })
  await queue.add('second', { n: 2 })
  const job = await worker.getNextJob('my-token')
  expect([job?.id, job?.name, job?.data, job?.token, job?.attemptsMade]).toEqual([added.id, 'first', { n: 1 }, 'my-token', 0])
  expect(await job?.getState()).toBe('active')
  expect(await job?.extendLock('my-token', 30_000)).toBe(1)
  await job?.moveToCompleted({ sum: 3 }, 'my-token')
  expect(await added.getState()).toBe('completed')
  expect((await queue.getJob(added.id as string))?.returnvalue).toEqual({ sum: 3 })
  expect((await worker.getNextJob('my-token'))?.name).toBe('second')
})

test('getNextJob on an empty queue: undefined at once without block, after drainDelay with it', async () => {
  const queue = newQueue('manual-empty')
  const worker = manualWorker(queue)
  expect(await worker.getNextJob('t', { block: false })).toBeUndefined()
  expect(await worker.getNextJob('t')).toBeUndefined()
  // A blocking call is woken by a job added while it waits.
  const patient = fixture.track(new Worker(queue.name, null, { connection: connection(), drainDelay: 10 }))
  const waiting = patient.getNextJob('t')
  const added = await queue.add('late', {})
  expect((await waiting)?.id).toBe(added.id)
})

test('moveToFailed retries with the job backoff, then fails it for good with the reason', async () => {
  const queue = newQueue('manual-fail')
  const worker = manualWorker(queue)
  const added = await queue.add('flaky', {}, { attempts: 2, backoff: { type: 'fixed', delay: 100 } })
  const first = await worker.getNextJob('t')
  await first?.moveToFailed(new Error('try again'), 't')
  expect([first?.attemptsMade, first?.failedReason, first?.finishedOn]).toEqual([1, 'try again', undefined])
  // Retried after the fixed delay: the server put its run time 100 ms after the failure (which came after the pull).
  const retried = (await queue.getJob(added.id as string))?.wire
  expect([retried?.attempts, retried?.progress_msg]).toEqual([1, 'try again'])
  expect(retried?.run_at).toBeGreaterThanOrEqual((first?.wire?.started_at as number) + 100)
  const second = (await waitFor('the retry', () => worker.getNextJob('t'))) as Job
  expect([second.id, second.attemptsMade]).toEqual([added.id, 1])
  await second.moveToFailed(new Error('still broken'), 't')
  expect(second.finishedOn).toBeGreaterThan(0)
  expect(await added.getState()).toBe('failed')
  expect((await queue.getJob(added.id as string))?.failedReason).toBe('still broken')
})

test('a paused or closed worker hands out nothing', async () => {
  const queue = newQueue('manual-paused')
  const worker = manualWorker(queue)
  await queue.add('x', {})
  await worker.pause()
  expect(await worker.getNextJob('t')).toBeUndefined()
  worker.resume()
  expect((await worker.getNextJob('t'))?.name).toBe('x')
  await worker.close()
  expect(await worker.getNextJob('t')).toBeUndefined()
})

test('removeOnComplete: N / removeOnFail: N trim after manual moveToCompleted / moveToFailed too (BullMQ)', async () => {
  const queue = newQueue('manual-keep')
  const worker = manualWorker(queue)
  await queue.addBulk(Array.from({ length: 4 }, (_, index) => ({ name: 'ok', data: { index }, opts: { removeOnComplete: 2 } })))
  await queue.addBulk(Array.from({ length: 3 }, (_, index) => ({ name: 'bad', data: { index }, opts: { removeOnFail: 1 } })))
  for (let index = 0; index < 4; index++) await (await worker.getNextJob('t'))?.moveToCompleted(index, 't')
  // Trimmed when moveToCompleted resolves, as BullMQ trims in the same step.
  expect(await queue.getCompletedCount()).toBe(2)
  expect((await queue.getCompleted()).map((job) => job.returnvalue)).toEqual([3, 2])
  for (let index = 0; index < 3; index++) await (await worker.getNextJob('t'))?.moveToFailed(new Error(`bad ${index}`), 't')
  expect(await queue.getFailedCount()).toBe(1)
  expect((await queue.getFailed()).map((job) => job.failedReason)).toEqual(['bad 2'])
})
