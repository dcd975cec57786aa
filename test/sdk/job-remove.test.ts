/**
 * BullMQ's job.remove() and queue.remove(id) on finished jobs: a job a Worker completed or failed is
 * removed (REMOVEJOB), after which getJob finds nothing; queue.remove answers 1, then 0, and leaves a
 * job of another queue alone. The FlashQ client's removeJob, next to cancel, which still refuses them.
 */
import { expect, test } from 'bun:test'
import { FlashQ, Worker } from '../../src/client/index.ts'
import { sdkTestFile } from './kit.ts'

const { fixture, connection, newQueue } = sdkTestFile()

test('job.remove() of a job a Worker completed: getJob finds nothing afterwards', async () => {
  const queue = newQueue('rm-done')
  fixture.track(new Worker(queue.name, async () => ({ sent: true }), { connection: connection() }))
  const job = await queue.add('mail', { to: 'a@b' })
  expect(await job.waitUntilFinished()).toEqual({ sent: true })
  expect(await queue.getJobState(job.id as string)).toBe('completed')
  await job.remove()
  expect(await queue.getJob(job.id as string)).toBeUndefined()
  expect(await queue.getJobState(job.id as string)).toBe('unknown')
  expect(await queue.getJobCounts('completed')).toEqual({ completed: 0 })
  await expect(job.remove()).rejects.toThrow(`Job ${job.id} not found`)
})

test('job.remove() of a job that failed for good (a custom jobId): getJob finds nothing afterwards', async () => {
  const queue = newQueue('rm-failed')
  fixture.track(new Worker(queue.name, async () => {
    throw new Error('no such mailbox')
  }, { connection: connection() }))
  const job = await queue.add('mail', { to: 'x@y' }, { jobId: 'mail-x', attempts: 1 })
  await expect(job.waitUntilFinished()).rejects.toThrow('no such mailbox')
  expect(await queue.getJobState('mail-x')).toBe('failed')
  await job.remove()
  expect(await queue.getJob('mail-x')).toBeUndefined()
  expect(await queue.getJobCounts('failed')).toEqual({ failed: 0 })
})

test('queue.remove(id) of completed and failed jobs answers 1, then 0; another queue cannot remove them', async () => {
  const queue = newQueue('rm-queue')
  const other = newQueue('rm-other')
  fixture.track(new Worker(queue.name, async (job) => {
    if (job.name === 'bad') throw new Error('bad job')
    return 'ok'
  }, { connection: connection() }))
  const done = await queue.add('good', {})
  const failed = await queue.add('bad', {}, { attempts: 1 })
  await done.waitUntilFinished()
  await expect(failed.waitUntilFinished()).rejects.toThrow('bad job')
  for (const job of [done, failed]) {
    const id = job.id as string
    expect(await other.remove(id)).toBe(0)
    expect(await queue.remove(id)).toBe(1)
    expect(await queue.getJob(id)).toBeUndefined()
    expect(await queue.remove(id)).toBe(0)
  }
})

test("FlashQ.removeJob removes a completed job that cancel refuses; with a queue, only that queue's", async () => {
  const flashq = fixture.track(new FlashQ({ host: '127.0.0.1', port: fixture.server.tcpPort }))
  const queue = newQueue('rm-flashq').name
  const job = await flashq.push(queue, { n: 1 })
  await flashq.pull(queue, 1000)
  await flashq.ack(job.id, 'done')
  await expect(flashq.cancel(job.id)).rejects.toThrow(`Job ${job.id} cannot be cancelled (already completed/failed)`)
  await expect(flashq.removeJob(job.id, `${queue}-other`)).rejects.toThrow(`Job ${job.id} not found`)
  await flashq.removeJob(job.id, queue)
  expect(await flashq.getState(job.id)).toBe('unknown')
  expect(await flashq.getResult(job.id)).toBeNull()
})
