import { describe, expect, test } from 'bun:test'
import { Engine } from './engine.ts'
import { Harness } from './test-helpers.ts'
import { cleanReplyIdsMax, jobKeyCharsMax, replyBytesMax } from '../base/limits.ts'
import { jsonBytes } from '../protocol/reply-budget.ts'
import type { CleanedIds } from '../protocol/replies.ts'

/** A CLEAN reply with `ids: true`. */
type Listed = { count: number } & CleanedIds

describe('job management', () => {
  test('CANCEL removes waiting and active jobs, refuses completed', () => {
    const h = new Harness()
    const a = h.push('q', { unique_key: 'k', group_id: 'g' })
    const b = h.push('q', { group_id: 'g' })
    h.pull('q')
    const wait = h.send({ cmd: 'WAITJOB', id: a, timeout: 1000 })
    expect(h.call({ cmd: 'CANCEL', id: a })).toEqual({ ok: true })
    expect(h.take(wait.token)).toEqual({ ok: false, error: 'Job not found' })
    expect(h.state(a)).toBe('unknown')
    expect(h.pull('q')!.id).toBe(b) // group released
    h.call({ cmd: 'ACK', id: b })
    expect(h.call({ cmd: 'CANCEL', id: b }).error).toBe(`Job ${b} cannot be cancelled (already completed/failed)`)
    expect(h.call({ cmd: 'CANCEL', id: 999 }).error).toBe('Job 999 not found')
    expect(h.push('q', { unique_key: 'k' })).toBeGreaterThan(b)
  })

  test('PROGRESS on active only; GETPROGRESS keeps the last progress after completion', () => {
    const h = new Harness()
    const id = h.push('q')
    expect(h.call({ cmd: 'PROGRESS', id, progress: 10 }).error).toBe(`Job ${id} not found in processing`)
    h.pull('q')
    h.call({ cmd: 'PROGRESS', id, progress: 150, message: 'half' })
    h.call({ cmd: 'ACK', id })
    expect(h.call({ cmd: 'GETPROGRESS', id })).toEqual({ ok: true, progress: { id, progress: 100, message: 'half' } })
    expect(h.events.at(-2)).toMatchObject({ event_type: 'progress', progress: 100 })
  })

  test('DLQ, RETRYDLQ (attempts 0, unique key re-taken if free), PURGEDLQ', () => {
    const h = new Harness()
    const a = h.push('q', { max_attempts: 1, unique_key: 'k' })
    const b = h.push('q', { max_attempts: 1 })
    for (const id of [a, b]) {
      h.pull('q')
      h.call({ cmd: 'FAIL', id })
    }
    expect((h.call({ cmd: 'DLQ', queue: 'q' }).jobs as Array<{ id: number }>).map((j) => j.id)).toEqual([a, b])
    expect(h.call({ cmd: 'RETRYDLQ', queue: 'q', id: a })).toEqual({ ok: true, ids: [1], count: 1 })
    const job = h.call({ cmd: 'GETJOB', id: a })
    expect(job.state).toBe('waiting')
    expect((job.job as Record<string, unknown>).attempts).toBe(0)
    expect(h.call({ cmd: 'PUSH', queue: 'q', data: 1, unique_key: 'k' }).ok).toBe(false)
    expect(h.call({ cmd: 'PURGEDLQ', queue: 'q' })).toEqual({ ok: true, count: 1 })
    expect(h.state(b)).toBe('unknown')
  })

  test('CHANGEPRIORITY re-sorts, PROMOTE, MOVETODELAYED, UPDATEJOB, DISCARD', () => {
    const h = new Harness()
    const a = h.push('q')
    const b = h.push('q')
    h.call({ cmd: 'CHANGEPRIORITY', id: b, priority: 5 })
    expect(h.pull('q')!.id).toBe(b)
    h.call({ cmd: 'MOVETODELAYED', id: b, delay: 1000 })
    expect(h.state(b)).toBe('delayed')
    expect(h.call({ cmd: 'PROMOTE', id: a }).error).toBe(`Job ${a} is not delayed`)
    h.call({ cmd: 'PROMOTE', id: b })
    expect(h.state(b)).toBe('waiting')
    h.call({ cmd: 'UPDATEJOB', id: b, data: { new: true } })
    expect(h.pull('q')!.data).toEqual({ new: true })
    expect(h.call({ cmd: 'DISCARD', id: b })).toEqual({ ok: true })
    expect(h.state(b)).toBe('failed')
    expect(h.call({ cmd: 'DISCARD', id: b }).error).toBe(`Job ${b} not found or already in DLQ/completed`)
  })

  test('DROPDEP releases a parked job from one dependency; CHANGEDELAY reschedules a delayed job', () => {
    const h = new Harness()
    const a = h.push('q', { delay: 5000 })
    const b = h.push('q', { delay: 5000 })
    const parked = h.push('q', { depends_on: [a, b] })
    expect(h.state(parked)).toBe('waitingchildren')
    expect(h.call({ cmd: 'DROPDEP', id: parked, dependency: 999 }).error).toBe(`Job ${parked} not found or not waiting for job 999`)
    expect(h.call({ cmd: 'DROPDEP', id: parked, dependency: a })).toEqual({ ok: true })
    expect(h.state(parked)).toBe('waitingchildren') // still waits for b
    expect(h.call({ cmd: 'DROPDEP', id: parked, dependency: a }).error).toBe(`Job ${parked} not found or not waiting for job ${a}`)
    h.call({ cmd: 'DROPDEP', id: parked, dependency: b })
    expect(h.state(parked)).toBe('waiting')
    expect(h.call({ cmd: 'CHANGEDELAY', id: parked, delay: 100 }).error).toBe(`Job ${parked} not found or not in delayed state`)
    expect(h.call({ cmd: 'CHANGEDELAY', id: a, delay: 100 })).toEqual({ ok: true })
    h.advance(100)
    expect(h.state(a)).toBe('waiting')
    expect(h.state(b)).toBe('delayed')
  })

  test('LOG / GETLOGS keep at most 100 entries; HEARTBEAT; PARTIAL emits an event', () => {
    const h = new Harness()
    const id = h.push('q')
    for (let i = 0; i < 105; i++) h.call({ cmd: 'LOG', id, message: `m${i}` })
    const logs = h.call({ cmd: 'GETLOGS', job_id: id }).logs as Array<{ message: string; level: string }>
    expect(logs.length).toBe(100)
    expect(logs[0]).toMatchObject({ message: 'm5', level: 'info' })
    expect(h.call({ cmd: 'HEARTBEAT', id }).error).toBe(`Job ${id} not in processing`)
    h.pull('q')
    expect(h.call({ cmd: 'HEARTBEAT', id })).toEqual({ ok: true })
    h.call({ cmd: 'PARTIAL', id, data: 'x', index: 2 })
    expect(h.events.at(-1)).toMatchObject({ event_type: 'partial', data: { chunk: 'x', index: 2 } })
  })

  test('stall detection: 3 strikes move the job to the DLQ', () => {
    const h = new Harness()
    const id = h.push('q', { stall_timeout: 1000 })
    h.pull('q')
    h.advance(10_000)
    expect((h.call({ cmd: 'GETJOB', id }).job as Record<string, unknown>).stall_count).toBe(1)
    h.advance(10_000)
    h.advance(10_000)
    expect(h.state(id)).toBe('failed')
    expect(h.events.filter((e) => e.event_type === 'stalled').length).toBe(3)
  })
})

describe('queue control', () => {
  test('PAUSE holds blocking pulls; RESUME serves them', () => {
    const h = new Harness()
    h.call({ cmd: 'PAUSE', queue: 'q' })
    h.push('q')
    expect(h.call({ cmd: 'ISPAUSED', queue: 'q' }).paused).toBe(true)
    const pull = h.send({ cmd: 'PULL', queue: 'q', timeout: 1000 })
    expect(pull.reply).toBeUndefined()
    h.call({ cmd: 'RESUME', queue: 'q' })
    expect(h.take(pull.token)!.job).not.toBeNull()
  })

  test('SETCONCURRENCY limits active jobs; ack frees a slot for a waiter', () => {
    const h = new Harness()
    h.call({ cmd: 'SETCONCURRENCY', queue: 'q', limit: 1 })
    const a = h.push('q')
    h.push('q')
    h.pull('q')
    const pull = h.send({ cmd: 'PULL', queue: 'q', timeout: 1000 })
    expect(pull.reply).toBeUndefined()
    h.call({ cmd: 'ACK', id: a })
    expect(h.take(pull.token)!.job).not.toBeNull()
    h.call({ cmd: 'CLEARCONCURRENCY', queue: 'q' })
  })

  test('RATELIMIT: PULLB delivers at most the tokens, only delivered jobs consume', () => {
    const h = new Harness()
    h.call({ cmd: 'RATELIMIT', queue: 'q', limit: 2 })
    expect((h.call({ cmd: 'PULLB', queue: 'q', count: 5, timeout: 0 }).jobs as unknown[]).length).toBe(0)
    for (let i = 0; i < 5; i++) h.push('q')
    expect((h.call({ cmd: 'PULLB', queue: 'q', count: 5, timeout: 0 }).jobs as unknown[]).length).toBe(2)
    const pull = h.send({ cmd: 'PULLB', queue: 'q', count: 5, timeout: 5000 })
    expect(pull.reply).toBeUndefined()
    h.advance(h.engine.nextWakeMs() - h.now)
    expect((h.take(pull.token)!.jobs as unknown[]).length).toBe(1)
  })

  test('groups: one active job per (queue, group)', () => {
    const h = new Harness()
    const a = h.push('q', { group_id: 'g' })
    h.push('q', { group_id: 'g' })
    const c = h.push('q', { group_id: 'h' })
    const jobs = h.call({ cmd: 'PULLB', queue: 'q', count: 3, timeout: 0 }).jobs as Array<{ id: number }>
    expect(jobs.map((j) => j.id)).toEqual([a, c])
    expect(h.call({ cmd: 'GETJOBCOUNTS', queue: 'q' })).toEqual({ ok: true, waiting: 1, active: 2, delayed: 0, completed: 0, failed: 0 })
  })

  test('CLEAN with a limit takes the oldest matching jobs, frozen ones included; grace, state and queue are honoured', () => {
    const h = new Harness()
    const pushMany = (queue: string, count: number, fields: Record<string, unknown> = {}) => {
      const ids: number[] = []
      for (let done = 0; done < count; done += 500) {
        ids.push(...(h.call({ cmd: 'PUSHB', queue, jobs: Array.from({ length: Math.min(500, count - done) }, (_, at) => ({ data: { at }, ...fields })) }).ids as number[]))
      }
      return ids
    }
    // Thousands of jobs: their pages retire and freeze them (job-table.ts), as a big queue's do, and
    // CLEAN reads them frozen (JobTable.glance).
    const oldReady = pushMany('q', 2000, { priority: 3 })
    const oldDelayed = pushMany('q', 500, { delay: 3_600_000 })
    const elsewhere = pushMany('r', 100)
    h.advance(10_000)
    const newReady = pushMany('q', 1000, { priority: 9 })
    const counts = () => h.call({ cmd: 'GETJOBCOUNTS', queue: 'q' })
    expect(h.call({ cmd: 'CLEAN', queue: 'q', grace: 5000, state: 'waiting', limit: 100 }).count).toBe(100)
    expect(oldReady.slice(0, 100).map((id) => h.state(id))).toEqual(Array(100).fill('unknown'))
    expect(h.state(oldReady[100] as number)).toBe('waiting')
    expect(h.call({ cmd: 'CLEAN', queue: 'q', grace: 5000, state: 'delayed', limit: 10 }).count).toBe(10)
    expect(oldDelayed.slice(0, 11).map((id) => h.state(id))).toEqual([...Array(10).fill('unknown'), 'delayed'])
    expect(counts()).toMatchObject({ waiting: 2900, delayed: 490 })
    expect(h.call({ cmd: 'CLEAN', queue: 'q', grace: 5000, state: 'waiting' }).count).toBe(1900)
    expect(counts()).toMatchObject({ waiting: 1000, delayed: 490 })
    expect(h.state(newReady[0] as number)).toBe('waiting')
    expect(h.call({ cmd: 'CLEAN', queue: 'q', grace: 60_000, state: 'delayed' }).count).toBe(0)
    expect(h.call({ cmd: 'COUNT', queue: 'r' }).count).toBe(elsewhere.length)
    // What is left is served in priority order, as before.
    expect(h.pull('q')?.id).toBe(newReady[0])
  })

  test('CLEAN with ids lists exactly the jobs it removed: custom ids by id, a limit, past cleanReplyIdsMax `more`', () => {
    const h = new Harness()
    const pushMany = (count: number, fields: (at: number) => Record<string, unknown>) => {
      const ids: number[] = []
      for (let done = 0; done < count; done += 500) {
        const jobs = Array.from({ length: Math.min(500, count - done) }, (_, at) => ({ data: null, ...fields(done + at) }))
        ids.push(...(h.call({ cmd: 'PUSHB', queue: 'q', jobs }).ids as number[]))
      }
      return ids
    }
    const customIdOf = (at: number) => (at % 1000 === 7 ? { job_id: `order-${at}` } : {})
    const old = pushMany(cleanReplyIdsMax * 2 + 500, customIdOf)
    h.advance(10_000)
    const young = pushMany(100, () => ({}))
    const clean = (fields: Record<string, unknown>) =>
      h.call({ cmd: 'CLEAN', queue: 'q', grace: 5000, state: 'waiting', ids: true, ...fields }) as unknown as Listed

    const limited = clean({ limit: 8 })
    expect(limited).toEqual({ ok: true, count: 8, ids: old.slice(0, 8), custom_ids: { [old[7] as number]: 'order-7' }, more: false } as never)
    const removed = [...limited.ids]
    const customIds: Record<string, string> = { ...limited.custom_ids }
    const counts: number[] = []
    for (let more = true; more; ) {
      const reply = clean({})
      counts.push(reply.count)
      expect(reply.ids.length).toBe(reply.count)
      removed.push(...reply.ids)
      Object.assign(customIds, reply.custom_ids)
      more = reply.more
    }
    expect(counts).toEqual([cleanReplyIdsMax, cleanReplyIdsMax, 492])
    expect(removed).toEqual(old)
    const expected = Object.fromEntries(old.flatMap((id, at) => (at % 1000 === 7 ? [[String(id), `order-${at}`]] : [])))
    expect(customIds).toEqual(expected)
    expect(h.call({ cmd: 'COUNT', queue: 'q' }).count).toBe(young.length)
    // Nothing left to clean: an empty list; an unknown queue likewise.
    expect(clean({})).toEqual({ ok: true, count: 0, ids: [], custom_ids: {}, more: false } as never)
    expect(h.call({ cmd: 'CLEAN', queue: 'nope', grace: 0, state: 'failed', ids: true })).toEqual({ ok: true, count: 0, ids: [], custom_ids: {}, more: false })
    // Without `ids` the reply is the spec's, and the count is not capped.
    expect(h.call({ cmd: 'CLEAN', queue: 'q', grace: 0, state: 'waiting' })).toEqual({ ok: true, count: young.length })
  })

  test('CLEAN with ids of completed and failed jobs; long custom ids stop it at the reply size, with `more`', () => {
    const h = new Harness()
    const done = [h.push('q', { job_id: 'a' }), h.push('q'), h.push('q', { job_id: 'b' })]
    for (const id of done) {
      h.pull('q')
      h.call({ cmd: 'ACK', id })
    }
    const failed = h.push('q', { job_id: 'f', max_attempts: 1 })
    h.pull('q')
    h.call({ cmd: 'FAIL', id: failed })
    expect(h.call({ cmd: 'CLEAN', queue: 'q', grace: 0, state: 'completed', ids: true })).toEqual({
      ok: true, count: 3, ids: done, custom_ids: { [done[0] as number]: 'a', [done[2] as number]: 'b' }, more: false,
    })
    expect(h.call({ cmd: 'CLEAN', queue: 'q', grace: 0, state: 'failed', ids: true })).toEqual({ ok: true, count: 1, ids: [failed], custom_ids: { [failed]: 'f' }, more: false })

    // 1024 characters that JSON escapes to 6 bytes each: 10,000 of them would be a 60 MiB reply.
    const long = (at: number) => `${at}:`.padEnd(jobKeyCharsMax, '\u0001')
    const ids: number[] = []
    for (let done = 0; done < cleanReplyIdsMax; done += 500) {
      const jobs = Array.from({ length: 500 }, (_, at) => ({ data: null, job_id: long(done + at) }))
      ids.push(...(h.call({ cmd: 'PUSHB', queue: 'q', jobs }).ids as number[]))
    }
    const removed: number[] = []
    for (let more = true; more; ) {
      const reply = h.call({ cmd: 'CLEAN', queue: 'q', grace: 0, state: 'waiting', ids: true }) as unknown as Listed
      expect(reply.count).toBeLessThan(cleanReplyIdsMax)
      expect(jsonBytes(reply)).toBeLessThanOrEqual(replyBytesMax)
      expect(Object.keys(reply.custom_ids).length).toBe(reply.count)
      removed.push(...reply.ids)
      more = reply.more
    }
    expect(removed).toEqual(ids)
  })

  test('COUNT, GETJOBS, LISTQUEUES, CLEAN, DRAIN, OBLITERATE', () => {
    const h = new Harness()
    h.push('q')
    h.push('q', { delay: 1000 })
    const done = h.push('q')
    expect(h.call({ cmd: 'COUNT', queue: 'q' }).count).toBe(3)
    h.pull('q')
    h.call({ cmd: 'ACK', id: 1 })
    const page = h.call({ cmd: 'GETJOBS', queue: 'q', limit: 2 })
    expect(page.total).toBe(3)
    expect((page.jobs as Array<{ id: number; state: string; job: unknown }>).map((j) => [j.id, j.state])).toEqual([[done, 'waiting'], [2, 'delayed']])
    expect(h.call({ cmd: 'GETJOBS', state: 'completed' }).total).toBe(1)
    expect(h.call({ cmd: 'LISTQUEUES' }).queues).toEqual([
      { name: 'q', pending: 1, processing: 0, completed: 1, delayed: 1, dlq: 0, paused: false, rate_limit: null, concurrency_limit: null },
    ])
    expect(h.call({ cmd: 'CLEAN', queue: 'q', grace: 0, state: 'bogus' }).error).toBe('Invalid state. Use: waiting, delayed, completed, failed')
    expect(h.call({ cmd: 'CLEAN', queue: 'q', grace: 0, state: 'Delayed' }).count).toBe(1)
    expect(h.call({ cmd: 'DRAIN', queue: 'q' }).count).toBe(1)
    h.push('q')
    h.pull('q')
    h.call({ cmd: 'PAUSE', queue: 'q' })
    expect(h.call({ cmd: 'OBLITERATE', queue: 'q' }).count).toBe(1)
    expect(h.call({ cmd: 'ISPAUSED', queue: 'q' }).paused).toBe(false)
  })

  test('METRICS', () => {
    const h = new Harness()
    const id = h.push('q')
    h.pull('q')
    h.call({ cmd: 'ACK', id })
    expect(h.call({ cmd: 'METRICS' }).metrics).toMatchObject({ total_pushed: 1, total_completed: 1, total_failed: 0 })
  })
})

describe('dependencies and flows', () => {
  test('depends_on parks until the dependency completes (same shard)', () => {
    const h = new Harness()
    const dep = h.push('q')
    const child = h.push('r', { depends_on: [dep] })
    expect(h.state(child)).toBe('waitingchildren')
    h.pull('q')
    h.call({ cmd: 'ACK', id: dep })
    expect(h.state(child)).toBe('waiting')
    const after = h.push('r', { depends_on: [dep] })
    expect(h.state(after)).toBe('waiting')
  })

  test('depends_on across shards goes through messages', () => {
    const one = new Harness(0, 2)
    const two = new Harness(1, 2)
    const dep = two.push('q')
    const parked = one.push('r', { depends_on: [dep] })
    expect(one.state(parked)).toBe('waitingchildren')
    const watch = one.messages.shift()!
    expect(watch.shardIndex).toBe(1)
    two.engine.receive(watch.message, two.now)
    two.collect()
    two.pull('q')
    two.call({ cmd: 'ACK', id: dep })
    const done = two.messages.find((m) => m.message.t === 'outbox')!
    expect(done).toMatchObject({ shardIndex: 0, message: { body: { type: 'dependencyDone', dependencyId: dep, jobId: parked } } })
    one.engine.receive(done.message, one.now)
    one.collect()
    expect(one.state(parked)).toBe('waiting')
  })

  test('FLOW: parent waits for its children, then is queued', () => {
    const h = new Harness()
    const reply = h.call({ cmd: 'FLOW', queue: 'p', data: { parent: 1 }, children: [{ queue: 'c', data: 1 }, { queue: 'c', data: 2 }] })
    const parent = reply.parent_id as number
    const children = reply.children_ids as number[]
    expect(h.state(parent)).toBe('waitingparent')
    expect(h.call({ cmd: 'GETCHILDREN', parent_id: parent })).toMatchObject({ completed: 0, total: 2, children_ids: children })
    for (const id of children) {
      expect(h.pull('c')!.parent_id).toBe(parent)
      h.call({ cmd: 'ACK', id })
    }
    expect(h.state(parent)).toBe('waiting')
    const logs = h.call({ cmd: 'GETLOGS', id: parent }).logs as Array<{ message: string }>
    expect(logs.map((l) => l.message)).toEqual(['All children completed, parent job ready'])

    const again = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: true })
    for (const record of h.records) again.replay(record)
    again.finishReplay(h.now)
    const check = new Harness()
    check.engine = again
    check.clock.advance(h.now - check.now)
    expect(check.state(parent)).toBe('waiting')
  })
})

describe('declared limits are enforced', () => {
  test('queuesMax: a command that would create one more queue is refused with a clear error; existing queues work', () => {
    const h = new Harness()
    h.engine.core.queuesMax = 2
    h.push('a')
    h.push('b')
    const refused = h.call({ cmd: 'PUSH', queue: 'c', data: 1 })
    expect(refused.ok).toBe(false)
    expect(refused.error).toContain("Too many queues: this shard holds its maximum of 2 queues, so queue 'c' cannot be created")
    expect(h.call({ cmd: 'PULL', queue: 'd', timeout: 1000 }).ok).toBe(false)
    expect(h.call({ cmd: 'FLOW', queue: 'a', data: 1, children: [{ queue: 'e', data: 1 }] }).ok).toBe(false)
    expect(h.call({ cmd: 'PUSH', queue: 'a', data: 1 }).ok).toBe(true)
    expect(h.call({ cmd: 'COUNT', queue: 'zzz' })).toEqual({ ok: true, count: 0 })
    // A queue that empties is forgotten, which frees its place.
    h.call({ cmd: 'OBLITERATE', queue: 'b' })
    expect(h.call({ cmd: 'PUSH', queue: 'c', data: 1 }).ok).toBe(true)
  })

  test('debounceEntriesMax: a new debounce_id above it is refused; a known one is still debounced', () => {
    const h = new Harness()
    h.engine.core.debounceEntriesMax = 2
    h.push('q', { debounce_id: 'x' })
    h.push('q', { debounce_id: 'y' })
    const refused = h.call({ cmd: 'PUSH', queue: 'q', data: 1, debounce_id: 'z' })
    expect(refused.error).toBe("Too many debounce windows: queue 'q' holds its maximum of 2; retry when some expired")
    expect(h.call({ cmd: 'PUSH', queue: 'q', data: 1, debounce_id: 'x' }).error).toContain('Debounced')
    h.advance(10_000) // the windows expire and housekeeping purges them
    expect(h.call({ cmd: 'PUSH', queue: 'q', data: 1, debounce_id: 'z' }).ok).toBe(true)
  })
})
