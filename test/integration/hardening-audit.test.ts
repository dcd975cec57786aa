/**
 * Hostile-client audit: requests that each used to stall the whole server or build replies without
 * bound, found by attacking a running server over real sockets. One durable server (four shards in
 * one thread, so a stalled shard stalls every connection) serves every test.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { shardOfName } from '../../src/base/hash.ts'
import { waitersMax } from '../../src/engine/engine-limits.ts'
import {
  connectionRequestsInFlightMax, cronNameCharsMax, jobDataBytesMax, jobErrorCharsMax, flowChildrenMax, jobDependsOnIdsMax, jobKeyCharsMax, jobLogMessageCharsMax,
  jobTagsMax, replyBytesMax, webhookSecretCharsMax, webhookUrlCharsMax, workerQueuesMax,
} from '../../src/base/limits.ts'
import { startServer, type TestServer } from '../harness/server.ts'
import { connect } from 'node:net'
import { type Reply, WireClient } from '../harness/wire-client.ts'

const shardCount = 4
let server: TestServer
let counter = 0
const freshQueue = (prefix: string) => `${prefix}-${counter++}`

beforeAll(async () => {
  server = await startServer({ args: ['--shards', String(shardCount), '--workers', '0'] })
})
afterAll(async () => {
  await server.cleanup()
})

/** A round trip on a fresh connection: the server still serves. */
async function roundTrip(): Promise<void> {
  const client = await WireClient.connect(server.tcpPort)
  const queue = freshQueue('alive')
  const pushed = await client.request({ cmd: 'PUSH', queue, data: { alive: true } })
  expect(pushed).toMatchObject({ ok: true })
  const pulled = await client.request({ cmd: 'PULL', queue, timeout: 1000 })
  expect(pulled.job?.id).toBe(pushed.id)
  expect(await client.request({ cmd: 'ACK', id: pushed.id })).toMatchObject({ ok: true })
  client.close()
}

/** Queue names none of which lives on the shard of `queue`. */
function queuesOffShardOf(queue: string, count: number): string[] {
  const home = shardOfName(queue, shardCount)
  const names: string[] = []
  for (let index = 0; names.length < count; index++) {
    const name = `${queue}-child-${index}`
    if (shardOfName(name, shardCount) !== home) names.push(name)
  }
  return names
}

describe('FLOW fan-out into other shards', () => {
  test('FLOWs of the largest size, all children remote, are answered and the server keeps serving', async () => {
    // Each remote child is one cross-shard message; grouping them per host copied the group per
    // message (quadratic): ten such FLOWs pipelined kept the server busy for over a minute (about
    // 4 s now, the reply deadline below leaves a wide margin).
    const client = await WireClient.connect(server.tcpPort)
    const flows = Array.from({ length: 10 }, () => {
      const queue = freshQueue('fan')
      const children = queuesOffShardOf(queue, 50).flatMap((child) => Array.from({ length: flowChildrenMax / 50 }, (_, index) => ({ queue: child, data: index })))
      return client.request({ cmd: 'FLOW', queue, data: 'parent', children }, 30_000)
    })
    for (const reply of await Promise.all(flows)) {
      expect(reply).toMatchObject({ ok: true })
      expect(reply.children_ids).toHaveLength(flowChildrenMax)
    }
    client.close()
    await roundTrip()
  }, 120_000)

  test('one child past the limit is refused, naming the field and the limit', async () => {
    const client = await WireClient.connect(server.tcpPort)
    const children = Array.from({ length: flowChildrenMax + 1 }, () => ({ queue: 'c', data: 0 }))
    const reply = await client.request({ cmd: 'FLOW', queue: freshQueue('fan'), data: 0, children })
    expect(reply).toEqual({ reqId: expect.any(String), ok: false, error: `Invalid: field 'children' must have at most ${flowChildrenMax} items` })
    client.close()
  })
})

describe('depends_on', () => {
  for (const mode of ['json', 'msgpack'] as const) {
    test(`${mode}: 200 000 ids are refused at once (checking them was quadratic); the limit itself is accepted`, async () => {
      const client = await WireClient.connect(server.tcpPort, mode)
      const queue = freshQueue(`deps-${mode}`)
      const ids = (count: number) => Array.from({ length: count }, (_, index) => index + 1_000_000)
      const huge = await client.request({ cmd: 'PUSH', queue, data: 0, depends_on: ids(200_000) })
      expect(huge).toMatchObject({ ok: false, error: `Invalid: field 'depends_on' must have at most ${jobDependsOnIdsMax} items` })
      const batch = await client.request({ cmd: 'PUSHB', queue, jobs: [{ data: 0, depends_on: ids(jobDependsOnIdsMax + 1) }] })
      expect(batch).toMatchObject({ ok: false, error: `Invalid: field 'jobs[0].depends_on' must have at most ${jobDependsOnIdsMax} items` })
      const atLimit = await client.request({ cmd: 'PUSH', queue, data: 0, depends_on: ids(jobDependsOnIdsMax) })
      expect(atLimit).toMatchObject({ ok: true })
      expect(await client.request({ cmd: 'GETSTATE', id: atLimit.id })).toMatchObject({ ok: true, state: 'waitingchildren' })
      client.close()
      await roundTrip()
    }, 60_000)
  }
})

describe('job keys, tags, log messages and cron names are bounded (a 20 MB job_id made a job no SDK could pull; a job kept 100 LOG messages of up to 64 MB each)', () => {
  const long = 'k'.repeat(jobKeyCharsMax + 1)
  const fields = [
    ['job_id', { job_id: long }],
    ['jobId', { jobId: long }],
    ['unique_key', { unique_key: long }],
    ['debounce_id', { debounce_id: long }],
    ['group_id', { group_id: long }],
    ['tags[1]', { tags: ['ok', long] }],
  ] as const
  for (const mode of ['json', 'msgpack'] as const) {
    test(`${mode}: one character past the limit is refused, naming the field; at the limit it is kept`, async () => {
      const client = await WireClient.connect(server.tcpPort, mode)
      const queue = freshQueue(`keys-${mode}`)
      for (const [field, options] of fields) {
        const reply = await client.request({ cmd: 'PUSH', queue, data: 0, ...options })
        expect(reply).toMatchObject({ ok: false, error: `Invalid: field '${field}' must have at most ${jobKeyCharsMax} characters` })
        const inBatch = await client.request({ cmd: 'PUSHB', queue, jobs: [{ data: 0 }, { data: 1, ...options }] })
        expect(inBatch).toMatchObject({ ok: false, error: `Invalid: field 'jobs[1].${field}' must have at most ${jobKeyCharsMax} characters` })
      }
      const tooManyTags = await client.request({ cmd: 'PUSH', queue, data: 0, tags: Array(jobTagsMax + 1).fill('t') })
      expect(tooManyTags).toMatchObject({ ok: false, error: `Invalid: field 'tags' must have at most ${jobTagsMax} items` })
      const key = 'k'.repeat(jobKeyCharsMax)
      const kept = await client.request({ cmd: 'PUSH', queue, data: 0, job_id: `${mode}${key}`.slice(0, jobKeyCharsMax), unique_key: key, tags: Array(jobTagsMax).fill(key) })
      expect(kept).toMatchObject({ ok: true })
      const pulled = await client.request({ cmd: 'PULL', queue, timeout: 1000 })
      expect(pulled.job).toMatchObject({ id: kept.id, unique_key: key })
      expect(pulled.job.tags).toHaveLength(jobTagsMax)
      const longLog = await client.request({ cmd: 'LOG', id: kept.id, message: 'm'.repeat(jobLogMessageCharsMax + 1) })
      expect(longLog).toMatchObject({ ok: false, error: `Invalid: field 'message' must have at most ${jobLogMessageCharsMax} characters` })
      const longLevel = await client.request({ cmd: 'LOG', id: kept.id, message: 'm', level: long })
      expect(longLevel).toMatchObject({ ok: false, error: `Invalid: field 'level' must have at most ${jobKeyCharsMax} characters` })
      expect(await client.request({ cmd: 'LOG', id: kept.id, message: 'm'.repeat(jobLogMessageCharsMax) })).toMatchObject({ ok: true })
      const cron = await client.request({ cmd: 'CRON', name: 'n'.repeat(cronNameCharsMax + 1), queue, data: 0, repeat_every: 60_000 })
      expect(cron).toMatchObject({ ok: false, error: `Invalid: field 'name' must have at most ${cronNameCharsMax} characters` })
      client.close()
    })
  }
})

test('an unknown command of megabytes is named in a short error, not echoed whole', async () => {
  const reply = await bigRequest({ cmd: 'X'.repeat(20_000_000) })
  expect(reply).toEqual({ ok: false, error: `Invalid: unknown command '${'X'.repeat(64)}… (20000000 chars)'` })
})

describe('thousands of blocking pulls on one connection', () => {
  test('more than the in-flight limit, then close: a job pushed next goes to a live worker', async () => {
    // Blocking pulls counted toward the in-flight pause: reading stopped for good, the client's FIN
    // was never read, its pulls were never cancelled, and the next job went to the closed socket.
    const queue = freshQueue('many-pulls')
    const socket = connect({ host: '127.0.0.1', port: server.tcpPort })
    const pulls = Array.from({ length: connectionRequestsInFlightMax + 2 }, (_, index) => JSON.stringify({ cmd: 'PULL', queue: `${queue}-${index % 100}`, timeout: 600_000 }))
    await new Promise<void>((resolve) => socket.write(`${pulls.join('\n')}\n`, () => resolve()))
    await Bun.sleep(500) // the server reads what it will before the FIN follows
    await new Promise<void>((resolve) => socket.end(resolve))
    await waitForTcpConnections(0)
    const client = await WireClient.connect(server.tcpPort)
    const pushed = await client.request({ cmd: 'PUSH', queue: `${queue}-7`, data: 'for a live worker' })
    const pulled = await client.request({ cmd: 'PULL', queue: `${queue}-7`, timeout: 5000 })
    expect(pulled.job?.id).toBe(pushed.id)
    client.close()
  }, 60_000)
})

describe('blocking pulls on distinct queue names', () => {
  test('one client waiting on 100 000 new queues of a shard does not fill its queue table for everyone', async () => {
    // Each waiter keeps its empty queue; waiters and queues had the same limit (100 000 per shard),
    // so these pulls got every later push to a new queue of that shard refused for a day.
    const prefix = freshQueue('squat')
    const home = shardOfName(prefix, shardCount)
    const names: string[] = []
    for (let index = 0; names.length < 100_001; index++) {
      if (shardOfName(`${prefix}-${index}`, shardCount) === home) names.push(`${prefix}-${index}`)
    }
    const socket = connect({ host: '127.0.0.1', port: server.tcpPort })
    let replies = 0
    let synced = false
    socket.on('data', (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 0x0a) replies++
      if (chunk.includes('"sync"')) synced = true
    })
    const pulls = names.slice(0, 100_000).map((queue, index) => JSON.stringify({ cmd: 'PULL', queue, timeout: 86_400_000, reqId: index }))
    // The shard answers the COUNT after every pull before it (same shard, same connection).
    socket.write(`${pulls.join('\n')}\n${JSON.stringify({ cmd: 'COUNT', queue: names[0], reqId: 'sync' })}\n`)
    for (let attempt = 0; attempt < 600 && !synced; attempt++) await Bun.sleep(50)
    expect(synced).toBe(true)
    // The pulls past the waiter limit were answered at once, empty (with a reqId: not behind the others).
    expect(replies).toBe(100_000 - waitersMax + 1)
    const client = await WireClient.connect(server.tcpPort)
    expect(await client.request({ cmd: 'PUSH', queue: names[100_000] as string, data: 'a new queue' })).toMatchObject({ ok: true })
    client.close()
    socket.destroy()
  }, 60_000)
})

/** Waits (a few seconds at most) until the server counts `count` TCP connections. */
async function waitForTcpConnections(count: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/system/metrics`)).json() as { data: { tcp_connections: number } }
    if (metrics.data.tcp_connections <= count) return
    await Bun.sleep(50)
  }
}

test('ACK result, PARTIAL data, FAIL error and PROGRESS message past their limits are refused; the job stays active and acks after', async () => {
  // Results are kept (10 000 per shard) and sent back like job data; they were bounded only by the line.
  const client = await WireClient.connect(server.tcpPort)
  const queue = freshQueue('result')
  const { id } = await client.request({ cmd: 'PUSH', queue, data: 0 })
  expect((await client.request({ cmd: 'PULL', queue, timeout: 1000 })).job?.id).toBe(id)
  client.close()
  const over = 'r'.repeat(jobDataBytesMax)
  const partial = await bigRequest({ cmd: 'PARTIAL', id, data: over })
  expect(partial).toEqual({ ok: false, error: `Field 'data' too large (~${jobDataBytesMax + 2} bytes, max ${jobDataBytesMax} bytes)` })
  const ack = await bigRequest({ cmd: 'ACK', id, result: over })
  expect(ack).toEqual({ ok: false, error: `Field 'result' too large (~${jobDataBytesMax + 2} bytes, max ${jobDataBytesMax} bytes)` })
  expect(await bigRequest({ cmd: 'GETSTATE', id })).toMatchObject({ ok: true, state: 'active' })
  const longText = 'e'.repeat(jobErrorCharsMax + 1)
  expect(await bigRequest({ cmd: 'PROGRESS', id, progress: 5, message: longText })).toEqual({ ok: false, error: `Invalid: field 'message' must have at most ${jobErrorCharsMax} characters` })
  expect(await bigRequest({ cmd: 'FAIL', id, error: longText })).toEqual({ ok: false, error: `Invalid: field 'error' must have at most ${jobErrorCharsMax} characters` })
  const atLimit = 'r'.repeat(jobDataBytesMax - 2)
  expect(await bigRequest({ cmd: 'ACK', id, result: atLimit })).toEqual({ ok: true })
  expect((await bigRequest({ cmd: 'GETRESULT', id })).result).toBe(atLimit)
}, 60_000)

test('CRON data over the job data limit is refused (each fire pushed it as a job, past the limit)', async () => {
  const queue = freshQueue('cron-data')
  const reply = await bigRequest({ cmd: 'CRON', name: queue, queue, data: 'c'.repeat(jobDataBytesMax), repeat_every: 60_000 })
  expect(reply).toEqual({ ok: false, error: `Job data too large (~${jobDataBytesMax + 2} bytes, max ${jobDataBytesMax} bytes)` })
  expect(await bigRequest({ cmd: 'CRON', name: queue, queue, data: 'c'.repeat(jobDataBytesMax - 2), repeat_every: 60_000 })).toEqual({ ok: true })
  expect(await bigRequest({ cmd: 'CRONDELETE', name: queue })).toEqual({ ok: true })
}, 60_000)

describe('HTTP state kept per client is bounded (each was only bounded by the 16 MiB body, times 10 000 workers or 1000 webhooks)', () => {
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
    return [response.status, await response.text()]
  }

  test('a worker heartbeat lists at most workerQueuesMax valid queue names', async () => {
    expect(await post('/workers/w/heartbeat', { queues: Array(workerQueuesMax + 1).fill('q') }))
      .toEqual([422, `Invalid: field 'queues' must have at most ${workerQueuesMax} items`])
    expect(await post('/workers/w/heartbeat', { queues: ['ok', 'q'.repeat(1_000_000)] }))
      .toEqual([422, "Invalid: field 'queues': Queue name too long (max 256 chars)"])
    expect((await post('/workers/w/heartbeat', { queues: Array(workerQueuesMax).fill('q') }))[0]).toBe(200)
  })

  test('a webhook URL and secret are bounded in characters', async () => {
    const url = `http://example.com/${'p'.repeat(webhookUrlCharsMax)}`
    expect(await post('/webhooks', { url, events: ['*'] })).toEqual([422, `Invalid: field 'url' must have at most ${webhookUrlCharsMax} characters`])
    expect(await post('/webhooks', { url: 'http://example.com/hook', events: ['*'], secret: 's'.repeat(webhookSecretCharsMax + 1) }))
      .toEqual([422, `Invalid: field 'secret' must have at most ${webhookSecretCharsMax} characters`])
  })
})

describe('CRONLIST, KVKEYS, LISTQUEUES and GETCHILDREN replies are bounded by bytes, as the job lists', () => {
  test('two crons of 9 MiB data: CRONLIST returns one of them', async () => {
    const data = 'c'.repeat(9 * 1024 * 1024)
    const names = ['audit-cron-a', 'audit-cron-b']
    for (const name of names) expect(await bigRequest({ cmd: 'CRON', name, queue: name, data, repeat_every: 3_600_000 })).toEqual({ ok: true })
    const reply = await bigRequest({ cmd: 'CRONLIST' })
    expect(reply.crons.filter((cron: { name: string }) => names.includes(cron.name))).toHaveLength(1)
    expect(JSON.stringify(reply).length).toBeLessThanOrEqual(replyBytesMax)
    for (const name of names) expect(await bigRequest({ cmd: 'CRONDELETE', name })).toEqual({ ok: true })
  }, 60_000)

  test('a flow with three children of 7 MiB data: GETCHILDREN lists two, within the limit', async () => {
    const data = 'f'.repeat(7 * 1024 * 1024)
    const queue = freshQueue('big-flow')
    const flow = await bigRequest({ cmd: 'FLOW', queue, data: 0, children: [0, 1, 2].map(() => ({ queue, data })) })
    expect(flow).toMatchObject({ ok: true })
    const reply = await bigRequest({ cmd: 'GETCHILDREN', parent_id: flow.parent_id })
    expect(reply).toMatchObject({ ok: true, total: 3, children_ids: flow.children_ids })
    expect(reply.children).toHaveLength(2)
    expect(JSON.stringify(reply).length).toBeLessThanOrEqual(replyBytesMax)
  }, 60_000)

  test('100 000 queues of long names: LISTQUEUES returns fewer, within the limit', async () => {
    const prefix = freshQueue('many-queues').padEnd(120, 'q')
    const socket = connect({ host: '127.0.0.1', port: server.tcpPort })
    let replies = 0
    socket.on('data', (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 0x0a) replies++
    })
    const pushes = Array.from({ length: 100_000 }, (_, index) => JSON.stringify({ cmd: 'PUSH', queue: `${prefix}-${index}`, data: 0 }))
    socket.write(`${pushes.join('\n')}\n`)
    for (let attempt = 0; attempt < 1000 && replies < 100_000; attempt++) await Bun.sleep(50)
    expect(replies).toBe(100_000)
    socket.destroy()
    const reply = await bigRequest({ cmd: 'LISTQUEUES' })
    expect(reply.queues.length).toBeGreaterThan(50_000)
    expect(reply.queues.length).toBeLessThan(100_000)
    expect(JSON.stringify(reply).length).toBeLessThanOrEqual(replyBytesMax)
  }, 60_000)

  test('17 000 keys of 1000 characters: KVKEYS returns fewer, within the limit', async () => {
    const client = await WireClient.connect(server.tcpPort)
    const prefix = 'audit-keys-'
    for (let batch = 0; batch < 17; batch++) {
      const entries = Array.from({ length: 1000 }, (_, index) => ({ key: `${prefix}${String(batch * 1000 + index).padStart(6, '0')}${'k'.repeat(983)}`, value: 0 }))
      expect(await client.request({ cmd: 'KVMSET', entries })).toMatchObject({ ok: true, count: 1000 })
    }
    client.close()
    const reply = await bigRequest({ cmd: 'KVKEYS', pattern: `${prefix}*` })
    expect(reply.keys.length).toBeGreaterThan(10_000)
    expect(reply.keys.length).toBeLessThan(17_000)
    expect(JSON.stringify(reply).length).toBeLessThanOrEqual(replyBytesMax)
  }, 60_000)
})

describe('KVMGET replies are bounded by bytes', () => {
  test('one big value named many times is refused instead of building a reply of GBs', async () => {
    const value = 'v'.repeat(6 * 1024 * 1024)
    expect(await bigRequest({ cmd: 'KVSET', key: 'audit-big', value })).toEqual({ ok: true })
    const two = await bigRequest({ cmd: 'KVMGET', keys: ['audit-big', 'audit-big'] })
    expect(two.values).toEqual([value, value])
    const many = await bigRequest({ cmd: 'KVMGET', keys: Array(1000).fill('audit-big') })
    expect(many).toEqual({ ok: false, error: `Values too large for one reply (max ${replyBytesMax} bytes): ask for fewer keys` })
    await roundTrip()
  }, 60_000)

  test('values of different shards that together pass the limit are refused too', async () => {
    const first = 'audit-kv-0'
    const keys = [first, queuesOffShardOf(first, 1)[0] as string]
    const value = 'w'.repeat(9 * 1024 * 1024) // each shard's part fits; the two together do not
    for (const key of keys) expect(await bigRequest({ cmd: 'KVSET', key, value })).toEqual({ ok: true })
    const reply = await bigRequest({ cmd: 'KVMGET', keys })
    expect(reply).toEqual({ ok: false, error: `Values too large for one reply (max ${replyBytesMax} bytes): ask for fewer keys` })
    expect((await bigRequest({ cmd: 'KVMGET', keys: keys.slice(0, 1) })).values).toEqual([value])
  }, 60_000)
})

/** One JSON request of any size on its own connection (node:net queues what the socket cannot take yet). */
async function bigRequest(command: Record<string, unknown>): Promise<Reply> {
  const socket = connect({ host: '127.0.0.1', port: server.tcpPort })
  const chunks: Buffer[] = []
  const reply = new Promise<Reply>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if (chunk.includes(0x0a)) {
        const all = Buffer.concat(chunks)
        resolve(JSON.parse(all.subarray(0, all.indexOf(0x0a)).toString()) as Reply)
      }
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error('closed without a reply')))
  })
  socket.write(`${JSON.stringify(command)}\n`)
  try {
    return await reply
  } finally {
    socket.destroy()
  }
}
