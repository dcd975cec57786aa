/**
 * Issue 8, input side: deep nesting, byte-counted data limits, non-finite numbers, timers past
 * setTimeout's range, and replies bounded by bytes (items 2, 3, 6, 7, 8). One durable server with
 * two shard workers serves every test (a dead shard would fail the later ones too).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { jobDataBytesMax, replyBytesMax, requestNestingDepthMax } from '../../src/base/limits.ts'
import { startServer, type TestServer } from '../harness/server.ts'
import { connect } from 'node:net'
import { pack, unpack } from 'msgpackr'
import { frame, type Reply, WireClient } from '../harness/wire-client.ts'

let server: TestServer
let counter = 0
const freshQueue = (prefix: string) => `${prefix}-${counter++}`

beforeAll(async () => {
  server = await startServer({ args: ['--shards', '2', '--workers', '2'] })
})
afterAll(async () => {
  await server.cleanup()
})

const nested = (depth: number): unknown => {
  let value: unknown = 0
  for (let level = 0; level < depth; level++) value = [value]
  return value
}

/** A round trip on a queue: the shard that owns it still works. */
async function roundTrip(client: WireClient, queue: string): Promise<void> {
  const pushed = await client.request({ cmd: 'PUSH', queue, data: { alive: true } })
  expect(pushed).toMatchObject({ ok: true })
  const pulled = await client.request({ cmd: 'PULL', queue, timeout: 1000 })
  expect(pulled.job?.id).toBe(pushed.id)
  expect(await client.request({ cmd: 'ACK', id: pushed.id })).toMatchObject({ ok: true })
}

/** Error texts never show stack frames or absolute paths. */
function expectClean(error: unknown): void {
  expect(typeof error).toBe('string')
  expect(error as string).not.toMatch(/\n|\s+at\s|\/work\/|\/src\/|\.ts:\d+/)
}

describe('nesting depth (item 2)', () => {
  for (const mode of ['json', 'msgpack'] as const) {
    test(`${mode}: 40,000 nested arrays are refused with a clear error; every shard keeps serving`, async () => {
      const client = await WireClient.connect(server.tcpPort, mode)
      for (let shardProbe = 0; shardProbe < 4; shardProbe++) {
        const queue = freshQueue(`deep-${mode}`)
        const reqId = `deep-${queue}`
        client.sendRaw(mode === 'json'
          ? `{"cmd":"PUSH","queue":"${queue}","reqId":"${reqId}","data":${'['.repeat(40_000)}${']'.repeat(40_000)}}\n`
          : frame(deepMsgpackPush(queue, reqId, 40_000)))
        // A frame that cannot be decoded has no reqId to echo: its reply is the next unmatched one.
        const reply = mode === 'json' ? await waitFor(client, reqId) : await client.nextUnmatched()
        expectClean(reply.error) // first: toMatchObject below may put its matcher into `reply`
        expect(reply).toMatchObject({ ok: false, error: expect.stringContaining(`nesting`) })
        await roundTrip(client, queue)
      }
      client.close()
    })

    test(`${mode}: nesting at the limit is accepted, one past it refused`, async () => {
      const client = await WireClient.connect(server.tcpPort, mode)
      const queue = freshQueue(`depth-${mode}`)
      // The request map is level 1, so data may nest requestNestingDepthMax - 1 levels.
      const atLimit = await client.request({ cmd: 'PUSH', queue, data: nested(requestNestingDepthMax - 1) })
      expect(atLimit).toMatchObject({ ok: true })
      const over = await client.request({ cmd: 'KVSET', key: 'deep', value: nested(requestNestingDepthMax) })
      expect(over).toMatchObject({ ok: false, error: `Invalid: nesting deeper than ${requestNestingDepthMax} levels` })
      const pulled = await client.request({ cmd: 'PULL', queue, timeout: 1000 })
      expect(pulled.job.data).toEqual(nested(requestNestingDepthMax - 1))
      client.close()
    })
  }
})

/** Resolves with the reply carrying `reqId` (sent with sendRaw). */
async function waitFor(client: WireClient, reqId: string): Promise<{ ok: boolean; error?: string }> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const found = client.received.find((reply) => reply.reqId === reqId)
    if (found !== undefined) return found
    await Bun.sleep(25)
  }
  throw new Error(`no reply ${reqId}`)
}

describe('job data limit in UTF-8 bytes (item 6)', () => {
  const euros = Math.floor(jobDataBytesMax / 3) + 1 // one char over the limit, counted in bytes
  for (const mode of ['json', 'msgpack'] as const) {
    test(`${mode}: PUSH and PUSHB refuse data over the limit in bytes, accept it at the limit`, async () => {
      const queue = freshQueue(`bytes-${mode}`)
      const over = '€'.repeat(euros)
      const pushed = await bigRequest(server.tcpPort, mode, { cmd: 'PUSH', queue, data: over })
      expect(pushed).toMatchObject({ ok: false, error: expect.stringContaining('Job data too large') })
      const batch = await bigRequest(server.tcpPort, mode, { cmd: 'PUSHB', queue, jobs: [{ data: 1 }, { data: over }] })
      expect(batch).toMatchObject({ ok: true, ids: [expect.any(Number)], errors: [{ index: 1, error: expect.stringContaining('Job data too large') }] })
      // JSON adds two quote bytes to a string: the largest accepted string is limit - 2 bytes.
      const atLimit = 'é'.repeat((jobDataBytesMax - 2) / 2)
      expect(await bigRequest(server.tcpPort, mode, { cmd: 'PUSH', queue, data: atLimit })).toMatchObject({ ok: true })
    }, 60_000)
  }
})

/** One request of any size on its own connection (node:net queues what the socket cannot take yet). */
async function bigRequest(port: number, mode: 'json' | 'msgpack', command: Record<string, unknown>): Promise<Reply> {
  const socket = connect({ host: '127.0.0.1', port })
  const chunks: Buffer[] = []
  const reply = new Promise<Reply>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      const all = Buffer.concat(chunks)
      if (mode === 'json' && all.includes(0x0a)) resolve(JSON.parse(all.subarray(0, all.indexOf(0x0a)).toString()))
      if (mode === 'msgpack' && all.length >= 4 && all.length >= 4 + all.readUInt32BE(0)) {
        resolve(unpack(all.subarray(4, 4 + all.readUInt32BE(0))) as Reply)
      }
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error('closed without a reply')))
  })
  socket.write(mode === 'json' ? `${JSON.stringify(command)}\n` : frame(pack(command)))
  try {
    return await reply
  } finally {
    socket.destroy()
  }
}

describe('non-finite numbers (item 7)', () => {
  const fields = ['priority', 'delay', 'ttl', 'timeout', 'max_attempts', 'backoff'] as const
  test('MessagePack NaN and ±Infinity in numeric PUSH fields are type errors', async () => {
    const client = await WireClient.connect(server.tcpPort, 'msgpack')
    const queue = freshQueue('nonfinite')
    for (const field of fields) {
      for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const reply = await client.request({ cmd: 'PUSH', queue, data: 1, [field]: value })
        expect(reply).toMatchObject({ ok: false, error: `Invalid: field '${field}' must be a finite number` })
      }
    }
    expect(await client.request({ cmd: 'COUNT', queue })).toMatchObject({ count: 0 })
    client.close()
  })

  test('PULL timeout:NaN answers at once with an error instead of blocking', async () => {
    const client = await WireClient.connect(server.tcpPort, 'msgpack')
    const reply = await client.request({ cmd: 'PULL', queue: freshQueue('nan-pull'), timeout: Number.NaN }, 2000)
    expect(reply).toMatchObject({ ok: false, error: "Invalid: field 'timeout' must be a finite number" })
    client.close()
  })

  test('JSON: a number that overflows to Infinity is a type error too', async () => {
    const client = await WireClient.connect(server.tcpPort)
    client.sendRaw(`{"cmd":"PULL","queue":"${freshQueue('inf')}","timeout":1e400,"reqId":"inf"}\n`)
    expect(await waitFor(client, 'inf')).toMatchObject({ ok: false, error: expect.stringContaining("field 'timeout'") })
    client.close()
  })
})

describe('timers past 2^31 ms (item 8)', () => {
  test('job TTLs, delays and KV TTLs of 2^31 ms and more neither spin nor warn', async () => {
    const own = await startServer({ args: ['--memory', '--no-http', '--shards', '2', '--workers', '2'] })
    try {
      const client = await WireClient.connect(own.tcpPort)
      // The earliest due time decides the timer: every one of these is past setTimeout's range.
      for (const ms of [2 ** 31 + 60_000, 2 ** 40, Number.MAX_SAFE_INTEGER - Date.now() * 2]) {
        expect(await client.request({ cmd: 'PUSH', queue: `ttl-${ms}`, data: 1, ttl: ms })).toMatchObject({ ok: true })
        expect(await client.request({ cmd: 'PUSH', queue: `delay-${ms}`, data: 1, delay: ms })).toMatchObject({ ok: true })
        expect(await client.request({ cmd: 'KVSET', key: `kv-${ms}`, value: 1, ttl: ms })).toMatchObject({ ok: true })
      }
      const cpuBefore = await processCpuMs(own.process.pid)
      await Bun.sleep(1000)
      const cpuMs = (await processCpuMs(own.process.pid)) - cpuBefore
      // A timer that overflows fires every millisecond: a busy core. Idle is ~0 ms per second.
      expect(cpuMs).toBeLessThan(300)
      expect(await client.request({ cmd: 'KVGET', key: `kv-${2 ** 40}` })).toMatchObject({ ok: true, value: 1 })
      client.close()
      await own.kill('SIGKILL')
      await Bun.sleep(100)
      expect(own.output()).not.toContain('TimeoutOverflowWarning')
    } finally {
      await own.cleanup()
    }
  })
})

/** utime + stime of a process, in ms (from /proc; clock ticks are 100 per second on Linux). */
async function processCpuMs(pid: number): Promise<number> {
  const fields = (await Bun.file(`/proc/${pid}/stat`).text()).split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10
}

describe('replies bounded by bytes (item 3)', () => {
  test('PULLB, GETJOBS, DLQ and GETJOBSBATCH over big jobs return fewer jobs, never more than the limit', async () => {
    const client = await WireClient.connect(server.tcpPort)
    const queue = freshQueue('big')
    const jobBytes = 3 * 1024 * 1024
    const perReply = Math.floor(replyBytesMax / jobBytes)
    const total = perReply * 2 + 1
    const ids: number[] = []
    for (let n = 0; n < total; n++) {
      const pushed = await bigRequest(server.tcpPort, 'json', { cmd: 'PUSH', queue, data: `${n}`.padEnd(jobBytes, 'x'), max_attempts: 1 })
      ids.push(pushed.id)
    }
    const sizeOf = (reply: unknown) => Buffer.byteLength(JSON.stringify(reply))
    const browsed = await client.request({ cmd: 'GETJOBS', queue, limit: 1000 }, 60_000)
    expect(browsed.jobs.length).toBeGreaterThanOrEqual(1)
    expect(browsed.jobs.length).toBeLessThan(total)
    expect(browsed.total).toBe(total)
    expect(sizeOf(browsed)).toBeLessThanOrEqual(replyBytesMax)
    const batch = await client.request({ cmd: 'GETJOBSBATCH', ids }, 60_000)
    expect(batch.jobs.length).toBeGreaterThanOrEqual(1)
    expect(batch.jobs.length).toBeLessThan(total)
    expect(sizeOf(batch)).toBeLessThanOrEqual(replyBytesMax)
    let pulled = 0
    for (let round = 0; pulled < total && round < total; round++) {
      const reply = await client.request({ cmd: 'PULLB', queue, count: 1000, timeout: 0 }, 60_000)
      expect(reply.jobs.length).toBeGreaterThanOrEqual(1)
      expect(reply.jobs.length).toBeLessThanOrEqual(perReply)
      expect(sizeOf(reply)).toBeLessThanOrEqual(replyBytesMax)
      pulled += reply.jobs.length
      for (const job of reply.jobs) await client.request({ cmd: 'FAIL', id: job.id, error: 'to the DLQ' })
    }
    expect(pulled).toBe(total)
    const dlq = await client.request({ cmd: 'DLQ', queue, count: 1000 }, 60_000)
    expect(dlq.jobs.length).toBeGreaterThanOrEqual(1)
    expect(dlq.jobs.length).toBeLessThan(total)
    expect(sizeOf(dlq)).toBeLessThanOrEqual(replyBytesMax)
    await client.request({ cmd: 'PURGEDLQ', queue })
    client.close()
  }, 120_000)

  test('small jobs still come in full batches', async () => {
    const client = await WireClient.connect(server.tcpPort)
    const queue = freshQueue('small')
    await client.request({ cmd: 'PUSHB', queue, jobs: Array.from({ length: 1000 }, (_, n) => ({ data: { n } })) })
    const reply = await client.request({ cmd: 'PULLB', queue, count: 1000, timeout: 0 })
    expect(reply.jobs).toHaveLength(1000)
    client.close()
  })
})

/** A PUSH map whose data nests `depth` one-element arrays, written by hand (a recursive encoder would overflow). */
function deepMsgpackPush(queue: string, reqId: string, depth: number): Uint8Array {
  const head = [0x84, ...packString('cmd'), ...packString('PUSH'), ...packString('queue'), ...packString(queue),
    ...packString('reqId'), ...packString(reqId), ...packString('data')]
  const bytes = new Uint8Array(head.length + depth + 1)
  bytes.set(head, 0)
  bytes.fill(0x91, head.length, head.length + depth) // fixarray of one element
  return bytes // the innermost value is the trailing 0x00 (positive fixint 0)
}

function packString(text: string): number[] {
  const utf8 = [...new TextEncoder().encode(text)]
  if (utf8.length >= 32) throw new Error('short strings only')
  return [0xa0 | utf8.length, ...utf8]
}
