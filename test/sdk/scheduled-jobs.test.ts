/**
 * Jobs made by a job scheduler (upsertJobScheduler, add with `repeat`) know it, against a real server:
 * job.repeatJobKey is the scheduler id and job.opts.repeat its repeat options, on the first job and on
 * the ones the server's cron pushes later, in the Worker and when read back.
 */
import { expect, test } from 'bun:test'
import { type Job, Worker } from '../../src/client/index.ts'
import { sdkTestFile, waitFor } from './kit.ts'

const { fixture, connection, newQueue } = sdkTestFile()

test('upsertJobScheduler every: the first job and the scheduled ones carry repeatJobKey and opts.repeat', async () => {
  const queue = newQueue('sched-every')
  const first = await queue.upsertJobScheduler('tick', { every: 250, limit: 10 }, { name: 'tick-job', data: { n: 1 }, opts: { attempts: 2 } })
  expect(first?.repeatJobKey).toBe('tick')
  expect(first?.opts).toMatchObject({ attempts: 2, repeat: { every: 250, limit: 10 } })
  const seen: Job[] = []
  fixture.track(new Worker(queue.name, async (job) => void seen.push(job), { connection: connection() }))
  await waitFor('three scheduled jobs', () => seen.length >= 3)
  await queue.removeJobScheduler('tick')
  for (const job of seen) {
    expect(job).toMatchObject({ name: 'tick-job', data: { n: 1 }, repeatJobKey: 'tick' })
    expect(job.opts.repeat).toEqual({ every: 250, limit: 10 })
  }
  const readBack = await queue.getJob(seen[2]?.id as string)
  expect(readBack?.repeatJobKey).toBe('tick')
  expect(readBack?.data).toEqual({ n: 1 })
  expect(readBack?.asJSON().repeatJobKey).toBe('tick')
  expect(await queue.getJobScheduler('tick')).toBeUndefined()
})

test('upsertJobScheduler pattern: cron jobs carry the scheduler id and pattern; the template reads back clean', async () => {
  const queue = newQueue('sched-pattern')
  await queue.upsertJobScheduler('every-second', { pattern: '* * * * * *' }, { name: 'cron-job', data: { v: 2 } })
  expect((await queue.getJobScheduler('every-second'))?.template).toEqual({ data: { v: 2 } })
  const job = await new Promise<Job>((resolve) => fixture.track(new Worker(queue.name, async (active) => resolve(active), { connection: connection() })))
  await queue.removeJobScheduler('every-second')
  expect(job).toMatchObject({ name: 'cron-job', data: { v: 2 }, repeatJobKey: 'every-second' })
  expect(job.opts.repeat).toEqual({ pattern: '* * * * * *' })
})

test('add with repeat: repeatJobKey is the key getRepeatableJobs lists and removeRepeatableByKey takes', async () => {
  const queue = newQueue('sched-add')
  const job = await queue.add('rep', { r: 1 }, { repeat: { every: 60_000 } })
  expect(job.repeatJobKey).toBe('rep:60000')
  expect(job.opts.repeat).toEqual({ every: 60_000 })
  const read = await queue.getJob(job.id as string)
  expect(read).toMatchObject({ name: 'rep', data: { r: 1 }, repeatJobKey: 'rep:60000', opts: { repeat: { every: 60_000 } } })
  expect((await queue.getRepeatableJobs()).map((repeatable) => repeatable.key)).toEqual([job.repeatJobKey as string])
  expect(await queue.removeRepeatableByKey(job.repeatJobKey as string)).toBe(true)
})

test('a plain job has no repeatJobKey, and its own `$repeat` field is data like any other', async () => {
  const queue = newQueue('sched-plain')
  const data = { $repeat: { key: 'mine' }, n: 3 }
  const job = await queue.add('plain', data)
  expect(job.repeatJobKey).toBeUndefined()
  const read = await queue.getJob(job.id as string)
  expect(read?.data).toEqual(data)
  expect(read?.repeatJobKey).toBeUndefined()
  expect(read?.opts.repeat).toBeUndefined()
})
