/** recordJson (records.ts) writes a record's log text: the same text stringifyJson writes, fast for plain job records. */
import { expect, test } from 'bun:test'
import { stringifyJson } from '../protocol/raw-json.ts'
import { Engine } from './engine.ts'
import { parseCommand } from '../protocol/commands.ts'
import { recordJson } from './records.ts'
import type { LogRecord } from './types.ts'

function recordsOf(request: Record<string, unknown>): LogRecord[] {
  const engine = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: true })
  const parsed = parseCommand(request)
  if (!parsed.ok) throw new Error(parsed.error)
  engine.execute(parsed.command, 1, 1_795_000_000_000, 1000)
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
  const records = recordsOf({ cmd: 'PUSHB', queue: 'queue-ü.1', jobs: items })
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
