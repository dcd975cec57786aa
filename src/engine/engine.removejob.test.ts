/**
 * REMOVEJOB (extension, BullMQ's job.remove() and queue.remove(id)): removes a job in any state,
 * completed and failed included, where CANCEL refuses those. Afterwards nothing of the job is left
 * to read (state, job, result, progress, logs, custom id, counts, listings), and replay of the
 * records or of a snapshot does not bring it back.
 */
import { describe, expect, test } from 'bun:test'
import { Harness, flat, replayed, restart } from './test-helpers.ts'

/** Pushes a job and completes it with a result, a log line, progress and a custom id. */
function completedJob(h: Harness, queue: string, customId: string): number {
  const id = h.push(queue, { job_id: customId, unique_key: `u-${customId}` })
  h.pull(queue)
  h.call({ cmd: 'PROGRESS', id, progress: 60, message: 'most of it' })
  h.call({ cmd: 'LOG', id, message: 'working', level: 'info' })
  h.call({ cmd: 'ACK', id, result: { sent: true } })
  return id
}

/** Pushes a job with one attempt and fails it, so it lands in the DLQ (a log line and custom id too). */
function failedJob(h: Harness, queue: string, customId: string): number {
  const id = h.push(queue, { job_id: customId, max_attempts: 1 })
  h.pull(queue)
  h.call({ cmd: 'LOG', id, message: 'about to fail', level: 'error' })
  h.call({ cmd: 'FAIL', id, error: 'boom' })
  return id
}

/** Everything a client can read about job `id` of `queue`, for "nothing is left". */
function traces(h: Harness, id: number, queue: string) {
  const listed = (state: string) => (h.call({ cmd: 'GETJOBS', queue, state }).jobs as Array<{ id: number }>).map((item) => item.id)
  return {
    state: h.state(id),
    job: h.call({ cmd: 'GETJOB', id }),
    result: h.call({ cmd: 'GETRESULT', id }).result,
    progress: h.call({ cmd: 'GETPROGRESS', id }).error,
    logs: h.call({ cmd: 'GETLOGS', id }).error,
    logEntries: h.engine.core.logs.has(id),
    listed: [...listed('completed'), ...listed('failed'), ...listed('waiting'), ...listed('delayed')].includes(id),
    dlq: (h.call({ cmd: 'DLQ', queue }).jobs as Array<{ id: number }>).some((job) => job.id === id),
  }
}

const gone = (id: number) => ({
  state: 'unknown',
  job: { ok: true, job: null, state: 'unknown' },
  result: null,
  progress: `Job ${id} not found`,
  logs: `Job ${id} not found`,
  logEntries: false,
  listed: false,
  dlq: false,
})

describe('REMOVEJOB', () => {
  test('removes a completed job: history, result, progress, logs; counts drop; CANCEL still refuses it', () => {
    const h = new Harness()
    const id = completedJob(h, 'q', 'order-1')
    expect(h.call({ cmd: 'CANCEL', id }).error).toBe(`Job ${id} cannot be cancelled (already completed/failed)`)
    expect(h.call({ cmd: 'GETJOBCOUNTS', queue: 'q' })).toMatchObject({ completed: 1 })
    h.events.length = 0
    expect(h.call({ cmd: 'REMOVEJOB', id })).toEqual({ ok: true })
    expect(traces(h, id, 'q')).toEqual(gone(id))
    expect(h.call({ cmd: 'GETJOBCOUNTS', queue: 'q' })).toMatchObject({ completed: 0, failed: 0, waiting: 0 })
    expect(h.events.map((e) => [e.event_type, e.job_id, e.data])).toEqual([['removed', id, { prev: 'completed' }]])
    expect(flat(h.records).at(-1)).toEqual({ t: 'rm', i: [id] })
    expect(h.call({ cmd: 'REMOVEJOB', id }).error).toBe(`Job ${id} not found`)
    // As after CLEAN: the id still counts as completed, so a dependency on it is met.
    expect(h.state(h.push('q', { depends_on: [id] }))).toBe('waiting')
  })

  test('removes a failed job: its DLQ entry, logs and custom id (an add with that id makes a new job)', () => {
    const h = new Harness()
    const id = failedJob(h, 'q', 'order-2')
    expect(h.call({ cmd: 'GETJOBBYCUSTOMID', job_id: 'order-2' })).toMatchObject({ job: { id }, state: 'failed' })
    h.events.length = 0
    expect(h.call({ cmd: 'REMOVEJOB', id })).toEqual({ ok: true })
    expect(traces(h, id, 'q')).toEqual(gone(id))
    expect(h.call({ cmd: 'GETJOBCOUNTS', queue: 'q' })).toMatchObject({ failed: 0 })
    expect(h.call({ cmd: 'GETJOBBYCUSTOMID', job_id: 'order-2' })).toEqual({ ok: true, job: null, state: 'unknown' })
    expect(h.events.map((e) => [e.event_type, e.job_id, e.data])).toEqual([['removed', id, { prev: 'failed' }]])
    expect(h.push('q', { job_id: 'order-2' })).toBeGreaterThan(id)
  })

  test('removes waiting, delayed, active, parked and flow-parent jobs as CANCEL does (waiters told, group and key freed)', () => {
    const h = new Harness()
    const waiting = h.push('q')
    const delayed = h.push('q', { delay: 60_000 })
    const active = h.push('g', { group_id: 'grp', unique_key: 'k' })
    const next = h.push('g', { group_id: 'grp' })
    expect(h.pull('g')?.id).toBe(active)
    const parked = h.push('q', { depends_on: [active] })
    const flow = h.call({ cmd: 'FLOW', queue: 'q', data: 'parent', children: [{ queue: 'q', data: 1 }] })
    const parent = flow.parent_id as number
    const wait = h.send({ cmd: 'WAITJOB', id: waiting, timeout: 1000 })
    h.events.length = 0
    for (const id of [waiting, delayed, active, parked, parent]) expect(h.call({ cmd: 'REMOVEJOB', id })).toEqual({ ok: true })
    expect(h.take(wait.token)).toEqual({ ok: false, error: 'Job not found' })
    for (const id of [waiting, delayed, active, parked, parent]) expect(h.state(id)).toBe('unknown')
    expect(h.events.map((e) => e.data)).toEqual([
      { prev: 'waiting' }, { prev: 'delayed' }, { prev: 'active' }, { prev: 'waitingchildren' }, { prev: 'waitingparent' },
    ])
    expect(h.pull('g')?.id).toBe(next) // the group is free again
    expect(h.push('g', { unique_key: 'k' })).toBeGreaterThan(next) // and the unique key
  })

  test('unknown ids, and a job of another queue when `queue` is given, are not found (and stay)', () => {
    const h = new Harness()
    expect(h.call({ cmd: 'REMOVEJOB', id: 999 })).toEqual({ ok: false, error: 'Job 999 not found' })
    const id = completedJob(h, 'a', 'order-3')
    expect(h.call({ cmd: 'REMOVEJOB', id, queue: 'b' })).toEqual({ ok: false, error: `Job ${id} not found` })
    expect(h.state(id)).toBe('completed')
    expect(h.call({ cmd: 'REMOVEJOB', id, queue: 'a' })).toEqual({ ok: true })
    expect(h.state(id)).toBe('unknown')
  })

  test('replay of the records and of a snapshot does not bring a removed job back', () => {
    const h = new Harness()
    const done = completedJob(h, 'q', 'order-4')
    const failed = failedJob(h, 'q', 'order-5')
    const kept = completedJob(h, 'q', 'order-6')
    h.call({ cmd: 'REMOVEJOB', id: done })
    h.call({ cmd: 'REMOVEJOB', id: failed })
    const snapshot = h.engine.snapshot()
    for (const after of [restart(h), restart(h, snapshot)]) {
      expect(traces(after, done, 'q')).toEqual(gone(done))
      expect(traces(after, failed, 'q')).toEqual(gone(failed))
      expect(after.call({ cmd: 'GETJOBCOUNTS', queue: 'q' })).toMatchObject({ completed: 1, failed: 0 })
      expect(after.call({ cmd: 'GETRESULT', id: kept }).result).toEqual({ sent: true })
      expect(after.call({ cmd: 'GETJOBBYCUSTOMID', job_id: 'order-5' }).job).toBeNull()
    }
    expect(replayed(h.records, h.now).core.jobs.get(done)).toBeUndefined()
  })
})
