import { describe, expect, test } from 'bun:test'
import { Harness } from './test-helpers.ts'

const wireFields = [
  'id', 'queue', 'data', 'priority', 'created_at', 'run_at', 'started_at', 'attempts', 'max_attempts', 'backoff',
  'ttl', 'timeout', 'unique_key', 'depends_on', 'progress', 'progress_msg', 'tags', 'lifo', 'remove_on_complete',
  'remove_on_fail', 'last_heartbeat', 'stall_timeout', 'stall_count', 'parent_id', 'children_ids',
  'children_completed', 'custom_id', 'keep_completed_age', 'keep_completed_count', 'completed_at', 'group_id',
]

describe('push and pull', () => {
  test('job object has exactly the 31 spec fields in order', () => {
    const h = new Harness()
    const id = h.push('q', { data: { a: 1 }, tags: ['x'], job_id: 'c1', group_id: 'g' })
    const job = h.pull('q')
    expect(job).not.toBeNull()
    expect(Object.keys(job!)).toEqual(wireFields)
    expect(job!.id).toBe(id)
    expect(job!.data).toEqual({ a: 1 })
    expect(job!.started_at).toBe(h.now)
    expect(job!.last_heartbeat).toBe(h.now)
    expect(job!.custom_id).toBe('c1')
    expect(job!.group_id).toBe('g')
    expect(job!.unique_key).toBeNull()
    expect(job!.parent_id).toBeNull()
  })

  test('ids are sequence × shardCount + shardIndex', () => {
    const h = new Harness(2, 4)
    expect(h.push('q')).toBe(6)
    expect(h.push('q')).toBe(10)
  })

  test('delivery order: priority, lifo (highest id first), run_at, id', () => {
    const h = new Harness()
    const low = h.push('q', { priority: 1 })
    const high = h.push('q', { priority: 5 })
    const lifoA = h.push('q', { priority: 1, lifo: true })
    const lifoB = h.push('q', { priority: 1, lifo: true })
    const low2 = h.push('q', { priority: 1 })
    const order = [1, 2, 3, 4, 5].map(() => h.pull('q')!.id)
    expect(order).toEqual([high, lifoB, lifoA, low, low2])
    expect(h.pull('q')).toBeNull()
  })

  test('a delayed high-priority job does not block ready lower-priority jobs', () => {
    const h = new Harness()
    const delayed = h.push('q', { priority: 10, delay: 1000 })
    const ready = h.push('q', { priority: 1 })
    expect(h.state(delayed)).toBe('delayed')
    expect(h.pull('q')!.id).toBe(ready)
    expect(h.pull('q')).toBeNull()
    h.advance(1000)
    expect(h.state(delayed)).toBe('waiting')
    expect(h.pull('q')!.id).toBe(delayed)
  })

  test('PUSHB returns ids in order and reports rejected items', () => {
    const h = new Harness()
    const reply = h.call({
      cmd: 'PUSHB', queue: 'q',
      jobs: [{ data: 1, unique_key: 'k' }, { data: 2, unique_key: 'k' }, { data: 3, job_id: 'c' }, { data: 4, job_id: 'c' }],
    })
    expect(reply.ok).toBe(true)
    expect(reply.ids).toEqual([1, 2, 2])
    expect(reply.errors).toEqual([{ index: 1, error: 'Duplicate job with key: k' }])
  })

  test('job data over the limit is refused only when the request is large', () => {
    const h = new Harness()
    const big = 'x'.repeat(10 * 1024 * 1024 + 10)
    const { reply } = h.send({ cmd: 'PUSH', queue: 'q', data: big }, big.length + 50)
    expect(reply!.ok).toBe(false)
    expect(String(reply!.error)).toStartWith('Job data too large (~')
  })

  test('PULLB returns up to count in delivery order', () => {
    const h = new Harness()
    for (let i = 0; i < 5; i++) h.push('q', { priority: i })
    const reply = h.call({ cmd: 'PULLB', queue: 'q', count: 3, timeout: 0 })
    expect((reply.jobs as Array<{ priority: number }>).map((j) => j.priority)).toEqual([4, 3, 2])
  })

  test('blocking PULL is served by a later push, FIFO, and times out with job:null', () => {
    const h = new Harness()
    const first = h.send({ cmd: 'PULL', queue: 'q', timeout: 1000 })
    const second = h.send({ cmd: 'PULLB', queue: 'q', count: 5, timeout: 2000 })
    expect(first.reply).toBeUndefined()
    expect(h.engine.nextWakeMs()).toBe(h.now + 1000)
    const id = h.push('q')
    expect((h.take(first.token)!.job as { id: number }).id).toBe(id)
    expect(h.take(second.token)).toBeUndefined()
    h.advance(1999)
    expect(h.take(second.token)).toBeUndefined()
    h.advance(1)
    expect(h.take(second.token)).toEqual({ ok: true, jobs: [] })
  })

  test('a delayed job becoming due serves a waiter', () => {
    const h = new Harness()
    h.push('q', { delay: 500 })
    const pull = h.send({ cmd: 'PULL', queue: 'q', timeout: 5000 })
    expect(pull.reply).toBeUndefined()
    expect(h.engine.nextWakeMs()).toBe(h.now + 500)
    h.advance(500)
    expect(h.take(pull.token)!.job).not.toBeNull()
  })

  test('cancelWaiters forgets waiters without replying', () => {
    const h = new Harness()
    const pull = h.send({ cmd: 'PULL', queue: 'q', timeout: 5000 })
    h.engine.cancelWaiters([pull.token])
    h.push('q')
    expect(h.take(pull.token)).toBeUndefined()
    expect(h.pull('q')).not.toBeNull()
  })

  test('stopDelivery (graceful shutdown): no job is handed out, waiters time out, acks still work', () => {
    const h = new Harness()
    const active = h.push('q')
    expect(h.pull('q')!.id).toBe(active)
    h.push('q', { delay: 100 })
    const pull = h.send({ cmd: 'PULL', queue: 'q', timeout: 1000 })
    h.engine.stopDelivery()
    h.push('q')
    expect(h.take(pull.token)).toBeUndefined()
    // The due delayed job must not make the timer fire again and again: the next wake is the waiter's.
    h.advance(200)
    expect(h.engine.nextWakeMs()).toBe(h.now + 800)
    h.advance(800)
    expect(h.take(pull.token)).toMatchObject({ ok: true, job: null })
    expect(h.send({ cmd: 'PULLB', queue: 'q', count: 5, timeout: 0 }).reply).toMatchObject({ ok: true, jobs: [] })
    expect(h.send({ cmd: 'ACK', id: active }).reply).toMatchObject({ ok: true })
    expect(h.state(active)).toBe('completed')
  })

  test('TTL from created_at: expired jobs are never delivered and release the unique key', () => {
    const h = new Harness()
    const id = h.push('q', { ttl: 100, delay: 200, unique_key: 'u' })
    expect(h.engine.nextWakeMs()).toBe(h.now + 100)
    h.advance(100)
    expect(h.state(id)).toBe('unknown')
    h.advance(200)
    expect(h.pull('q')).toBeNull()
    expect(h.push('q', { unique_key: 'u' })).toBeGreaterThan(id)
  })

  test('expired job reached by a pull before the tick is skipped', () => {
    const h = new Harness()
    h.push('q', { ttl: 10 })
    const keep = h.push('q')
    h.clock.advance(10)
    expect(h.pull('q')!.id).toBe(keep)
  })
})

describe('ack, fail, results', () => {
  test('ACK completes, stores result, releases unique key; GETJOB says completed', () => {
    const h = new Harness()
    const id = h.push('q', { unique_key: 'u' })
    h.pull('q')
    expect(h.call({ cmd: 'ACK', id, result: { r: 1 } })).toEqual({ ok: true })
    expect(h.call({ cmd: 'GETJOB', id })).toEqual({ ok: true, job: null, state: 'completed' })
    expect(h.call({ cmd: 'GETRESULT', id })).toEqual({ ok: true, id, result: { r: 1 } })
    expect(h.call({ cmd: 'ACK', id }).error).toBe(`Job ${id} not found`)
    expect(h.push('q', { unique_key: 'u' })).toBeGreaterThan(id)
    expect(h.events.map((e) => e.event_type)).toEqual(['pushed', 'active', 'drained', 'completed', 'pushed'])
  })

  test('ACK of a job that is not active is refused', () => {
    const h = new Harness()
    const id = h.push('q')
    expect(h.call({ cmd: 'ACK', id }).error).toBe(`Job ${id} not found`)
  })

  test('ACKB acks active ids and skips the others', () => {
    const h = new Harness()
    const a = h.push('q')
    const b = h.push('q')
    const c = h.push('q')
    h.pull('q')
    h.pull('q')
    expect(h.call({ cmd: 'ACKB', ids: [a, b, c, 999] })).toEqual({ ok: true, ids: [2], count: 2 })
    expect(h.state(c)).toBe('waiting')
  })

  test('FAIL retries with exponential backoff and stores the reason', () => {
    const h = new Harness()
    const id = h.push('q', { backoff: 100, max_attempts: 3 })
    h.pull('q')
    h.call({ cmd: 'FAIL', id, error: 'boom' })
    let job = h.call({ cmd: 'GETJOB', id })
    expect(job.state).toBe('delayed')
    expect((job.job as Record<string, unknown>).run_at).toBe(h.now + 200)
    expect((job.job as Record<string, unknown>).attempts).toBe(1)
    expect((job.job as Record<string, unknown>).progress_msg).toBe('boom')
    expect((job.job as Record<string, unknown>).started_at).toBe(0)
    h.advance(200)
    h.pull('q')
    h.call({ cmd: 'FAIL', id })
    job = h.call({ cmd: 'GETJOB', id })
    expect((job.job as Record<string, unknown>).run_at).toBe(h.now + 400)
    h.advance(400)
    h.pull('q')
    h.call({ cmd: 'FAIL', id, error: 'last' })
    expect(h.state(id)).toBe('failed')
    const failed = h.events.filter((e) => e.event_type === 'failed')
    expect(failed).toEqual([{ event_type: 'failed', queue: 'q', job_id: id, timestamp: h.now, data: { attempts: 3, max_attempts: 3 }, error: 'last' }])
  })

  test('FAIL with backoff 0 keeps run_at, so the job goes ahead of newer ones', () => {
    const h = new Harness()
    const old = h.push('q')
    h.clock.advance(10)
    h.push('q')
    h.pull('q')
    h.call({ cmd: 'FAIL', id: old })
    expect(h.pull('q')!.id).toBe(old)
  })

  test('final failure with remove_on_fail drops the job', () => {
    const h = new Harness()
    const id = h.push('q', { max_attempts: 1, remove_on_fail: true })
    h.pull('q')
    h.call({ cmd: 'FAIL', id })
    expect(h.state(id)).toBe('unknown')
  })

  test('processing timeout fails the job with "Job timed out"', () => {
    const h = new Harness()
    const id = h.push('q', { timeout: 1000 })
    h.pull('q')
    expect(h.engine.nextWakeMs()).toBe(h.now + 1001)
    h.advance(1000)
    expect(h.state(id)).toBe('active')
    h.advance(1)
    const job = h.call({ cmd: 'GETJOB', id })
    expect(job.state).toBe('waiting')
    expect((job.job as Record<string, unknown>).progress_msg).toBe('Job timed out')
    expect((job.job as Record<string, unknown>).attempts).toBe(1)
    expect(h.events.map((e) => e.event_type)).toEqual(['pushed', 'active', 'drained', 'timeout', 'retrying'])
    expect(h.events.at(-1)?.data).toEqual({ attempts: 1, run_at: h.now - 1001 })
  })

  test('remove_on_complete forgets the job but WAITJOB still gets the result', () => {
    const h = new Harness()
    const id = h.push('q', { remove_on_complete: true })
    const wait = h.send({ cmd: 'WAITJOB', id, timeout: 1000 })
    h.pull('q')
    h.call({ cmd: 'ACK', id, result: 7 })
    expect(h.take(wait.token)).toEqual({ ok: true, result: 7 })
    expect(h.state(id)).toBe('unknown')
    expect(h.call({ cmd: 'GETRESULT', id }).result).toBeNull()
  })
})

describe('WAITJOB', () => {
  test('every case of the spec table', () => {
    const h = new Harness()
    expect(h.call({ cmd: 'WAITJOB', id: 999 })).toEqual({ ok: false, error: 'Job not found' })
    const done = h.push('q')
    h.pull('q')
    h.call({ cmd: 'ACK', id: done, result: 'r' })
    expect(h.call({ cmd: 'WAITJOB', id: done })).toEqual({ ok: true, result: 'r' })
    const dead = h.push('q', { max_attempts: 1 })
    h.pull('q')
    h.call({ cmd: 'FAIL', id: dead })
    expect(h.call({ cmd: 'WAITJOB', id: dead })).toEqual({ ok: false, error: 'Job failed' })

    const a = h.push('q')
    const waitA = h.send({ cmd: 'WAITJOB', id: a, timeout: 1000 })
    const waitA2 = h.send({ cmd: 'WAITJOB', id: a, timeout: 1000 })
    h.pull('q')
    h.call({ cmd: 'ACKB', ids: [a] })
    expect(h.take(waitA.token)).toEqual({ ok: true })
    expect(h.take(waitA2.token)).toEqual({ ok: true })

    const b = h.push('q', { max_attempts: 1 })
    const waitB = h.send({ cmd: 'WAITJOB', id: b, timeout: 1000 })
    h.pull('q')
    h.call({ cmd: 'FAIL', id: b })
    expect(h.take(waitB.token)).toEqual({ ok: false, error: 'Job failed' })

    const c = h.push('q')
    const waitC = h.send({ cmd: 'WAITJOB', id: c, timeout: 1000 })
    h.advance(1000)
    expect(h.take(waitC.token)).toEqual({ ok: false, error: `Timeout waiting for job ${c} after 1000ms` })

    const d = h.push('q', { ttl: 50 })
    const waitD = h.send({ cmd: 'WAITJOB', id: d, timeout: 1000 })
    h.advance(50)
    expect(h.take(waitD.token)).toEqual({ ok: false, error: 'Job not found' })
  })
})

describe('idempotency', () => {
  test('custom id returns the existing id while retrievable, then creates a new job', () => {
    const h = new Harness()
    const id = h.push('q', { job_id: 'order-1' })
    expect(h.push('q', { job_id: 'order-1' })).toBe(id)
    expect(h.call({ cmd: 'GETJOBBYCUSTOMID', job_id: 'order-1' }).state).toBe('waiting')
    h.pull('q')
    h.call({ cmd: 'ACK', id })
    expect(h.call({ cmd: 'GETJOBBYCUSTOMID', job_id: 'order-1' })).toEqual({ ok: true, job: null, state: 'unknown' })
    expect(h.push('q', { job_id: 'order-1' })).toBeGreaterThan(id)
  })

  test('unique key is held while waiting and active, released on ack and final failure', () => {
    const h = new Harness()
    const id = h.push('q', { unique_key: 'k', max_attempts: 1 })
    expect(h.call({ cmd: 'PUSH', queue: 'q', data: 1, unique_key: 'k' }).error).toBe('Duplicate job with key: k')
    h.pull('q')
    expect(h.call({ cmd: 'PUSH', queue: 'q', data: 1, unique_key: 'k' }).ok).toBe(false)
    h.call({ cmd: 'FAIL', id })
    expect(h.call({ cmd: 'PUSH', queue: 'q', data: 1, unique_key: 'k' }).ok).toBe(true)
  })

  test('retry keeps the unique key', () => {
    const h = new Harness()
    const id = h.push('q', { unique_key: 'k' })
    h.pull('q')
    h.call({ cmd: 'FAIL', id })
    expect(h.call({ cmd: 'PUSH', queue: 'q', data: 1, unique_key: 'k' }).ok).toBe(false)
  })
})

describe('stats and ping', () => {
  test('STATS counts this shard', () => {
    const h = new Harness()
    h.push('q')
    h.push('q', { delay: 100 })
    const a = h.push('r')
    h.push('r')
    h.pull('r')
    h.call({ cmd: 'ACK', id: a })
    h.pull('r')
    expect(h.call({ cmd: 'STATS' })).toEqual({ ok: true, queued: 1, processing: 1, delayed: 1, dlq: 0, completed: 1 })
    // PING (like AUTH) is answered by the front, in one place; the engine never sees it.
    expect(h.call({ cmd: 'PING' })).toMatchObject({ ok: false, error: expect.stringContaining('not handled by the queue engine') })
  })

  test('internal commands: push returning the job, per-queue defaults, metrics reset', () => {
    const h = new Harness()
    const pushed = h.call({ cmd: '_PUSHJOB', queue: 'q', data: { a: 1 }, jobId: 'c1' })
    expect(pushed).toMatchObject({ ok: true, job: { queue: 'q', data: { a: 1 }, custom_id: 'c1' } })
    expect(Object.keys(pushed.job as object)).toHaveLength(31)
    expect((pushed.job as { id: number }).id).toBe(pushed.id as number)
    expect(h.call({ cmd: '_PUSHJOB', queue: 'q', data: 2, job_id: 'c1' })).toMatchObject({ ok: true, id: pushed.id })
    expect(h.call({ cmd: '_QUEUEDEFAULTS', queue: 'q', timeout: 5000, max_attempts: 3 })).toEqual({ ok: true })
    const withDefaults = h.call({ cmd: '_PUSHJOB', queue: 'q', data: 3 })
    expect(withDefaults.job).toMatchObject({ timeout: 5000, max_attempts: 3 })
    expect((h.call({ cmd: 'METRICS' }).metrics as { total_pushed: number }).total_pushed).toBe(2)
    expect(h.call({ cmd: '_RESETMETRICS' })).toEqual({ ok: true })
    expect((h.call({ cmd: 'METRICS' }).metrics as { total_pushed: number }).total_pushed).toBe(0)
  })
})
