/**
 * The less common BullMQ methods against a real server: Worker.rateLimit with Worker.RateLimitError,
 * extendJobLocks and delay; Job.asJSON/fromJSON, moveToWait, removeChildDependency, createBulk,
 * addJobLog; FlowProducer.getFlow; Queue.getGlobalConcurrency/getGlobalRateLimit/isMaxed.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { DelayedError, FlowProducer, Job, Queue, UnrecoverableError, Worker } from '../../src/client/index.ts'
import { queueName, serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture()
const connection = () => fixture.connection

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

test('Worker.rateLimit + throw Worker.RateLimitError(): the job goes back without an attempt and runs after the limit', async () => {
  const queue = fixture.track(new Queue(queueName('rate-limit'), { connection: connection() }))
  const starts: Array<{ attemptsMade: number; atMs: number }> = []
  let limitedAtMs = 0
  const worker: Worker = fixture.track(new Worker(queue.name, async (job) => {
    starts.push({ attemptsMade: job.attemptsMade, atMs: Date.now() })
    if (starts.length === 1) {
      limitedAtMs = Date.now()
      await worker.rateLimit(300)
      throw Worker.RateLimitError()
    }
    return 'ran'
  }, { connection: connection() }))
  const failed: string[] = []
  worker.on('failed', (_job, error) => failed.push(error.message))
  const job = await queue.add('limited', {}, { attempts: 1 })
  expect(await job.waitUntilFinished()).toBe('ran')
  expect(failed).toEqual([])
  expect(starts.map((start) => start.attemptsMade)).toEqual([0, 0])
  expect((starts[1] as { atMs: number }).atMs - limitedAtMs).toBeGreaterThanOrEqual(250) // a lower bound only: the limit held it back
})

test('extendJobLocks heartbeats active jobs; delay resolves, or early on abort', async () => {
  const queue = fixture.track(new Queue(queueName('extend'), { connection: connection() }))
  const worker = fixture.track(new Worker(queue.name, null, { connection: connection() }))
  await queue.add('a', {})
  const job = await worker.getNextJob('token') as Job
  expect(await worker.extendJobLocks([job.id as string, '999999'], ['token', 'token'], 30_000)).toBe(1)
  await job.moveToCompleted('done', 'token')
  const abort = new AbortController()
  const early = worker.delay(60_000, abort)
  abort.abort()
  await early
  await worker.delay(1)
})

test('asJSON / fromJSON round-trip; createBulk and addJobLog; moveToWait puts an active job back', async () => {
  const queue = fixture.track(new Queue<{ n: number }, string>(queueName('json'), { connection: connection() }))
  const [first, second] = await Job.createBulk(queue, [{ name: 'one', data: { n: 1 } }, { name: 'two', data: { n: 2 } }])
  expect(await Job.addJobLog(queue, first?.id as string, 'noted')).toBe(1)
  const json = first!.asJSON()
  expect(json).toMatchObject({ id: first?.id, name: 'one', data: '{"n":1}', returnvalue: 'null', attemptsMade: 0, stacktrace: '[]' })
  const revived = Job.fromJSON(queue, json)
  expect([revived.id, revived.name, revived.data, revived.returnvalue]).toEqual([first?.id, 'one', { n: 1 }, null])

  const worker = fixture.track(new Worker(queue.name, null, { connection: connection() }))
  const active = await worker.getNextJob('t') as Job
  expect(active.id).toBe(first?.id)
  expect(await active.getState()).toBe('active')
  await active.moveToWait('t')
  expect(await active.getState()).toBe('waiting')
  expect((await queue.getJob(active.id as string))?.attemptsMade).toBe(0)
  expect(second?.name).toBe('two')
})

test('moveToWait inside a processor, then DelayedError: the job runs again without an attempt counted', async () => {
  const queue = fixture.track(new Queue(queueName('move-wait'), { connection: connection() }))
  const runs: number[] = []
  fixture.track(new Worker(queue.name, async (job) => {
    runs.push(job.attemptsMade)
    if (runs.length === 1) {
      await job.moveToWait(job.token)
      throw new DelayedError()
    }
    return 'second'
  }, { connection: connection() }))
  const job = await queue.add('again', {})
  expect(await job.waitUntilFinished()).toBe('second')
  expect(runs).toEqual([0, 0])
})

test('FlowProducer.getFlow returns the tree; removeChildDependency lets the parent run without that child', async () => {
  const name = queueName('get-flow')
  const queue = fixture.track(new Queue(name, { connection: connection() }))
  const flows = fixture.track(new FlowProducer({ connection: connection() }))
  const tree = await flows.add({
    name: 'top',
    queueName: name,
    children: [{ name: 'middle', queueName: name, children: [{ name: 'leaf', queueName: name }] }, { name: 'slow', queueName: name, opts: { delay: 60_000 } }],
  })
  const flow = await flows.getFlow({ id: tree.job.id as string, queueName: name })
  const shape = (node: { job: Job; children?: unknown[] } | null): unknown => node && { name: node.job.name, children: node.children?.map((child) => shape(child as never)) }
  expect(shape(flow)).toEqual({ name: 'top', children: [{ name: 'middle', children: [{ name: 'leaf', children: undefined }] }, { name: 'slow', children: undefined }] })
  expect(shape(await flows.getFlow({ id: tree.job.id as string, queueName: name, depth: 2 }))).toEqual({ name: 'top', children: [{ name: 'middle', children: undefined }, { name: 'slow', children: undefined }] })
  expect(await flows.getFlow({ id: '987654321', queueName: name })).toBeNull()

  const ran: string[] = []
  fixture.track(new Worker(name, async (job) => void ran.push(job.name), { connection: connection() }))
  await waitFor('middle completed', async () => (await tree.children?.[0]?.job.getState()) === 'completed')
  expect(await tree.job.getState()).toBe('waiting-children') // still waits for the delayed child
  const slow = tree.children?.[1]?.job as Job
  expect(await slow.removeChildDependency()).toBe(true)
  await waitFor('parent completed', async () => (await tree.job.getState()) === 'completed')
  expect(await slow.removeChildDependency()).toBe(false) // no longer a dependency
  expect(await slow.getState()).toBe('delayed')
  expect((await (await queue.getJob(tree.job.id as string))?.getDependencies())?.unprocessed).toEqual([])
})

test('getGlobalConcurrency, getGlobalRateLimit and isMaxed read the server settings', async () => {
  const queue = fixture.track(new Queue(queueName('global'), { connection: connection() }))
  await queue.add('a', {})
  expect(await queue.getGlobalConcurrency()).toBeNull()
  expect(await queue.getGlobalRateLimit()).toBeNull()
  await queue.setGlobalConcurrency(1)
  await queue.setGlobalRateLimit(50, 1000)
  expect(await queue.getGlobalConcurrency()).toBe(1)
  expect(await queue.getGlobalRateLimit()).toEqual({ max: 50, duration: 1000 })
  expect(await queue.isMaxed()).toBe(false)
  const worker = fixture.track(new Worker(queue.name, null, { connection: connection() }))
  const job = await worker.getNextJob('t') as Job
  expect(await queue.isMaxed()).toBe(true)
  await job.moveToCompleted(null, 't')
  expect(await queue.isMaxed()).toBe(false)
})

test('getWorkers lists the running workers of the queue (the server worker registry), not those of other queues', async () => {
  const queue = fixture.track(new Queue(queueName('workers'), { connection: connection() }))
  const other = queueName('workers-other')
  expect(await queue.getWorkers()).toEqual([])
  const worker = fixture.track(new Worker(queue.name, async () => 'x', { connection: connection(), concurrency: 3 }))
  fixture.track(new Worker(other, async () => 'x', { connection: connection() }))
  await waitFor('worker registered', async () => (await queue.getWorkersCount()) === 1)
  expect(await queue.getWorkers()).toEqual([{ id: worker.id, name: queue.name, queues: [queue.name], concurrency: 3, jobs_processed: 0, last_heartbeat: expect.any(Number) }])
})

test('getPrioritized returns the waiting jobs that have a priority', async () => {
  const queue = fixture.track(new Queue(queueName('prioritized'), { connection: connection() }))
  await queue.add('plain', {})
  const urgent = await queue.add('urgent', {}, { priority: 1 })
  const later = await queue.add('later', {}, { priority: 5 })
  expect((await queue.getPrioritized()).map((job) => job.id).sort()).toEqual([urgent.id, later.id].sort())
})

test('job.discard() in the processor: the failure is final although attempts are left', async () => {
  const queue = fixture.track(new Queue(queueName('discard'), { connection: connection() }))
  const runs: number[] = []
  const worker = fixture.track(new Worker(queue.name, async (job) => {
    runs.push(job.attemptsMade)
    job.discard()
    throw new Error('give up')
  }, { connection: connection() }))
  const failed = new Promise<string>((resolve) => worker.on('failed', (_job, error) => resolve(error.message)))
  const job = await queue.add('once', {}, { attempts: 5, backoff: 1 })
  expect(await failed).toBe('give up')
  await waitFor('failed for good', async () => (await job.getState()) === 'failed')
  expect(runs).toEqual([0])
})

test('cancelJob aborts the signal of an active job; the processor throwing fails it', async () => {
  const queue = fixture.track(new Queue(queueName('cancel'), { connection: connection() }))
  const worker = fixture.track(new Worker(queue.name, (_job, _token, signal) => new Promise((_resolve, reject) => {
    signal?.addEventListener('abort', () => reject(new UnrecoverableError(`cancelled: ${signal.reason}`)))
  }), { connection: connection(), concurrency: 2 }))
  const failed: string[] = []
  worker.on('failed', (job, error) => failed.push(`${job?.name}:${error.message}`))
  const started: string[] = []
  worker.on('active', (job) => started.push(job.id as string))
  const one = await queue.add('one', {})
  await queue.add('two', {})
  await waitFor('both active', () => started.length === 2)
  expect(worker.cancelJob('999999')).toBe(false)
  expect(worker.cancelJob(one.id as string, 'stop')).toBe(true)
  await waitFor('one failed', () => failed.length === 1)
  expect(failed).toEqual(['one:cancelled: stop'])
  worker.cancelAllJobs('shutdown')
  await waitFor('two failed', () => failed.length === 2)
  expect(failed[1]).toBe('two:cancelled: shutdown')
  const plain = fixture.track(new Worker(queueName('cancel-plain'), async () => 'x', { connection: connection() }))
  expect(plain.cancelJob(one.id as string)).toBe(false)
})

test('BullMQ v5 repeatable jobs: getRepeatableJobs lists what add(…, {repeat}) made; removeRepeatable and removeRepeatableByKey remove it', async () => {
  const queue = fixture.track(new Queue(queueName('repeatable'), { connection: connection() }))
  await queue.add('tick', { n: 1 }, { repeat: { every: 60_000 } })
  await queue.add('nightly', { n: 2 }, { repeat: { pattern: '0 0 3 * * *' } })
  const listed = await queue.getRepeatableJobs(0, -1, true)
  expect(listed.map((job) => [job.key, job.name, job.every, job.pattern]).sort()).toEqual([
    ['nightly:0 0 3 * * *', 'nightly', null, '0 0 3 * * *'],
    ['tick:60000', 'tick', '60000', null],
  ])
  expect(await queue.removeRepeatable('tick', { every: 60_000 })).toBe(true)
  expect(await queue.removeRepeatableByKey('nightly:0 0 3 * * *')).toBe(true)
  expect(await queue.removeRepeatableByKey('nightly:0 0 3 * * *')).toBe(false)
  expect(await queue.getRepeatableJobs()).toEqual([])
})

test('job.changeDelay reschedules a delayed job; a job that is not delayed is refused', async () => {
  const queue = fixture.track(new Queue(queueName('change-delay'), { connection: connection() }))
  const job = await queue.add('later', {}, { delay: 3_600_000 })
  await job.changeDelay(20)
  await waitFor('due again', async () => (await job.getState()) === 'waiting')
  await expect(job.changeDelay(1000)).rejects.toThrow(`Job ${job.id} not found or not in delayed state`)
  const far = await queue.add('far', {}, { delay: 1000 })
  await far.changeDelay(3_600_000)
  const delayed = (await queue.getDelayed()).find((item) => item.id === far.id)
  expect((delayed?.wire?.run_at ?? 0) - Date.now()).toBeGreaterThan(1_000_000) // moved an hour out, not left at 1 s
})
