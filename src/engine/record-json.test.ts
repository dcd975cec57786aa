/** recordJson (records.ts) writes a record's log text: the same text stringifyJson writes, fast for plain job records. */
import { expect, test } from 'bun:test'
import { RawJson, stringifyJson } from '../protocol/raw-json.ts'
import { Engine } from './engine.ts'
import { parseCommand } from '../protocol/commands.ts'
import { packPushRecords, recordJson } from './records.ts'
import type { LogRecord } from './types.ts'

function recordsOf(...requests: Array<Record<string, unknown>>): LogRecord[] {
  const engine = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: true })
  for (const request of requests) {
    const parsed = parseCommand(request)
    if (!parsed.ok) throw new Error(parsed.error)
    engine.execute(parsed.command, 1, 1_795_000_000_000, 1000)
  }
  return engine.drainOutput().records
}

test('the text of every record a push makes is exactly stringifyJson of it, with or without options', () => {
  const items = [
    { data: { name: 'job', t: 1.5, pad: 'x' } },
    { data: null },
    { data: 'text with "quotes" and \u2028' },
    { data: [1, { a: 2 }] },
    { data: { '1': 'integer key', name: 'n' }, priority: 5 },
    { data: 1, delay: 1000, max_attempts: 3, backoff: 10, ttl: 5000, timeout: 100, lifo: true, remove_on_complete: true },
    { data: 2, unique_key: 'u', tags: ['a', 'b'], job_id: 'custom', group_id: 'g', keep_completed_count: 3 },
    { data: 3, debounce_id: 'd', debounce_ttl: 100 },
  ]
  const records = recordsOf(...items.map((item) => ({ cmd: 'PUSH', queue: 'queue-ü.1', ...item })))
  expect(records.length).toBe(items.length)
  for (const record of records) expect(recordJson(record)).toBe(stringifyJson(record))
  // The plain ones took the direct path and still parse back to the record.
  const plain = JSON.parse(recordJson(records[0] as LogRecord))
  expect(plain).toEqual({ t: 'j', i: expect.any(Number), q: 'queue-ü.1', d: { name: 'job', t: 1.5, pad: 'x' }, c: 1_795_000_000_000 })
})

test('a record that only looks like a plain job record goes the general way', () => {
  const odd = { t: 'j', i: 1, q: 'q', d: { not: 'raw' }, c: 2 } as LogRecord
  expect(recordJson(odd)).toBe(JSON.stringify(odd))
  const other = { t: 'a', i: 7, q: 'q', d: undefined, c: 2 } as LogRecord
  expect(recordJson(other)).toBe(JSON.stringify(other))
})

test('every kind of field a job record may hold is written as stringifyJson writes it', () => {
  const records: LogRecord[] = [
    { t: 'j', i: 1, q: 'a', d: new RawJson('{"x":1}'), c: 2, dep: [3, 4], tg: ['t "1"', 'ü'], lf: 1, db: 'deb\nid', dx: 5 },
    { t: 'j', i: 2, q: 'b', d: new RawJson('[1,2]'), c: 3, pg: { step: 2, of: [1, 2] }, pm: 'half' },
    { t: 'j', i: 3, q: 'a', c: 4, pg: 50, fr: null, fk: '7:0', ok: true, no: false },
    { t: 'j', i: 4, q: 'a', d: undefined, c: -0, r: 1.5e21, p: -3 },
    { t: 'j', i: Number.NaN, q: 'a', c: Number.POSITIVE_INFINITY },
    { t: 'j', i: 5, q: 'c', d: new RawJson('"s"'), c: 6, tg: [{ nested: new RawJson('{"y":2}') }], ch: [] },
    { t: 'j', i: 6, q: 'a', c: 7, g: 'group', uk: 'u', cid: 'custom' },
    { t: 'j', q: 'a', i: 7, d: new RawJson('1'), c: 8 }, // another key order
    { t: 'j', i: 8, q: 'a', d: new RawJson('2'), c: 9, ma: 1, r: 10 },
    { t: 'j', i: 9, q: 'a', d: new RawJson('3') }, // no creation time
  ] as unknown as LogRecord[]
  for (const record of records) expect(recordJson(record)).toBe(stringifyJson(record))
  // The queue's text is reused across records, but never another queue's.
  expect(JSON.parse(recordJson(records[1] as LogRecord)).q).toBe('b')
  expect(JSON.parse(recordJson(records[2] as LogRecord)).q).toBe('a')
})

test('a PUSHB packs its runs of alike jobs into jb records and an ACKB its acks into one ab record, written as JSON.stringify writes them', () => {
  const jobs = [
    { data: { n: 1 } }, { data: 'two' }, { data: [3] }, // alike: one jb
    { data: 4, priority: 2 }, // differs: its own j
    { data: 5, max_attempts: 3, lifo: true }, { data: 6, max_attempts: 3, lifo: true }, // alike: one jb with their options
    { data: 7, tags: ['t'] }, { data: 8, tags: ['t'] }, // tags are not packed
  ]
  const records = recordsOf({ cmd: 'PUSHB', queue: 'pack-q', jobs })
  expect(records.map((record) => record.t)).toEqual(['jb', 'j', 'jb', 'j', 'j'])
  expect(records[0]).toMatchObject({ q: 'pack-q', c: 1_795_000_000_000, o: {}, i: [1, 2, 3] })
  expect(records[2]).toMatchObject({ o: { ma: 3, lf: 1 }, i: [5, 6] })
  for (const record of records) expect(recordJson(record)).toBe(JSON.stringify(record))
  expect(JSON.parse(recordJson(records[0] as LogRecord)).d).toEqual([{ n: 1 }, 'two', [3]])

  const acked = recordsOf(
    { cmd: 'PUSHB', queue: 'pack-q', jobs: [{ data: 1 }, { data: 2 }, { data: 3 }] },
    { cmd: 'PULLB', queue: 'pack-q', count: 3, timeout: 0 },
    { cmd: 'ACKB', ids: [1, 2, 99, 3] },
  )
  expect(acked.slice(1)).toEqual([{ t: 'ab', c: 1_795_000_000_000, i: [1, 2, 3] }])
})

test('a jb record stays far below the frame limit: a big batch is cut into several', () => {
  const payload = 'x'.repeat(100_000)
  const records = recordsOf({ cmd: 'PUSHB', queue: 'pack-q', jobs: Array.from({ length: 8 }, () => ({ data: payload })) })
  expect(records.length).toBeGreaterThan(1)
  expect(records.flatMap((record) => (record.t === 'jb' ? (record.i as number[]) : [record.i as number]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
  for (const record of records) expect(recordJson(record).length).toBeLessThan(400_000)
})

test('a PUSHB records its jobs as its items pushed one by one would be, packed: the same texts, plain jobs or not', () => {
  // Plain items (no option, or options at their default values) between items with options, runs
  // of one, a failed item inside a run, and a run cut by the payload limit.
  const big = 'y'.repeat(100_000)
  const items = [
    { data: 1 }, { data: { a: 'é' } }, { data: 2, priority: 0, delay: 0, max_attempts: 0, tags: [], lifo: false, ttl: 0 },
    { data: 3, priority: 1 }, { data: 4 }, { data: 5, debounce_id: 'd', debounce_ttl: 100 }, { data: 8, unique_key: 'u' },
    { data: 6 }, { data: 9, unique_key: 'u' }, { data: 7 }, { data: 10 }, { data: 11, depends_on: [1] }, { data: 12 },
    { data: big }, { data: big }, { data: big }, { data: 13 }, { data: 14, max_attempts: 2 }, { data: 15, max_attempts: 2 }, { data: 16 },
  ]
  const batch = recordsOf({ cmd: 'PUSHB', queue: 'q', jobs: items })
  const single = recordsOf(...items.map((item) => ({ cmd: 'PUSH', queue: 'q', ...item })))
  packPushRecords(single, 0)
  expect(batch.map(recordJson)).toEqual(single.map(recordJson))
  expect(batch.map((record) => `${record.t}:${record.i}`)).toEqual(['jb:1,2,3', 'j:4', 'j:5', 'j:6', 'j:7', 'jb:8,9,10', 'j:11', 'jb:12,13,14,15', 'j:16', 'jb:17,18', 'j:19'])
  // With queue defaults the items are not plain: they are packed as before.
  const engine = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: true })
  engine.setQueueDefaults('q', { max_attempts: 2 })
  const pushb = parseCommand({ cmd: 'PUSHB', queue: 'q', jobs: [{ data: 1 }, { data: 2 }] })
  if (!pushb.ok) throw new Error(pushb.error)
  engine.execute(pushb.command, 1, 1_795_000_000_000, 1000)
  expect(engine.drainOutput().records.at(-1)).toMatchObject({ t: 'jb', o: { ma: 2 }, i: [1, 2] })
})
