/**
 * Seeded random operation sequences against a trivially simple model (an array sorted on each pull),
 * and replay of the emitted records / the snapshot into a fresh engine. SEED=… reproduces a failure.
 */
import { expect, test } from 'bun:test'
import { prng, seedFromEnv } from '../base/prng.ts'
import { Engine } from './engine.ts'
import { Harness } from './test-helpers.ts'

type ModelJob = { id: number; priority: number; lifo: boolean; runAt: number; attempts: number; backoff: number; state: string }

function modelBefore(a: ModelJob, b: ModelJob): number {
  if (a.priority !== b.priority) return b.priority - a.priority
  if (a.lifo !== b.lifo) return a.lifo ? -1 : 1
  if (a.lifo) return b.id - a.id
  if (a.runAt !== b.runAt) return a.runAt - b.runAt
  return a.id - b.id
}

const seed = seedFromEnv()

test(`delivery order matches the sorted-array model (SEED=${seed})`, () => {
  const rng = prng(seed)
  const h = new Harness()
  const model: ModelJob[] = []
  const active: ModelJob[] = []
  for (let step = 0; step < 4000; step++) {
    const op = rng.int(100)
    if (op < 40) {
      const priority = rng.int(4)
      const lifo = rng.int(5) === 0
      const delay = rng.int(3) === 0 ? rng.int(300) : 0
      const backoff = rng.pick([0, 0, 10, 50])
      const id = h.push('q', { priority, lifo, delay, backoff })
      model.push({ id, priority, lifo, runAt: h.now + delay, attempts: 0, backoff, state: 'queued' })
    } else if (op < 65) {
      const count = rng.int(3) === 0 ? 1 + rng.int(4) : 1
      const ready = model.filter((j) => j.state === 'queued' && j.runAt <= h.now).sort(modelBefore)
      const expected = ready.slice(0, count)
      const reply = h.call({ cmd: 'PULLB', queue: 'q', count, timeout: 0 })
      const got = (reply.jobs as Array<{ id: number }>).map((j) => j.id)
      expect(got, `step ${step} SEED=${seed}`).toEqual(expected.map((j) => j.id))
      for (const job of expected) {
        job.state = 'active'
        active.push(job)
      }
    } else if (op < 78) {
      h.advance(rng.int(120))
    } else if (op < 90 && active.length > 0) {
      const job = active.splice(rng.int(active.length), 1)[0] as ModelJob
      expect(h.call({ cmd: 'ACK', id: job.id }).ok).toBe(true)
      job.state = 'done'
    } else if (active.length > 0) {
      const job = active.splice(rng.int(active.length), 1)[0] as ModelJob
      expect(h.call({ cmd: 'FAIL', id: job.id, error: 'x' }).ok).toBe(true)
      job.attempts++
      if (job.backoff > 0) job.runAt = h.now + job.backoff * 2 ** Math.min(job.attempts, 10)
      job.state = 'queued'
    }
  }
})

/** Observable state of every id, with what a restart legitimately changes normalised away. */
function observe(engine: Engine, ids: number[], nowMs: number) {
  const h = new Harness()
  h.engine = engine
  h.clock.advance(nowMs - h.now)
  return {
    jobs: ids.map((id) => {
      const reply = h.call({ cmd: 'GETJOB', id })
      const job = reply.job as Record<string, unknown> | null
      let state = reply.state as string
      if (job !== null && state === 'active') state = (job.run_at as number) > nowMs ? 'delayed' : 'waiting'
      if (job !== null && state !== 'failed') {
        job.started_at = 0
        job.last_heartbeat = 0
      }
      return { id, state, job, result: h.call({ cmd: 'GETRESULT', id }).result }
    }),
    stats: (() => {
      const stats = h.call({ cmd: 'STATS' })
      return { ...stats, queued: (stats.queued as number) + (stats.processing as number), processing: 0 }
    })(),
  }
}

test(`replay of records and of the snapshot rebuild the observable state (SEED=${seed})`, () => {
  const rng = prng(seed + 1)
  const h = new Harness()
  const ids: number[] = []
  const active: number[] = []
  const queues = ['a', 'b', 'c']
  for (let step = 0; step < 3000; step++) {
    const op = rng.int(100)
    const queue = rng.pick(queues)
    if (op < 35) {
      const reply = h.call({
        cmd: 'PUSH', queue, data: { step },
        priority: rng.int(3), lifo: rng.int(6) === 0, delay: rng.int(4) === 0 ? rng.int(200) : 0,
        ttl: rng.int(8) === 0 ? rng.int(300) : 0, backoff: rng.pick([0, 20]), max_attempts: rng.pick([0, 1, 2]),
        unique_key: rng.int(5) === 0 ? `u${rng.int(10)}` : null, job_id: rng.int(6) === 0 ? `c${rng.int(20)}` : null,
        remove_on_complete: rng.int(8) === 0, remove_on_fail: rng.int(8) === 0, timeout: rng.int(10) === 0 ? 100 : 0,
        tags: rng.int(4) === 0 ? ['t'] : null,
      })
      if (reply.ok && !ids.includes(reply.id as number)) ids.push(reply.id as number)
    } else if (op < 60) {
      const reply = h.call({ cmd: 'PULLB', queue, count: 1 + rng.int(3), timeout: 0 })
      for (const job of reply.jobs as Array<{ id: number }>) active.push(job.id)
    } else if (op < 72) {
      h.advance(rng.int(80))
    } else if (op < 86 && active.length > 0) {
      const id = active.splice(rng.int(active.length), 1)[0] as number
      if (rng.int(2) === 0) h.call({ cmd: 'ACK', id, result: rng.int(3) === 0 ? null : { id } })
      else h.call({ cmd: 'ACKB', ids: [id] })
    } else if (active.length > 0) {
      const id = active.splice(rng.int(active.length), 1)[0] as number
      h.call({ cmd: 'FAIL', id, error: `e${step}` })
    }
  }
  const expected = observe(h.engine, ids, h.now)

  const fromRecords = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: true })
  for (const record of JSON.parse(JSON.stringify(h.records))) fromRecords.replay(record)
  fromRecords.finishReplay(h.now)
  expect(observe(fromRecords, ids, h.now)).toEqual(expected)

  const snapshot = JSON.parse(JSON.stringify([...h.engine.snapshot()]))
  const fromSnapshot = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: true })
  for (const record of snapshot) fromSnapshot.replay(record)
  fromSnapshot.finishReplay(h.now)
  expect(observe(fromSnapshot, ids, h.now)).toEqual(expected)

  // New ids continue after the old ones.
  const next = new Harness()
  next.engine = fromSnapshot
  next.clock.advance(h.now - next.now)
  expect(next.push('a')).toBeGreaterThan(Math.max(...ids))
})

/** KV, cron, debounce and queue freeing: what a restart must rebuild beyond the jobs. */
function observeStores(engine: Engine, nowMs: number) {
  const h = new Harness()
  h.engine = engine
  h.clock.advance(nowMs - h.now)
  const keys = (h.call({ cmd: 'KVKEYS' }).keys as string[]).sort()
  return {
    kv: keys.map((key) => [key, h.call({ cmd: 'KVGET', key }).value, h.call({ cmd: 'KVTTL', key }).ttl]),
    crons: (h.call({ cmd: 'CRONLIST' }).crons as Array<{ name: string }>).sort((a, b) => a.name.localeCompare(b.name)),
    queues: (h.call({ cmd: 'LISTQUEUES' }).queues as Array<{ name: string }>).map((q) => q.name).sort(),
    stats: h.call({ cmd: 'STATS' }),
  }
}

test(`replay rebuilds KV, cron entries and queues (SEED=${seed})`, () => {
  const rng = prng(seed + 2)
  const h = new Harness()
  for (let step = 0; step < 2000; step++) {
    const op = rng.int(100)
    const key = `k${rng.int(12)}`
    const queue = `q${rng.int(4)}`
    if (op < 20) h.call({ cmd: 'KVSET', key, value: { step }, ttl: rng.int(3) === 0 ? rng.int(5000) : undefined })
    else if (op < 30) h.call({ cmd: 'KVINCR', key: `n${rng.int(3)}`, by: rng.int(5) })
    else if (op < 35) h.call({ cmd: 'KVDEL', key })
    else if (op < 40) h.call({ cmd: 'KVEXPIRE', key, ttl: rng.int(3000) })
    else if (op < 45) {
      h.call({ cmd: 'CRON', name: `c${rng.int(4)}`, queue, data: step, repeat_every: 1000 + rng.int(3000), limit: rng.int(2) === 0 ? 1 + rng.int(3) : undefined })
    } else if (op < 47) h.call({ cmd: 'CRONDELETE', name: `c${rng.int(4)}` })
    else if (op < 60) h.call({ cmd: 'PUSH', queue, data: step, debounce_id: rng.int(2) === 0 ? `d${rng.int(3)}` : undefined, debounce_ttl: 2000 })
    else if (op < 75) {
      const job = h.call({ cmd: 'PULL', queue, timeout: 0 }).job as { id: number } | null
      if (job !== null) h.call({ cmd: 'ACK', id: job.id })
    } else if (op < 78) h.call({ cmd: 'OBLITERATE', queue })
    else h.advance(rng.int(700))
  }
  const expected = observeStores(h.engine, h.now)
  const fromRecords = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: true })
  for (const record of JSON.parse(JSON.stringify(h.records))) fromRecords.replay(record)
  fromRecords.finishReplay(h.now)
  expect(observeStores(fromRecords, h.now)).toEqual(expected)
  const fromSnapshot = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: true })
  for (const record of JSON.parse(JSON.stringify([...h.engine.snapshot()]))) fromSnapshot.replay(record)
  fromSnapshot.finishReplay(h.now)
  expect(observeStores(fromSnapshot, h.now)).toEqual(expected)
  // Debounce windows survive too: the same pushes are refused or accepted alike.
  const pushes = ['q0', 'q1', 'q2', 'q3'].flatMap((queue) => ['d0', 'd1', 'd2'].map((id) => ({ cmd: 'PUSH', queue, data: 1, debounce_id: id })))
  const outcomes = (engine: Engine) => {
    const again = new Harness()
    again.engine = engine
    again.clock.advance(h.now - again.now)
    return pushes.map((push) => again.call(push).ok)
  }
  const fromRecordsOutcomes = outcomes(fromRecords)
  expect(outcomes(fromSnapshot)).toEqual(fromRecordsOutcomes)
  expect(outcomes(h.engine)).toEqual(fromRecordsOutcomes)
})
