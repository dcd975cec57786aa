/**
 * BullMQ usage as its guide writes it, where the SDK used to differ: drain's `delayed` flag,
 * deduplication, getCountsPerPriority, updateJobProgress with an object, FlowProducer's
 * queuesOptions, and the Job fields BullMQ declares.
 */
import { expect, test } from 'bun:test'
import { FlowProducer, Queue, QueueEvents, RateLimitError, UnrecoverableError, WaitingError, Worker } from '../../src/client/index.ts'
import { sdkTestFile, waitFor } from './kit.ts'

const { fixture, connection, newQueue } = sdkTestFile()

test('drain() removes the waiting jobs and keeps the delayed ones; drain(true) removes those too', async () => {
  const queue = newQueue('drain-delayed')
  await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {}, opts: { priority: 3 } }])
  const delayed = await queue.add('later', {}, { delay: 60_000 })
  await queue.drain()
  expect(await queue.getJobCounts('waiting', 'delayed')).toEqual({ waiting: 0, delayed: 1 })
  expect(await delayed.getState()).toBe('delayed')
  await queue.drain(true)
  expect(await queue.getJobCounts('waiting', 'delayed')).toEqual({ waiting: 0, delayed: 0 })
})

test('deduplication {id}: a second add while the job is live adds nothing and returns that job; after it completes the id is free', async () => {
  const queue = newQueue('dedup-simple')
  const first = await queue.add('sync', { n: 1 }, { deduplication: { id: 'account-7' } })
  const second = await queue.add('sync', { n: 2 }, { deduplication: { id: 'account-7' } })
  expect(second.id).toBe(first.id)
  expect(await queue.count()).toBe(1)
  expect(await queue.getDeduplicationJobId('account-7')).toBe(first.id as string)
  const read = await queue.getJob(first.id as string)
  expect(read?.deduplicationId).toBe('account-7')
  expect(read?.opts.deduplication).toEqual({ id: 'account-7' })
  expect(read?.opts.tags).toBeUndefined() // the SDK's tag is not shown

  // Another process's Queue finds the holder on the server.
  const other = fixture.track(new Queue(queue.name, { connection: connection() }))
  expect((await other.add('sync', { n: 3 }, { deduplication: { id: 'account-7' } })).id).toBe(first.id)
  expect(await queue.count()).toBe(1)

  const worker = fixture.track(new Worker(queue.name, async (job) => job.data.n, { connection: connection() }))
  await waitFor('the first job to complete', async () => (await queue.getJobState(first.id as string)) === 'completed')
  await worker.close()
  const third = await queue.add('sync', { n: 4 }, { deduplication: { id: 'account-7' } })
  expect(third.id).not.toBe(first.id)
  expect(await queue.getWaitingCount()).toBe(1)
})

test('deduplication {id, ttl}: adds within the ttl are dropped even after the job completed; a job that fails frees a ttl-less id', async () => {
  const queue = newQueue('dedup-ttl')
  const first = await queue.add('ping', {}, { deduplication: { id: 'burst', ttl: 60_000 } })
  const worker = fixture.track(new Worker(queue.name, async (job) => {
    if (job.name === 'flaky') throw new Error('no')
    return 'ok'
  }, { connection: connection() }))
  await waitFor('the first job to complete', async () => (await queue.getJobState(first.id as string)) === 'completed')
  const again = await queue.add('ping', {}, { deduplication: { id: 'burst', ttl: 60_000 } })
  expect(again.id).toBe(first.id)
  expect(await queue.getCompletedCount()).toBe(1)

  const flaky = await queue.add('flaky', {}, { deduplication: { id: 'flaky' } })
  await waitFor('the flaky job to fail', async () => (await queue.getJobState(flaky.id as string)) === 'failed')
  await worker.close()
  const retried = await queue.add('flaky', {}, { deduplication: { id: 'flaky' } })
  expect(retried.id).not.toBe(flaky.id)
  expect(await queue.getDeduplicationJobId('nobody')).toBeNull()
})

test('getCountsPerPriority counts the waiting jobs of each priority asked for, 0 for those without one', async () => {
  const queue = newQueue('per-priority')
  await queue.addBulk([
    { name: 'a', data: {} },
    { name: 'b', data: {}, opts: { priority: 1 } },
    { name: 'c', data: {}, opts: { priority: 1 } },
    { name: 'd', data: {}, opts: { priority: 5 } },
  ])
  expect(await queue.getCountsPerPriority([0, 1, 5, 9])).toEqual({ '0': 1, '1': 2, '5': 1, '9': 0 })
})

test('updateJobProgress takes an object as job.updateProgress does; the job reads it back', async () => {
  const queue = newQueue('queue-progress')
  const job = await queue.add('resize', {})
  const worker = fixture.track(new Worker(queue.name, null, { connection: connection() }))
  expect((await worker.getNextJob('token'))?.id).toBe(job.id) // the server takes progress for active jobs
  const emitted: unknown[] = []
  queue.on('progress', (jobId: string, progress: unknown) => emitted.push([jobId, progress]))
  await queue.updateJobProgress(job.id as string, 40)
  await queue.updateJobProgress(job.id as string, { step: 'upload' })
  expect(emitted).toEqual([[job.id, 40], [job.id, { step: 'upload' }]])
  expect((await queue.getJob(job.id as string))?.progress).toEqual({ step: 'upload' })
})

test("FlowProducer.add(flow, {queuesOptions}) applies each queue's defaultJobOptions to that queue's nodes", async () => {
  const flows = fixture.track(new FlowProducer({ connection: connection() }))
  const parentQueue = newQueue('flow-opts-parent')
  const childQueue = newQueue('flow-opts-child')
  const tree = await flows.add(
    { name: 'parent', queueName: parentQueue.name, children: [{ name: 'child', queueName: childQueue.name, opts: { priority: 2 } }] },
    { queuesOptions: { [childQueue.name]: { defaultJobOptions: { attempts: 4, priority: 7 } } } },
  )
  const child = await childQueue.getJob(tree.children?.[0]?.job.id as string)
  expect(child?.opts).toMatchObject({ attempts: 4, priority: 2 }) // the node's own options win
  expect((await parentQueue.getJob(tree.job.id as string))?.opts.attempts).toBe(1)
})

test('Job has the fields BullMQ declares: queueQualifiedName, stalledCounter; toJSON carries the stack traces and attemptsStarted', async () => {
  const queue = newQueue('job-fields')
  const job = await queue.add('x', {}, { attempts: 1 })
  expect(job.queueQualifiedName).toBe(`bull:${queue.name}`)
  expect(job.stalledCounter).toBe(0)
  const worker = fixture.track(new Worker(queue.name, async () => {
    throw new Error('broken')
  }, { connection: connection() }))
  await waitFor('the job to fail', async () => (await queue.getJobState(job.id as string)) === 'failed')
  await worker.close()
  const read = await queue.getJob(job.id as string)
  expect(read?.toJSON()).toMatchObject({ id: job.id, attemptsMade: 1, attemptsStarted: 1, stalledCounter: 0, failedReason: 'broken' })
  expect(read?.toJSON().stacktrace[0]).toContain('broken')
})

test("a job scheduler's jobs fail after the template's attempts (BullMQ's default: 1), not retried without end", async () => {
  const queue = newQueue('scheduler-attempts')
  await queue.upsertJobScheduler('twice', { every: 150, immediately: false }, { name: 'twice', opts: { attempts: 2, backoff: { type: 'fixed', delay: 10 } } })
  await queue.upsertJobScheduler('once', { every: 150, immediately: false }, { name: 'once' })
  expect((await queue.getJobScheduler('twice'))?.template?.opts).toEqual({ attempts: 2, backoff: { type: 'fixed', delay: 10 } })
  const runs = new Map<string, number>()
  const worker = fixture.track(new Worker(queue.name, async (job) => {
    runs.set(job.id as string, (runs.get(job.id as string) ?? 0) + 1)
    throw new Error(`${job.name} broke`)
  }, { connection: connection() }))
  const failedOf = async () => {
    const failed = await queue.getFailed()
    return ['twice', 'once'].every((name) => failed.some((job) => job.name === name)) ? failed : null
  }
  const failed = (await waitFor('a failed job of each scheduler', failedOf)) as NonNullable<Awaited<ReturnType<typeof failedOf>>>
  await Promise.all([queue.removeJobScheduler('twice'), queue.removeJobScheduler('once')])
  await worker.close()
  for (const job of failed) {
    const attempts = job.name === 'twice' ? 2 : 1
    expect({ name: job.name, attemptsMade: job.attemptsMade, runs: runs.get(job.id as string), attempts: job.opts.attempts }).toEqual({ name: job.name, attemptsMade: attempts, runs: attempts, attempts })
    expect(job.opts.repeat).toEqual({ every: 150 })
  }
})

test('a job failed for good without its attempts used up (UnrecoverableError) reads back with the attempt that failed it counted', async () => {
  const queue = newQueue('unrecoverable-attempts')
  const job = await queue.add('x', {}, { attempts: 3 })
  const worker = fixture.track(new Worker(queue.name, async (current) => {
    if (current.attemptsMade === 0) throw new Error('first try')
    throw new UnrecoverableError('give up')
  }, { connection: connection(), settings: { backoffStrategy: () => 1 } }))
  await waitFor('the job to fail', async () => (await queue.getJobState(job.id as string)) === 'failed')
  await worker.close()
  const read = await queue.getJob(job.id as string)
  expect({ attemptsMade: read?.attemptsMade, failedReason: read?.failedReason }).toEqual({ attemptsMade: 2, failedReason: 'give up' })
  expect(await queue.getJobLogs(job.id as string)).toEqual({ logs: [], count: 0 })
})

test("the Worker's removeOnComplete / removeOnFail {count} keep the newest N finished jobs of those without their own", async () => {
  const queue = newQueue('worker-keep')
  await queue.addBulk([...Array.from({ length: 5 }, () => ({ name: 'good', data: {} })), ...Array.from({ length: 3 }, () => ({ name: 'bad', data: {} }))])
  const worker = fixture.track(new Worker(queue.name, async (job) => {
    if (job.name === 'bad') throw new Error('bad')
    return 'done'
  }, { connection: connection(), removeOnComplete: { count: 2 }, removeOnFail: { count: 1 } }))
  let finished = 0
  worker.on('completed', () => finished++)
  worker.on('failed', () => finished++)
  await waitFor('every job to finish', () => finished === 8)
  await worker.close() // waits for the trims
  expect(await queue.getJobCounts('completed', 'failed')).toEqual({ completed: 2, failed: 1 })
})

test("BullMQ's error classes as processors throw them: new RateLimitError() after rateLimit, WaitingError after moveToWait", async () => {
  const queue = newQueue('error-classes')
  const runs: string[] = []
  const failed: string[] = []
  const worker: Worker = fixture.track(new Worker(queue.name, async (job) => {
    runs.push(`${job.name}:${job.attemptsMade}`)
    if (runs.filter((run) => run.startsWith(job.name)).length > 1) return 'second'
    if (job.name === 'limited') {
      await worker.rateLimit(50)
      throw new RateLimitError()
    }
    await job.moveToWait(job.token)
    throw new WaitingError()
  }, { connection: connection() }))
  worker.on('failed', (_job, error) => failed.push(error.message))
  const limited = await queue.add('limited', {})
  expect(await limited.waitUntilFinished()).toBe('second')
  const waiting = await queue.add('waiting', {})
  expect(await waiting.waitUntilFinished()).toBe('second')
  expect({ runs, failed }).toEqual({ runs: ['limited:0', 'limited:0', 'waiting:0', 'waiting:0'], failed: [] })
})

test("retryJobs({state: 'completed'}) is refused, not taken for the failed jobs", async () => {
  const queue = newQueue('retry-completed')
  const job = await queue.add('x', {})
  const worker = fixture.track(new Worker(queue.name, async () => {
    throw new Error('no')
  }, { connection: connection() }))
  await waitFor('the job to fail', async () => (await queue.getJobState(job.id as string)) === 'failed')
  await worker.close()
  await expect(queue.retryJobs({ state: 'completed' })).rejects.toThrow('cannot retry completed jobs')
  expect(await queue.getJobState(job.id as string)).toBe('failed')
  await queue.retryJobs({ state: 'failed' })
  expect(await queue.getJobState(job.id as string)).toBe('waiting')
})

test('promoteJobs promotes every delayed job, beyond the 1000 one request reads', async () => {
  const queue = newQueue('promote-all')
  await queue.addBulk(Array.from({ length: 1500 }, (_, index) => ({ name: 'later', data: { index }, opts: { delay: 60_000 } })))
  await queue.promoteJobs()
  expect(await queue.getJobCounts('delayed', 'waiting')).toEqual({ delayed: 0, waiting: 1500 })
})

test("QueueEvents 'retries-exhausted' follows a failure that used up the attempts, not an UnrecoverableError's", async () => {
  const queue = newQueue('retries-exhausted')
  const events = fixture.track(new QueueEvents(queue.name, { connection: connection() }))
  await events.waitUntilReady()
  const seen: string[] = []
  events.on('failed', ({ jobId }: { jobId: string }) => seen.push(`failed:${jobId}`))
  events.on('retries-exhausted', ({ jobId, attemptsMade }: { jobId: string; attemptsMade: string }) => seen.push(`exhausted:${jobId}:${attemptsMade}`))
  const worker = fixture.track(new Worker(queue.name, async (job) => {
    throw job.name === 'hopeless' ? new UnrecoverableError('stop') : new Error('again')
  }, { connection: connection(), settings: { backoffStrategy: () => 1 } }))
  const used = await queue.add('used', {}, { attempts: 2, backoff: { type: 'custom' } })
  const hopeless = await queue.add('hopeless', {}, { attempts: 3 })
  await waitFor('both failures', () => seen.filter((entry) => entry.startsWith('failed')).length === 2)
  await worker.close()
  await waitFor('the exhausted event', () => seen.includes(`exhausted:${used.id}:2`))
  expect(seen.filter((entry) => entry.startsWith('exhausted'))).toEqual([`exhausted:${used.id}:2`])
  expect(seen.indexOf(`failed:${used.id}`)).toBeLessThan(seen.indexOf(`exhausted:${used.id}:2`))
  expect(seen).toContain(`failed:${hopeless.id}`)
})

test("a queue does not see or remove another queue's job by its id (BullMQ's ids are per queue)", async () => {
  const mine = newQueue('ids-mine')
  const other = newQueue('ids-other')
  const job = await mine.add('x', {})
  expect(await other.getJob(job.id as string)).toBeUndefined()
  expect(await other.getJobState(job.id as string)).toBe('unknown')
  expect(await other.remove(job.id as string)).toBe(0)
  expect(await mine.getJobState(job.id as string)).toBe('waiting')
  expect((await mine.getJob(job.id as string))?.queueName).toBe(mine.name)
  expect(await mine.remove(job.id as string)).toBe(1)
})
