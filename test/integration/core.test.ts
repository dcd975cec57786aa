/**
 * The core vertical slice over the real wire: a real server process (durable, testMin preset) on port
 * 0, spoken to over raw TCP in JSON-lines and MessagePack modes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { startServer, type TestServer } from '../harness/server.ts'
import { frame, WireClient } from '../harness/wire-client.ts'

let server: TestServer
let queueCounter = 0
const freshQueue = (prefix = 'q') => `${prefix}-${Date.now()}-${queueCounter++}`

beforeAll(async () => {
  server = await startServer()
})
afterAll(async () => {
  await server.cleanup()
})

for (const mode of ['json', 'msgpack'] as const) {
  describe(`${mode} mode`, () => {
    test('push, pull, ack, then the job is completed with its result', async () => {
      const client = await WireClient.connect(server.tcpPort, mode)
      const queue = freshQueue(mode)
      const pushed = await client.request({ cmd: 'PUSH', queue, data: { to: 'a@b', n: 1.5 }, priority: 3 })
      expect(pushed).toMatchObject({ ok: true })
      expect(typeof pushed.id).toBe('number')
      const pulled = await client.request({ cmd: 'PULL', queue, timeout: 1000 })
      const job = pulled.job as Record<string, unknown>
      expect(job).toMatchObject({ id: pushed.id, queue, data: { to: 'a@b', n: 1.5 }, priority: 3, attempts: 0 })
      expect(Object.keys(job)).toHaveLength(31)
      expect(await client.request({ cmd: 'GETSTATE', id: pushed.id })).toMatchObject({ ok: true, state: 'active' })
      expect(await client.request({ cmd: 'ACK', id: pushed.id, result: { sent: true } })).toEqual({ reqId: expect.any(String), ok: true })
      expect(await client.request({ cmd: 'GETSTATE', id: pushed.id })).toMatchObject({ state: 'completed' })
      expect(await client.request({ cmd: 'GETRESULT', id: pushed.id })).toMatchObject({ ok: true, result: { sent: true } })
      expect(await client.request({ cmd: 'ACK', id: pushed.id })).toMatchObject({ ok: false, error: `Job ${pushed.id} not found` })
      client.close()
    })

    test('nil fields count as absent', async () => {
      const client = await WireClient.connect(server.tcpPort, mode)
      const queue = freshQueue(mode)
      const pushed = await client.request({ cmd: 'PUSH', queue, data: 1, priority: null, delay: null, lifo: null, ttl: null })
      expect(pushed.ok).toBe(true)
      const job = (await client.request({ cmd: 'GETJOB', id: pushed.id })).job as Record<string, unknown>
      expect(job).toMatchObject({ priority: 0, lifo: false, ttl: 0 })
      expect(job).not.toHaveProperty('state')
      client.close()
    })
  })
}

describe('failure and retries', () => {
  test('FAIL retries with exponential backoff, then moves to the DLQ after max_attempts', async () => {
    const client = await WireClient.connect(server.tcpPort)
    const queue = freshQueue('retry')
    const { id } = await client.request({ cmd: 'PUSH', queue, data: {}, max_attempts: 2, backoff: 100 })
    await client.request({ cmd: 'PULL', queue, timeout: 1000 })
    const failedAtMs = Date.now()
    expect(await client.request({ cmd: 'FAIL', id, error: 'boom' })).toMatchObject({ ok: true })
    const retried = await client.request({ cmd: "GETJOB", id })
    expect(retried.state).toBe('delayed')
    expect(retried.job.attempts).toBe(1)
    expect(retried.job.progress_msg as unknown).toBe('boom')
    // Backoff 100 × 2^1 = 200 ms: not before it, and a blocking pull gets it soon after.
    expect((await client.request({ cmd: 'PULL', queue, timeout: 0 })).job).toBeNull()
    const again = await client.request({ cmd: 'PULL', queue, timeout: 5000 })
    expect((again.job as { id: number }).id).toBe(id)
    expect(Date.now() - failedAtMs).toBeGreaterThanOrEqual(190)
    expect(await client.request({ cmd: 'FAIL', id, error: 'boom again' })).toMatchObject({ ok: true })
    expect(await client.request({ cmd: 'GETSTATE', id })).toMatchObject({ state: 'failed' })
    client.close()
  })
})

describe('blocking pulls', () => {
  test('a blocking PULL times out with job:null, close to its timeout', async () => {
    const client = await WireClient.connect(server.tcpPort)
    const startedMs = Date.now()
    const reply = await client.request({ cmd: 'PULL', queue: freshQueue('empty'), timeout: 300 })
    const elapsedMs = Date.now() - startedMs
    expect(reply).toMatchObject({ ok: true, job: null })
    expect(elapsedMs).toBeGreaterThanOrEqual(290)
    expect(elapsedMs).toBeLessThan(5000) // well before a client's timeout + 5 s
    expect(await client.request({ cmd: 'PULLB', queue: freshQueue('empty'), count: 5, timeout: 100 })).toMatchObject({ ok: true, jobs: [] })
    client.close()
  })

  test('a push wakes a waiting PULL at once, and a blocked PULL does not hold up later requests', async () => {
    const puller = await WireClient.connect(server.tcpPort)
    const queue = freshQueue('wake')
    const pull = puller.request({ cmd: 'PULL', queue, timeout: 20_000 })
    // Same connection: later requests are answered while the PULL waits.
    expect(await puller.request({ cmd: 'PING' })).toMatchObject({ ok: true, pong: true })
    const pusher = await WireClient.connect(server.tcpPort)
    const startedMs = Date.now()
    const { id } = await pusher.request({ cmd: 'PUSH', queue, data: 'x' })
    const pulled = await pull
    expect((pulled.job as { id: number }).id).toBe(id)
    expect(Date.now() - startedMs).toBeLessThan(5000)
    puller.close()
    pusher.close()
  })

  test('a delayed job reaches a waiting puller soon after its run_at, and does not block ready jobs', async () => {
    const client = await WireClient.connect(server.tcpPort)
    const queue = freshQueue('delay')
    const delayed = await client.request({ cmd: 'PUSH', queue, data: 'later', priority: 10, delay: 300 })
    const ready = await client.request({ cmd: 'PUSH', queue, data: 'now', priority: 1 })
    expect(((await client.request({ cmd: 'PULL', queue, timeout: 0 })).job as { id: number }).id).toBe(ready.id)
    const pulled = await client.request({ cmd: 'PULL', queue, timeout: 5000 })
    const job = pulled.job as { id: number; run_at: number }
    expect(job.id).toBe(delayed.id)
    expect(Date.now()).toBeGreaterThanOrEqual(job.run_at)
    client.close()
  })

  test('50 connections pull at once and every job is delivered exactly once', async () => {
    const queue = freshQueue('fifty')
    const clients = await Promise.all(Array.from({ length: 50 }, () => WireClient.connect(server.tcpPort)))
    const pulls = clients.map((client) => client.request({ cmd: 'PULL', queue, timeout: 10_000 }))
    const pusher = await WireClient.connect(server.tcpPort)
    const pushed = await pusher.request({ cmd: 'PUSHB', queue, jobs: Array.from({ length: 50 }, (_, i) => ({ data: i })) })
    const ids = (await Promise.all(pulls)).map((reply) => (reply.job as { id: number }).id)
    expect(new Set(ids).size).toBe(50)
    expect([...ids].sort((a, b) => a - b)).toEqual([...(pushed.ids as number[])].sort((a, b) => a - b))
    for (const client of clients) client.close()
    pusher.close()
  })
})

describe('throughput shapes', () => {
  test('500 pipelined pushes on one connection are all answered, matched by reqId', async () => {
    const client = await WireClient.connect(server.tcpPort)
    const queue = freshQueue('pipe')
    const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => client.request({ cmd: 'PUSH', queue, data: { i } })))
    const ids = replies.map((reply) => reply.id as number)
    expect(replies.every((reply) => reply.ok)).toBe(true)
    expect(new Set(ids).size).toBe(500)
    expect(await client.request({ cmd: 'STATS' })).toMatchObject({ ok: true })
    client.close()
  })

  test('500 pipelined pushes WITHOUT reqId are answered in request order', async () => {
    const client = await WireClient.connect(server.tcpPort)
    const queue = freshQueue('ordered')
    const replies = Promise.all(Array.from({ length: 500 }, () => client.nextUnmatched()))
    client.sendRaw(Array.from({ length: 500 }, (_, i) => `{"cmd":"PUSH","queue":"${queue}","data":${i}}\n`).join(''))
    const ids = (await replies).map((reply) => reply.id as number)
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    expect(new Set(ids).size).toBe(500)
    client.close()
  })

  test('a 1000-job PUSHB, then PULLB + ACKB drains it', async () => {
    const client = await WireClient.connect(server.tcpPort, 'msgpack')
    const queue = freshQueue('batch')
    const pushed = await client.request({ cmd: 'PUSHB', queue, jobs: Array.from({ length: 1000 }, (_, i) => ({ data: { i } })) })
    expect((pushed.ids as number[]).length).toBe(1000)
    let acked = 0
    while (acked < 1000) {
      const { jobs } = (await client.request({ cmd: 'PULLB', queue, count: 100, timeout: 1000 })) as unknown as { jobs: Array<{ id: number }> }
      expect(jobs.length).toBeGreaterThan(0)
      const reply = await client.request({ cmd: 'ACKB', ids: jobs.map((job) => job.id) })
      acked += reply.count as number
    }
    expect(await client.request({ cmd: 'GETJOBCOUNTS', queue })).toMatchObject({ waiting: 0, active: 0 })
    expect(await client.request({ cmd: 'PUSHB', queue, jobs: Array.from({ length: 1001 }, () => ({ data: 1 })) }))
      .toMatchObject({ ok: false, error: 'Batch too large (max 1000 jobs)' })
    client.close()
  })
})

describe('cross-shard commands', () => {
  test('GETJOB by id and STATS work for queues on every shard', async () => {
    const client = await WireClient.connect(server.tcpPort)
    const queues = Array.from({ length: 8 }, () => freshQueue('spread'))
    const ids = await Promise.all(queues.map(async (queue) => (await client.request({ cmd: 'PUSH', queue, data: queue })).id as number))
    for (const [index, id] of ids.entries()) {
      const reply = await client.request({ cmd: 'GETJOB', id })
      expect(reply).toMatchObject({ ok: true, state: 'waiting', job: { id, queue: queues[index] } })
    }
    const stats = await client.request({ cmd: 'STATS' })
    expect(stats.queued as number).toBeGreaterThanOrEqual(8)
    const custom = await client.request({ cmd: 'PUSH', queue: queues[3], data: 1, job_id: `order-${queueCounter}` })
    expect(await client.request({ cmd: 'GETJOBBYCUSTOMID', job_id: `order-${queueCounter}` })).toMatchObject({ job: { id: custom.id } })
    client.close()
  })
})

describe('bad input', () => {
  test('unknown commands and wrong field types get clear errors with the reqId echoed', async () => {
    const client = await WireClient.connect(server.tcpPort)
    expect(await client.request({ cmd: 'push', queue: 'a', data: 1 })).toMatchObject({ ok: false, error: expect.stringMatching(/^Invalid: .*push/) })
    expect(await client.request({ cmd: 'PUSH', queue: 'a', data: 1, priority: 'high' })).toMatchObject({ ok: false, error: expect.stringMatching(/^Invalid: .*priority/) })
    expect(await client.request({ cmd: 'PUSH', queue: 'a', data: 1, delay: 1.5 })).toMatchObject({ ok: false, error: expect.stringMatching(/^Invalid: .*delay/) })
    expect(await client.request({ cmd: 'PUSH', queue: '', data: 1 })).toMatchObject({ ok: false, error: 'Queue name cannot be empty' })
    expect(await client.request({ cmd: 'PULL', queue: 'bad name!' })).toMatchObject({ ok: false, error: expect.stringContaining('alphanumeric') })
    expect(await client.request({ cmd: 'ACK' })).toMatchObject({ ok: false, error: expect.stringMatching(/^Invalid: .*id/) })
    client.sendRaw('this is not json\n')
    expect(await client.nextUnmatched()).toMatchObject({ ok: false, error: expect.stringMatching(/^Invalid: /) })
    client.sendRaw('[1,2,3]\n')
    expect(await client.nextUnmatched()).toMatchObject({ ok: false, error: expect.stringMatching(/^Invalid: /) })
    expect(await client.request({ cmd: 'PING' })).toMatchObject({ ok: true, pong: true })
    client.close()
  })

  test('garbage bytes in msgpack mode get a deserialize error and the connection keeps working', async () => {
    const client = await WireClient.connect(server.tcpPort, 'msgpack')
    client.sendRaw(frame(new Uint8Array([0xc1, 0xff, 0x00])))
    expect(await client.nextUnmatched()).toMatchObject({ ok: false, error: expect.stringMatching(/^MessagePack deserialize error/) })
    client.sendRaw(frame(new Uint8Array(0)))
    expect((await client.nextUnmatched()).ok).toBe(false)
    expect(await client.request({ cmd: 'PING' })).toMatchObject({ ok: true })
    client.close()
  })

  test('an oversize frame gets Message too large and a close; the server keeps serving', async () => {
    const client = await WireClient.connect(server.tcpPort, 'msgpack')
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, 16 * 1024 * 1024 + 1)
    client.sendRaw(header)
    expect(await client.nextUnmatched()).toEqual({ ok: false, error: 'Message too large' })
    await client.closed
    const fresh = await WireClient.connect(server.tcpPort)
    expect(await fresh.request({ cmd: 'PING' })).toMatchObject({ ok: true })
    fresh.close()
  })

  test('the /health route reports the data mode, io backend and shard counts', async () => {
    const body = (await (await fetch(`http://127.0.0.1:${server.httpPort}/health`)).json()) as { ok: boolean; data: Record<string, unknown> }
    expect(body.ok).toBe(true)
    const health = body.data
    expect(health).toMatchObject({ status: 'healthy', sqlite_enabled: true, durable: true, fsync: 'always' })
    expect(health.uptime_ms as number).toBeGreaterThanOrEqual(0)
    expect(health.shards as number).toBeGreaterThanOrEqual(1)
    expect(String(health.io)).toMatch(/io_uring|pwrite/)
  })
})

describe('half-closed connections', () => {
  // node:net, because Bun's own client socket stops reading after shutdown(); real clients (nc) do not.
  test('a client that sends its requests and shuts down its write side still gets every reply', async () => {
    const queue = freshQueue('halfclose')
    const socket = connect({ host: '127.0.0.1', port: server.tcpPort, allowHalfOpen: true })
    let received = ''
    socket.on('data', (chunk) => (received += chunk.toString()))
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
    socket.write(`{"cmd":"PUSH","queue":"${queue}","data":1}\n{"cmd":"PULL","queue":"${queue}","timeout":0}\n{"cmd":"PULL","queue":"${queue}","timeout":200}\n`)
    socket.end() // like `printf … | nc`: FIN right after the last request
    await closed // the server closes once all three are answered
    const replies = received.trim().split('\n').map((line) => JSON.parse(line))
    expect(replies).toHaveLength(3)
    expect(replies[0]).toMatchObject({ ok: true, id: expect.any(Number) })
    expect(replies[1]).toMatchObject({ ok: true, job: { id: replies[0].id } })
    expect(replies[2]).toEqual({ ok: true, job: null })
  })
})
