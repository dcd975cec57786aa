/**
 * The checkpoint's job records written as bytes (job-record-bytes.ts) are exactly the UTF-8 of the
 * text encodeJob gives, for every field and every kind of value: the log's `j` records and the
 * checkpoint's must stay one format (recovery parses both the same way).
 */
import { describe, expect, test } from 'bun:test'
import { stringifyJson } from '../protocol/raw-json.ts'
import { Job, LOC_ACTIVE, LOC_COMPLETED, LOC_DLQ, LOC_PARKED } from './job.ts'
import { JobRecordWriter } from './job-record-bytes.ts'
import { JobTable } from './job-table.ts'
import { arenaPayloadCharsMax } from './payload-arena.ts'
import { decodeJob, encodeJob } from './records.ts'

/** Strings JSON.stringify escapes or encodes in more than one byte. */
const trickyStrings = [
  'plain', '', 'quote " and backslash \\', 'control \u0000 \u0001 \b \f \n \r \t \u001f', 'line sep \u2028 para sep \u2029',
  'é ü 日本', 'emoji 😀 and 👩‍👩‍👧', 'lone high \ud800 end', 'lone low \udfff end', 'reversed pair \udc00\ud800',
  'delete \u007f and nbsp \u00a0', '\u0000flashq:raw-json\u0000',
]

/** What the log writes for the job, as bytes. */
function expected(job: Job): Buffer {
  return Buffer.from(stringifyJson(encodeJob(job)))
}

function written(job: Job): Buffer {
  return new JobRecordWriter().set(job).bytes()
}

/** Jobs in a table whose payloads are settled into its arena (long ones stay strings). */
function stored(jobs: Job[]): Job[] {
  const table = new JobTable(0, 1)
  for (const job of jobs) table.set(job.id, job)
  table.settlePayloads()
  return jobs
}

function jobWith(id: number, queue: string, data: unknown): Job {
  const job = new Job(id, queue)
  job.data = data
  job.createdAt = 1_700_000_000_000 + id
  job.runAt = job.createdAt
  return job
}

describe('a job record written as bytes equals the text of encodeJob', () => {
  test('payloads: in the arena, kept as a string (long), absent, null, tricky strings', () => {
    const payloads: unknown[] = [
      { n: 1, pad: 'x'.repeat(40) }, 0, -1.5, true, [1, [2, [3]]], 'x'.repeat(arenaPayloadCharsMax + 10), null, ...trickyStrings,
      { [trickyStrings[3] as string]: trickyStrings[6], list: trickyStrings },
    ]
    const jobs = stored(payloads.map((data, index) => jobWith(index + 1, 'q', data)))
    const absent = new Job(jobs.length + 1, 'q')
    absent.dataJson = undefined
    jobs.push(absent)
    expect(typeof (jobs[0] as Job).dataJson).toBe('number') // the arena's bytes are copied as they are
    expect(typeof (jobs[5] as Job).dataJson).toBe('string')
    for (const job of jobs) expect(written(job).toString()).toBe(expected(job).toString())
    for (const job of jobs) expect(written(job).equals(expected(job))).toBe(true)
  })

  test('queue names with tricky strings, one writer for many jobs and queues', () => {
    const writer = new JobRecordWriter()
    const jobs = stored(trickyStrings.flatMap((queue, index) => [jobWith(2 * index + 1, queue, { q: queue }), jobWith(2 * index + 2, queue, 1)]))
    for (const job of [...jobs, ...jobs.toReversed()]) expect(writer.set(job).bytes().equals(expected(job))).toBe(true)
  })

  test('numbers: negative, large, fractional, -0, and values JSON writes as null', () => {
    const values = [1, -1, 9, 10, 99, 100, -123_456, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 1e21, 0.5, -2.25, 1 / 3, -0, Number.NaN, Infinity, -Infinity]
    let id = 1
    for (const value of values) {
      for (const field of ['createdAt', 'runAt', 'priority', 'progress', 'ttl', 'timeout', 'backoff', 'completedAt', 'keepCompletedAge'] as const) {
        const job = jobWith(id++, 'q', null)
        ;(job as unknown as Record<string, number>)[field] = value
        expect(written(job).toString(), `${field} = ${value}`).toBe(expected(job).toString())
      }
    }
    // The id is a safe integer by construction; the largest one still has its digits.
    const big = jobWith(2 ** 53 - 1, 'q', null)
    expect(written(big).toString()).toBe(expected(big).toString())
  })

  test('every field a job record can hold, the rare string and list fields with tricky strings', () => {
    const record: Record<string, unknown> = {
      t: 'j', i: 77, q: 'queue "x"', d: null, c: 1000, r: 2000, p: -5, a: 2, ma: 9, b: 300, ttl: 60_000, to: 1500, hk: 1,
      pg: 42, lf: 1, rc: 1, rf: 1, hb: 3000, sto: 400, sc: 2, par: 12, cc: 3, kca: 5000, kcc: 10, ca: 4000, qn: 3, l: LOC_COMPLETED,
    }
    const direct = decodeJob(record)
    direct.data = { every: 'field' }
    direct.loc = LOC_COMPLETED // placed by replay, not by decodeJob
    direct.inHistory = false
    expect(written(direct).toString()).toBe(expected(direct).toString())
    expect(Object.keys(JSON.parse(written(direct).toString()))).toEqual(Object.keys(record).filter((key) => key !== 'nh').concat('nh'))
    for (const text of trickyStrings) {
      const rare = decodeJob({
        ...record, uk: text, dep: [1, 2], pd: [2], pm: text, tg: [text, 'b'], ch: [5, 6], cid: text, g: text, fr: text, qg: text,
      })
      rare.data = text
      rare.loc = LOC_DLQ
      expect(written(rare).equals(expected(rare))).toBe(true)
    }
  })

  test('each settable field of a Job, set alone, is written as encodeJob writes it (a new field cannot be missed)', () => {
    const accessors = Object.entries(Object.getOwnPropertyDescriptors(Object.getPrototypeOf(Job.prototype)))
      .filter(([name, descriptor]) => descriptor.set !== undefined && descriptor.get !== undefined && name !== 'data')
      .map(([name]) => name)
    const plain = Object.keys(new Job(1, 'q')).filter((name) => name !== 'home' && name !== 'times' && name !== 'dataJson')
    expect(accessors.length + plain.length).toBeGreaterThan(30)
    let id = 1
    for (const name of [...accessors, ...plain]) {
      const probe = new Job(1, 'q') as unknown as Record<string, unknown>
      const current = probe[name]
      const values: unknown[] = typeof current === 'number' ? [7, -3, 2.5]
        : typeof current === 'boolean' ? [!current]
        : Array.isArray(current) ? [[3, 4], ['a', trickyStrings[7]]]
        : typeof current === 'string' ? trickyStrings
        : current === null ? [9, trickyStrings[4]] : []
      expect(values.length, name).toBeGreaterThan(0)
      for (const value of values) {
        const job = jobWith(id++, 'q', { id })
        ;(job as unknown as Record<string, unknown>)[name] = value
        expect(written(job).toString(), `${name} = ${JSON.stringify(value)}`).toBe(expected(job).toString())
      }
    }
  })

  test('locations: active, parked, DLQ, completed out of history', () => {
    let id = 1
    for (const loc of [LOC_ACTIVE, LOC_PARKED, LOC_DLQ, LOC_COMPLETED]) {
      for (const inHistory of [true, false]) {
        const job = jobWith(id++, 'q', 'x')
        job.loc = loc
        job.inHistory = inHistory
        expect(written(job).toString()).toBe(expected(job).toString())
      }
    }
  })

  test('bytesMax bounds what is written, and writeTo writes at the offset given and nothing outside', () => {
    const jobs = stored([jobWith(1, 'q😀', { a: trickyStrings }), jobWith(2, 'q', 'y'.repeat(arenaPayloadCharsMax * 3))])
    const rare = jobWith(3, 'q', 1)
    rare.tags = trickyStrings
    for (const job of [...jobs, rare]) {
      const writer = new JobRecordWriter().set(job)
      const out = Buffer.alloc(writer.bytesMax() + 20, 0xee)
      const length = writer.writeTo(out, 10)
      expect(length).toBeLessThanOrEqual(writer.bytesMax())
      expect(out.subarray(10, 10 + length).equals(expected(job))).toBe(true)
      expect(out.subarray(0, 10).every((byte) => byte === 0xee)).toBe(true)
      expect(out.subarray(10 + length).every((byte) => byte === 0xee)).toBe(true)
    }
  })
})
