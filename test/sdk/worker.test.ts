/**
 * Worker against a real server: events in order, retries with backoff, UnrecoverableError, non-Error
 * throws, concurrency, the limiter, pause/resume, autorun/run, graceful and forced close, competing
 * workers, Job methods inside a processor, and heartbeats for a long job.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { DelayedError, FlashQ, type Job, type Processor, Queue, UnrecoverableError, Worker } from '../../src/client/index.ts'
import { nextEvent, queueName, serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(45_000)
const fixture = serverFixture()
const connection = () => fixture.connection
const newQueue = (label: string) => fixture.track(new Queue(queueName(label), { connection: connection() }))
const newWorker = <D = any, R = any>(queue: Queue, processor: Processor<D, R>, opts: ConstructorParameters<typeof Worker>[2] = {}) =>
  fixture.track(new Worker<D, R>(queue.name, processor, { connection: connection(), ...opts }))

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

describe('events', () => {
  test('active → progress → completed for each job, in order, with the result; drained after the last', async () => {
    const queue = newQueue('events')
    const events: string[] = []
    const worker = newWorker(queue, async (job) => {
      await job.updateProgress(50)
      await job.updateProgress({ stage: 'half' })
      return { doubled: job.data.n * 2 }
    }, { autorun: false })
    worker.on('active', (job, prev) => events.push(`active:${job.data.n}:${prev}`))
    worker.on('progress', (job, progress) => events.push(`progress:${job.data.n}:${JSON.stringify(progress)}`))
    worker.on('completed', (job, result) => events.push(`completed:${job.data.n}:${JSON.stringify(result)}:${job.returnvalue === result}`))
    const drained = nextEvent(worker, 'drained')
    await queue.add('a', { n: 1 })
    await queue.add('b', { n: 2 })
    void worker.run()
    await waitFor('two completions', () => events.filter((event) => event.startsWith('completed')).length === 2)
    await drained
    for (const n of [1, 2]) {
      expect(events.filter((event) => event.includes(`:${n}:`))).toEqual([
        `active:${n}:waiting`,
        `progress:${n}:50`,
        `progress:${n}:{"stage":"half"}`,
        `completed:${n}:{"doubled":${n * 2}}:true`,
      ])
    }
    const job = (await queue.getCompleted())[0]
    expect(job?.processedOn).toBeGreaterThan(0)
    expect(job?.finishedOn).toBeGreaterThanOrEqual(job?.processedOn as number)
  })

  test('failed event carries the error; the job fails for good after its attempts', async () => {
    const queue = newQueue('failed')
    const worker = newWorker(queue, async () => {
      throw new Error('no luck')
    })
    const failed = nextEvent<[Job, Error, string]>(worker, 'failed')
    const job = await queue.add('x', {})
    const [failedJob, error, prev] = await failed
    expect([failedJob.id, error.message, prev, failedJob.failedReason, failedJob.attemptsMade]).toEqual([job.id, 'no luck', 'active', 'no luck', 1])
    expect(await job.getState()).toBe('failed')
  })
})

describe('MessagePack', () => {
  test('Queue and Worker with useBinary: data, results and failures round-trip', async () => {
    const binary = { ...connection(), useBinary: true }
    const queue = fixture.track(new Queue(queueName('msgpack'), { connection: binary }))
    fixture.track(new Worker(queue.name, async (job) => {
      if (job.data.fail) throw new Error('binary failure')
      return { got: job.data.payload, big: 2 ** 45 }
    }, { connection: binary, concurrency: 4 }))
    const payload = { text: 'ünïcödé', list: [1, 1.5, null, { deep: true }] }
    const ok = await queue.add('ok', { payload })
    const bad = await queue.add('bad', { fail: true })
    expect(await ok.waitUntilFinished(undefined, 10_000)).toEqual({ got: payload, big: 2 ** 45 })
    expect(String(await bad.waitUntilFinished(undefined, 10_000).catch((error: Error) => error))).toBe('Error: binary failure')
    expect((await queue.getJob(ok.id as string))?.data).toEqual({ payload })
  })
})

describe('retries', () => {
  test('attempts with exponential backoff: retried after at least the backoff, then completes', async () => {
    const queue = newQueue('retry')
    const attempts: Array<{ made: number; at: number }> = []
    newWorker(queue, async (job) => {
      attempts.push({ made: job.attemptsMade, at: Date.now() })
      if (job.attemptsMade < 2) throw new Error(`attempt ${job.attemptsMade} fails`)
      return 'third time'
    })
    const job = await queue.add('flaky', {}, { attempts: 3, backoff: { type: 'exponential', delay: 200 } })
    expect(await job.waitUntilFinished(undefined, 20_000)).toBe('third time')
    expect(attempts.map((attempt) => attempt.made)).toEqual([0, 1, 2])
    // BullMQ's schedule: delay × 2^(failures−1) = 200 ms, then 400 ms (lower bounds only).
    expect((attempts[1]?.at as number) - (attempts[0]?.at as number)).toBeGreaterThanOrEqual(190)
    expect((attempts[2]?.at as number) - (attempts[1]?.at as number)).toBeGreaterThanOrEqual(390)
    const done = await queue.getJob(job.id as string)
    expect(done?.returnvalue).toBe('third time')
  })

  test('UnrecoverableError fails at once despite attempts left', async () => {
    const queue = newQueue('unrecoverable')
    let calls = 0
    const worker = newWorker(queue, async () => {
      calls++
      throw new UnrecoverableError('bad input')
    })
    const failed = nextEvent<[Job, Error]>(worker, 'failed')
    const job = await queue.add('x', {}, { attempts: 5, backoff: 10 })
    const [, error] = await failed
    expect(error).toBeInstanceOf(UnrecoverableError)
    await waitFor('failed state', async () => (await job.getState()) === 'failed')
    expect(calls).toBe(1)
    expect((await queue.getJob(job.id as string))?.failedReason).toBe('bad input')
  })

  test('a processor that throws a non-Error (string, object, undefined) fails the job cleanly', async () => {
    const queue = newQueue('non-error')
    const thrown: unknown[] = ['plain string', { code: 42 }, undefined]
    const worker = newWorker(queue, async (job) => {
      throw thrown[job.data.i]
    }, { concurrency: 3 })
    const reasons = new Map<number, string>()
    worker.on('failed', (job, error) => reasons.set(job?.data.i, error.message))
    const errors: Error[] = []
    worker.on('error', (error) => errors.push(error))
    await queue.addBulk(thrown.map((_, i) => ({ name: 'x', data: { i } })))
    await waitFor('three failures', () => reasons.size === 3)
    expect([reasons.get(0), reasons.get(1), reasons.get(2)]).toEqual(['plain string', 'non-Error thrown: {"code":42}', 'non-Error thrown: undefined'])
    expect(await queue.getFailedCount()).toBe(3)
    expect(errors).toEqual([])
  })
})

describe('flow control', () => {
  test('concurrency: never more than N processors at once, and N are reached', async () => {
    const queue = newQueue('concurrency')
    let running = 0
    let peak = 0
    newWorker(queue, async () => {
      peak = Math.max(peak, ++running)
      await new Promise((resolve) => setTimeout(resolve, 30))
      running--
    }, { concurrency: 4 })
    await queue.addBulk(Array.from({ length: 24 }, (_, i) => ({ name: 'x', data: { i } })))
    await waitFor('all completed', async () => (await queue.getCompletedCount()) === 24)
    expect(peak).toBe(4)
  })

  test('limiter: at most `max` jobs start in any `duration` window', async () => {
    const queue = newQueue('limiter')
    const starts: number[] = []
    newWorker(queue, async () => void starts.push(Date.now()), { concurrency: 10, limiter: { max: 3, duration: 500 } })
    await queue.addBulk(Array.from({ length: 9 }, (_, i) => ({ name: 'x', data: { i } })))
    await waitFor('nine started', () => starts.length === 9)
    for (const start of starts) expect(starts.filter((other) => other >= start && other < start + 500).length).toBeLessThanOrEqual(3)
  })

  test('pause() stops taking jobs after the active ones finish; resume() continues; autorun false waits for run()', async () => {
    const queue = newQueue('pause')
    const done: number[] = []
    const worker = newWorker(queue, async (job) => void done.push(job.data.i), { autorun: false })
    await queue.add('x', { i: 1 })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(done).toEqual([]) // not running yet
    void worker.run()
    await waitFor('first job', () => done.length === 1)
    await worker.pause()
    expect(worker.isPaused()).toBe(true)
    await queue.add('x', { i: 2 })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(done).toEqual([1])
    worker.resume()
    await waitFor('second job', () => done.length === 2)
    expect(String(await worker.run().catch((error: Error) => error))).toContain('already running')
  })

  test('competing workers on one queue: every job is processed exactly once', async () => {
    const queue = newQueue('compete')
    const seen = new Map<string, string[]>()
    const record = (name: string) => async (job: Job) => {
      seen.set(job.id as string, [...(seen.get(job.id as string) ?? []), name])
    }
    const workers = ['w1', 'w2', 'w3'].map((name) => newWorker(queue, record(name), { concurrency: 20 }))
    await queue.addBulk(Array.from({ length: 3000 }, (_, i) => ({ name: 'x', data: { i } })))
    await waitFor('all completed', async () => (await queue.getCompletedCount()) >= 3000)
    expect(seen.size).toBe(3000)
    expect([...seen.values()].filter((names) => names.length !== 1)).toEqual([])
    const perWorker = new Map<string, number>()
    for (const [name] of seen.values()) perWorker.set(name as string, (perWorker.get(name as string) ?? 0) + 1)
    expect(perWorker.size).toBeGreaterThan(1) // the work was shared
    await Promise.all(workers.map((worker) => worker.close()))
  })
})

describe('close', () => {
  test('close() waits for active jobs and their acknowledgement; emits closed', async () => {
    const queue = newQueue('close')
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const worker = newWorker(queue, async () => {
      await gate
      return 'finished'
    })
    const job = await queue.add('slow', {})
    await waitFor('active', async () => (await job.getState()) === 'active')
    const closed = nextEvent(worker, 'closed')
    let closeDone = false
    const closing = worker.close().then(() => (closeDone = true))
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(closeDone).toBe(false)
    release()
    await closing
    await closed
    expect(await job.getState()).toBe('completed')
    expect(await queue.getJob(job.id as string).then((read) => read?.returnvalue)).toBe('finished')
  })

  test('close(true) does not wait: the active job goes back to the queue for another worker', async () => {
    const queue = newQueue('force')
    const worker = newWorker(queue, () => new Promise<never>(() => {}))
    const job = await queue.add('stuck', {})
    await waitFor('active', async () => (await job.getState()) === 'active')
    await worker.close(true)
    expect(await job.getState()).toBe('waiting')
    const second = newWorker(queue, async () => 'rescued')
    expect(await job.waitUntilFinished(undefined, 10_000)).toBe('rescued')
    await second.close()
  })
})

describe('Job methods inside a processor', () => {
  test('log, getState, updateData, moveToDelayed + DelayedError', async () => {
    const queue = newQueue('job-methods')
    const states: string[] = []
    newWorker(queue, async (job, token) => {
      states.push(await job.getState())
      if (!job.data.delayedOnce) {
        expect(await job.log('before delay')).toBe(1)
        await job.updateData({ ...job.data, delayedOnce: true })
        await job.moveToDelayed(Date.now() + 100, token)
        throw new DelayedError()
      }
      expect(await job.log('after delay')).toBe(2)
      return `after delay, data ${JSON.stringify(job.data)}, attempts ${job.attemptsMade}`
    })
    const job = await queue.add('m', { v: 1 })
    // A delay is not an attempt; the data update survived it.
    expect(await job.waitUntilFinished(undefined, 10_000)).toBe('after delay, data {"v":1,"delayedOnce":true}, attempts 0')
    expect(states).toEqual(['active', 'active'])
    expect((await queue.getJobLogs(job.id as string)).logs).toEqual(['before delay', 'after delay'])
  })
})

describe('heartbeats', () => {
  test('a job running longer than its stall timeout is kept alive by heartbeats (no stall strike)', async () => {
    const queue = newQueue('heartbeat')
    const job = await queue.add('long', {}, { stallTimeout: 1000 })
    // The server checks for stalls every 10 s; run across one check.
    const worker = newWorker(queue, () => new Promise((resolve) => setTimeout(() => resolve('survived'), 11_000)))
    expect(await job.waitUntilFinished(undefined, 30_000)).toBe('survived')
    const logs = await new FlashQ({ host: '127.0.0.1', port: fixture.server.tcpPort }).getLogs(Number(job.id))
    expect(logs.filter((entry) => entry.message.includes('stall'))).toEqual([])
    await worker.close()
  })

  test('without heartbeats the same job gets a stall strike (the check above can fail)', async () => {
    const queue = newQueue('no-heartbeat')
    const job = await queue.add('long', {}, { stallTimeout: 1000 })
    const client = fixture.track(new FlashQ({ host: '127.0.0.1', port: fixture.server.tcpPort }))
    const pulled = await client.pull(queue.name, 1000)
    expect(String(pulled?.id)).toBe(job.id as string)
    await waitFor('a stall strike', async () => (await client.getLogs(Number(job.id))).some((entry) => entry.message.includes('stall')), 25_000)
  })
})
