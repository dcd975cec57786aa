/**
 * Replay equals live for every state-changing command: a seeded random mix of all of them (jobs,
 * queue control, flows, dependencies, stalls and timeouts through time) on one shard, then the
 * observable state of the live engine, of an engine that replayed the records, and of one rebuilt
 * from a snapshot must be equal. SEED=… reproduces a failure.
 */
import { expect, test } from 'bun:test'
import { prng, seedFromEnv } from '../base/prng.ts'
import { Engine } from './engine.ts'
import { Harness, replayed } from './test-helpers.ts'
import type { LogRecord } from './types.ts'

const seed = seedFromEnv()
const queues = ['a', 'b', 'c']

/** Everything a client can read, with what a restart legitimately changes (leases) normalised. */
function observe(engine: Engine, ids: number[], nowMs: number) {
  const h = new Harness()
  h.engine = engine
  h.clock.advance(nowMs - h.now)
  const jobs = ids.map((id) => {
    const reply = h.call({ cmd: 'GETJOB', id })
    const job = reply.job as Record<string, unknown> | null
    let state = reply.state as string
    // Pulls are not recorded: an active job comes back waiting (or delayed), its lease fields reset.
    if (job !== null && state === 'active') state = (job.run_at as number) > nowMs ? 'delayed' : 'waiting'
    if (job !== null && state !== 'failed') {
      job.started_at = 0
      job.last_heartbeat = 0
    }
    return { id, state, job, result: h.call({ cmd: 'GETRESULT', id }).result, logs: h.call({ cmd: 'GETLOGS', id }).logs ?? null }
  })
  const perQueue = queues.map((queue) => {
    const counts = h.call({ cmd: 'GETJOBCOUNTS', queue })
    return {
      queue,
      counts: { ...counts, waiting: (counts.waiting as number) + (counts.active as number), active: 0 },
      paused: h.call({ cmd: 'ISPAUSED', queue }).paused,
      dlq: (h.call({ cmd: 'DLQ', queue, count: 1000 }).jobs as Array<{ id: number }>).map((job) => job.id),
    }
  })
  const listed = (h.call({ cmd: 'LISTQUEUES' }).queues as Array<Record<string, unknown>>).map((q) => ({
    ...q, pending: (q.pending as number) + (q.processing as number), processing: 0,
  })).sort((x, y) => String((x as { name?: string }).name).localeCompare(String((y as { name?: string }).name)))
  const stats = h.call({ cmd: 'STATS' })
  return { jobs, perQueue, listed, stats: { ...stats, queued: (stats.queued as number) + (stats.processing as number), processing: 0 } }
}

test(`replay of records and of a snapshot equals live, for every state-changing command (SEED=${seed})`, () => {
  const rng = prng(seed + 3)
  const h = new Harness()
  const ids: number[] = []
  const note = (id: unknown) => {
    if (typeof id === 'number' && !ids.includes(id)) ids.push(id)
  }
  const anyId = () => (ids.length === 0 ? 1 : (ids[rng.int(ids.length)] as number))
  const active = () => [...h.engine.core.activeJobs].map((job) => job.id)
  const activeId = () => {
    const list = active()
    return list.length === 0 ? anyId() : (list[rng.int(list.length)] as number)
  }
  const delayedId = () => {
    const delayed = [...h.engine.core.queues.values()].flatMap((q) => q.delayed.items.filter((job) => job.runAt > h.now))
    return delayed.length === 0 ? anyId() : (delayed[rng.int(delayed.length)] as { id: number }).id
  }
  const commands: Array<() => Record<string, unknown>> = [
    () => ({
      cmd: 'PUSH', queue: rng.pick(queues), data: { n: rng.int(100) }, priority: rng.int(3), delay: rng.int(4) === 0 ? rng.int(500) : 0,
      max_attempts: rng.pick([0, 1, 2]), backoff: rng.pick([0, 20]), ttl: rng.int(10) === 0 ? 300 : 0,
      timeout: rng.int(8) === 0 ? 100 : 0, stall_timeout: rng.int(6) === 0 ? 200 : 0,
      unique_key: rng.int(5) === 0 ? `u${rng.int(5)}` : null, job_id: rng.int(6) === 0 ? `c${rng.int(10)}` : null,
      remove_on_complete: rng.int(8) === 0, remove_on_fail: rng.int(8) === 0, group_id: rng.int(6) === 0 ? 'g' : undefined,
      depends_on: rng.int(4) === 0 ? [activeId()] : undefined, lifo: rng.int(7) === 0,
    }),
    () => ({ cmd: 'PUSHB', queue: rng.pick(queues), jobs: [{ data: 1 }, { data: 2, priority: 2 }] }),
    () => ({ cmd: 'FLOW', queue: rng.pick(queues), data: 'p', children: [{ queue: rng.pick(queues), data: 1 }, { queue: rng.pick(queues), data: 2 }] }),
    () => ({ cmd: 'PULLB', queue: rng.pick(queues), count: 1 + rng.int(3), timeout: 0 }),
    () => ({ cmd: 'PULLB', queue: rng.pick(queues), count: 1 + rng.int(3), timeout: 0 }),
    () => ({ cmd: 'ACK', id: activeId(), result: rng.int(2) === 0 ? { r: 1 } : undefined }),
    () => ({ cmd: 'ACKB', ids: active().slice(0, 2) }),
    () => ({ cmd: 'FAIL', id: activeId(), error: 'boom' }),
    () => ({ cmd: 'CANCEL', id: anyId() }),
    () => ({ cmd: 'PROGRESS', id: activeId(), progress: rng.int(100), message: 'half' }),
    () => ({ cmd: 'CHANGEPRIORITY', id: anyId(), priority: rng.int(9) }),
    () => ({ cmd: 'MOVETODELAYED', id: activeId(), delay: rng.int(400) }),
    () => ({ cmd: 'PROMOTE', id: delayedId() }),
    () => ({ cmd: 'UPDATEJOB', id: anyId(), data: { updated: rng.int(9) } }),
    () => ({ cmd: 'DISCARD', id: anyId() }),
    () => ({ cmd: 'LOG', id: anyId(), message: 'hello', level: 'warn' }),
    () => ({ cmd: 'HEARTBEAT', id: activeId() }),
    () => ({ cmd: 'RETRYDLQ', queue: rng.pick(queues), id: rng.int(2) === 0 ? anyId() : undefined }),
    () => ({ cmd: 'PURGEDLQ', queue: rng.pick(queues) }),
    () => ({ cmd: rng.pick(['PAUSE', 'RESUME', 'RESUME']), queue: rng.pick(queues) }),
    () => ({ cmd: 'RATELIMIT', queue: rng.pick(queues), limit: 1 + rng.int(50) }),
    () => ({ cmd: 'RATELIMITCLEAR', queue: rng.pick(queues) }),
    () => ({ cmd: 'SETCONCURRENCY', queue: rng.pick(queues), limit: 1 + rng.int(3) }),
    () => ({ cmd: 'CLEARCONCURRENCY', queue: rng.pick(queues) }),
    () => ({ cmd: 'CLEAN', queue: rng.pick(queues), grace: rng.int(300), state: rng.pick(['waiting', 'delayed', 'completed', 'failed']), limit: 2 }),
    () => ({ cmd: rng.int(4) === 0 ? 'DRAIN' : 'COUNT', queue: rng.pick(queues) }),
    () => ({ cmd: rng.int(8) === 0 ? 'OBLITERATE' : 'COUNT', queue: rng.pick(queues) }),
  ]
  // Weights: more pushes, pulls and failures, so jobs live long enough to reach every state.
  for (const index of [0, 0, 0, 0, 3, 3, 5, 7, 7, 7]) commands.push(commands[index]!)
  for (let step = 0; step < 3000; step++) {
    if (rng.int(8) === 0) {
      h.advance(rng.int(3) === 0 ? 400 + rng.int(40_000) : rng.int(100))
      continue
    }
    const request = commands[rng.int(commands.length)]!()
    const reply = h.call(request)
    note(reply.id)
    note(reply.parent_id)
    for (const id of (reply.ids as unknown[] | undefined) ?? []) note(id)
    for (const id of (reply.children_ids as unknown[] | undefined) ?? []) note(id)
  }
  const kinds = new Set(h.records.flatMap(function types(r: LogRecord): string[] {
    return r.t === 'tx' || r.t === 'in' ? [r.t, ...(r.r as LogRecord[]).flatMap(types)] : [r.t]
  }))
  // The mix reaches the transitions it is meant to check.
  for (const kind of ['j', 'a', 'f', 'x', 'rm', 'pr', 'cp', 'md', 'pm', 'u', 'rd', 'dc', 'l', 'st', 'dd', 'cd', 'qs', 'tx']) {
    expect(kinds.has(kind), `record kind ${kind} (SEED=${seed})`).toBe(true)
  }
  const expected = observe(h.engine, ids, h.now)
  expect(observe(replayed(h.records, h.now), ids, h.now)).toEqual(expected)
  expect(observe(replayed([...h.engine.snapshot()], h.now), ids, h.now)).toEqual(expected)
})
