/**
 * Key-value (spec §3.9) and cron (§3.5, §4.15) commands over the real wire: reply shape, the state
 * read back, and the error texts of §1.8. KVMGET/KVKEYS/CRONLIST merge both shards.
 */
import { describe, expect, test } from 'bun:test'
import type { TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { expectError, expectInvalid, freshQueue, nameOnShard, shardArgs, sharedServer, waitFor } from './commands-kit.ts'

let server: TestServer
let client: WireClient
sharedServer((started, connected) => {
  server = started
  client = connected
})
const okReply = { reqId: expect.any(String), ok: true }

describe('KVSET / KVGET / KVDEL / KVEXISTS', () => {
  test('stores any JSON value and reads it back; missing keys read null', async () => {
    const key = freshQueue('kv')
    expect(await client.request({ cmd: 'KVGET', key })).toEqual({ ...okReply, value: null })
    expect(await client.request({ cmd: 'KVEXISTS', key })).toEqual({ ...okReply, exists: false })
    const value = { nested: [1, 'two', { three: 3.5 }], flag: true }
    expect(await client.request({ cmd: 'KVSET', key, value })).toEqual(okReply)
    expect(await client.request({ cmd: 'KVGET', key })).toEqual({ ...okReply, value })
    expect(await client.request({ cmd: 'KVEXISTS', key })).toMatchObject({ exists: true })
    expect(await client.request({ cmd: 'KVSET', key, value: 'replaced' })).toEqual(okReply)
    expect(await client.request({ cmd: 'KVGET', key })).toMatchObject({ value: 'replaced' })
    expect(await client.request({ cmd: 'KVDEL', key })).toEqual({ ...okReply, exists: true })
    expect(await client.request({ cmd: 'KVDEL', key })).toEqual({ ...okReply, exists: false })
    expect(await client.request({ cmd: 'KVGET', key })).toMatchObject({ value: null })
  })

  test('key errors: empty, too long, wrong type', async () => {
    expectError(await client.request({ cmd: 'KVSET', key: '', value: 1 }), 'Key cannot be empty')
    expectError(await client.request({ cmd: 'KVGET', key: '' }), 'Key cannot be empty')
    expectError(await client.request({ cmd: 'KVSET', key: 'k'.repeat(1025), value: 1 }), 'Key too long (1025 > 1024 bytes)')
    expectInvalid(await client.request({ cmd: 'KVDEL', key: 5 }), 'key')
    expectInvalid(await client.request({ cmd: 'KVEXISTS' }), 'key')
    expectInvalid(await client.request({ cmd: 'KVSET', key: 'x', value: 1, ttl: -5 }), 'ttl')
  })
})

describe('KVMSET / KVMGET', () => {
  test('KVMSET stores entries on both shards and skips invalid ones; KVMGET reads them in key order', async () => {
    const k0 = nameOnShard('kvm', 0)
    const k1 = nameOnShard('kvm', 1)
    const missing = nameOnShard('kvm', 1)
    const reply = await client.request({
      cmd: 'KVMSET',
      entries: [{ key: k0, value: 'zero' }, { key: '', value: 'skipped' }, { key: k1, value: { one: 1 }, ttl: 60_000 }],
    })
    expect(reply).toEqual({ ...okReply, count: 2 })
    expect(await client.request({ cmd: 'KVMGET', keys: [k1, missing, k0] })).toEqual({ ...okReply, values: [{ one: 1 }, null, 'zero'] })
    expect(await client.request({ cmd: 'KVMGET', keys: [] })).toMatchObject({ ok: true, values: [] })
  })

  test('KVMGET uses only the first 1000 keys: the reply lists 1000 values (spec §3.9)', async () => {
    const key = nameOnShard('kvm-first', 1)
    await client.request({ cmd: 'KVSET', key, value: 'last read' })
    const keys = [...Array.from({ length: 999 }, (_, i) => nameOnShard(`kvm-absent-${i}`, i % 2)), key, key]
    const reply = await client.request({ cmd: 'KVMGET', keys })
    expect(reply.values).toHaveLength(1000)
    expect(reply.values[999]).toBe('last read')
  })

  test('too many entries; keys of the wrong type', async () => {
    const entries = Array.from({ length: 1001 }, (_, i) => ({ key: `many-${i}`, value: i }))
    expectError(await client.request({ cmd: 'KVMSET', entries }), 'Too many entries (1001 > 1000)')
    expectInvalid(await client.request({ cmd: 'KVMGET', keys: 'a' }), 'keys')
    expectInvalid(await client.request({ cmd: 'KVMSET', entries: {} }), 'entries')
  })
})

describe('KVEXPIRE / KVTTL', () => {
  test('TTL reads -1 without expiry, the remaining ms with one, -2 when missing or expired', async () => {
    const key = freshQueue('ttl')
    expect(await client.request({ cmd: 'KVTTL', key })).toEqual({ ...okReply, ttl: -2 })
    await client.request({ cmd: 'KVSET', key, value: 1 })
    expect(await client.request({ cmd: 'KVTTL', key })).toMatchObject({ ttl: -1 })
    expect(await client.request({ cmd: 'KVEXPIRE', key, ttl: 60_000 })).toEqual({ ...okReply, exists: true })
    const ttl = (await client.request({ cmd: 'KVTTL', key })).ttl as number
    expect(ttl).toBeGreaterThan(50_000)
    expect(ttl).toBeLessThanOrEqual(60_000)
    expect(await client.request({ cmd: 'KVEXPIRE', key: freshQueue('ttl'), ttl: 1000 })).toMatchObject({ ok: true, exists: false })
  })

  test('a key set with a short ttl expires and then reads as missing', async () => {
    const key = freshQueue('ttl')
    await client.request({ cmd: 'KVSET', key, value: 'soon', ttl: 150 })
    expect(await client.request({ cmd: 'KVGET', key })).toMatchObject({ value: 'soon' })
    await Bun.sleep(400)
    expect(await client.request({ cmd: 'KVGET', key })).toMatchObject({ ok: true, value: null })
    expect(await client.request({ cmd: 'KVTTL', key })).toMatchObject({ ttl: -2 })
    expect(await client.request({ cmd: 'KVEXISTS', key })).toMatchObject({ exists: false })
    expect(await client.request({ cmd: 'KVEXPIRE', key, ttl: 1000 })).toMatchObject({ exists: false })
  })

  test('missing ttl', async () => {
    expectInvalid(await client.request({ cmd: 'KVEXPIRE', key: 'x' }), 'ttl')
    expectInvalid(await client.request({ cmd: 'KVTTL', key: null }), 'key')
  })
})

describe('KVKEYS', () => {
  test('glob with * and ? over both shards; no pattern lists every key', async () => {
    const prefix = freshQueue('keys')
    const keys = [`${prefix}-a1`, `${prefix}-a2`, `${prefix}-b1`, `${prefix}-a10`]
    for (const key of keys) await client.request({ cmd: 'KVSET', key, value: 1 })
    const r = await client.request({ cmd: 'KVKEYS', pattern: `${prefix}-a?` })
    expect(r).toMatchObject({ ok: true })
    expect((r.keys as string[]).sort()).toEqual([`${prefix}-a1`, `${prefix}-a2`])
    expect(((await client.request({ cmd: 'KVKEYS', pattern: `${prefix}-*` })).keys as string[]).sort()).toEqual([...keys].sort())
    const all = (await client.request({ cmd: 'KVKEYS' })).keys as string[]
    for (const key of keys) expect(all).toContain(key)
    expectInvalid(await client.request({ cmd: 'KVKEYS', pattern: 3 }), 'pattern')
  })
})

describe('KVINCR', () => {
  test('starts a missing key at 0, default by 1, negative by', async () => {
    const key = freshQueue('incr')
    expect(await client.request({ cmd: 'KVINCR', key })).toEqual({ ...okReply, value: 1 })
    expect(await client.request({ cmd: 'KVINCR', key, by: 10 })).toMatchObject({ value: 11 })
    expect(await client.request({ cmd: 'KVINCR', key, by: -20 })).toMatchObject({ value: -9 })
    expect(await client.request({ cmd: 'KVGET', key })).toMatchObject({ value: -9 })
  })

  test('non-numeric and non-integer values; a float by', async () => {
    const text = freshQueue('incr')
    await client.request({ cmd: 'KVSET', key: text, value: 'abc' })
    expectError(await client.request({ cmd: 'KVINCR', key: text }), 'Value is not a number')
    const float = freshQueue('incr')
    await client.request({ cmd: 'KVSET', key: float, value: 1.5 })
    expectError(await client.request({ cmd: 'KVINCR', key: float }), 'Value is not an integer')
    expectInvalid(await client.request({ cmd: 'KVINCR', key: text, by: 0.5 }), 'by')
  })
})

describe('KV over MessagePack', () => {
  test('set, incr, mget, ttl', async () => {
    const mp = await WireClient.connect(server.tcpPort, 'msgpack')
    try {
      const key = nameOnShard('mpkv', 1)
      expect(await mp.request({ cmd: 'KVSET', key, value: { a: [1, 2] }, ttl: null })).toMatchObject({ ok: true })
      expect(await mp.request({ cmd: 'KVTTL', key })).toMatchObject({ ok: true, ttl: -1 })
      expect(await mp.request({ cmd: 'KVMGET', keys: [key, nameOnShard('mpkv', 0)] })).toMatchObject({ ok: true, values: [{ a: [1, 2] }, null] })
      const counter = nameOnShard('mpkv', 0)
      expect(await mp.request({ cmd: 'KVINCR', key: counter, by: null })).toMatchObject({ ok: true, value: 1 })
      expectError(await mp.request({ cmd: 'KVGET', key: '' }), 'Key cannot be empty')
    } finally {
      mp.close()
    }
  })
})

type Cron = { name: string; queue: string; data: unknown; schedule: string | null; repeat_every: number | null; priority: number; next_run: number; executions: number; limit: number | null }

async function cronNamed(name: string): Promise<Cron | undefined> {
  const reply = await client.request({ cmd: 'CRONLIST' })
  expect(reply.ok).toBe(true)
  return (reply.crons as Cron[]).find((cron) => cron.name === name)
}

describe('CRON / CRONLIST / CRONDELETE', () => {
  test('a repeat_every cron pushes plain jobs up to its limit, then is deleted', async () => {
    const name = freshQueue('cron')
    const queue = freshQueue('cronq')
    expect(await client.request({ cmd: 'CRON', name, queue, data: { tick: true }, repeat_every: 200, priority: 3, limit: 2 })).toEqual(okReply)
    const listed = await cronNamed(name)
    expect(listed).toEqual({
      name, queue, data: { tick: true }, schedule: null, repeat_every: 200, priority: 3, next_run: expect.any(Number), executions: 0, limit: 2,
    })
    await waitFor(async () => ((await client.request({ cmd: 'COUNT', queue })).count as number) >= 2, 8000, 100)
    const pulled = await client.request({ cmd: 'PULL', queue, timeout: 0 })
    expect(pulled.job).toMatchObject({ queue, data: { tick: true }, priority: 3 })
    await waitFor(async () => (await cronNamed(name)) === undefined, 8000, 200)
    expect((await client.request({ cmd: 'COUNT', queue })).count).toBe(1) // never more than `limit` runs
  })

  test('cron entries on both shards are listed; a re-used name replaces the entry; CRONDELETE removes it', async () => {
    const a = nameOnShard('cronlist', 0)
    const b = nameOnShard('cronlist', 1)
    expect(await client.request({ cmd: 'CRON', name: a, queue: freshQueue('cq'), data: 1, schedule: '0 0 1 1 *' })).toEqual(okReply)
    expect(await client.request({ cmd: 'CRON', name: b, queue: freshQueue('cq'), data: 2, schedule: '*/30' })).toEqual(okReply)
    expect(await cronNamed(a)).toMatchObject({ schedule: '0 0 1 1 *', repeat_every: null, executions: 0 })
    expect((await cronNamed(a))?.next_run).toBeGreaterThan(Date.now())
    expect(await cronNamed(b)).toMatchObject({ schedule: '*/30' })
    expect(await client.request({ cmd: 'CRON', name: a, queue: freshQueue('cq'), data: 'new', schedule: '*/5 * * * *', priority: -1 })).toEqual(okReply)
    expect(await cronNamed(a)).toMatchObject({ data: 'new', schedule: '*/5 * * * *', priority: -1 })
    expect(await client.request({ cmd: 'CRONDELETE', name: a })).toEqual(okReply)
    expect(await cronNamed(a)).toBeUndefined()
    expectError(await client.request({ cmd: 'CRONDELETE', name: a }), 'Cron job not found')
    expect(await client.request({ cmd: 'CRONDELETE', name: b })).toEqual(okReply)
  })

  test('CRON errors: neither schedule nor repeat_every, bad expression, too long, missing name', async () => {
    const base = { name: freshQueue('badcron'), queue: freshQueue('cq'), data: null }
    expectError(await client.request({ cmd: 'CRON', ...base }), "Must provide either 'schedule' or 'repeat_every'")
    const bad = await client.request({ cmd: 'CRON', ...base, schedule: 'not a cron' })
    expect(bad.ok).toBe(false)
    expect(bad.error).toStartWith("Invalid cron expression 'not a cron': ")
    const long = '1'.repeat(300)
    expectError(await client.request({ cmd: 'CRON', ...base, schedule: long }), 'Cron schedule too long (300 chars, max 256 chars)')
    expectInvalid(await client.request({ cmd: 'CRON', queue: base.queue, data: 1, repeat_every: 1000 }), 'name')
    expectInvalid(await client.request({ cmd: 'CRONDELETE' }), 'name')
    expect(await cronNamed(base.name)).toBeUndefined()
  })
})
