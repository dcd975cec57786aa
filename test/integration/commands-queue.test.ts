/**
 * Queue control, stats and front commands (spec §3.3, §3.4, §3.7, §3.8) over the real wire: reply
 * shape, the state change read back, and one bad-input case each. Cross-shard: LISTQUEUES and
 * GETJOBS without a queue merge both shards.
 */
import { describe, expect, test } from 'bun:test'
import type { TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import {
  expectError, expectInvalid, freshQueue, nameOnShard, pullNow, push, pushActive, shardArgs, sharedServer, state, waitFor,
} from './commands-kit.ts'

let server: TestServer
let client: WireClient
sharedServer((started, connected) => {
  server = started
  client = connected
})
const okReply = { reqId: expect.any(String), ok: true }

async function queueInfo(name: string): Promise<Record<string, any> | undefined> {
  const reply = await client.request({ cmd: 'LISTQUEUES' })
  return (reply.queues as Array<Record<string, any>>).find((queue) => queue.name === name)
}

describe('PAUSE / RESUME / ISPAUSED', () => {
  test('pause stops delivery but not pushes; a blocked PULL proceeds after RESUME', async () => {
    const queue = freshQueue('pause')
    expect(await client.request({ cmd: 'ISPAUSED', queue })).toEqual({ ...okReply, paused: false })
    expect(await client.request({ cmd: 'PAUSE', queue })).toEqual(okReply)
    expect(await client.request({ cmd: 'ISPAUSED', queue })).toMatchObject({ ok: true, paused: true })
    const id = await push(client, queue)
    expect(await pullNow(client, queue)).toBeNull()
    const pull = client.request({ cmd: 'PULL', queue, timeout: 10_000 })
    await Bun.sleep(100)
    expect(await client.request({ cmd: 'RESUME', queue })).toEqual(okReply)
    expect((await pull).job?.id).toBe(id)
    expect(await client.request({ cmd: 'ISPAUSED', queue })).toMatchObject({ paused: false })
    expect((await queueInfo(queue))?.paused).toBe(false)
  })

  test('bad queue names and types', async () => {
    expectInvalid(await client.request({ cmd: 'PAUSE' }), 'queue')
    expectInvalid(await client.request({ cmd: 'RESUME', queue: 12 }), 'queue')
    expectInvalid(await client.request({ cmd: 'ISPAUSED', queue: ['a'] }), 'queue')
    const bad = await client.request({ cmd: 'PAUSE', queue: 'has space' })
    expect(bad.ok).toBe(false)
    expect(bad.error).toContain('Queue name must contain only alphanumeric characters, underscores, hyphens, or dots')
  })
})

describe('RATELIMIT / RATELIMITCLEAR', () => {
  test('limit 1/s delivers one job, then waits; clearing lets the rest through', async () => {
    const queue = freshQueue('rate')
    expect(await client.request({ cmd: 'RATELIMIT', queue, limit: 1 })).toEqual(okReply)
    expect((await queueInfo(queue))?.rate_limit).toBe(1)
    await Promise.all([1, 2, 3].map(() => push(client, queue)))
    expect(await pullNow(client, queue)).not.toBeNull()
    expect(await pullNow(client, queue)).toBeNull() // the bucket refills one token per second
    expect(await client.request({ cmd: 'RATELIMITCLEAR', queue })).toEqual(okReply)
    expect((await queueInfo(queue))?.rate_limit).toBeNull()
    expect(await pullNow(client, queue)).not.toBeNull()
    expect(await pullNow(client, queue)).not.toBeNull()
  })

  test('PULLB delivers at most the available tokens; limit 0 stops delivery', async () => {
    const queue = freshQueue('rate')
    await client.request({ cmd: 'RATELIMIT', queue, limit: 2 })
    await client.request({ cmd: 'PUSHB', queue, jobs: [{ data: 1 }, { data: 2 }, { data: 3 }, { data: 4 }] })
    const batch = await client.request({ cmd: 'PULLB', queue, count: 4, timeout: 0 })
    expect((batch.jobs as unknown[]).length).toBeLessThanOrEqual(2)
    expect((batch.jobs as unknown[]).length).toBeGreaterThanOrEqual(1)
    const stopped = freshQueue('rate0')
    await client.request({ cmd: 'RATELIMIT', queue: stopped, limit: 0 })
    await push(client, stopped)
    expect(await client.request({ cmd: 'PULL', queue: stopped, timeout: 300 })).toMatchObject({ ok: true, job: null })
  })

  test('missing or negative limit', async () => {
    const queue = freshQueue('rate')
    expectInvalid(await client.request({ cmd: 'RATELIMIT', queue }), 'limit')
    expectInvalid(await client.request({ cmd: 'RATELIMIT', queue, limit: -1 }), 'limit')
    expectInvalid(await client.request({ cmd: 'RATELIMITCLEAR' }), 'queue')
  })
})

describe('SETCONCURRENCY / CLEARCONCURRENCY', () => {
  test('limit 1 holds the second job until the first is acked; clearing lifts it', async () => {
    const queue = freshQueue('conc')
    expect(await client.request({ cmd: 'SETCONCURRENCY', queue, limit: 1 })).toEqual(okReply)
    expect((await queueInfo(queue))?.concurrency_limit).toBe(1)
    const first = await push(client, queue)
    const second = await push(client, queue)
    const third = await push(client, queue)
    expect((await pullNow(client, queue))?.id).toBe(first)
    expect(await pullNow(client, queue)).toBeNull()
    const blocked = client.request({ cmd: 'PULL', queue, timeout: 10_000 })
    await Bun.sleep(50)
    await client.request({ cmd: 'ACK', id: first })
    expect((await blocked).job?.id).toBe(second)
    expect(await client.request({ cmd: 'CLEARCONCURRENCY', queue })).toEqual(okReply)
    expect((await queueInfo(queue))?.concurrency_limit).toBeNull()
    expect((await pullNow(client, queue))?.id).toBe(third)
  })

  test('jobs already active count against a new limit', async () => {
    const queue = freshQueue('conc')
    const a = await pushActive(client, queue)
    await pushActive(client, queue)
    await push(client, queue)
    await client.request({ cmd: 'SETCONCURRENCY', queue, limit: 1 })
    await client.request({ cmd: 'ACK', id: a })
    expect(await pullNow(client, queue)).toBeNull()
  })

  test('bad limit type', async () => {
    expectInvalid(await client.request({ cmd: 'SETCONCURRENCY', queue: freshQueue('conc'), limit: 'two' }), 'limit')
    expectInvalid(await client.request({ cmd: 'CLEARCONCURRENCY', queue: null }), 'queue')
  })
})

describe('LISTQUEUES', () => {
  test('merges queues from both shards with the QueueInfo shape; a queue with only a setting is listed', async () => {
    const q0 = nameOnShard('list', 0)
    const q1 = nameOnShard('list', 1)
    const onlySetting = nameOnShard('list', 1)
    await push(client, q0)
    await push(client, q0, { delay: 60_000 })
    await pushActive(client, q1)
    await client.request({ cmd: 'PAUSE', queue: onlySetting })
    const reply = await client.request({ cmd: 'LISTQUEUES' })
    expect(reply.ok).toBe(true)
    const byName = new Map((reply.queues as Array<Record<string, any>>).map((queue) => [queue.name, queue]))
    expect(byName.get(q0)).toEqual({
      name: q0, pending: 1, processing: 0, completed: 0, delayed: 1, dlq: 0, paused: false, rate_limit: null, concurrency_limit: null,
    })
    expect(byName.get(q1)).toMatchObject({ pending: 0, processing: 1 })
    expect(byName.get(onlySetting)).toMatchObject({ paused: true, pending: 0 })
    expect(byName.has(freshQueue('never'))).toBe(false)
  })
})

describe('COUNT / GETJOBCOUNTS', () => {
  test('COUNT is waiting + delayed; GETJOBCOUNTS has all five keys', async () => {
    const queue = freshQueue('count')
    expect(await client.request({ cmd: 'COUNT', queue })).toEqual({ ...okReply, count: 0 })
    expect(await client.request({ cmd: 'GETJOBCOUNTS', queue })).toEqual({ ...okReply, waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 })
    const done = await pushActive(client, queue)
    await client.request({ cmd: 'ACK', id: done })
    const failed = await pushActive(client, queue, { max_attempts: 1 })
    await client.request({ cmd: 'FAIL', id: failed })
    await pushActive(client, queue)
    await push(client, queue)
    await push(client, queue)
    await push(client, queue, { delay: 60_000 })
    expect(await client.request({ cmd: 'COUNT', queue })).toMatchObject({ count: 3 })
    expect(await client.request({ cmd: 'GETJOBCOUNTS', queue })).toEqual({ ...okReply, waiting: 2, active: 1, delayed: 1, completed: 1, failed: 1 })
  })

  test('bad input', async () => {
    expectInvalid(await client.request({ cmd: 'COUNT' }), 'queue')
    expectInvalid(await client.request({ cmd: 'GETJOBCOUNTS', queue: 1 }), 'queue')
  })
})

describe('GETJOBS', () => {
  test('filters by queue and state (case-insensitive), pages, sorts by id descending and counts total', async () => {
    const queue = freshQueue('getjobs')
    const ids = []
    for (let i = 0; i < 5; i++) ids.push(await push(client, queue, { data: i }))
    const delayed = await push(client, queue, { delay: 60_000 })
    const all = await client.request({ cmd: 'GETJOBS', queue })
    expect(all).toMatchObject({ ok: true, total: 6 })
    const items = all.jobs as Array<Record<string, any>>
    expect(items.map((item) => item.id)).toEqual([delayed, ...ids.reverse()])
    expect(items[0]).toMatchObject({ id: delayed, queue, state: 'delayed' })
    expect(items[1]?.state).toBe('waiting')
    expect(items[1]?.job).toMatchObject({ id: items[1]?.id, queue })
    const waiting = await client.request({ cmd: 'GETJOBS', queue, state: 'WAITING', limit: 2, offset: 1 })
    expect(waiting.total).toBe(5)
    expect((waiting.jobs as any[]).map((item) => item.id)).toEqual([ids[1], ids[2]])
    expect(await client.request({ cmd: 'GETJOBS', queue, state: 'delayed' })).toMatchObject({ total: 1 })
    // An unrecognised state means no filter.
    expect(await client.request({ cmd: 'GETJOBS', queue, state: 'bogus' })).toMatchObject({ total: 6 })
  })

  test('without a queue it browses both shards', async () => {
    const q0 = nameOnShard('browse', 0)
    const q1 = nameOnShard('browse', 1)
    const a = await push(client, q0, { delay: 120_000 })
    const b = await push(client, q1, { delay: 120_000 })
    const reply = await client.request({ cmd: 'GETJOBS', state: 'delayed', limit: 1000 })
    expect(reply.ok).toBe(true)
    const found = (reply.jobs as Array<{ id: number; queue: string }>).filter((item) => item.id === a || item.id === b)
    expect(found.map((item) => item.queue).sort()).toEqual([q0, q1].sort())
    const ids = (reply.jobs as Array<{ id: number }>).map((item) => item.id)
    expect(ids).toEqual([...ids].sort((x, y) => y - x))
    expect(reply.total).toBeGreaterThanOrEqual(2)
  })

  test('bad limit type', async () => {
    expectInvalid(await client.request({ cmd: 'GETJOBS', queue: freshQueue('getjobs'), limit: 'ten' }), 'limit')
  })
})

describe('CLEAN', () => {
  test('waiting covers ready jobs only, delayed not-yet-ready ones; grace and limit apply', async () => {
    const queue = freshQueue('clean')
    const ready = [await push(client, queue), await push(client, queue), await push(client, queue)]
    const later = await push(client, queue, { delay: 60_000 })
    expect(await client.request({ cmd: 'CLEAN', queue, grace: 3_600_000, state: 'waiting' })).toEqual({ ...okReply, count: 0 })
    expect(await client.request({ cmd: 'CLEAN', queue, grace: 0, state: 'Waiting', limit: 2 })).toMatchObject({ ok: true, count: 2 })
    expect(await client.request({ cmd: 'COUNT', queue })).toMatchObject({ count: 2 })
    expect(await client.request({ cmd: 'CLEAN', queue, grace: 0, state: 'waiting' })).toMatchObject({ count: 1 })
    for (const id of ready) expect(await state(client, id)).toBe('unknown')
    expect(await state(client, later)).toBe('delayed')
    expect(await client.request({ cmd: 'CLEAN', queue, grace: 0, state: 'delayed' })).toMatchObject({ count: 1 })
    expect(await state(client, later)).toBe('unknown')
  })

  test('completed and failed', async () => {
    const queue = freshQueue('clean')
    const done = await pushActive(client, queue)
    await client.request({ cmd: 'ACK', id: done })
    const failed = await pushActive(client, queue, { max_attempts: 1 })
    await client.request({ cmd: 'FAIL', id: failed })
    expect(await client.request({ cmd: 'CLEAN', queue, grace: 0, state: 'failed' })).toMatchObject({ ok: true, count: 1 })
    expect(await client.request({ cmd: 'DLQ', queue })).toMatchObject({ jobs: [] })
    expect(await client.request({ cmd: 'CLEAN', queue, grace: 0, state: 'completed' })).toMatchObject({ ok: true, count: 1 })
    expect(await client.request({ cmd: 'GETJOBCOUNTS', queue })).toMatchObject({ completed: 0, failed: 0 })
  })

  test('an invalid state and a missing grace', async () => {
    const queue = freshQueue('clean')
    expectError(await client.request({ cmd: 'CLEAN', queue, grace: 0, state: 'active' }), 'Invalid state. Use: waiting, delayed, completed, failed')
    expectInvalid(await client.request({ cmd: 'CLEAN', queue, state: 'waiting' }), 'grace')
  })
})

describe('DRAIN / OBLITERATE', () => {
  test('DRAIN removes waiting and delayed jobs; active and DLQ jobs stay', async () => {
    const queue = freshQueue('drain')
    const active = await pushActive(client, queue)
    const failed = await pushActive(client, queue, { max_attempts: 1 })
    await client.request({ cmd: 'FAIL', id: failed })
    const waiting = await push(client, queue)
    await push(client, queue, { delay: 60_000 })
    expect(await client.request({ cmd: 'DRAIN', queue })).toEqual({ ...okReply, count: 2 })
    expect(await state(client, waiting)).toBe('unknown')
    expect(await state(client, active)).toBe('active')
    expect(await state(client, failed)).toBe('failed')
    expect(await client.request({ cmd: 'COUNT', queue })).toMatchObject({ count: 0 })
    expectInvalid(await client.request({ cmd: 'DRAIN' }), 'queue')
  })

  test('OBLITERATE removes every job state and the settings, but keeps completed history', async () => {
    const queue = freshQueue('oblit')
    const done = await pushActive(client, queue)
    await client.request({ cmd: 'ACK', id: done, result: 'kept' })
    const active = await pushActive(client, queue, { unique_key: 'u', group_id: 'g' })
    const failed = await pushActive(client, queue, { max_attempts: 1 })
    await client.request({ cmd: 'FAIL', id: failed })
    await push(client, queue)
    await push(client, queue, { delay: 60_000 })
    await client.request({ cmd: 'PAUSE', queue })
    await client.request({ cmd: 'RATELIMIT', queue, limit: 5 })
    await client.request({ cmd: 'SETCONCURRENCY', queue, limit: 1 })
    expect(await client.request({ cmd: 'OBLITERATE', queue })).toEqual({ ...okReply, count: 4 })
    expect(await state(client, active)).toBe('unknown')
    expect(await state(client, failed)).toBe('unknown')
    expect(await client.request({ cmd: 'ISPAUSED', queue })).toMatchObject({ paused: false })
    expect(await client.request({ cmd: 'GETRESULT', id: done })).toMatchObject({ result: 'kept' })
    // Unique key, group lock and concurrency limit are gone.
    const again = await push(client, queue, { unique_key: 'u', group_id: 'g' })
    expect((await pullNow(client, queue))?.id).toBe(again)
    expectInvalid(await client.request({ cmd: 'OBLITERATE', queue: 3 }), 'queue')
  })
})

describe('STATS / METRICS', () => {
  test('STATS sums over both shards', async () => {
    const before = await client.request({ cmd: 'STATS' })
    expect(Object.keys(before).sort()).toEqual(['completed', 'delayed', 'dlq', 'ok', 'processing', 'queued', 'reqId'])
    await push(client, nameOnShard('stats', 0))
    await push(client, nameOnShard('stats', 1))
    await push(client, nameOnShard('stats', 1), { delay: 60_000 })
    const after = await client.request({ cmd: 'STATS' })
    expect(after.queued - before.queued).toBe(2)
    expect(after.delayed - before.delayed).toBe(1)
  })

  test('METRICS has totals, per-queue entries from both shards and a recent completion rate', async () => {
    const q0 = nameOnShard('metrics', 0)
    const q1 = nameOnShard('metrics', 1)
    const before = (await client.request({ cmd: 'METRICS' })).metrics as Record<string, any>
    for (const queue of [q0, q1]) {
      for (let i = 0; i < 5; i++) {
        const id = await pushActive(client, queue)
        await client.request({ cmd: 'ACK', id })
      }
      await push(client, queue)
    }
    const reply = await client.request({ cmd: 'METRICS' })
    expect(reply.ok).toBe(true)
    const metrics = reply.metrics as Record<string, any>
    expect(Object.keys(metrics).sort()).toEqual(['avg_latency_ms', 'jobs_per_second', 'queues', 'total_completed', 'total_failed', 'total_pushed'])
    expect(metrics.total_pushed - before.total_pushed).toBe(12)
    expect(metrics.total_completed - before.total_completed).toBe(10)
    expect(typeof metrics.avg_latency_ms).toBe('number')
    const names = (metrics.queues as Array<{ name: string }>).map((queue) => queue.name)
    expect(names).toContain(q0)
    expect(names).toContain(q1)
    expect((metrics.queues as any[]).find((queue) => queue.name === q0)).toEqual({ name: q0, pending: 1, processing: 0, dlq: 0, rate_limit: null })
    // jobs_per_second is the recent completion rate: 10 acks just happened.
    await waitFor(async () => ((await client.request({ cmd: 'METRICS' })).metrics.jobs_per_second as number) > 0, 3000, 250)
  })
})

describe('SUBSCRIBE / UNSUBSCRIBE / PING / AUTH without tokens', () => {
  test('SUBSCRIBE and UNSUBSCRIBE answer ok and never produce unsolicited frames', async () => {
    const sub = await WireClient.connect(server.tcpPort)
    const queue = freshQueue('sub')
    expect(await sub.request({ cmd: 'SUBSCRIBE', queue, events: ['pushed', 'completed'] })).toEqual(okReply)
    const id = await push(sub, queue)
    const job = await pullNow(sub, queue)
    await sub.request({ cmd: 'ACK', id: job?.id ?? id })
    await Bun.sleep(100)
    expect(sub.received.every((reply) => typeof reply.reqId === 'string')).toBe(true)
    expect(sub.received).toHaveLength(4)
    expect(await sub.request({ cmd: 'UNSUBSCRIBE', queue })).toEqual(okReply)
    sub.close()
  })

  test('SUBSCRIBE / UNSUBSCRIBE / AUTH are shape-checked like every command (§1.5)', async () => {
    expectInvalid(await client.request({ cmd: 'SUBSCRIBE' }), 'queue')
    expectInvalid(await client.request({ cmd: 'UNSUBSCRIBE', queue: 7 }), 'queue')
    expectInvalid(await client.request({ cmd: 'AUTH' }), 'token')
  })

  test('PING answers pong; AUTH with any token succeeds when auth is off; unknown or lowercase commands are invalid', async () => {
    expect(await client.request({ cmd: 'PING' })).toEqual({ ...okReply, pong: true })
    expect(await client.requestInOrder({ cmd: 'PING' })).toEqual({ ok: true, pong: true })
    expect(await client.request({ cmd: 'AUTH', token: 'anything' })).toEqual(okReply)
    const lower = await client.request({ cmd: 'ping' })
    expect(lower.ok).toBe(false)
    expect(lower.error).toMatch(/^Invalid: /)
  })
})

describe('MessagePack mode', () => {
  test('queue control and counts over msgpack', async () => {
    const mp = await WireClient.connect(server.tcpPort, 'msgpack')
    try {
      const queue = freshQueue('mpq')
      expect(await mp.request({ cmd: 'PAUSE', queue })).toMatchObject({ ok: true })
      expect(await mp.request({ cmd: 'ISPAUSED', queue })).toMatchObject({ ok: true, paused: true })
      await mp.request({ cmd: 'PUSH', queue, data: [1, 2], delay: null })
      expect(await mp.request({ cmd: 'GETJOBCOUNTS', queue })).toMatchObject({ ok: true, waiting: 1, active: 0, delayed: 0, completed: 0, failed: 0 })
      expect(await mp.request({ cmd: 'GETJOBS', queue, state: null, limit: null })).toMatchObject({ ok: true, total: 1 })
      expect(await mp.request({ cmd: 'RESUME', queue })).toMatchObject({ ok: true })
      expect(await mp.request({ cmd: 'DRAIN', queue })).toMatchObject({ ok: true, count: 1 })
      expect(await mp.request({ cmd: 'PING' })).toMatchObject({ ok: true, pong: true })
      expectInvalid(await mp.request({ cmd: 'SETCONCURRENCY', queue, limit: 1.5 }), 'limit')
    } finally {
      mp.close()
    }
  })
})
