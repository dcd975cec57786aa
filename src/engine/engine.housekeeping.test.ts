import { describe, expect, test } from 'bun:test'
import { Cluster, Harness, nameOnShard, restart } from './test-helpers.ts'

describe('housekeeping', () => {
  test('expired debounce entries are purged within 10 s and the empty queue is freed', () => {
    const h = new Harness()
    const id = h.push('q', { debounce_id: 'd', debounce_ttl: 1000 })
    h.call({ cmd: 'CANCEL', id })
    expect(h.engine.core.queues.get('q')!.debounce.size).toBe(1)
    expect(h.engine.nextWakeMs()).toBeLessThanOrEqual(h.now + 10_000)
    const expiry = h.now + 1000
    while (h.engine.core.queues.has('q')) h.advance(Math.max(1, h.engine.nextWakeMs() - h.now))
    expect(h.now - expiry).toBeLessThanOrEqual(10_000)
    expect(h.engine.nextWakeMs()).toBe(Infinity)
    // A replayed debounce entry is purged too.
    const again = restart(h)
    expect(again.engine.core.queues.get('q')!.debounce.size).toBe(1)
    again.advance(Math.max(0, again.engine.nextWakeMs() - again.now))
    expect(again.engine.core.queues.has('q')).toBe(false)
  })

  test('queue objects are freed once they hold nothing, and kept while they hold anything', () => {
    const h = new Harness()
    const queues = h.engine.core.queues
    h.pull('a')
    h.call({ cmd: 'GETJOBCOUNTS', queue: 'b' })
    expect(queues.size).toBe(0)
    const pull = h.send({ cmd: 'PULL', queue: 'c', timeout: 1000 })
    expect(queues.has('c')).toBe(true)
    h.advance(1000)
    expect(h.take(pull.token)).toEqual({ ok: true, job: null })
    expect(queues.has('c')).toBe(false)
    const cancelled = h.send({ cmd: 'PULL', queue: 'd', timeout: 1000 })
    h.engine.cancelWaiters([cancelled.token])
    expect(queues.has('d')).toBe(false)
    h.call({ cmd: 'PAUSE', queue: 'e' })
    expect(queues.has('e')).toBe(true)
    h.call({ cmd: 'RESUME', queue: 'e' })
    expect(queues.has('e')).toBe(false)
    const id = h.push('f', { remove_on_complete: true })
    h.pull('f')
    h.call({ cmd: 'ACK', id })
    expect(queues.has('f')).toBe(false)
    const kept = h.push('g')
    h.pull('g')
    h.call({ cmd: 'ACK', id: kept })
    expect(queues.has('g')).toBe(true) // completed history
    h.push('h', { max_attempts: 1 })
    h.call({ cmd: 'OBLITERATE', queue: 'h' })
    expect(queues.has('h')).toBe(false)
    // Freed queues come back as new, empty ones.
    expect(h.call({ cmd: 'ISPAUSED', queue: 'e' }).paused).toBe(false)
    expect(h.push('e')).toBeGreaterThan(0)
  })
})

describe('METRICS', () => {
  test('jobs_per_second from the last closed 5-s point and the open one; avg_latency_ms push → ack', () => {
    const h = new Harness()
    h.clock.advance(5000 - (h.now % 5000)) // start of a point
    const ids = Array.from({ length: 10 }, () => h.push('q'))
    h.advance(400)
    for (const id of ids) {
      h.pull('q')
      h.call({ cmd: 'ACK', id })
    }
    const metrics = () => h.call({ cmd: 'METRICS' }).metrics as Record<string, number>
    expect(metrics().jobs_per_second).toBeCloseTo(10 / 5.4) // shows at once
    expect(metrics().avg_latency_ms).toBe(400)
    h.advance(5000)
    expect(metrics().jobs_per_second).toBeCloseTo(10 / 5.4) // the closed point
    h.advance(5000)
    expect(metrics().jobs_per_second).toBe(0)
    const history = h.engine.core.metrics.history(h.now)
    expect(history.map((p) => p.completed)).toEqual([10, 0])
    h.advance(3600_000)
    expect(h.engine.core.metrics.history(h.now).length).toBe(60)
  })
})

describe('remove_on_complete and depends_on', () => {
  test('a removed completed job still satisfies dependencies while its state reads unknown', () => {
    const h = new Harness()
    const a = h.push('q', { remove_on_complete: true })
    h.pull('q')
    h.call({ cmd: 'ACK', id: a, result: 5 })
    expect(h.state(a)).toBe('unknown')
    expect(h.call({ cmd: 'GETRESULT', id: a }).result).toBeNull()
    const b = h.push('q', { depends_on: [a] })
    expect(h.state(b)).toBe('waiting')
    for (const again of [restart(h), restart(h, [...h.engine.snapshot()])]) {
      expect(again.state(a)).toBe('unknown')
      expect(again.state(again.push('q', { depends_on: [a] }))).toBe('waiting')
      expect(again.call({ cmd: 'STATS' }).completed).toBe(1)
    }
  })

  test('a dependency on another shard completed with remove_on_complete answers the watch at once', () => {
    const cluster = new Cluster(2)
    const [s0, s1] = cluster.shards as [Harness, Harness]
    const q1 = nameOnShard('q', 1, 2)
    const q0 = nameOnShard('q', 0, 2)
    const a = s1.push(q1, { remove_on_complete: true })
    s1.pull(q1)
    s1.call({ cmd: 'ACK', id: a })
    const b = s0.push(q0, { depends_on: [a] })
    expect(s0.state(b)).toBe('waitingchildren')
    cluster.deliver()
    expect(s0.state(b)).toBe('waiting')
  })
})

describe('jobs per shard limit', () => {
  test('pushes and flows above the limit get a clear error; acks make room', () => {
    const h = new Harness()
    h.engine.core.jobsMax = 2
    const a = h.push('q', { remove_on_complete: true })
    h.push('q')
    const refused = h.call({ cmd: 'PUSH', queue: 'q', data: 1 })
    expect(refused.ok).toBe(false)
    expect(refused.error).toContain('Too many jobs')
    expect(h.call({ cmd: 'PUSHB', queue: 'q', jobs: [{ data: 1 }] }).errors).toEqual([{ index: 0, error: refused.error }])
    expect(h.call({ cmd: 'FLOW', queue: 'q', data: 1, children: [{ queue: 'q', data: 2 }] }).error).toBe(refused.error)
    h.pull('q')
    h.call({ cmd: 'ACK', id: a })
    expect(h.push('q')).toBeGreaterThan(0)
  })
})

describe('queue defaults', () => {
  test('fill absent timeout, max_attempts, backoff and ttl; explicit values win; recorded and replayed', () => {
    const h = new Harness()
    h.engine.setQueueDefaults('q', { timeout: 100, max_attempts: 3, backoff: 50, ttl: 9000 })
    h.collect()
    expect(h.records.at(-1)).toEqual({ t: 'qd', q: 'q', d: { timeout: 100, max_attempts: 3, backoff: 50, ttl: 9000 } })
    const a = h.push('q')
    const b = h.push('q', { max_attempts: 1, ttl: 0 })
    const job = (id: number, engine = h) => engine.call({ cmd: 'GETJOB', id }).job as Record<string, unknown>
    expect(job(a)).toMatchObject({ timeout: 100, max_attempts: 3, backoff: 50, ttl: 9000 })
    expect(job(b)).toMatchObject({ timeout: 100, max_attempts: 1, backoff: 50, ttl: 0 })
    expect(h.push('other')).toBeGreaterThan(0)
    expect(job(h.push('other'))).toMatchObject({ timeout: 0, max_attempts: 0 })
    for (const again of [restart(h), restart(h, [...h.engine.snapshot()])]) {
      expect(job(again.push('q'), again)).toMatchObject({ timeout: 100, max_attempts: 3 })
    }
    const flow = h.call({ cmd: 'FLOW', queue: 'q', data: 1, children: [{ queue: 'q', data: 2 }] })
    expect(job((flow.children_ids as number[])[0]!)).toMatchObject({ timeout: 0, max_attempts: 0, ttl: 0 })
    h.engine.setQueueDefaults('q', null)
    expect(job(h.push('q'))).toMatchObject({ timeout: 0, max_attempts: 0 })
    expect(restart(h).engine.core.queues.get('q')!.defaults).toBeNull()
  })
})
