/**
 * PUSH options over the real wire (spec §3.1, §4): unique_key, debounce, job_id idempotency, tags,
 * remove_on_complete/remove_on_fail, ttl, timeout, group_id and lifo. Each checks the reply, the
 * resulting state, and the error text of §1.8 where there is one.
 */
import { describe, expect, test } from 'bun:test'
import type { TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import {
  expectError, expectInvalid, freshQueue, getJob, pullNow, push, pushActive, shardArgs, sharedServer, state, waitFor, waitForState,
} from './commands-kit.ts'

let server: TestServer
let client: WireClient
sharedServer((started, connected) => {
  server = started
  client = connected
})

describe('unique_key', () => {
  test('a held key refuses a duplicate; ACK and final failure release it', async () => {
    const queue = freshQueue('unique')
    const id = await push(client, queue, { unique_key: 'order-1' })
    expect((await getJob(client, id))?.unique_key).toBe('order-1')
    expectError(await client.request({ cmd: 'PUSH', queue, data: 2, unique_key: 'order-1' }), 'Duplicate job with key: order-1')
    // Another queue has its own key set.
    expect(await client.request({ cmd: 'PUSH', queue: freshQueue('unique'), data: 1, unique_key: 'order-1' })).toMatchObject({ ok: true })
    const pushb = await client.request({ cmd: 'PUSHB', queue, jobs: [{ data: 'a', unique_key: 'order-1' }, { data: 'b', unique_key: 'order-2' }] })
    expect(pushb).toMatchObject({ ok: true, errors: [{ index: 0, error: 'Duplicate job with key: order-1' }] })
    expect(pushb.ids).toHaveLength(1)
    expect((await pullNow(client, queue))?.id).toBe(id)
    expectError(await client.request({ cmd: 'PUSH', queue, data: 2, unique_key: 'order-1' }), 'Duplicate job with key: order-1')
    await client.request({ cmd: 'ACK', id })
    const second = await push(client, queue, { unique_key: 'order-1', max_attempts: 1 })
    await pullNow(client, queue) // order-2
    const job = await pullNow(client, queue)
    expect(job?.id).toBe(second)
    await client.request({ cmd: 'FAIL', id: second, error: 'final' })
    expect(await state(client, second)).toBe('failed')
    expect(await client.request({ cmd: 'PUSH', queue, data: 3, unique_key: 'order-1' })).toMatchObject({ ok: true })
    expectInvalid(await client.request({ cmd: 'PUSH', queue, data: 3, unique_key: 42 }), 'unique_key')
  })
})

describe('debounce_id / debounce_ttl', () => {
  test('a second push inside the window is refused; after it, accepted', async () => {
    const queue = freshQueue('debounce')
    expect(await client.request({ cmd: 'PUSH', queue, data: 1, debounce_id: 'd1', debounce_ttl: 300 })).toMatchObject({ ok: true })
    expectError(await client.request({ cmd: 'PUSH', queue, data: 2, debounce_id: 'd1', debounce_ttl: 300 }), "Debounced: job with id 'd1' was pushed recently")
    expect(await client.request({ cmd: 'PUSH', queue, data: 2, debounce_id: 'd2' })).toMatchObject({ ok: true })
    await Bun.sleep(500)
    expect(await client.request({ cmd: 'PUSH', queue, data: 3, debounce_id: 'd1', debounce_ttl: 300 })).toMatchObject({ ok: true })
    // The default window is 5 s.
    expectError(await client.request({ cmd: 'PUSH', queue, data: 4, debounce_id: 'd2' }), "Debounced: job with id 'd2' was pushed recently")
    expect(await client.request({ cmd: 'COUNT', queue })).toMatchObject({ count: 3 })
    expectInvalid(await client.request({ cmd: 'PUSH', queue, data: 5, debounce_id: 'd3', debounce_ttl: 'long' }), 'debounce_ttl')
  })
})

describe('job_id (custom id)', () => {
  test('a known live job_id returns the existing id; after completion a new job is created', async () => {
    const queue = freshQueue('custom')
    const customId = `order-${queue}`
    const id = await push(client, queue, { job_id: customId })
    expect(await client.request({ cmd: 'PUSH', queue, data: 'again', job_id: customId })).toMatchObject({ ok: true, id })
    expect(await client.request({ cmd: 'COUNT', queue })).toMatchObject({ count: 1 })
    expect(await client.request({ cmd: 'GETJOBBYCUSTOMID', job_id: customId })).toMatchObject({ ok: true, job: { id, custom_id: customId }, state: 'waiting' })
    expect((await pullNow(client, queue))?.id).toBe(id)
    expect(await client.request({ cmd: 'PUSH', queue, data: 'again', job_id: customId })).toMatchObject({ ok: true, id })
    await client.request({ cmd: 'ACK', id })
    const fresh = await push(client, queue, { job_id: customId })
    expect(fresh).not.toBe(id)
    expect((await getJob(client, fresh))?.custom_id).toBe(customId)
    expectInvalid(await client.request({ cmd: 'PUSH', queue, data: 1, job_id: 17 }), 'job_id')
  })
})

describe('tags, lifo, remove_on_complete, remove_on_fail', () => {
  test('tags are stored and returned', async () => {
    const queue = freshQueue('tags')
    const id = await push(client, queue, { tags: ['a', 'b-c'] })
    expect((await getJob(client, id))?.tags).toEqual(['a', 'b-c'])
    expect((await pullNow(client, queue))?.tags).toEqual(['a', 'b-c'])
    expectInvalid(await client.request({ cmd: 'PUSH', queue, data: 1, tags: 'a' }), 'tags')
  })

  test('lifo jobs go ahead of older jobs of equal priority, newest first', async () => {
    const queue = freshQueue('lifo')
    const a = await push(client, queue)
    const b = await push(client, queue, { lifo: true })
    const c = await push(client, queue, { lifo: true })
    const high = await push(client, queue, { priority: 1 })
    expect((await getJob(client, b))?.lifo).toBe(true)
    const order = []
    for (let i = 0; i < 4; i++) order.push((await pullNow(client, queue))?.id)
    expect(order).toEqual([high, c, b, a])
    expectInvalid(await client.request({ cmd: 'PUSH', queue, data: 1, lifo: 'yes' }), 'lifo')
  })

  test('remove_on_complete forgets the job at ACK (no result kept)', async () => {
    const queue = freshQueue('roc')
    const id = await pushActive(client, queue, { remove_on_complete: true })
    expect((await getJob(client, id))?.remove_on_complete).toBe(true)
    await client.request({ cmd: 'ACK', id, result: { big: true } })
    expect(await state(client, id)).toBe('unknown')
    expect(await client.request({ cmd: 'GETRESULT', id })).toMatchObject({ ok: true, result: null })
    expectInvalid(await client.request({ cmd: 'PUSH', queue, data: 1, remove_on_complete: 1 }), 'remove_on_complete')
  })

  test('remove_on_fail drops the job on final failure instead of the DLQ', async () => {
    const queue = freshQueue('rof')
    const id = await pushActive(client, queue, { remove_on_fail: true, max_attempts: 1 })
    await client.request({ cmd: 'FAIL', id, error: 'x' })
    expect(await state(client, id)).toBe('unknown')
    expect(await client.request({ cmd: 'DLQ', queue })).toMatchObject({ jobs: [] })
  })
})

describe('ttl', () => {
  test('an expired job is never delivered and becomes unknown, releasing its unique key', async () => {
    const queue = freshQueue('ttl')
    const id = await push(client, queue, { ttl: 150, unique_key: 'exp' })
    const keep = await push(client, queue, { ttl: 60_000 })
    expect((await getJob(client, id))?.ttl).toBe(150)
    await Bun.sleep(400)
    expect((await pullNow(client, queue))?.id).toBe(keep)
    expect(await pullNow(client, queue)).toBeNull()
    expect(await state(client, id)).toBe('unknown')
    expect(await client.request({ cmd: 'PUSH', queue, data: 1, unique_key: 'exp' })).toMatchObject({ ok: true })
  })

  test('ttl is measured from created_at: a delayed job with ttl < delay expires before it is ready', async () => {
    const queue = freshQueue('ttl')
    const id = await push(client, queue, { ttl: 100, delay: 300 })
    expect(await client.request({ cmd: 'PULL', queue, timeout: 700 })).toMatchObject({ ok: true, job: null })
    expect(await state(client, id)).toBe('unknown')
    expectInvalid(await client.request({ cmd: 'PUSH', queue, data: 1, ttl: -1 }), 'ttl')
  })
})

describe('timeout', () => {
  test('an active job past its timeout is retried with "Job timed out", then moved to the DLQ', async () => {
    const queue = freshQueue('timeout')
    const id = await pushActive(client, queue, { timeout: 200, max_attempts: 2 })
    await waitFor(async () => (await getJob(client, id))?.attempts === 1, 5000, 50)
    const retried = await client.request({ cmd: 'GETJOB', id })
    expect(['waiting', 'delayed', 'active']).toContain(retried.state)
    expect(retried.job).toMatchObject({ attempts: 1, progress_msg: 'Job timed out' })
    // Its late ACK fails: the job is no longer active under this delivery.
    if (retried.state !== 'active') expectError(await client.request({ cmd: 'ACK', id }), `Job ${id} not found`)
    const again = await client.request({ cmd: 'PULL', queue, timeout: 5000 })
    expect(again.job?.id).toBe(id)
    await waitForState(client, id, 'failed', 5000)
    expect(((await client.request({ cmd: 'DLQ', queue })).jobs as any[]).map((job) => job.id)).toEqual([id])
    expectInvalid(await client.request({ cmd: 'PUSH', queue, data: 1, timeout: 'soon' }), 'timeout')
  })
})

describe('group_id', () => {
  test('one active job per group; other groups are served meanwhile', async () => {
    const queue = freshQueue('group')
    const g1a = await push(client, queue, { group_id: 'g1' })
    const g1b = await push(client, queue, { group_id: 'g1' })
    const g2 = await push(client, queue, { group_id: 'g2' })
    expect((await getJob(client, g1a))?.group_id).toBe('g1')
    expect((await pullNow(client, queue))?.id).toBe(g1a)
    expect((await pullNow(client, queue))?.id).toBe(g2)
    expect(await pullNow(client, queue)).toBeNull()
    expect(await state(client, g1b)).toBe('waiting')
    await client.request({ cmd: 'ACK', id: g1a })
    expect((await pullNow(client, queue))?.id).toBe(g1b)
    expectInvalid(await client.request({ cmd: 'PUSH', queue, data: 1, group_id: ['g'] }), 'group_id')
  })

  test('FAIL (retry) releases the group lock', async () => {
    const queue = freshQueue('group')
    const a = await pushActive(client, queue, { group_id: 'g' })
    const b = await push(client, queue, { group_id: 'g', priority: 5 })
    expect(await pullNow(client, queue)).toBeNull()
    await client.request({ cmd: 'FAIL', id: a })
    expect((await pullNow(client, queue))?.id).toBe(b)
  })
})

describe('every option over MessagePack', () => {
  test('all PUSH fields are stored and returned in the job object', async () => {
    const mp = await WireClient.connect(server.tcpPort, 'msgpack')
    try {
      const queue = freshQueue('mpopts')
      const reply = await mp.request({
        cmd: 'PUSH', queue, data: { n: 1 }, priority: -2, delay: 60_000, ttl: 120_000, timeout: 5000, max_attempts: 3, backoff: 50,
        unique_key: 'mu', depends_on: null, tags: ['t'], lifo: true, remove_on_complete: false, remove_on_fail: null,
        stall_timeout: 9000, debounce_id: null, job_id: `mp-${queue}`, keep_completed_age: 10, keep_completed_count: 2, group_id: 'mg',
      })
      expect(reply).toMatchObject({ ok: true })
      const got = await mp.request({ cmd: 'GETJOB', id: reply.id })
      expect(got.state).toBe('delayed')
      expect(got.job).toMatchObject({
        id: reply.id, queue, data: { n: 1 }, priority: -2, ttl: 120_000, timeout: 5000, max_attempts: 3, backoff: 50, unique_key: 'mu',
        depends_on: [], tags: ['t'], lifo: true, remove_on_complete: false, remove_on_fail: false, stall_timeout: 9000,
        custom_id: `mp-${queue}`, keep_completed_age: 10, keep_completed_count: 2, group_id: 'mg', parent_id: null,
      })
      expect(got.job.run_at - got.job.created_at).toBe(60_000)
      expect(Object.keys(got.job)).toHaveLength(31)
      expectError(await mp.request({ cmd: 'PUSH', queue, data: 1, unique_key: 'mu' }), 'Duplicate job with key: mu')
      expectInvalid(await mp.request({ cmd: 'PUSH', queue, data: 1, priority: 1.5 }), 'priority')
    } finally {
      mp.close()
    }
  })
})
