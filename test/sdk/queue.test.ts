/**
 * Queue against a real server: add and its options, addBulk, reading jobs and counts, pause/resume,
 * drain, clean, obliterate, schedulers.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { FlashQ, Queue, Worker } from '../../src/client/index.ts'
import { cleanReplyIdsMax } from '../../src/base/limits.ts'
import { nextEvent, queueName, serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture()
const connection = () => fixture.connection
const newQueue = (label: string) => fixture.track(new Queue(queueName(label), { connection: connection() }))
/** Pulls one job the way a worker would, to observe delivery order without the Worker class. */
const raw = () => fixture.track(new FlashQ({ host: '127.0.0.1', port: fixture.server.tcpPort }))

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

describe('add', () => {
  test('returns a Job with id, name, data, opts and timestamp; getJob reads it back', async () => {
    const queue = newQueue('add')
    await queue.waitUntilReady()
    const job = await queue.add('email', { to: 'a@b.c' }, { attempts: 3 })
    expect(job.id).toMatch(/^\d+$/)
    expect(job).toMatchObject({ name: 'email', data: { to: 'a@b.c' }, queueName: queue.name, attemptsMade: 0 })
    expect(job.timestamp).toBeGreaterThan(0)
    const read = await queue.getJob(job.id as string)
    expect(read).toMatchObject({ id: job.id, name: 'email', data: { to: 'a@b.c' }, opts: { attempts: 3 } })
    expect(await read?.getState()).toBe('waiting')
    expect(await queue.getJob('999999999')).toBeUndefined()
  })

  test('data that is not a plain object, or has its own `name`, survives unchanged', async () => {
    const queue = newQueue('data')
    for (const data of [5, 'text', [1, 2], null, { name: 'mine', n: 1 }, { $data: 1 }]) {
      const job = await queue.add('kind', data)
      expect((await queue.getJob(job.id as string))?.data).toEqual(data)
      expect((await queue.getJob(job.id as string))?.name).toBe('kind')
    }
  })

  test('delay makes the job delayed (read back with its delay); promote makes it waiting', async () => {
    const queue = newQueue('delay')
    const job = await queue.add('later', {}, { delay: 60_000 })
    expect(await job.getState()).toBe('delayed')
    expect(await queue.getDelayedCount()).toBe(1)
    expect(await queue.getJob(job.id as string)).toMatchObject({ delay: 60_000, opts: { delay: 60_000 } }) // BullMQ's job.delay
    await job.promote()
    expect(await job.getState()).toBe('waiting')
  })

  test('priority: 1 runs before 2, and unprioritised jobs run first (BullMQ order); lifo runs newest first', async () => {
    const queue = newQueue('prio')
    const low = await queue.add('p2', {}, { priority: 2 })
    const high = await queue.add('p1', {}, { priority: 1 })
    const none = await queue.add('p0', {})
    const client = raw()
    const order = [] as string[]
    for (let i = 0; i < 3; i++) order.push(String((await client.pull(queue.name, 0))?.id))
    expect(order).toEqual([none.id, high.id, low.id] as string[])

    const lifoQueue = newQueue('lifo')
    const first = await lifoQueue.add('a', {})
    const second = await lifoQueue.add('b', {}, { lifo: true })
    expect(String((await client.pull(lifoQueue.name, 0))?.id)).toBe(second.id as string)
    expect(String((await client.pull(lifoQueue.name, 0))?.id)).toBe(first.id as string)
  })

  test('jobId deduplicates: a second add returns the existing job; getJob finds it by custom id', async () => {
    const queue = newQueue('dedup')
    const first = await queue.add('once', { n: 1 }, { jobId: 'order-42' })
    const second = await queue.add('once', { n: 2 }, { jobId: 'order-42' })
    expect(second.id).toBe(first.id)
    expect(await queue.count()).toBe(1)
    const byCustomId = await queue.getJob('order-42')
    expect(byCustomId?.id).toBe(first.id)
    expect(byCustomId?.data).toEqual({ n: 1 })
  })

  test('removeOnComplete: true forgets the job at completion; a count keeps it', async () => {
    const queue = newQueue('remove')
    const removed = await queue.add('gone', {}, { removeOnComplete: true })
    const kept = await queue.add('kept', {}, { removeOnComplete: { count: 10, age: 3600 } })
    const worker = fixture.track(new Worker(queue.name, async () => 'done', { connection: connection() }))
    await waitFor('both completed', async () => (await queue.getCompletedCount()) >= 1 && (await removed.getState()) !== 'waiting' && (await kept.getState()) === 'completed')
    await waitFor('removed job forgotten', async () => (await removed.getState()) === 'unknown')
    expect((await queue.getJob(kept.id as string))?.returnvalue).toBe('done')
    await worker.close()
  })

  test('removeOnComplete: N keeps only the newest N completed jobs of the queue (BullMQ)', async () => {
    const queue = newQueue('remove-count')
    const jobs = await queue.addBulk(Array.from({ length: 6 }, (_, index) => ({ name: 'n', data: { index }, opts: { removeOnComplete: 2 } })))
    const worker = fixture.track(new Worker(queue.name, async (job) => job.data.index, { connection: connection(), concurrency: 1 }))
    await waitFor('all completed', async () => (await queue.getJobCounts('waiting', 'active')).waiting === 0 && (await jobs[5]?.getState()) === 'completed')
    await waitFor('trimmed to 2', async () => (await queue.getCompletedCount()) === 2)
    await worker.close()
    expect((await queue.getCompleted()).map((job) => job.returnvalue).sort()).toEqual([4, 5])
  })

  test('removeOnFail: true drops a job that fails for good; without it the job stays failed', async () => {
    const queue = newQueue('remove-fail')
    const dropped = await queue.add('dropped', {}, { removeOnFail: true })
    const kept = await queue.add('kept', {})
    const worker = fixture.track(new Worker(queue.name, async () => {
      throw new Error('always')
    }, { connection: connection(), concurrency: 2 }))
    await waitFor('kept failed', async () => (await kept.getState()) === 'failed')
    await waitFor('dropped forgotten', async () => (await dropped.getState()) === 'unknown')
    expect(await queue.getFailedCount()).toBe(1)
    await worker.close()
  })

  test('removeOnFail: N keeps only the newest N failed jobs of the queue (BullMQ); job.opts shows it', async () => {
    const queue = newQueue('remove-fail-count')
    const jobs = await queue.addBulk(Array.from({ length: 5 }, (_, index) => ({ name: 'n', data: { index }, opts: { removeOnFail: 2 } })))
    expect((await queue.getJob(jobs[0]?.id as string))?.opts).toMatchObject({ removeOnFail: 2 })
    expect((await queue.getJob(jobs[0]?.id as string))?.opts.tags).toBeUndefined()
    const worker = fixture.track(new Worker(queue.name, async (job) => {
      throw new Error(`no ${job.data.index}`)
    }, { connection: connection(), concurrency: 1 }))
    await waitFor('all failed', async () => (await jobs[4]?.getState()) === 'failed')
    await waitFor('trimmed to 2', async () => (await queue.getFailedCount()) === 2)
    await worker.close()
    expect((await queue.getFailed()).map((job) => job.failedReason).sort()).toEqual(['no 3', 'no 4'])
  })

  test('default job options apply to add and addBulk', async () => {
    const queue = fixture.track(new Queue(queueName('defaults'), { connection: connection(), defaultJobOptions: { attempts: 4, priority: 3 } }))
    const job = await queue.add('a', {})
    const [bulk] = await queue.addBulk([{ name: 'b', data: {} }])
    for (const id of [job.id, bulk?.id]) expect((await queue.getJob(id as string))?.opts).toMatchObject({ attempts: 4, priority: 3 })
  })
})

describe('addBulk', () => {
  test('adds thousands of jobs in order over batches of 1000, each readable', async () => {
    const queue = newQueue('bulk')
    const jobs = await queue.addBulk(Array.from({ length: 2500 }, (_, i) => ({ name: `n${i % 3}`, data: { i } })))
    expect(jobs).toHaveLength(2500)
    expect(new Set(jobs.map((job) => job.id)).size).toBe(2500)
    expect(await queue.count()).toBe(2500)
    const last = await queue.getJob(jobs[2499]?.id as string)
    expect(last).toMatchObject({ name: 'n0', data: { i: 2499 } })
  })

  test('a rejected item is named in the error; the others are added', async () => {
    const queue = newQueue('bulk-reject')
    const error = await queue
      .addBulk([
        { name: 'a', data: {}, opts: { uniqueKey: 'k' } },
        { name: 'b', data: {}, opts: { uniqueKey: 'k' } },
      ])
      .catch((caught: Error) => caught)
    expect(String(error)).toContain('#1: Duplicate job with key: k')
    expect(await queue.count()).toBe(1)
  })
})

describe('reading jobs', () => {
  test('getJobs, get<State>, getJobCounts and the count helpers agree', async () => {
    const queue = newQueue('read')
    const client = raw()
    const [a, b, c] = await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }, { name: 'c', data: {} }])
    await queue.add('d', {}, { delay: 60_000 })
    const pulled = await client.pull(queue.name, 0)
    expect(String(pulled?.id)).toBe(a?.id as string)
    await client.ack(pulled?.id as number, { done: true })
    const pulledB = await client.pull(queue.name, 0)
    expect(String(pulledB?.id)).toBe(b?.id as string)

    expect(await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed')).toEqual({ waiting: 1, active: 1, delayed: 1, completed: 1, failed: 0 })
    expect(await queue.getWaitingCount()).toBe(1)
    expect(await queue.getActiveCount()).toBe(1)
    expect(await queue.getDelayedCount()).toBe(1)
    expect(await queue.getCompletedCount()).toBe(1)
    expect(await queue.getFailedCount()).toBe(0)
    expect(await queue.getJobCountByTypes('waiting', 'delayed')).toBe(2)
    expect((await queue.getWaiting()).map((job) => job.id)).toEqual([c?.id])
    expect((await queue.getActive()).map((job) => job.id)).toEqual([b?.id])
    expect((await queue.getDelayed()).map((job) => job.name)).toEqual(['d'])
    const completed = await queue.getCompleted()
    expect(completed.map((job) => [job.id, job.returnvalue])).toEqual([[a?.id, { done: true }]])
    // BullMQ ranges each state on its own, in the order given (get-jobs-range.test.ts).
    expect((await queue.getJobs(['waiting', 'active'], 0, -1, true)).map((job) => job.id)).toEqual([c?.id, b?.id])
    expect((await queue.getJobs(['active', 'waiting'], 0, 0, true)).map((job) => job.id)).toEqual([b?.id, c?.id])
  })

  test('a completed job read back counts the attempt that completed it in attemptsMade (BullMQ)', async () => {
    const queue = newQueue('attempts-made')
    const once = await queue.add('ok', {})
    const retried = await queue.add('retry', {}, { attempts: 3, backoff: 1 })
    const worker = fixture.track(new Worker(queue.name, async (job) => {
      if (job.name === 'retry' && job.attemptsMade === 0) throw new Error('first try fails')
      return 'done'
    }, { connection: connection() }))
    await waitFor('both completed', async () => (await queue.getCompletedCount()) === 2)
    await worker.close()
    expect((await queue.getJob(once.id as string))?.attemptsMade).toBe(1)
    expect((await queue.getJob(retried.id as string))?.attemptsMade).toBe(2)
    expect((await queue.getCompleted()).map((job) => job.attemptsMade).sort()).toEqual([1, 2])
  })

  test('a failed job reports failedReason and attemptsMade; retry() moves it back to waiting', async () => {
    const queue = newQueue('failed')
    const job = await queue.add('bad', {}, { attempts: 1 })
    const worker = fixture.track(new Worker(queue.name, async () => {
      throw new Error('broken pipe')
    }, { connection: connection() }))
    await waitFor('failed', async () => (await job.getState()) === 'failed')
    await worker.close()
    const failed = await queue.getJob(job.id as string)
    expect(failed).toMatchObject({ failedReason: 'broken pipe', attemptsMade: 1 })
    expect((await queue.getFailed()).map((entry) => entry.failedReason)).toEqual(['broken pipe'])
    await failed?.retry()
    expect(await job.getState()).toBe('waiting')
  })
})

describe('queue control', () => {
  test('pause stops delivery (adds still work); resume restarts it', async () => {
    const queue = newQueue('pause')
    await queue.pause()
    expect(await queue.isPaused()).toBe(true)
    const job = await queue.add('held', {})
    expect(await raw().pull(queue.name, 100)).toBeNull()
    await queue.resume()
    expect(await queue.isPaused()).toBe(false)
    expect(String((await raw().pull(queue.name, 1000))?.id)).toBe(job.id as string)
  })

  test('drain removes waiting and delayed jobs', async () => {
    const queue = newQueue('drain')
    await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }])
    await queue.add('c', {}, { delay: 60_000 })
    await queue.drain(true)
    expect(await queue.getJobCounts('waiting', 'delayed')).toEqual({ waiting: 0, delayed: 0 })
  })

  test('clean removes old jobs of one state up to a limit and returns their ids', async () => {
    const queue = newQueue('clean')
    const jobs = await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }, { name: 'c', data: {} }])
    expect(await queue.clean(60_000, 0, 'wait')).toEqual([]) // none older than a minute
    const removed = await queue.clean(0, 2, 'wait')
    expect(removed).toEqual([jobs[0]?.id, jobs[1]?.id] as string[])
    expect(await queue.getWaitingCount()).toBe(1)
  })

  test('clean returns exactly the ids it removed, past 1000 matches and past the server cap per reply, custom ids included', async () => {
    const queue = newQueue('clean-many')
    // More than one CLEAN reply lists (cleanReplyIdsMax), every 1000th job with a custom id.
    const total = cleanReplyIdsMax + 2000
    const added: string[] = []
    for (let first = 0; first < total; first += 1000) {
      const batch = Array.from({ length: 1000 }, (_, at) => ({ name: 'n', data: {}, opts: (first + at) % 1000 === 3 ? { jobId: `order-${first + at}` } : {} }))
      added.push(...(await queue.addBulk(batch)).map((job) => job.id as string))
    }
    expect(added.filter((id) => id.startsWith('order-'))).toHaveLength(total / 1000)
    const cleaned = nextEvent<[string[], string]>(queue, 'cleaned')
    const first = await queue.clean(0, 1500, 'wait')
    expect(first).toEqual(added.slice(0, 1500))
    expect((await cleaned)[0]).toEqual(first)
    const rest = await queue.clean(0, 0, 'wait')
    expect(rest).toEqual(added.slice(1500))
    expect(await queue.getWaitingCount()).toBe(0)
    expect(await queue.clean(0, 0, 'wait')).toEqual([])
  })

  test('clean against a server that does not list what CLEAN removed (a reference flashQ server) says so, not a wrong list', async () => {
    // Such a server answers CLEAN with its count alone, whatever the request's extra fields.
    const server = Bun.listen({
      hostname: '127.0.0.1',
      port: 0,
      socket: {
        data(socket, chunk) {
          for (const line of chunk.toString().split('\n').filter((text) => text !== '')) {
            const request = JSON.parse(line) as { reqId?: string }
            socket.write(`${JSON.stringify({ ok: true, count: 3, reqId: request.reqId })}\n`)
          }
        },
      },
    })
    const queue = new Queue(queueName('clean-reference'), { connection: { host: '127.0.0.1', port: server.port } })
    try {
      expect(String(await queue.clean(0, 0, 'wait').catch((error: Error) => error))).toContain('CLEAN removed 3 jobs but did not list them')
    } finally {
      await queue.close()
      server.stop(true)
    }
  })

  test('obliterate removes every job of the queue', async () => {
    const queue = newQueue('obliterate')
    await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }])
    await queue.add('c', {}, { delay: 60_000 })
    await queue.obliterate({ force: true })
    expect(await queue.getJobCounts('waiting', 'delayed', 'active', 'failed')).toEqual({ waiting: 0, delayed: 0, active: 0, failed: 0 })
  })

  test('remove() cancels a waiting job; close() makes later calls fail clearly', async () => {
    const queue = new Queue(queueName('close'), { connection: connection() })
    const job = await queue.add('x', {})
    await job.remove()
    expect(await job.getState()).toBe('unknown')
    await queue.close()
    expect(String(await queue.add('y', {}).catch((error: Error) => error))).toContain('connection is closed')
  })

  test('an invalid queue name is refused before anything is sent', () => {
    expect(() => new Queue('bad name!', { connection: connection() })).toThrow('Queue name must contain only')
  })
})

describe('job schedulers', () => {
  test('upsertJobScheduler every: jobs keep arriving; removeJobScheduler stops them', async () => {
    const queue = newQueue('every')
    const first = await queue.upsertJobScheduler('tick', { every: 300 }, { name: 'tick-job', data: { n: 1 } })
    expect(first?.name).toBe('tick-job') // BullMQ adds the first `every` job at once
    const schedulers = await queue.getJobSchedulers()
    expect(schedulers).toHaveLength(1)
    expect(schedulers[0]).toMatchObject({ key: 'tick', name: 'tick-job', every: 300, template: { data: { n: 1 } } })
    const seen: string[] = []
    const worker = fixture.track(new Worker(queue.name, async (job) => {
      seen.push(`${job.name}:${JSON.stringify(job.data)}`)
    }, { connection: connection() }))
    await waitFor('three scheduled jobs', () => seen.length >= 3)
    expect(new Set(seen)).toEqual(new Set(['tick-job:{"n":1}']))
    expect(await queue.removeJobScheduler('tick')).toBe(true)
    expect(await queue.removeJobScheduler('tick')).toBe(false)
    expect(await queue.getJobSchedulers()).toEqual([])
    await worker.close()
  })

  test('upsertJobScheduler pattern (6-field cron, every second) fires; upsert replaces', async () => {
    const queue = newQueue('pattern')
    expect(await queue.upsertJobScheduler('sec', { pattern: '* * * * * *' }, { name: 'cron-job' })).toBeUndefined()
    await queue.upsertJobScheduler('sec', { pattern: '* * * * * *' }, { name: 'cron-job-2', data: { v: 2 } })
    expect(await queue.getJobSchedulersCount()).toBe(1)
    const names: string[] = []
    const worker = fixture.track(new Worker(queue.name, async (job) => void names.push(job.name), { connection: connection() }))
    await waitFor('a cron job', () => names.length >= 1)
    expect(names[0]).toBe('cron-job-2')
    await queue.removeJobScheduler('sec')
    await worker.close()
  })

  test('add with repeat creates a scheduler; a bad pattern is refused', async () => {
    const queue = newQueue('repeat')
    const job = await queue.add('rep', { r: 1 }, { repeat: { every: 60_000 } })
    expect(job.name).toBe('rep')
    expect((await queue.getJobSchedulers()).map((scheduler) => scheduler.key)).toEqual(['rep:60000'])
    expect(String(await queue.upsertJobScheduler('bad', { pattern: 'not a cron' }).catch((error: Error) => error))).toContain('Invalid cron expression')
  })
})
