/**
 * The FlashQ client and its transport against real servers, over both socket implementations (Bun's
 * and node:net) and both framings: the §7.4 methods, pipelining on one connection, MessagePack, AUTH,
 * request timeouts, and what happens to requests in flight when the connection drops.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { AuthenticationError, ConnectionClosedError, FlashQ, RequestTimeoutError } from '../../src/client/index.ts'
import { startServer, type TestServer } from '../harness/server.ts'
import { queueName, serverFixture } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture()

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

for (const socket of ['bun', 'node'] as const) {
  for (const useBinary of [false, true]) {
    describe(`socket ${socket}, ${useBinary ? 'MessagePack' : 'JSON lines'}`, () => {
      const client = () => fixture.track(new FlashQ({ host: '127.0.0.1', port: fixture.server.tcpPort, socket, useBinary }))

      test('push → pull → progress → ack → getJob / getResult / finished, with large ids and nested data', async () => {
        const flashq = client()
        const queue = queueName(`core-${socket}-${useBinary}`)
        const data = { text: 'héllo ✓', nested: { list: [1, 2.5, null, true] }, big: 2 ** 40 }
        const pushed = await flashq.push(queue, data, { priority: 3, max_attempts: 2, tags: ['t'] })
        expect(pushed).toMatchObject({ queue, data, priority: 3, max_attempts: 2, attempts: 0 })
        const pulled = await flashq.pull<typeof data>(queue, 1000)
        expect(pulled).toMatchObject({ id: pushed.id, data, priority: 3, tags: ['t'] })
        await flashq.progress(pushed.id, 150, 'clamped')
        expect(await flashq.getProgress(pushed.id)).toEqual({ progress: 100, message: 'clamped' })
        const waiting = flashq.finished(pushed.id, 5000)
        await flashq.ack(pushed.id, { answer: 42 })
        expect(await waiting).toEqual({ answer: 42 })
        expect(await flashq.getState(pushed.id)).toBe('completed')
        expect(await flashq.getResult(pushed.id)).toEqual({ answer: 42 })
      })

      test('pullBatchSparse (extension) gives jobs that read like GETJOB\'s, every field, from a reply without the default ones', async () => {
        const flashq = client()
        const queue = queueName(`sparse-${socket}-${useBinary}`)
        await flashq.pushBatch<unknown>(queue, [{ data: { plain: 1 } }, { data: 'rich', priority: 2, max_attempts: 3, tags: ['t'], lifo: true, jobId: `c-${socket}-${useBinary}` }])
        const jobs = await flashq.pullBatchSparse(queue, 2, 1000)
        expect(jobs.map((job) => job.data)).toEqual(['rich', { plain: 1 }])
        for (const job of jobs) {
          const full = (await flashq.getJob(job.id))?.job as unknown as Record<string, unknown>
          expect(Object.keys(full).length).toBe(31)
          for (const field of Object.keys(full)) expect([field, (job as unknown as Record<string, unknown>)[field]]).toEqual([field, full[field]])
        }
        // The plain job's reply carried only what is not a default.
        expect(Object.keys(jobs[1] as object).length).toBeLessThan(10)
        await flashq.ackBatch(jobs.map((job) => job.id))
      })

      test('500 requests pipelined on one connection are matched to their callers', async () => {
        const flashq = client()
        const queue = queueName(`pipe-${socket}-${useBinary}`)
        const jobs = await Promise.all(Array.from({ length: 500 }, (_, i) => flashq.push(queue, { i })))
        expect(new Set(jobs.map((job) => job.id)).size).toBe(500)
        const read = await Promise.all(jobs.map((job) => flashq.getJob(job.id)))
        expect(read.map((entry) => (entry?.job.data as { i: number }).i)).toEqual(jobs.map((_, i) => i))
        expect(flashq.connection.pendingCount).toBe(0)
      })
    })
  }
}

describe('FlashQ methods', () => {
  const client = () => fixture.track(new FlashQ({ host: '127.0.0.1', port: fixture.server.tcpPort }))

  test('batches, fail/DLQ, counts, queue control, custom ids, cron, stats and KV', async () => {
    const flashq = client()
    const queue = queueName('methods')
    expect(await flashq.ping()).toBe(true)
    const ids = await flashq.pushBatch(queue, [{ data: 1 }, { data: 2, jobId: 'custom-1' }, { data: 3, max_attempts: 1 }])
    expect(ids).toHaveLength(3)
    expect((await flashq.getJobByCustomId('custom-1'))?.job.id).toBe(ids[1])
    expect((await flashq.getJobsBatch(ids)).map((entry) => entry.state)).toEqual(['waiting', 'waiting', 'waiting'])
    const batch = await flashq.pullBatch(queue, 3, 1000)
    expect(batch.map((job) => job.id)).toEqual(ids)
    expect(await flashq.ackBatch([ids[0] as number, ids[1] as number])).toBe(2)
    await flashq.fail(ids[2] as number, 'nope')
    expect((await flashq.getDlq(queue)).map((job) => job.id)).toEqual([ids[2] as number])
    expect(await flashq.getJobCounts(queue)).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 2, failed: 1 })
    expect(await flashq.retryDlq(queue)).toBe(1)
    expect(await flashq.count(queue)).toBe(1)
    expect(await flashq.purgeDlq(queue)).toBe(0)
    await flashq.pause(queue)
    expect(await flashq.isPaused(queue)).toBe(true)
    await flashq.resume(queue)
    await flashq.setRateLimit(queue, 100)
    await flashq.setConcurrency(queue, 5)
    const info = (await flashq.listQueues()).find((entry) => entry.name === queue)
    expect(info).toMatchObject({ rate_limit: 100, concurrency_limit: 5 })
    await flashq.clearRateLimit(queue)
    await flashq.clearConcurrency(queue)
    const listed = await flashq.getJobs({ queue, state: 'completed' })
    expect(listed.total).toBe(2)
    expect(await flashq.drain(queue)).toBe(1)
    await flashq.addCron(`${queue}-cron`, { queue, data: { c: 1 }, repeat_every: 60_000 })
    expect((await flashq.listCrons()).some((cron) => cron.name === `${queue}-cron` && cron.repeat_every === 60_000)).toBe(true)
    expect(await flashq.deleteCron(`${queue}-cron`)).toBe(true)
    expect((await flashq.stats()).completed).toBeGreaterThanOrEqual(2)
    expect((await flashq.metrics()).total_pushed).toBeGreaterThanOrEqual(3)
    await flashq.kvSet(`${queue}-k`, { v: 1 })
    expect(await flashq.kvGet(`${queue}-k`)).toEqual({ v: 1 })
    expect(await flashq.kvIncr(`${queue}-n`, 5)).toBe(5)
    expect(await flashq.kvDel(`${queue}-k`)).toBe(true)
  })

  test('subscribeWs(queue) and subscribe() deliver JobEvents with eventType/jobId', async () => {
    const flashq = fixture.track(new FlashQ({ host: '127.0.0.1', port: fixture.server.tcpPort, httpPort: fixture.server.httpPort ?? undefined }))
    const queue = queueName('subscribe')
    const other = queueName('subscribe-other')
    const one = await flashq.subscribeWs(queue)
    const all = await flashq.subscribe()
    const seenOne: string[] = []
    const seenAll: string[] = []
    one.on('event', (event) => seenOne.push(`${event.eventType}:${event.queue}:${event.jobId}`))
    all.on('event', (event) => seenAll.push(`${event.eventType}:${event.queue}:${event.jobId}`))
    const completed = new Promise((resolve) => one.once('completed', resolve))
    const job = await flashq.push(queue, { a: 1 })
    const elsewhere = await flashq.push(other, { b: 2 })
    const pulled = await flashq.pull(queue, 1000)
    await flashq.ack(pulled?.id as number, 'r')
    expect(await completed).toMatchObject({ eventType: 'completed', jobId: job.id, queue, data: 'r' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(seenOne).toEqual([`pushed:${queue}:${job.id}`, `active:${queue}:${job.id}`, `drained:${queue}:0`, `completed:${queue}:${job.id}`])
    expect(seenAll).toContain(`pushed:${other}:${elsewhere.id}`)
    expect(seenAll).toContain(`completed:${queue}:${job.id}`)
    await one.close()
    await all.close()
  })

  test('server errors are classified, named after the command, and do not break the connection', async () => {
    const flashq = client()
    const error = await flashq.ack(987654321).catch((caught: Error) => caught)
    expect(String(error)).toBe('FlashQError: ACK: Job 987654321 not found')
    expect(String(await flashq.push('bad name!', {}).catch((caught: Error) => caught))).toContain('Queue name must contain only')
    expect(String(await flashq.pushBatch('q', Array.from({ length: 1001 }, () => ({ data: 1 }))).catch((caught: Error) => caught))).toContain('Batch too large')
    expect(await flashq.ping()).toBe(true)
  })

  test('a request without a reply within its timeout fails with RequestTimeoutError; the connection stays usable', async () => {
    const flashq = client()
    const error = await flashq.send({ cmd: 'PULL', queue: queueName('timeout'), timeout: 5000 }, { timeoutMs: 100 }).catch((caught: Error) => caught)
    expect(error).toBeInstanceOf(RequestTimeoutError)
    expect(String(error)).toContain('PULL got no reply within 100 ms')
    expect(await flashq.ping()).toBe(true)
  })

  test('connecting to a port nobody listens on fails clearly (no hang)', async () => {
    const flashq = new FlashQ({ host: '127.0.0.1', port: 1, autoReconnect: false, timeout: 2000 })
    const error = await flashq.ping().then(() => flashq.connect()).catch((caught: Error) => caught)
    expect(error).toBeInstanceOf(ConnectionClosedError)
    expect(String(error)).toContain('cannot connect to 127.0.0.1:1')
    await flashq.close()
  })
})

describe('AUTH', () => {
  let secured: TestServer
  beforeAll(async () => {
    secured = await startServer({ args: ['--memory', '--auth-token', 's3cret'] })
  })
  afterAll(() => secured?.cleanup())

  test('the token is sent after connect, before queued requests; a wrong token fails every request with AuthenticationError', async () => {
    const good = new FlashQ({ host: '127.0.0.1', port: secured.tcpPort, token: 's3cret' })
    const pushes = await Promise.all([good.push('auth-q', 1), good.push('auth-q', 2)]) // issued before the connection exists
    expect(pushes).toHaveLength(2)
    await good.close()
    const bad = new FlashQ({ host: '127.0.0.1', port: secured.tcpPort, token: 'wrong' })
    const error = await bad.push('auth-q', 3).catch((caught: Error) => caught)
    expect(error).toBeInstanceOf(AuthenticationError)
    expect(String(error)).toContain('Invalid token')
    await bad.close()
    const none = new FlashQ({ host: '127.0.0.1', port: secured.tcpPort })
    expect(String(await none.push('auth-q', 4).catch((caught: Error) => caught))).toContain('Authentication required')
    await none.close()
  })
})

describe('connection loss', () => {
  test('in-flight requests fail with ConnectionClosedError; idempotent ones are re-sent after the reconnect', async () => {
    const server = await startServer({ args: ['--memory'] })
    const port = server.tcpPort
    const flashq = new FlashQ({ host: '127.0.0.1', port, reconnectDelay: 50, timeout: 10_000 })
    try {
      const queue = queueName('loss')
      await flashq.push(queue, 1)
      const blocking = flashq.pull(queueName('loss-empty'), 20_000).catch((caught: Error) => caught)
      const idempotentWait = flashq.send({ cmd: 'PULL', queue: queueName('loss-idem'), timeout: 3000 }, { idempotent: true, timeoutMs: 15_000 })
      await new Promise((resolve) => setTimeout(resolve, 100))
      await server.kill('SIGKILL')
      const lost = await blocking
      expect(lost).toBeInstanceOf(ConnectionClosedError)
      expect(String(lost)).toContain(`connection to 127.0.0.1:${port} lost`)
      const restarted = await startServer({ args: ['--memory'], tcpPort: port })
      try {
        expect((await idempotentWait).job).toBeNull() // answered by the new server after the reconnect
        expect(flashq.connection.reconnects).toBe(1)
        expect(await flashq.ping()).toBe(true)
      } finally {
        await restarted.cleanup()
      }
    } finally {
      await flashq.close()
      await server.cleanup()
    }
  })
})
