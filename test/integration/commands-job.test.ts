/**
 * Job-management commands of spec §3.2 over the real wire (JSON lines, a few in MessagePack): reply
 * shape, the state change read back with GETJOB/GETSTATE/…, and one bad-input case each.
 */
import { describe, expect, test } from 'bun:test'
import type { TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import {
  expectError, expectInvalid, freshQueue, getJob, nameOnShard, pullNow, push, pushActive, shardArgs, sharedServer, shardOfId, state, unknownId,
} from './commands-kit.ts'

let server: TestServer
let client: WireClient
sharedServer((started, connected) => {
  server = started
  client = connected
})

/** Pushes a job with max_attempts 1 and fails it, so it lands in the DLQ. */
async function dlqJob(queue: string, error = 'boom', extra: Record<string, unknown> = {}): Promise<number> {
  const id = await pushActive(client, queue, { max_attempts: 1, ...extra })
  expect(await client.request({ cmd: 'FAIL', id, error })).toMatchObject({ ok: true })
  expect(await state(client, id)).toBe('failed')
  return id
}

describe('CANCEL', () => {
  test('removes a waiting job and an active one (which releases its unique key); state becomes unknown', async () => {
    const queue = freshQueue('cancel')
    const waiting = await push(client, queue)
    expect(await client.request({ cmd: 'CANCEL', id: waiting })).toEqual({ reqId: expect.any(String), ok: true })
    expect(await state(client, waiting)).toBe('unknown')
    const active = await pushActive(client, queue, { unique_key: 'k1' })
    expectError(await client.request({ cmd: 'PUSH', queue, data: 1, unique_key: 'k1' }), 'Duplicate job with key: k1')
    expect(await client.request({ cmd: 'CANCEL', id: active })).toMatchObject({ ok: true })
    expect(await state(client, active)).toBe('unknown')
    expect(await client.request({ cmd: 'GETJOB', id: active })).toMatchObject({ ok: true, job: null, state: 'unknown' })
    expect(await client.request({ cmd: 'PUSH', queue, data: 1, unique_key: 'k1' })).toMatchObject({ ok: true })
    expect(await client.request({ cmd: 'COUNT', queue })).toMatchObject({ count: 1 })
    // The cancelled active job cannot be acked any more.
    expectError(await client.request({ cmd: 'ACK', id: active }), `Job ${active} not found`)
  })

  test('a delayed job can be cancelled', async () => {
    const id = await push(client, freshQueue('cancel'), { delay: 60_000 })
    expect(await state(client, id)).toBe('delayed')
    expect(await client.request({ cmd: 'CANCEL', id })).toMatchObject({ ok: true })
    expect(await state(client, id)).toBe('unknown')
  })

  test('completed and DLQ jobs cannot be cancelled; unknown ids are not found; id is required', async () => {
    const queue = freshQueue('cancel')
    const done = await pushActive(client, queue)
    await client.request({ cmd: 'ACK', id: done })
    expectError(await client.request({ cmd: 'CANCEL', id: done }), `Job ${done} cannot be cancelled (already completed/failed)`)
    const failed = await dlqJob(queue)
    expectError(await client.request({ cmd: 'CANCEL', id: failed }), `Job ${failed} cannot be cancelled (already completed/failed)`)
    expectError(await client.request({ cmd: 'CANCEL', id: unknownId }), `Job ${unknownId} not found`)
    expectInvalid(await client.request({ cmd: 'CANCEL' }), 'id')
    expectInvalid(await client.request({ cmd: 'CANCEL', id: 'seven' }), 'id')
  })
})

describe('PROGRESS / GETPROGRESS', () => {
  test('PROGRESS sets progress and message of an active job; >100 is clamped; null clears the message', async () => {
    const queue = freshQueue('progress')
    const id = await pushActive(client, queue)
    expect(await client.request({ cmd: 'PROGRESS', id, progress: 40, message: 'reading' })).toEqual({ reqId: expect.any(String), ok: true })
    expect(await getJob(client, id)).toMatchObject({ progress: 40, progress_msg: 'reading' })
    expect(await client.request({ cmd: 'GETPROGRESS', id })).toEqual({
      reqId: expect.any(String), ok: true, progress: { id, progress: 40, message: 'reading' },
    })
    expect(await client.request({ cmd: 'PROGRESS', id, progress: 250, message: null })).toMatchObject({ ok: true })
    expect(await client.request({ cmd: 'GETPROGRESS', id })).toMatchObject({ progress: { id, progress: 100, message: null } })
  })

  test('GETPROGRESS keeps the last progress after completion and answers for waiting jobs', async () => {
    const queue = freshQueue('progress')
    const id = await pushActive(client, queue)
    await client.request({ cmd: 'PROGRESS', id, progress: 77, message: 'almost' })
    await client.request({ cmd: 'ACK', id })
    expect(await client.request({ cmd: 'GETPROGRESS', id })).toMatchObject({ ok: true, progress: { id, progress: 77, message: 'almost' } })
    const waiting = await push(client, queue)
    expect(await client.request({ cmd: 'GETPROGRESS', id: waiting })).toMatchObject({ ok: true, progress: { id: waiting, progress: 0, message: null } })
  })

  test('PROGRESS of a job that is not active, GETPROGRESS of an unknown id, bad progress type', async () => {
    const queue = freshQueue('progress')
    const waiting = await push(client, queue)
    expectError(await client.request({ cmd: 'PROGRESS', id: waiting, progress: 10 }), `Job ${waiting} not found in processing`)
    expectError(await client.request({ cmd: 'GETPROGRESS', id: unknownId }), `Job ${unknownId} not found`)
    const active = await pushActive(client, freshQueue('progress'))
    expectInvalid(await client.request({ cmd: 'PROGRESS', id: active, progress: 'half' }), 'progress')
    expectInvalid(await client.request({ cmd: 'PROGRESS', id: active, progress: -1 }), 'progress')
    expectInvalid(await client.request({ cmd: 'GETPROGRESS' }), 'id')
  })
})

describe('DLQ / RETRYDLQ / PURGEDLQ', () => {
  test('DLQ lists failed jobs oldest first, honours count, and the jobs keep their attempts', async () => {
    const queue = freshQueue('dlq')
    const first = await dlqJob(queue, 'e1')
    const second = await dlqJob(queue, 'e2')
    const reply = await client.request({ cmd: 'DLQ', queue })
    expect(reply.ok).toBe(true)
    const jobs = reply.jobs as Array<Record<string, any>>
    expect(jobs.map((job) => job.id)).toEqual([first, second])
    expect(Object.keys(jobs[0] as object)).toHaveLength(31)
    expect(jobs[0]).toMatchObject({ queue, attempts: 1, max_attempts: 1 })
    expect(((await client.request({ cmd: 'DLQ', queue, count: 1 })).jobs as unknown[]).length).toBe(1)
    expect(await client.request({ cmd: 'DLQ', queue: freshQueue('nothing') })).toMatchObject({ ok: true, jobs: [] })
    expect(await client.request({ cmd: 'GETJOBCOUNTS', queue })).toMatchObject({ failed: 2 })
  })

  test('RETRYDLQ by id moves one job back with attempts 0; without id it moves all', async () => {
    const queue = freshQueue('retrydlq')
    const a = await dlqJob(queue)
    const b = await dlqJob(queue)
    const c = await dlqJob(queue)
    expect(await client.request({ cmd: 'RETRYDLQ', queue, id: b })).toEqual({ reqId: expect.any(String), ok: true, ids: [1], count: 1 })
    expect(await client.request({ cmd: 'GETJOB', id: b })).toMatchObject({ state: 'waiting', job: { attempts: 0 } })
    expect(await state(client, a)).toBe('failed')
    expect(await client.request({ cmd: 'RETRYDLQ', queue, id: unknownId })).toMatchObject({ ok: true, count: 0 })
    expect(await client.request({ cmd: 'RETRYDLQ', queue })).toMatchObject({ ok: true, ids: [2], count: 2 })
    expect(await state(client, a)).toBe('waiting')
    expect(await state(client, c)).toBe('waiting')
    expect(await client.request({ cmd: 'DLQ', queue })).toMatchObject({ jobs: [] })
    expect(await client.request({ cmd: 'COUNT', queue })).toMatchObject({ count: 3 })
    expectInvalid(await client.request({ cmd: 'RETRYDLQ' }), 'queue')
  })

  test('RETRYDLQ re-acquires the unique key, which DLQ released', async () => {
    const queue = freshQueue('retrydlq')
    const id = await dlqJob(queue, 'x', { unique_key: 'u' })
    // Final failure released the key: a new job may take it, and then retry cannot re-acquire it.
    const other = await push(client, queue, { unique_key: 'u' })
    await client.request({ cmd: 'CANCEL', id: other })
    expect(await client.request({ cmd: 'RETRYDLQ', queue, id })).toMatchObject({ ok: true, count: 1 })
    expectError(await client.request({ cmd: 'PUSH', queue, data: 1, unique_key: 'u' }), 'Duplicate job with key: u')
  })

  test('PURGEDLQ deletes the DLQ; its jobs become unknown', async () => {
    const queue = freshQueue('purgedlq')
    const a = await dlqJob(queue)
    await dlqJob(queue)
    expect(await client.request({ cmd: 'PURGEDLQ', queue })).toEqual({ reqId: expect.any(String), ok: true, count: 2 })
    expect(await state(client, a)).toBe('unknown')
    expect(await client.request({ cmd: 'DLQ', queue })).toMatchObject({ jobs: [] })
    expect(await client.request({ cmd: 'PURGEDLQ', queue })).toMatchObject({ ok: true, count: 0 })
    expectInvalid(await client.request({ cmd: 'PURGEDLQ', queue: 5 }), 'queue')
  })
})

describe('GETJOBSBATCH', () => {
  test('returns browser items for ids on both shards in request order; unknown and completed ids are omitted', async () => {
    const q0 = nameOnShard('batch', 0)
    const q1 = nameOnShard('batch', 1)
    const a = await push(client, q0, { data: 'a' })
    const b = await push(client, q1, { data: 'b', delay: 60_000 })
    expect(new Set([shardOfId(a), shardOfId(b)])).toEqual(new Set([0, 1]))
    const done = await pushActive(client, q1)
    await client.request({ cmd: 'ACK', id: done })
    const reply = await client.request({ cmd: 'GETJOBSBATCH', ids: [b, unknownId, a, done] })
    expect(reply.ok).toBe(true)
    const jobs = reply.jobs as Array<Record<string, any>>
    expect(jobs.map((job) => job.id)).toEqual([b, a])
    expect(jobs[0]).toMatchObject({ id: b, queue: q1, data: 'b', state: 'delayed' })
    expect(jobs[1]).toMatchObject({ id: a, queue: q0, data: 'a', state: 'waiting' })
    expect(await client.request({ cmd: 'GETJOBSBATCH', ids: [] })).toMatchObject({ ok: true, jobs: [] })
    expectInvalid(await client.request({ cmd: 'GETJOBSBATCH', ids: 'all' }), 'ids')
  })
})

describe('CHANGEPRIORITY', () => {
  test('re-sorts a waiting job, and works on active jobs', async () => {
    const queue = freshQueue('prio')
    const low = await push(client, queue, { priority: 1 })
    const raised = await push(client, queue, { priority: 0 })
    expect(await client.request({ cmd: 'CHANGEPRIORITY', id: raised, priority: 5 })).toEqual({ reqId: expect.any(String), ok: true })
    expect((await getJob(client, raised))?.priority).toBe(5)
    expect((await pullNow(client, queue))?.id).toBe(raised)
    expect(await client.request({ cmd: 'CHANGEPRIORITY', id: raised, priority: -3 })).toMatchObject({ ok: true })
    expect((await getJob(client, raised))?.priority).toBe(-3)
    expect((await pullNow(client, queue))?.id).toBe(low)
  })

  test('unknown or completed ids, and a missing priority', async () => {
    const queue = freshQueue('prio')
    expectError(await client.request({ cmd: 'CHANGEPRIORITY', id: unknownId, priority: 1 }), `Job ${unknownId} not found or cannot change priority`)
    const done = await pushActive(client, queue)
    await client.request({ cmd: 'ACK', id: done })
    expectError(await client.request({ cmd: 'CHANGEPRIORITY', id: done, priority: 1 }), `Job ${done} not found or cannot change priority`)
    expectInvalid(await client.request({ cmd: 'CHANGEPRIORITY', id: done }), 'priority')
    expectInvalid(await client.request({ cmd: 'CHANGEPRIORITY', id: done, priority: 1.5 }), 'priority')
  })
})

describe('MOVETODELAYED', () => {
  test('an active job goes back delayed with started_at 0 and unchanged attempts, then is delivered again', async () => {
    const queue = freshQueue('mtd')
    const id = await pushActive(client, queue)
    await client.request({ cmd: 'PROGRESS', id, progress: 50 })
    expect(await client.request({ cmd: 'MOVETODELAYED', id, delay: 300 })).toEqual({ reqId: expect.any(String), ok: true })
    const reply = await client.request({ cmd: 'GETJOB', id })
    expect(reply.state).toBe('delayed')
    expect(reply.job).toMatchObject({ started_at: 0, attempts: 0, progress: 0 })
    expect(reply.job.run_at).toBeGreaterThan(Date.now() - 1000)
    expect(await pullNow(client, queue)).toBeNull()
    const again = await client.request({ cmd: 'PULL', queue, timeout: 5000 })
    expect(again.job?.id).toBe(id)
  })

  test('releases the concurrency slot', async () => {
    const queue = freshQueue('mtd')
    await client.request({ cmd: 'SETCONCURRENCY', queue, limit: 1 })
    const id = await pushActive(client, queue)
    const other = await push(client, queue)
    expect(await pullNow(client, queue)).toBeNull()
    await client.request({ cmd: 'MOVETODELAYED', id, delay: 60_000 })
    expect((await pullNow(client, queue))?.id).toBe(other)
  })

  test('a job that is not active; a missing delay', async () => {
    const queue = freshQueue('mtd')
    const waiting = await push(client, queue)
    expectError(await client.request({ cmd: 'MOVETODELAYED', id: waiting, delay: 100 }), `Job ${waiting} not in processing`)
    expectError(await client.request({ cmd: 'MOVETODELAYED', id: unknownId, delay: 100 }), `Job ${unknownId} not in processing`)
    expectInvalid(await client.request({ cmd: 'MOVETODELAYED', id: waiting }), 'delay')
  })
})

describe('PROMOTE', () => {
  test('a delayed job becomes waiting and is pulled at once', async () => {
    const queue = freshQueue('promote')
    const id = await push(client, queue, { delay: 60_000 })
    expect(await state(client, id)).toBe('delayed')
    expect(await client.request({ cmd: 'PROMOTE', id })).toEqual({ reqId: expect.any(String), ok: true })
    expect(await state(client, id)).toBe('waiting')
    const job = await pullNow(client, queue)
    expect(job?.id).toBe(id)
    expect(job?.run_at).toBeLessThanOrEqual(Date.now() + 5)
  })

  test('the three PROMOTE errors', async () => {
    const queue = freshQueue('promote')
    const waiting = await push(client, queue)
    expectError(await client.request({ cmd: 'PROMOTE', id: waiting }), `Job ${waiting} is not delayed`)
    const active = await pushActive(client, freshQueue('promote'))
    expectError(await client.request({ cmd: 'PROMOTE', id: active }), `Job ${active} not found in queue`)
    expectError(await client.request({ cmd: 'PROMOTE', id: unknownId }), `Job ${unknownId} not found or not in delayed state`)
    expectInvalid(await client.request({ cmd: 'PROMOTE', id: -1 }), 'id')
  })
})

describe('UPDATEJOB', () => {
  test('replaces data of waiting, active and DLQ jobs', async () => {
    const queue = freshQueue('update')
    const waiting = await push(client, queue, { data: { v: 1 }, delay: 60_000 })
    expect(await client.request({ cmd: 'UPDATEJOB', id: waiting, data: { v: 2, list: [1, 2] } })).toEqual({ reqId: expect.any(String), ok: true })
    expect((await getJob(client, waiting))?.data).toEqual({ v: 2, list: [1, 2] })
    const active = await pushActive(client, freshQueue('update'), { data: 'old' })
    expect(await client.request({ cmd: 'UPDATEJOB', id: active, data: 'new' })).toMatchObject({ ok: true })
    expect((await getJob(client, active))?.data).toBe('new')
    const failed = await dlqJob(freshQueue('update'))
    expect(await client.request({ cmd: 'UPDATEJOB', id: failed, data: null })).toMatchObject({ ok: true })
    expect(((await client.request({ cmd: 'DLQ', queue: (await getJob(client, failed))?.queue })).jobs as any[])[0].data).toBeNull()
  })

  test('unknown and completed ids; missing id', async () => {
    expectError(await client.request({ cmd: 'UPDATEJOB', id: unknownId, data: 1 }), `Job ${unknownId} not found`)
    const done = await pushActive(client, freshQueue('update'))
    await client.request({ cmd: 'ACK', id: done })
    expectError(await client.request({ cmd: 'UPDATEJOB', id: done, data: 1 }), `Job ${done} not found`)
    expectInvalid(await client.request({ cmd: 'UPDATEJOB', data: 1 }), 'id')
  })
})

describe('DISCARD', () => {
  test('an active job goes to the DLQ at once with attempts unchanged, releasing its slot and unique key', async () => {
    const queue = freshQueue('discard')
    await client.request({ cmd: 'SETCONCURRENCY', queue, limit: 1 })
    const id = await pushActive(client, queue, { unique_key: 'd', max_attempts: 5 })
    const next = await push(client, queue)
    expect(await client.request({ cmd: 'DISCARD', id })).toEqual({ reqId: expect.any(String), ok: true })
    expect(await client.request({ cmd: 'GETJOB', id })).toMatchObject({ state: 'failed', job: { attempts: 0 } })
    expect(((await client.request({ cmd: 'DLQ', queue })).jobs as any[]).map((job) => job.id)).toEqual([id])
    expect((await pullNow(client, queue))?.id).toBe(next)
    expect(await client.request({ cmd: 'PUSH', queue, data: 1, unique_key: 'd' })).toMatchObject({ ok: true })
  })

  test('a waiting job can be discarded too', async () => {
    const queue = freshQueue('discard')
    const id = await push(client, queue)
    expect(await client.request({ cmd: 'DISCARD', id })).toMatchObject({ ok: true })
    expect(await state(client, id)).toBe('failed')
    expect(await client.request({ cmd: 'COUNT', queue })).toMatchObject({ count: 0 })
  })

  test('a job already in the DLQ, completed or unknown', async () => {
    const queue = freshQueue('discard')
    const failed = await dlqJob(queue)
    expectError(await client.request({ cmd: 'DISCARD', id: failed }), `Job ${failed} not found or already in DLQ/completed`)
    expectError(await client.request({ cmd: 'DISCARD', id: unknownId }), `Job ${unknownId} not found or already in DLQ/completed`)
    expectInvalid(await client.request({ cmd: 'DISCARD', id: null }), 'id')
  })
})

describe('LOG / GETLOGS', () => {
  test('appends entries (id or job_id alias, default level info) and reads them back', async () => {
    const queue = freshQueue('log')
    const id = await push(client, queue)
    expect(await client.request({ cmd: 'GETLOGS', id })).toEqual({ reqId: expect.any(String), ok: true, id, logs: [] })
    expect(await client.request({ cmd: 'LOG', id, message: 'first' })).toEqual({ reqId: expect.any(String), ok: true })
    expect(await client.request({ cmd: 'LOG', job_id: id, message: 'second', level: 'warn' })).toMatchObject({ ok: true })
    const reply = await client.request({ cmd: 'GETLOGS', job_id: id })
    expect(reply).toMatchObject({ ok: true, id })
    expect(reply.logs).toEqual([
      { timestamp: expect.any(Number), message: 'first', level: 'info' },
      { timestamp: expect.any(Number), message: 'second', level: 'warn' },
    ])
  })

  test('completed jobs keep logs; at most 100 entries, oldest dropped', async () => {
    const queue = freshQueue('log')
    const id = await pushActive(client, queue)
    await Promise.all(Array.from({ length: 105 }, (_, i) => client.request({ cmd: 'LOG', id, message: `m${i}` })))
    await client.request({ cmd: 'ACK', id })
    expect(await client.request({ cmd: 'LOG', id, message: 'after completion' })).toMatchObject({ ok: true })
    const logs = (await client.request({ cmd: 'GETLOGS', id })).logs as Array<{ message: string }>
    expect(logs).toHaveLength(100)
    expect(logs[0]?.message).toBe('m6')
    expect(logs[99]?.message).toBe('after completion')
  })

  test('unknown ids and a missing message', async () => {
    expectError(await client.request({ cmd: 'LOG', id: unknownId, message: 'x' }), `Job ${unknownId} not found`)
    expectError(await client.request({ cmd: 'GETLOGS', id: unknownId }), `Job ${unknownId} not found`)
    const id = await push(client, freshQueue('log'))
    expectInvalid(await client.request({ cmd: 'LOG', id }), 'message')
    expectInvalid(await client.request({ cmd: 'GETLOGS' }), 'id')
  })
})

describe('HEARTBEAT', () => {
  test('sets last_heartbeat of an active job (id or job_id alias)', async () => {
    const queue = freshQueue('hb')
    const id = await pushActive(client, queue)
    const before = (await getJob(client, id))?.last_heartbeat as number
    await Bun.sleep(30)
    expect(await client.request({ cmd: 'HEARTBEAT', job_id: id })).toEqual({ reqId: expect.any(String), ok: true })
    expect((await getJob(client, id))?.last_heartbeat).toBeGreaterThan(before)
    expect(await client.request({ cmd: 'HEARTBEAT', id })).toMatchObject({ ok: true })
  })

  test('a job that is not active', async () => {
    const waiting = await push(client, freshQueue('hb'))
    expectError(await client.request({ cmd: 'HEARTBEAT', id: waiting }), `Job ${waiting} not in processing`)
    expectError(await client.request({ cmd: 'HEARTBEAT', id: unknownId }), `Job ${unknownId} not in processing`)
    expectInvalid(await client.request({ cmd: 'HEARTBEAT', id: 'x' }), 'id')
  })
})

describe('PARTIAL', () => {
  test('accepted for active jobs, with and without index; the job is unchanged', async () => {
    const queue = freshQueue('partial')
    const id = await pushActive(client, queue, { data: 'orig' })
    expect(await client.request({ cmd: 'PARTIAL', id, data: { part: 1 }, index: 0 })).toEqual({ reqId: expect.any(String), ok: true })
    expect(await client.request({ cmd: 'PARTIAL', id, data: 'chunk' })).toMatchObject({ ok: true })
    expect(await client.request({ cmd: 'GETJOB', id })).toMatchObject({ state: 'active', job: { data: 'orig' } })
  })

  test('a job that is not active; a bad index', async () => {
    const queue = freshQueue('partial')
    const waiting = await push(client, queue)
    expectError(await client.request({ cmd: 'PARTIAL', id: waiting, data: 1 }), `Job ${waiting} not found in processing`)
    const active = await pushActive(client, freshQueue('partial'))
    expectInvalid(await client.request({ cmd: 'PARTIAL', id: active, data: 1, index: -2 }), 'index')
  })
})

describe('MessagePack mode', () => {
  test('PROGRESS/GETPROGRESS, LOG with nil level, CANCEL and errors over msgpack', async () => {
    const mp = await WireClient.connect(server.tcpPort, 'msgpack')
    try {
      const queue = freshQueue('mp')
      const id = (await mp.request({ cmd: 'PUSH', queue, data: { x: 1 } })).id as number
      expect((await mp.request({ cmd: 'PULL', queue, timeout: 0 })).job.id).toBe(id)
      expect(await mp.request({ cmd: 'PROGRESS', id, progress: 12, message: 'mp' })).toMatchObject({ ok: true })
      expect(await mp.request({ cmd: 'GETPROGRESS', id })).toMatchObject({ ok: true, progress: { id, progress: 12, message: 'mp' } })
      expect(await mp.request({ cmd: 'LOG', job_id: id, message: 'hello', level: null })).toMatchObject({ ok: true })
      expect((await mp.request({ cmd: 'GETLOGS', id })).logs).toEqual([{ timestamp: expect.any(Number), message: 'hello', level: 'info' }])
      expect(await mp.request({ cmd: 'CHANGEPRIORITY', id, priority: -7 })).toMatchObject({ ok: true })
      expect(await mp.request({ cmd: 'CANCEL', id })).toMatchObject({ ok: true })
      expect(await mp.request({ cmd: 'GETSTATE', id })).toMatchObject({ ok: true, id, state: 'unknown' })
      expectError(await mp.request({ cmd: 'CANCEL', id }), `Job ${id} not found`)
      expectInvalid(await mp.request({ cmd: 'PROGRESS', id, progress: 1.5 }), 'progress')
    } finally {
      mp.close()
    }
  })
})
