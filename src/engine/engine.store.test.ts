import { describe, expect, test } from 'bun:test'
import { Cluster, Harness, flat, nameOnShard, restart } from './test-helpers.ts'

describe('KV through the engine', () => {
  test('commands answer, records go to the output, replay and snapshot rebuild the store', () => {
    const h = new Harness()
    expect(h.call({ cmd: 'KVSET', key: 'a', value: { x: 1 } })).toEqual({ ok: true })
    expect(h.call({ cmd: 'KVINCR', key: 'n', by: 5 })).toEqual({ ok: true, value: 5 })
    expect(h.call({ cmd: 'KVSET', key: 't', value: 1, ttl: 1000 })).toEqual({ ok: true })
    expect(h.call({ cmd: 'KVGET', key: 'a' })).toEqual({ ok: true, value: { x: 1 } })
    expect(h.call({ cmd: 'KVMGET', keys: ['a', 'zz'] })).toEqual({ ok: true, values: [{ x: 1 }, null] })
    expect(h.call({ cmd: 'KVDEL', key: 'zz' })).toEqual({ ok: true, exists: false })
    expect(h.records.map((r) => r.t)).toEqual(['kv.set', 'kv.set', 'kv.set'])
    const again = restart(h)
    expect(again.call({ cmd: 'KVGET', key: 'n' })).toEqual({ ok: true, value: 5 })
    expect(again.call({ cmd: 'KVTTL', key: 't' })).toEqual({ ok: true, ttl: 1000 })
    const fromSnapshot = restart(h, [...h.engine.snapshot()])
    expect(fromSnapshot.call({ cmd: 'KVKEYS' }).keys).toEqual(['a', 'n', 't'])
  })

  test('expired keys are purged by tick within 10 s, and nextWakeMs asks for it', () => {
    const h = new Harness()
    h.call({ cmd: 'KVSET', key: 'k', value: 1, ttl: 2000 })
    h.call({ cmd: 'KVSET', key: 'keep', value: 1 })
    const wake = h.engine.nextWakeMs()
    expect(wake).toBeGreaterThanOrEqual(h.now + 2000)
    expect(wake).toBeLessThanOrEqual(h.now + 10_000)
    expect(h.engine.core.kv.size).toBe(2)
    h.advance(wake - h.now)
    expect(h.engine.core.kv.size).toBe(1)
    expect(h.engine.nextWakeMs()).toBe(Infinity)
  })
})

describe('cron through the engine', () => {
  test('CRON/CRONLIST/CRONDELETE; a due entry pushes a plain job that wakes a puller', () => {
    const h = new Harness()
    expect(h.call({ cmd: 'CRON', name: 'c', queue: 'q', data: { v: 1 }, repeat_every: 2000, priority: 3 })).toEqual({ ok: true })
    expect((h.call({ cmd: 'CRONLIST' }).crons as unknown[]).length).toBe(1)
    expect(h.engine.nextWakeMs()).toBe(h.now + 2000)
    const pull = h.send({ cmd: 'PULL', queue: 'q', timeout: 10_000 })
    expect(pull.reply).toBeUndefined()
    h.advance(2000)
    const job = h.take(pull.token)!.job as Record<string, unknown>
    expect(job).toMatchObject({ queue: 'q', data: { v: 1 }, priority: 3, max_attempts: 0 })
    expect(h.events.filter((e) => e.event_type === 'pushed').length).toBe(1)
    expect(h.records.map((r) => r.t)).toEqual(['cron.set', 'tx'])
    expect(flat(h.records).map((r) => r.t)).toEqual(['cron.set', 'cron.fire', 'j'])
    expect(h.call({ cmd: 'CRONDELETE', name: 'c' })).toEqual({ ok: true })
    expect(h.call({ cmd: 'CRONDELETE', name: 'c' })).toEqual({ ok: false, error: 'Cron job not found' })
    h.advance(5000)
    expect(h.call({ cmd: 'COUNT', queue: 'q' }).count).toBe(0)
  })

  test('limit: never more than `limit` executions; survives a restart without double firing', () => {
    const h = new Harness()
    h.call({ cmd: 'CRON', name: 'c', queue: 'q', data: 1, repeat_every: 1000, limit: 2 })
    h.advance(1000)
    const again = restart(h)
    again.advance(0)
    expect(again.call({ cmd: 'COUNT', queue: 'q' }).count).toBe(1)
    for (let i = 0; i < 4; i++) again.advance(1000)
    expect(again.call({ cmd: 'COUNT', queue: 'q' }).count).toBe(2)
    expect(again.call({ cmd: 'CRONLIST' }).crons).toEqual([])
    expect([...again.engine.snapshot()].filter((r) => r.t.startsWith('cron.'))).toEqual([])
  })

  test('a cron entry whose queue lives on another shard pushes there through a `cronPush` outbox message', () => {
    const cluster = new Cluster(2)
    const [s0, s1] = cluster.shards as [Harness, Harness]
    const queue = nameOnShard('q', 1, 2)
    s0.call({ cmd: 'CRON', name: 'c', queue, data: 'x', repeat_every: 1000 })
    const pull = s1.send({ cmd: 'PULL', queue, timeout: 5000 })
    cluster.advance(1000)
    expect(s0.messages).toEqual([{
      shardIndex: 1,
      message: { t: 'outbox', v: 1, from: 0, seq: 1, body: { type: 'cronPush', queue, data: 'x', priority: 0 } },
    }])
    // The fire and its message are one record: a crash keeps both or neither.
    expect(s0.records.at(-1)).toMatchObject({ t: 'tx', r: [{ t: 'cron.fire' }, { t: 'ob', to: 1, n: 1 }] })
    expect(s0.engine.core.queues.has(queue)).toBe(false)
    cluster.deliver()
    expect(s1.take(pull.token)!.job).toMatchObject({ queue, data: 'x' })
    expect(s1.events.map((e) => e.event_type)).toEqual(['pushed', 'active', 'drained'])
  })

  test('OBLITERATE removes local cron entries of the queue and tells the other shards', () => {
    const cluster = new Cluster(3)
    const [s0, s1, s2] = cluster.shards as [Harness, Harness, Harness]
    const queue = nameOnShard('q', 0, 3)
    s1.call({ cmd: 'CRON', name: 'a', queue, data: 1, repeat_every: 1000 })
    s1.call({ cmd: 'CRON', name: 'other', queue: 'elsewhere', data: 1, repeat_every: 1000 })
    s2.call({ cmd: 'CRON', name: 'b', queue, data: 1, schedule: '*/5' })
    s0.call({ cmd: 'CRON', name: 'c', queue, data: 1, repeat_every: 1000 })
    expect(s0.call({ cmd: 'OBLITERATE', queue })).toEqual({ ok: true, count: 0 })
    expect(s0.messages.map((m) => m.shardIndex)).toEqual([1, 2])
    expect(s0.call({ cmd: 'CRONLIST' }).crons).toEqual([])
    cluster.deliver()
    expect((s1.call({ cmd: 'CRONLIST' }).crons as Array<{ name: string }>).map((c) => c.name)).toEqual(['other'])
    expect(s2.call({ cmd: 'CRONLIST' }).crons).toEqual([])
    expect(s1.records.at(-1)).toEqual({ t: 'in', from: 0, n: 1, r: [{ t: 'cron.del', name: 'a' }] })
    expect(restart(s2).call({ cmd: 'CRONLIST' }).crons).toEqual([])
  })
})
