/**
 * Conformance against a real server process, driven the way the flashQ TypeScript client and its
 * Queue/Worker wrappers drive it (spec §7): JSON and MessagePack framing (nil for absent optionals),
 * addBulk, a 10-connection Worker with retries, the §7.4 method mapping, and no unmatched replies.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Unpackr } from 'msgpackr'
import { startServer, type TestServer } from '../harness/server'
import { FlashQ, type Job, Queue, Worker, warnings } from './flashq-client/client'

let server: TestServer
const opened: Array<{ close(): Promise<void> }> = []
const connection = () => ({ host: '127.0.0.1', port: server.tcpPort })

function track<T extends { close(): Promise<void> }>(value: T): T {
  opened.push(value)
  return value
}

beforeAll(async () => {
  server = await startServer()
})

afterAll(async () => {
  for (const value of opened) await value.close().catch(() => {})
  await server?.cleanup()
})

describe('Queue.add', () => {
  test('JSON mode: PUSH with data {name, ...data} and mapped options; undefined options are omitted', async () => {
    const queue = track(new Queue('cc-add-json', connection()))
    queue.client.recordSent = true
    const job = await queue.add('email', { to: 'a@b.c' }, { attempts: 3, backoff: { type: 'exponential', delay: 50 }, removeOnComplete: 5, removeOnFail: false, jobId: 'cc-json-1' })
    expect(job.id).toBeGreaterThan(0)
    const line = queue.client.sent.at(-1) as string
    expect(line.endsWith('\n')).toBe(true)
    const sent = JSON.parse(line)
    expect(sent.reqId).toMatch(/^[0-9a-z]+-[0-9a-z]{4}-\d+$/)
    expect(sent).toMatchObject({ cmd: 'PUSH', queue: 'cc-add-json', data: { name: 'email', to: 'a@b.c' }, priority: 0, lifo: false, max_attempts: 3, backoff: 50, remove_on_complete: true, remove_on_fail: false, job_id: 'cc-json-1' })
    expect('delay' in sent).toBe(false)
    const found = await queue.client.getJob(job.id)
    expect(found?.state).toBe('waiting')
    expect(found?.job).toMatchObject({ id: job.id, queue: 'cc-add-json', data: { name: 'email', to: 'a@b.c' }, max_attempts: 3, backoff: 50, remove_on_complete: true, custom_id: 'cc-json-1' })
  })

  test('MessagePack mode: absent optionals go on the wire as nil and the server treats them as absent', async () => {
    const queue = track(new Queue('cc-add-msgpack', { ...connection(), useBinary: true }))
    queue.client.recordSent = true
    const job = await queue.add('resize', { width: 100, ratio: 0.5 }, { attempts: 2 })
    expect(job.id).toBeGreaterThan(0)
    const frame = queue.client.sent.at(-1) as Buffer
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4)
    const body = frame.subarray(4)
    const decoded = new Unpackr({ useRecords: false, mapsAsObjects: true }).unpack(body) as Record<string, unknown>
    for (const key of ['delay', 'ttl', 'timeout', 'backoff', 'unique_key', 'depends_on', 'tags', 'stall_timeout', 'debounce_id', 'debounce_ttl', 'job_id', 'keep_completed_age', 'keep_completed_count', 'group_id']) {
      expect(key in decoded).toBe(true)
      expect(decoded[key]).toBeNull()
    }
    // nil (0xc0) is on the wire, never msgpackr's undefined extension (d4 00 00)
    expect(body.includes(Buffer.from([0xd4, 0x00, 0x00]))).toBe(false)
    expect(body.filter((byte) => byte === 0xc0).length).toBeGreaterThanOrEqual(14)

    const found = await queue.client.getJob(job.id)
    expect(found?.state).toBe('waiting')
    expect(found?.job).toMatchObject({ data: { name: 'resize', width: 100, ratio: 0.5 }, max_attempts: 2, ttl: 0, timeout: 0, backoff: 0, unique_key: null, tags: [], depends_on: [], custom_id: null, group_id: null, stall_timeout: 0 })
    expect(found?.job.run_at).toBe(found?.job.created_at)
  })

  test('addBulk → PUSHB in both modes (nil optionals inside every job in msgpack)', async () => {
    for (const useBinary of [false, true]) {
      const name = `cc-bulk-${useBinary ? 'msgpack' : 'json'}`
      const queue = track(new Queue(name, { ...connection(), useBinary }))
      const ids = await queue.addBulk(Array.from({ length: 250 }, (_, i) => ({ name: 'n', data: { i }, opts: i % 2 ? { attempts: 4 } : undefined })))
      expect(ids.length).toBe(250)
      expect(new Set(ids).size).toBe(250)
      for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1] as number)
      expect(await queue.client.count(name)).toBe(250)
      const second = await queue.client.getJob(ids[1] as number)
      expect(second?.job).toMatchObject({ data: { name: 'n', i: 1 }, max_attempts: 4 })
      const first = await queue.client.getJob(ids[0] as number)
      expect(first?.job.max_attempts).toBe(0)
    }
  })
})

describe('Worker', () => {
  test('10 connections, PULLB/ACK/FAIL; jobs failing once are retried and complete', async () => {
    const name = 'cc-worker'
    const total = 600
    const queue = track(new Queue(name, connection()))
    const ids = await queue.addBulk(Array.from({ length: total }, (_, i) => ({ name: 'w', data: { i }, opts: { attempts: 3, backoff: { delay: 5 } } })))
    const failOnce = new Set(ids.filter((_, i) => i % 7 === 3))
    const seen = new Map<number, number>()
    const watched = ids[3] as number
    const waiter = queue.client.finished(watched, 15_000)

    let done!: () => void
    const allDone = new Promise<void>((resolve) => (done = resolve))
    const completedIds = new Set<number>()
    const worker = track(
      new Worker(
        name,
        async (job: Job) => {
          const count = (seen.get(job.id) ?? 0) + 1
          seen.set(job.id, count)
          if (failOnce.has(job.id) && count === 1) throw new Error(`transient ${job.id}`)
          completedIds.add(job.id)
          if (completedIds.size === total) queueMicrotask(done)
          return { doubled: (job.data.i as number) * 2, attempt: count }
        },
        { ...connection(), concurrency: 10 },
      ),
    )
    expect(worker.clients.length).toBe(10)
    await allDone
    await worker.close()

    expect(completedIds.size).toBe(total)
    for (const id of failOnce) expect(seen.get(id)).toBe(2)
    expect(worker.counts.failed).toBe(failOnce.size)
    expect(worker.counts.completed).toBe(total)
    expect(worker.counts.errors).toBe(0)
    expect(worker.clients.every((client) => client.unmatchedReplies === 0)).toBe(true)

    expect(await waiter).toEqual({ doubled: 6, attempt: 2 })
    expect(await queue.client.getResult(ids[0] as number)).toEqual({ doubled: 0, attempt: 1 })
    expect(await queue.client.getState(watched)).toBe('completed')
    const counts = await queue.client.getJobCounts(name)
    expect(counts).toEqual({ waiting: 0, active: 0, delayed: 0, completed: total, failed: 0 })
  })

  test('a job failing every attempt ends in the DLQ with FAIL carrying the error message', async () => {
    const name = 'cc-worker-dlq'
    const queue = track(new Queue(name, connection()))
    const job = await queue.add('doomed', {}, { attempts: 2 })
    const finished = queue.client.finished(job.id, 15_000).then(() => 'resolved', (error: Error) => error.message)
    const worker = track(new Worker(name, () => { throw new Error('always broken') }, { ...connection(), concurrency: 2 }))
    expect(await finished).toBe('Job failed')
    await worker.close()
    const dlq = await queue.client.getDlq(name)
    expect(dlq.map((entry) => entry.id)).toEqual([job.id])
    expect(dlq[0]?.attempts).toBe(2)
    expect(await queue.client.getState(job.id)).toBe('failed')
  })
})

describe.each([['json', false], ['msgpack', true]] as const)('§7.4 method mapping (%s)', (mode, useBinary) => {
  let client: FlashQ
  let completedId = 0
  const name = `cc-methods-${mode}`
  beforeAll(async () => {
    client = track(new FlashQ({ ...connection(), useBinary }))
    await client.connect()
  })

  test('ping, push with a custom id, getJob/getState/getJobByCustomId', async () => {
    expect(await client.ping()).toBe(true)
    const job = await client.push(name, { hello: mode }, { jobId: `custom-${mode}`, priority: 5, tags: ['t'] })
    expect(job.stall_timeout).toBe(30000)
    expect(await client.getState(job.id)).toBe('waiting')
    const byId = await client.getJob(job.id)
    expect(byId).toMatchObject({ state: 'waiting', job: { id: job.id, data: { hello: mode }, priority: 5, tags: ['t'], custom_id: `custom-${mode}` } })
    const byCustom = await client.getJobByCustomId(`custom-${mode}`)
    expect(byCustom).toMatchObject({ state: 'waiting', job: { id: job.id } })
    expect(await client.getJobByCustomId(`missing-${mode}`)).toBeNull()
    expect(await client.getJob(99_999_999)).toBeNull()
    expect(await client.getState(99_999_999)).toBe('unknown')
    // same custom id again → same id (idempotent)
    expect((await client.push(name, {}, { jobId: `custom-${mode}` })).id).toBe(job.id)
  })

  test('pull, progress/getProgress, log/getLogs/heartbeat via job_id, ack with result, getResult, finished', async () => {
    const pulled = await client.pull(name, 1000)
    expect(pulled?.data).toEqual({ hello: mode })
    const id = pulled?.id as number
    completedId = id
    expect(await client.getState(id)).toBe('active')
    await client.progress(id, 150, 'half')
    expect(await client.getProgress(id)).toEqual({ progress: 100, message: 'half' })
    await client.progress(id, 40)
    expect((await client.getProgress(id)).progress).toBe(40)
    await client.log(id, 'step one', 'info')
    await client.log(id, 'careful', 'warn')
    const logs = await client.getLogs(id)
    expect(logs.map((entry) => [entry.message, entry.level])).toEqual([['step one', 'info'], ['careful', 'warn']])
    await client.heartbeat(id)
    const waiter = client.finished(id, 10_000)
    await client.ack(id, { out: mode })
    expect(await waiter).toEqual({ out: mode })
    expect(await client.getResult(id)).toEqual({ out: mode })
    expect(await client.getState(id)).toBe('completed')
    expect(await client.getJob(id)).toBeNull()
    // after completion: finished resolves at once, heartbeat and ack reject with the server's message
    expect(await client.finished(id, 1000)).toEqual({ out: mode })
    await expect(client.heartbeat(id)).rejects.toThrow(`Job ${id} not in processing`)
    await expect(client.ack(id)).rejects.toThrow(`Job ${id} not found`)
    expect(await client.pull(name, 0)).toBeNull()
  })

  test('getJobCounts, getJobs, getJobsBatch, pause/resume/isPaused, listQueues, stats, metrics', async () => {
    const ids = await client.pushBatch(name, [{ data: { k: 1 } }, { data: { k: 2 }, delay: 60_000 }])
    expect(await client.getJobCounts(name)).toEqual({ waiting: 1, active: 0, delayed: 1, completed: 1, failed: 0 })
    const page = await client.getJobs({ queue: name, limit: 10 })
    expect(page.total).toBe(3)
    expect(page.jobs.map((item) => [item.job.id, item.state])).toEqual([[ids[1] as number, 'delayed'], [ids[0] as number, 'waiting'], [completedId, 'completed']])
    const delayedOnly = await client.getJobs({ queue: name, state: 'delayed' })
    expect(delayedOnly.jobs.map((item) => item.job.id)).toEqual([ids[1] as number])
    const batch = await client.getJobsBatch(ids)
    expect(batch.map((item) => item.state).sort()).toEqual(['delayed', 'waiting'])

    expect(await client.isPaused(name)).toBe(false)
    await client.pause(name)
    expect(await client.isPaused(name)).toBe(true)
    expect(await client.pull(name, 0)).toBeNull()
    const listed = (await client.listQueues()).find((entry) => entry.name === name)
    expect(listed).toMatchObject({ name, paused: true, pending: 1, delayed: 1 })
    await client.resume(name)
    expect(await client.isPaused(name)).toBe(false)

    const stats = await client.stats()
    for (const key of ['queued', 'processing', 'delayed', 'dlq'] as const) expect(typeof stats[key]).toBe('number')
    expect(stats.delayed).toBeGreaterThanOrEqual(1)
    const metrics = await client.metrics()
    expect(typeof metrics.total_pushed).toBe('number')
    expect(await client.drain(name)).toBe(2)
  })

  test('fail → retry → DLQ, retryDlq, purgeDlq, cancel; error replies reject', async () => {
    const job = await client.push(`${name}-dlq`, { x: 1 }, { max_attempts: 1 })
    const pulled = await client.pullBatch(`${name}-dlq`, 10, 1000)
    expect(pulled.map((entry) => entry.id)).toEqual([job.id])
    await client.fail(job.id, 'boom')
    expect(await client.getState(job.id)).toBe('failed')
    await expect(client.finished(job.id, 1000)).rejects.toThrow('Job failed')
    expect((await client.getDlq(`${name}-dlq`)).map((entry) => entry.id)).toEqual([job.id])
    expect(await client.retryDlq(`${name}-dlq`)).toBe(1)
    expect(await client.getState(job.id)).toBe('waiting')
    await client.cancel(job.id)
    expect(await client.getState(job.id)).toBe('unknown')
    expect(await client.purgeDlq(`${name}-dlq`)).toBe(0)
    await expect(client.send({ cmd: 'push', queue: 'x', data: 1 })).rejects.toThrow(/^Invalid: /)
    await expect(client.push('bad name!', {})).rejects.toThrow('Queue name must contain only')
  })
})

test('auth: with tokens configured, AUTH goes out right after connect, before anything else', async () => {
  const secured = await startServer({ env: { AUTH_TOKENS: 'secret-1,secret-2' } })
  try {
    for (const useBinary of [false, true]) {
      const client = new FlashQ({ host: '127.0.0.1', port: secured.tcpPort, token: 'secret-2', useBinary })
      client.recordSent = true
      await client.connect()
      expect(client.sent.length).toBe(1)
      expect(await client.ping()).toBe(true)
      const job = await client.push('cc-auth', { ok: 1 })
      expect(job.id).toBeGreaterThan(0)
      await client.close()

      const anonymous = new FlashQ({ host: '127.0.0.1', port: secured.tcpPort, useBinary })
      await expect(anonymous.send({ cmd: 'PING' })).rejects.toThrow('Authentication required')
      await anonymous.close()
      const wrong = new FlashQ({ host: '127.0.0.1', port: secured.tcpPort, token: 'nope', useBinary })
      await expect(wrong.connect()).rejects.toThrow('Invalid token')
      await wrong.close()
    }
  } finally {
    await secured.cleanup()
  }
})

test('no reply ever arrived without a matching reqId', () => {
  expect(warnings.messages).toEqual([])
  expect(warnings.unmatchedReplies).toBe(0)
})
