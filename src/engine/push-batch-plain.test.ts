/**
 * A PUSHB's plain items take their own path (handlers-core.ts pushPlainJob, records.ts PlainPushRun).
 * Differential: the same items pushed as one PUSHB and as PUSHes one by one must give the same ids,
 * errors, events, log record texts (the one-by-one records packed as a PUSHB packs them), jobs as
 * GETJOB and PULL return them, and the same jobs again after each log is replayed.
 */
import { expect, test } from 'bun:test'
import { jobDataBytesMax } from '../base/limits.ts'
import { parseCommand } from '../protocol/commands.ts'
import { stringifyJson } from '../protocol/raw-json.ts'
import { Engine } from './engine.ts'
import { packPushRecords, recordJson } from './records.ts'
import { replayed } from './test-helpers.ts'
import type { LogRecord } from './types.ts'

const nowMs = 1_795_000_000_000
const queue = 'queue-ü.1'

const unicode = { s: 'é 日本 🎉 \u2028 "quoted" \\ \n tab\t', 'ключ': ['ü', '\u0000'] }
const nested = { a: { b: { c: [1, [2, { d: null, e: [true, false, { f: 'deep' }] }]] } } }

/** Plain items (no option, or options at their defaults) among items with options and items that are refused. */
const items: Array<Record<string, unknown>> = [
  { data: { name: 'job', t: 1.5, pad: 'x'.repeat(48) } },
  { data: unicode },
  { data: nested },
  { data: 12345678901234567890 },
  { data: { big: 1e300, small: -1e-300, neg: -0, int: 9007199254740993 } },
  { data: null }, { data: 'text' }, { data: [] }, { data: true }, {},
  { data: 2, priority: 0, delay: 0, max_attempts: 0, backoff: 0, ttl: 0, timeout: 0, tags: [], lifo: false, remove_on_complete: false, stall_timeout: 0, keep_completed_age: 0, depends_on: [] },
  { data: 3, priority: 5 },
  { data: { after: 'a job with an option' } },
  { data: 4, delay: 1000, max_attempts: 3, backoff: 10, ttl: 5000, timeout: 100, lifo: true, remove_on_complete: true, remove_on_fail: true },
  { data: 5, unique_key: 'u', tags: ['a', 'b'], group_id: 'g', keep_completed_count: 3, keep_completed_age: 60, stall_timeout: 30 },
  { data: 6, unique_key: 'u' }, // refused: the key is held
  { data: 7 },
  { data: 8, debounce_id: 'd', debounce_ttl: 100 },
  { data: 9, debounce_id: 'd', debounce_ttl: 100 }, // refused: debounced
  { data: 10, job_id: 'custom-é' },
  { data: 11, job_id: 'custom-é' }, // the existing job's id, and a `duplicated` event
  { data: 12, depends_on: [1] },
  { data: 13, group_id: 'g' }, { data: 14, group_id: 'g' },
  { data: 15 }, { data: 16 },
  { data: 'y'.repeat(150_000) }, { data: 'z'.repeat(150_000) }, { data: 17 }, // a run cut by the payload limit
  { data: 18, max_attempts: 2 }, { data: 19, max_attempts: 2 }, { data: 20 },
  // The SDK's addBulk items: max_attempts 1 on each. Runs end where max_attempts changes.
  { data: { name: 'job', t: 1 }, max_attempts: 1 }, { data: { name: 'job', t: 2 }, max_attempts: 1 }, { data: 21, max_attempts: 1 },
  { data: 22, max_attempts: 4294967295 }, { data: 23, max_attempts: 4294967295 }, { data: 24, max_attempts: 0 }, { data: 25 },
  { data: 26, max_attempts: 1 }, { data: 27, max_attempts: 3, priority: 1 }, { data: 28, max_attempts: 3 },
]

type Outcome = { ids: number[]; errors: Array<{ index: number; error: string }>; events: string; records: string[]; engine: Engine }

function engineFor(defaults: boolean, jobsMax?: number): Engine {
  const engine = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: true })
  if (defaults) engine.setQueueDefaults(queue, { max_attempts: 2 })
  if (jobsMax !== undefined) engine.core.jobsMax = jobsMax
  engine.drainOutput()
  return engine
}

function run(engine: Engine, request: Record<string, unknown>, requestBytes: number) {
  const parsed = parseCommand(request)
  if (!parsed.ok) throw new Error(parsed.error)
  engine.execute(parsed.command, 1, nowMs, requestBytes)
  const out = engine.drainOutput()
  return { reply: JSON.parse(stringifyJson(out.replies[0]?.[1])), records: [...out.records], events: JSON.parse(stringifyJson(out.events)) as unknown[] }
}

function asBatch(defaults: boolean, requestBytes: number, jobsMax?: number): Outcome {
  const engine = engineFor(defaults, jobsMax)
  const { reply, records, events } = run(engine, { cmd: 'PUSHB', queue, jobs: items }, requestBytes)
  return { ids: reply.ids, errors: reply.errors, events: JSON.stringify(events), records: records.map(recordJson), engine }
}

function oneByOne(defaults: boolean, requestBytes: number, jobsMax?: number): Outcome {
  const engine = engineFor(defaults, jobsMax)
  const ids: number[] = []
  const errors: Array<{ index: number; error: string }> = []
  const records: LogRecord[] = []
  const events: unknown[] = []
  items.forEach((item, index) => {
    const out = run(engine, { cmd: 'PUSH', queue, data: null, ...item }, requestBytes)
    if (out.reply.ok) ids.push(out.reply.id)
    else errors.push({ index, error: out.reply.error })
    records.push(...out.records)
    events.push(...out.events)
  })
  packPushRecords(records, 0)
  return { ids, errors, events: JSON.stringify(events), records: records.map(recordJson), engine }
}

/** Every job as GETJOB returns it, then as PULLs hand them out (in order). */
function jobsOf(engine: Engine, ids: number[]): unknown[] {
  const seen: unknown[] = []
  for (const id of ids) seen.push(run(engine, { cmd: 'GETJOB', id }, 100).reply)
  for (;;) {
    const { job } = run(engine, { cmd: 'PULL', queue, timeout: 0 }, 100).reply
    if (job === null) return seen
    seen.push(job)
  }
}

for (const defaults of [false, true]) {
  for (const requestBytes of [100, jobDataBytesMax + 1]) {
    test(`a PUSHB records, answers and stores what its items pushed one by one do (queue defaults: ${defaults}, request of ${requestBytes} bytes)`, () => {
      const batch = asBatch(defaults, requestBytes)
      const single = oneByOne(defaults, requestBytes)
      expect(batch.errors.map((failure) => failure.index)).toEqual([15, 18])
      expect(batch.ids).toEqual(single.ids)
      expect(batch.errors).toEqual(single.errors)
      expect(batch.events).toBe(single.events)
      expect(batch.records).toEqual(single.records)
      if (!defaults) {
        // Packed: the plain runs, the group's two alike jobs, the run cut by the payload limit (26 alone), runs of one max_attempts.
        const packed = batch.records.map((text) => JSON.parse(text) as { t: string; i: number | number[] })
        expect(packed.filter((record) => record.t === 'jb').map((record) => record.i)).toEqual([
          [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [20, 21], [22, 23, 24, 25], [27, 28], [30, 31, 32], [33, 34], [35, 36],
        ])
      }
      const records = batch.records.map((text) => JSON.parse(text) as LogRecord)
      const jobs = jobsOf(batch.engine, batch.ids)
      expect(jobs).toEqual(jobsOf(single.engine, single.ids))
      // After a restart (the log replayed) the jobs are the same again, data byte for byte.
      const restarted = replayed(records, nowMs)
      const again = jobsOf(restarted, batch.ids)
      expect(JSON.stringify(again)).toBe(JSON.stringify(jobs))
      expect(JSON.stringify(jobs)).toContain(JSON.stringify(unicode))
      expect(JSON.stringify(jobs)).toContain(JSON.stringify(nested))
    })
  }
}

test('a PUSHB that meets the shard job limit refuses the same items as PUSHes one by one, and records the same', () => {
  const batch = asBatch(false, 100, 20)
  const single = oneByOne(false, 100, 20)
  expect(new Set(batch.ids).size).toBe(20) // and the custom id's duplicate, answered with the existing id
  expect(batch.errors.length).toBeGreaterThan(items.length - 23)
  expect(batch.ids).toEqual(single.ids)
  expect(batch.errors).toEqual(single.errors)
  expect(batch.events).toBe(single.events)
  expect(batch.records).toEqual(single.records)
})
