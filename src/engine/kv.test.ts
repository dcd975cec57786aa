import { describe, expect, test } from 'bun:test'
import { FakeClock } from '../base/clock.ts'
import { compileGlob, globMatches, KvStore, type KvCommand } from './kv.ts'
import type { LogRecord, Reply } from './types.ts'

/** A store driven by a fake clock that keeps every record it writes. */
function harness() {
  const clock = new FakeClock(1_000_000)
  const store = new KvStore()
  const records: LogRecord[] = []
  const run = (command: KvCommand): Reply => store.execute(command, clock.nowMs(), records)
  return { clock, store, records, run }
}

/** Everything a client can observe, at `nowMs`. */
function observe(store: KvStore, nowMs: number) {
  const records: LogRecord[] = []
  const keys = (store.execute({ cmd: 'KVKEYS' }, nowMs, records).keys as string[]).toSorted()
  const state = keys.map((key) => ({
    key,
    value: store.execute({ cmd: 'KVGET', key }, nowMs, records).value,
    ttl: store.execute({ cmd: 'KVTTL', key }, nowMs, records).ttl,
  }))
  expect(records).toEqual([]) // reads write nothing
  return state
}

describe('KVSET / KVGET / KVDEL / KVEXISTS', () => {
  test('round trip of any JSON value', () => {
    const { run, records } = harness()
    for (const value of [1, 'text', { nested: [1, { a: null }] }, [1, 2], true, null]) {
      expect(run({ cmd: 'KVSET', key: 'k', value })).toEqual({ ok: true })
      expect(run({ cmd: 'KVGET', key: 'k' })).toEqual({ ok: true, value })
    }
    expect(records.length).toBe(6)
    expect(records[0]).toEqual({ t: 'kv.set', key: 'k', value: 1, expires_at: null })
  })
  test('missing keys read as null, exists false, delete false', () => {
    const { run, records } = harness()
    expect(run({ cmd: 'KVGET', key: 'nope' })).toEqual({ ok: true, value: null })
    expect(run({ cmd: 'KVEXISTS', key: 'nope' })).toEqual({ ok: true, exists: false })
    expect(run({ cmd: 'KVDEL', key: 'nope' })).toEqual({ ok: true, exists: false })
    expect(records).toEqual([])
  })
  test('delete', () => {
    const { run, records } = harness()
    run({ cmd: 'KVSET', key: 'k', value: 1 })
    expect(run({ cmd: 'KVEXISTS', key: 'k' })).toEqual({ ok: true, exists: true })
    expect(run({ cmd: 'KVDEL', key: 'k' })).toEqual({ ok: true, exists: true })
    expect(run({ cmd: 'KVDEL', key: 'k' })).toEqual({ ok: true, exists: false })
    expect(run({ cmd: 'KVGET', key: 'k' })).toEqual({ ok: true, value: null })
    expect(records.at(-1)).toEqual({ t: 'kv.del', key: 'k' })
  })
})

describe('key and value limits', () => {
  test('empty key', () => {
    const { run } = harness()
    expect(run({ cmd: 'KVSET', key: '', value: 1 })).toEqual({ ok: false, error: 'Key cannot be empty' })
    expect(run({ cmd: 'KVINCR', key: '' })).toEqual({ ok: false, error: 'Key cannot be empty' })
  })
  test('key length counts UTF-8 bytes', () => {
    const { run } = harness()
    expect(run({ cmd: 'KVSET', key: 'a'.repeat(1024), value: 1 })).toEqual({ ok: true })
    expect(run({ cmd: 'KVSET', key: 'a'.repeat(1025), value: 1 })).toEqual({
      ok: false,
      error: 'Key too long (1025 > 1024 bytes)',
    })
    // 342 chars, 1026 bytes: under the limit in chars, over it in bytes.
    expect(run({ cmd: 'KVSET', key: 'é'.repeat(513), value: 1 })).toEqual({
      ok: false,
      error: 'Key too long (1026 > 1024 bytes)',
    })
    expect(run({ cmd: 'KVSET', key: '€'.repeat(341), value: 1 })).toEqual({ ok: true }) // 1023 bytes
    expect(run({ cmd: 'KVINCR', key: 'x'.repeat(2000) })).toEqual({ ok: false, error: 'Key too long (2000 > 1024 bytes)' })
  })
  test('value at most 10 MiB once serialised', () => {
    const { run, store } = harness()
    const fits = 'x'.repeat(10 * 1024 * 1024 - 2) // plus two quotes
    expect(run({ cmd: 'KVSET', key: 'big', value: fits })).toEqual({ ok: true })
    expect(run({ cmd: 'KVSET', key: 'big', value: `${fits}x` })).toEqual({
      ok: false,
      error: 'Value too large (10485761 > 10485760 bytes)',
    })
    expect(store.size).toBe(1)
  })
})

describe('TTL with a fake clock', () => {
  test('KVSET ttl expires; reads show missing; KVTTL counts down then -2', () => {
    const { run, clock, records } = harness()
    run({ cmd: 'KVSET', key: 'k', value: 'v', ttl: 1000 })
    expect(records[0]).toEqual({ t: 'kv.set', key: 'k', value: 'v', expires_at: 1_001_000 })
    expect(run({ cmd: 'KVTTL', key: 'k' })).toEqual({ ok: true, ttl: 1000 })
    clock.advance(999)
    expect(run({ cmd: 'KVTTL', key: 'k' })).toEqual({ ok: true, ttl: 1 })
    expect(run({ cmd: 'KVGET', key: 'k' })).toEqual({ ok: true, value: 'v' })
    clock.advance(1)
    expect(run({ cmd: 'KVGET', key: 'k' })).toEqual({ ok: true, value: null })
    expect(run({ cmd: 'KVEXISTS', key: 'k' })).toEqual({ ok: true, exists: false })
    expect(run({ cmd: 'KVTTL', key: 'k' })).toEqual({ ok: true, ttl: -2 })
    expect(run({ cmd: 'KVMGET', keys: ['k'] })).toEqual({ ok: true, values: [null] })
    expect(run({ cmd: 'KVKEYS' })).toEqual({ ok: true, keys: [] })
    expect(run({ cmd: 'KVEXPIRE', key: 'k', ttl: 5000 })).toEqual({ ok: true, exists: false })
    expect(run({ cmd: 'KVDEL', key: 'k' })).toEqual({ ok: true, exists: false })
  })
  test('no ttl, and ttl 0, mean -1', () => {
    const { run } = harness()
    run({ cmd: 'KVSET', key: 'a', value: 1 })
    run({ cmd: 'KVSET', key: 'b', value: 1, ttl: 0 })
    expect(run({ cmd: 'KVTTL', key: 'a' })).toEqual({ ok: true, ttl: -1 })
    expect(run({ cmd: 'KVTTL', key: 'b' })).toEqual({ ok: true, ttl: -1 })
    expect(run({ cmd: 'KVTTL', key: 'c' })).toEqual({ ok: true, ttl: -2 })
  })
  test('KVSET without ttl clears an earlier ttl', () => {
    const { run, clock } = harness()
    run({ cmd: 'KVSET', key: 'k', value: 1, ttl: 100 })
    run({ cmd: 'KVSET', key: 'k', value: 2 })
    clock.advance(1000)
    expect(run({ cmd: 'KVGET', key: 'k' })).toEqual({ ok: true, value: 2 })
  })
  test('KVEXPIRE sets and replaces a ttl; 0 expires at once', () => {
    const { run, clock, records } = harness()
    run({ cmd: 'KVSET', key: 'k', value: 1 })
    expect(run({ cmd: 'KVEXPIRE', key: 'k', ttl: 500 })).toEqual({ ok: true, exists: true })
    expect(records.at(-1)).toEqual({ t: 'kv.expire', key: 'k', expires_at: 1_000_500 })
    expect(run({ cmd: 'KVEXPIRE', key: 'k', ttl: 2000 })).toEqual({ ok: true, exists: true })
    clock.advance(1000)
    expect(run({ cmd: 'KVTTL', key: 'k' })).toEqual({ ok: true, ttl: 1000 })
    expect(run({ cmd: 'KVEXPIRE', key: 'k', ttl: 0 })).toEqual({ ok: true, exists: true })
    expect(run({ cmd: 'KVEXISTS', key: 'k' })).toEqual({ ok: true, exists: false })
    expect(run({ cmd: 'KVEXPIRE', key: 'missing', ttl: 10 })).toEqual({ ok: true, exists: false })
  })
  test('purgeExpired and nextExpiryMs', () => {
    const { run, clock, store, records } = harness()
    expect(store.nextExpiryMs()).toBe(Infinity)
    run({ cmd: 'KVSET', key: 'a', value: 1, ttl: 300 })
    run({ cmd: 'KVSET', key: 'b', value: 1, ttl: 100 })
    run({ cmd: 'KVSET', key: 'c', value: 1, ttl: 200 })
    run({ cmd: 'KVSET', key: 'd', value: 1 })
    run({ cmd: 'KVSET', key: 'c', value: 2 }) // c no longer expires
    expect(store.nextExpiryMs()).toBe(1_000_100)
    const recordsBefore = records.length
    expect(store.purgeExpired(clock.advance(150))).toBe(1)
    expect(store.size).toBe(3)
    expect(store.nextExpiryMs()).toBe(1_000_300)
    expect(store.purgeExpired(clock.advance(1000))).toBe(1)
    expect(store.nextExpiryMs()).toBe(Infinity)
    expect(store.size).toBe(2)
    expect(records.length).toBe(recordsBefore) // purging is not a state change
  })
  test('re-setting a key with ttl many times keeps the expiry heap bounded', () => {
    const { run, clock, store } = harness()
    for (let index = 0; index < 10_000; index++) run({ cmd: 'KVSET', key: 'k', value: index, ttl: 10 + index })
    expect(store.nextExpiryMs()).toBe(1_000_000 + 10 + 9999)
    expect(store.purgeExpired(clock.advance(10_008))).toBe(0)
    expect(store.purgeExpired(clock.advance(1))).toBe(1)
  })
  test('KVINCR keeps the ttl of the key and restarts an expired key at 0', () => {
    const { run, clock } = harness()
    run({ cmd: 'KVSET', key: 'n', value: 10, ttl: 1000 })
    expect(run({ cmd: 'KVINCR', key: 'n' })).toEqual({ ok: true, value: 11 })
    expect(run({ cmd: 'KVTTL', key: 'n' })).toEqual({ ok: true, ttl: 1000 })
    clock.advance(1000)
    expect(run({ cmd: 'KVINCR', key: 'n', by: 5 })).toEqual({ ok: true, value: 5 })
    expect(run({ cmd: 'KVTTL', key: 'n' })).toEqual({ ok: true, ttl: -1 })
  })
})

describe('KVMGET / KVMSET', () => {
  test('KVMGET keeps order, null for missing, only the first 1000 keys', () => {
    const { run } = harness()
    run({ cmd: 'KVSET', key: 'a', value: 1 })
    run({ cmd: 'KVSET', key: 'c', value: 3 })
    expect(run({ cmd: 'KVMGET', keys: ['a', 'b', 'c', 'a'] })).toEqual({ ok: true, values: [1, null, 3, 1] })
    expect(run({ cmd: 'KVMGET', keys: [] })).toEqual({ ok: true, values: [] })
    const many = Array.from({ length: 1500 }, () => 'a')
    expect((run({ cmd: 'KVMGET', keys: many }).values as unknown[]).length).toBe(1000)
  })
  test('KVMSET stores valid entries, skips invalid ones, counts the stored', () => {
    const { run, clock, records } = harness()
    const reply = run({
      cmd: 'KVMSET',
      entries: [
        { key: 'a', value: 1 },
        { key: '', value: 2 },
        { key: 'b'.repeat(1025), value: 3 },
        { key: 'c', value: 'x'.repeat(10 * 1024 * 1024) },
        { key: 7, value: 4 },
        { key: 'd', value: 5, ttl: 100 },
        { key: 'e', value: 6, ttl: -1 },
        { key: 'f' },
      ],
    })
    expect(reply).toEqual({ ok: true, count: 3 })
    expect(records.map((record) => record.key)).toEqual(['a', 'd', 'f'])
    expect(run({ cmd: 'KVMGET', keys: ['a', 'c', 'd', 'e', 'f'] })).toEqual({ ok: true, values: [1, null, 5, null, null] })
    expect(run({ cmd: 'KVEXISTS', key: 'f' })).toEqual({ ok: true, exists: true })
    clock.advance(100)
    expect(run({ cmd: 'KVEXISTS', key: 'd' })).toEqual({ ok: true, exists: false })
  })
  test('KVMSET with more than 1000 entries is refused whole', () => {
    const { run, store } = harness()
    const entries = Array.from({ length: 1001 }, (_, index) => ({ key: `k${index}`, value: index }))
    expect(run({ cmd: 'KVMSET', entries })).toEqual({ ok: false, error: 'Too many entries (1001 > 1000)' })
    expect(store.size).toBe(0)
    expect(run({ cmd: 'KVMSET', entries: entries.slice(0, 1000) })).toEqual({ ok: true, count: 1000 })
  })
})

describe('KVINCR', () => {
  test('missing key starts at 0; by defaults to 1; negative by', () => {
    const { run, records } = harness()
    expect(run({ cmd: 'KVINCR', key: 'n' })).toEqual({ ok: true, value: 1 })
    expect(run({ cmd: 'KVINCR', key: 'n', by: 10 })).toEqual({ ok: true, value: 11 })
    expect(run({ cmd: 'KVINCR', key: 'n', by: -20 })).toEqual({ ok: true, value: -9 })
    expect(run({ cmd: 'KVGET', key: 'n' })).toEqual({ ok: true, value: -9 })
    expect(records.at(-1)).toEqual({ t: 'kv.set', key: 'n', value: -9, expires_at: null })
  })
  test('errors', () => {
    const { run, records } = harness()
    run({ cmd: 'KVSET', key: 's', value: '5' })
    run({ cmd: 'KVSET', key: 'f', value: 1.5 })
    run({ cmd: 'KVSET', key: 'o', value: { n: 1 } })
    run({ cmd: 'KVSET', key: 'z', value: null })
    run({ cmd: 'KVSET', key: 'max', value: Number.MAX_SAFE_INTEGER })
    const before = records.length
    expect(run({ cmd: 'KVINCR', key: 's' })).toEqual({ ok: false, error: 'Value is not a number' })
    expect(run({ cmd: 'KVINCR', key: 'o' })).toEqual({ ok: false, error: 'Value is not a number' })
    expect(run({ cmd: 'KVINCR', key: 'z' })).toEqual({ ok: false, error: 'Value is not a number' })
    expect(run({ cmd: 'KVINCR', key: 'f' })).toEqual({ ok: false, error: 'Value is not an integer' })
    expect(run({ cmd: 'KVINCR', key: 'max' })).toEqual({
      ok: false,
      error: 'Increment overflows (result beyond 2^53 - 1)',
    })
    expect(run({ cmd: 'KVINCR', key: 'n', by: 0.5 })).toEqual({ ok: false, error: 'Invalid: by must be an integer' })
    expect(records.length).toBe(before)
  })
})

describe('KVKEYS and globs', () => {
  test('all keys, patterns, expired keys excluded', () => {
    const { run } = harness()
    for (const key of ['user:1', 'user:22', 'user:', 'session:1', 'a.b', 'aXb', 'a*b', 'a?b', 'a[b]'])
      run({ cmd: 'KVSET', key, value: 1 })
    run({ cmd: 'KVSET', key: 'user:gone', value: 1, ttl: 0 })
    run({ cmd: 'KVEXPIRE', key: 'user:gone', ttl: 0 })
    const keys = (pattern?: string) => (run({ cmd: 'KVKEYS', pattern }).keys as string[]).toSorted()
    expect(keys().length).toBe(9)
    expect(keys('*')).toEqual(keys())
    expect(keys('user:*')).toEqual(['user:', 'user:1', 'user:22'])
    expect(keys('user:?')).toEqual(['user:1'])
    expect(keys('user:??')).toEqual(['user:22'])
    expect(keys('*:1')).toEqual(['session:1', 'user:1'])
    expect(keys('a.b')).toEqual(['a.b']) // `.` is literal, not a regex dot
    expect(keys('a?b')).toEqual(['a*b', 'a.b', 'a?b', 'aXb'])
    expect(keys('a[b]')).toEqual(['a[b]'])
    expect(keys('nothing*')).toEqual([])
    expect(keys('')).toEqual([])
  })
  test('glob matcher edge cases', () => {
    const cases: Array<[string, string, boolean]> = [
      ['', '', true],
      ['*', '', true],
      ['**', 'abc', true],
      ['?', '', false],
      ['?', 'a', true],
      ['?', 'ab', false],
      ['a*', 'a', true],
      ['*a', 'ba', true],
      ['*a', 'ab', false],
      ['a*b*c', 'aXbYc', true],
      ['a*b*c', 'abcb', false],
      ['a*b*c', 'abcbc', true],
      ['*x*', 'abc', false],
      ['a\\*', 'a\\bc', true], // backslash is literal, the star still a wildcard
      ['^a$', '^a$', true],
      ['(a|b)+', '(a|b)+', true],
      ['(a|b)+', 'a', false],
      ['?', '😀', true], // one character, two UTF-16 units
      ['??', '😀', false],
      ['*?', '😀', true],
      ['*??', '😀', false],
      ['😀*', '😀x', true],
      ['é?', 'éa', true],
      ['a?c', 'a\nc', true],
    ]
    for (const [pattern, key, expected] of cases) {
      expect({ pattern, key, matches: globMatches(pattern, key) }).toEqual({ pattern, key, matches: expected })
      expect({ pattern, key, matches: compileGlob(pattern)(key) }).toEqual({ pattern, key, matches: expected })
    }
  })
  test('adversarial patterns stay fast', () => {
    const key = 'a'.repeat(1024)
    const pattern = `${'*a'.repeat(200)}*b`
    const started = performance.now()
    expect(globMatches(pattern, key)).toBe(false)
    expect(performance.now() - started).toBeLessThan(500)
    expect(compileGlob(`${'*'.repeat(100_000)}a`)(key)).toBe(true)
    expect(compileGlob(`${'?'.repeat(1025)}*`)(key)).toBe(false)
    expect(compileGlob(`${'?'.repeat(1024)}*`)(key)).toBe(true)
  })
})

describe('persistence', () => {
  function workload() {
    const h = harness()
    const { run, clock } = h
    run({ cmd: 'KVSET', key: 'plain', value: { a: 1 } })
    run({ cmd: 'KVSET', key: 'ttl', value: 'soon', ttl: 5000 })
    run({ cmd: 'KVSET', key: 'short', value: 'gone', ttl: 10 })
    run({ cmd: 'KVMSET', entries: [{ key: 'm1', value: 1 }, { key: '', value: 0 }, { key: 'm2', value: 2, ttl: 20_000 }] })
    run({ cmd: 'KVINCR', key: 'counter', by: 7 })
    run({ cmd: 'KVINCR', key: 'counter' })
    run({ cmd: 'KVEXPIRE', key: 'plain', ttl: 60_000 })
    run({ cmd: 'KVDEL', key: 'm1' })
    clock.advance(100)
    run({ cmd: 'KVSET', key: 'late', value: [1, 2, 3] })
    return h
  }

  test('replay from records and from a snapshot give the same state', () => {
    const { store, records, clock } = workload()
    const fromRecords = new KvStore()
    for (const record of records) fromRecords.replay(record)
    const fromSnapshot = new KvStore()
    for (const record of store.snapshot()) fromSnapshot.replay(record)
    for (const nowMs of [clock.nowMs(), clock.nowMs() + 5000, clock.nowMs() + 30_000, clock.nowMs() + 90_000]) {
      const expected = observe(store, nowMs)
      expect(observe(fromRecords, nowMs)).toEqual(expected)
      expect(observe(fromSnapshot, nowMs)).toEqual(expected)
    }
    expect(observe(store, clock.nowMs()).map((entry) => entry.key)).toEqual(['counter', 'late', 'm2', 'plain', 'ttl'])
    expect(fromRecords.nextExpiryMs()).toBe(store.nextExpiryMs())
    expect(fromSnapshot.nextExpiryMs()).toBe(store.nextExpiryMs())
  })

  test('a snapshot of a replayed store is the same snapshot', () => {
    const { store } = workload()
    const replayed = new KvStore()
    for (const record of store.snapshot()) replayed.replay(record)
    expect(replayed.snapshot()).toEqual(store.snapshot())
  })

  test('records are plain JSON', () => {
    const { records } = workload()
    expect(JSON.parse(JSON.stringify(records))).toEqual(records)
  })

  test('replay rejects what is not a KV record', () => {
    expect(() => new KvStore().replay({ t: 'cron.set', key: 'x' })).toThrow('not a KV record: cron.set')
    expect(() => new KvStore().replay({ t: 'kv.set', key: 1 })).toThrow()
  })
})
