/**
 * The PUSHB scanner against the ordinary path (JSON.parse, the nesting walk, parseCommand) on random
 * lines: wherever it accepts, the command is the one that path gives, and each payload kept as text
 * is exactly what JSON.stringify writes for the parsed value; wherever that path rejects, the scanner
 * declines too (so the error comes from that path).
 */
import { describe, expect, test } from 'bun:test'
import { requestNestingDepthMax } from '../base/limits.ts'
import { prng, seedFromEnv } from '../base/prng.ts'
import { type JobInput, parseCommand } from './commands.ts'
import { PushBatchRequest, scanPushBatch } from './pushb-scan.ts'
import { RawJson } from './raw-json.ts'
import { nestingProblem } from './validate.ts'

type Ordinary = { ok: true; command: { cmd: 'PUSHB'; queue: string; jobs: JobInput[] }; reqId: unknown } | { ok: false }

/** What the TCP front and the shard host did with a line before the scanner. */
function ordinary(line: string): Ordinary {
  let request: unknown
  try {
    request = JSON.parse(line)
  } catch {
    return { ok: false }
  }
  if (nestingProblem(request) !== null) return { ok: false }
  const parsed = parseCommand(request, { internal: true })
  if (!parsed.ok || parsed.command.cmd !== 'PUSHB') return { ok: false }
  return { ok: true, command: parsed.command as Extract<Ordinary, { ok: true }>['command'], reqId: (request as { reqId?: unknown }).reqId }
}

/** The scanned jobs with each RawJson checked against JSON.stringify and replaced by its value. */
function plainJobs(jobs: JobInput[]): { jobs: JobInput[]; raw: number } {
  let raw = 0
  const plain = jobs.map((job) => {
    if (!(job.data instanceof RawJson)) return job
    raw++
    const value: unknown = JSON.parse(job.data.text)
    expect(job.data.text).toBe(JSON.stringify(value))
    return { ...job, data: value }
  })
  return { jobs: plain, raw }
}

/** Checks one line; returns whether the scanner took it and how many payloads it kept as text. */
function agree(line: string): { scanned: boolean; raw: number } {
  const expected = ordinary(line)
  const scanned = scanPushBatch(line)
  if (scanned === null) return { scanned: false, raw: 0 }
  if (!expected.ok) throw new Error(`the scanner accepted a line the ordinary path rejects: ${line.slice(0, 300)}`)
  expect(scanned).toBeInstanceOf(PushBatchRequest)
  expect(scanned.reqId).toEqual(expected.reqId as string | number | undefined)
  const { jobs, raw } = plainJobs(scanned.command.jobs)
  expect({ ...scanned.command, jobs }).toEqual(expected.command)
  return { scanned: true, raw }
}

const seed = seedFromEnv()
const random = prng(seed)

// ── Random JSON text, mostly in JSON.stringify's form, sometimes not (and sometimes not JSON at all).

const numbers = ['0', '-0', '1', '-17', '123456789012345', '1234567890123456789', '1.5', '0.1', '1.0', '1e2', '1E+2', '-2.5e-7',
  '0.000001', '0.0000001', '1e21', '1e400', '12.30', '00', '01', '1.', '.5', '-', '+1', '1e', '3.14159265358979', String(Math.PI)]
const strings = ['""', '"x"', '"é😀"', '"a\\"b"', '"\\\\"', '"\\n\\t\\r\\b\\f"', '"\\u0001"', '"\\u001F"', '"\\u0041"', '"\\/"', '"\\ud800"',
  '"\\uD834\\uDD1E"', '"\ud800x"', '"\u2028"', '"tab\there"', '"bad\\x"', '"\\u12"', '"open', '"\u007f"']
const keys = ['"a"', '"b"', '"name"', '"1"', '"01"', '"1a"', '"__proto__"', '"é"', '"a\\"k"', '"\\u0061"', '""']
const spaces = ['', '', '', '', '', ' ', '\n', '\t ', '\r']

function space(): string {
  return random.next() < 0.9 ? '' : random.pick(spaces)
}

function jsonText(depth: number): string {
  const roll = random.next()
  if (depth > 3 || roll < 0.45) {
    const kind = random.int(4)
    if (kind === 0) return random.pick(numbers)
    if (kind === 1) return random.pick(strings)
    if (kind === 2) return random.pick(['true', 'false', 'null', 'nul', 'True'])
    return JSON.stringify(random.next() * 1e6)
  }
  if (roll < 0.7) return `[${space()}${Array.from({ length: random.int(4) }, () => jsonText(depth + 1)).join(`${space()},${space()}`)}${space()}]`
  const members = Array.from({ length: random.int(5) }, () => `${random.pick(keys)}${space()}:${space()}${jsonText(depth + 1)}`)
  return `{${space()}${members.join(`${space()},${space()}`)}${space()}}`
}

const optionTexts: Record<string, string[]> = {
  priority: ['0', '5', '-3', '2147483648', '1.5', '"1"', 'null'],
  delay: ['0', '1000', '-1', 'null', '1.5'],
  max_attempts: ['3', '4294967296', 'null'],
  lifo: ['true', 'false', 'null', '1'],
  tags: ['["a","b"]', '[]', '[1]', 'null', '["\\u0061"]'],
  depends_on: ['[1,2]', '[-1]', 'null'],
  job_id: ['"id-1"', '"x\\ny"', '7', 'null'],
  jobId: ['"alias"', 'null'],
  keepCompletedAge: ['10', 'null'],
  debounce_ttl: ['100', 'null'],
  unknown_field: ['1'],
}

function itemText(): string {
  const members: string[] = []
  if (random.next() < 0.9) members.push(`"data"${space()}:${space()}${random.next() < 0.5 ? sdkData() : jsonText(0)}`)
  for (const [field, values] of Object.entries(optionTexts)) if (random.next() < 0.06) members.push(`"${field}":${random.pick(values)}`)
  if (random.next() < 0.02) members.push(members[0] ?? '"data":1') // a repeated field
  const shuffled = random.next() < 0.3 ? members.reverse() : members
  if (random.next() < 0.01) return random.pick(['1', '[]', 'null', '"job"'])
  return `{${space()}${shuffled.join(`${space()},${space()}`)}${space()}}`
}

/** What the SDK's addBulk sends for the benchmark's payloads. */
function sdkData(): string {
  return JSON.stringify({ name: 'job', t: performance.now() + random.next(), pad: 'x'.repeat(random.int(80)) })
}

function lineText(): string {
  const jobs = `[${Array.from({ length: random.int(6) }, itemText).join(',')}]`
  const fields = [
    `"cmd":${random.next() < 0.95 ? '"PUSHB"' : random.pick(['"PUSH"', '"pushb"', '1', '"PUSH\\u0042"'])}`,
    `"queue":${random.next() < 0.95 ? random.pick(['"q"', '"emails.high_2-x"']) : random.pick(['"ünï"', '""', '"a b"', '7', `"${'q'.repeat(257)}"`])}`,
    `"jobs":${random.next() < 0.97 ? jobs : random.pick(['{}', 'null', '[1]'])}`,
  ]
  if (random.next() < 0.7) fields.push(`"reqId":${random.next() < 0.9 ? random.pick(['"r-1"', '42']) : random.pick(['"a\\"b"', 'null', '1.5', '{}'])}`)
  if (random.next() < 0.03) fields.push('"extra":1')
  if (random.next() < 0.02) fields.push('"cmd":"PUSHB"')
  if (random.next() < 0.1) fields.reverse()
  const line = `${space()}{${space()}${fields.join(`${space()},${space()}`)}${space()}}${space()}`
  if (random.next() < 0.03) return line.slice(0, random.int(line.length)) // cut short
  return line
}

describe('scanPushBatch agrees with JSON.parse + parseCommand', () => {
  test(`random lines (seed ${seed})`, () => {
    console.log(`pushb-scan agreement seed=${seed}`)
    let scanned = 0
    let raw = 0
    let ordinaryOk = 0
    for (let round = 0; round < 6000; round++) {
      const line = lineText()
      if (ordinary(line).ok) ordinaryOk++
      const result = agree(line)
      if (result.scanned) scanned++
      raw += result.raw
    }
    // Most valid lines take the scanner, and most of their payloads stay text.
    expect(scanned).toBeGreaterThan(ordinaryOk * 0.5)
    expect(raw).toBeGreaterThan(scanned)
  })

  test('what the SDK sends is scanned, every payload kept as text', () => {
    const jobs = Array.from({ length: 1000 }, () => ({ data: JSON.parse(sdkData()) }))
    const line = JSON.stringify({ cmd: 'PUSHB', queue: 'w2', jobs, reqId: 'abc-1' })
    expect(agree(line)).toEqual({ scanned: true, raw: 1000 })
  })

  test('declines what the ordinary path words an error for', () => {
    const items = (count: number) => JSON.stringify(Array.from({ length: count }, () => ({ data: 1 })))
    expect(scanPushBatch(`{"cmd":"PUSHB","queue":"q","jobs":${items(1001)}}`)).toBeNull() // Batch too large
    expect(scanPushBatch(`{"cmd":"PUSHB","queue":"q","jobs":${items(1000)}}`)).not.toBeNull()
    expect(scanPushBatch('{"cmd":"PUSHB","queue":"bad name","jobs":[]}')).toBeNull()
    expect(scanPushBatch('{"cmd":"PUSHB","queue":"q","jobs":[{"data":1,"priority":1.5}]}')).toBeNull()
    expect(scanPushBatch('{"cmd":"PUSHB","queue":"q","jobs":[{"data":[1,}]}')).toBeNull()
    expect(scanPushBatch('{"cmd":"PUSHB","queue":"q"}')).toBeNull()
    expect(scanPushBatch('{"cmd":"PUSH","queue":"q","data":1}')).toBeNull()
  })

  test('the nesting limit: the deepest allowed data is scanned, one level more is declined', () => {
    const nested = (levels: number) => '['.repeat(levels) + ']'.repeat(levels)
    // The request is level 1, jobs 2, the item 3: data may open levels 4…requestNestingDepthMax.
    const allowed = requestNestingDepthMax - 3
    const fits = `{"cmd":"PUSHB","queue":"q","jobs":[{"data":${nested(allowed)}}]}`
    const tooDeep = `{"cmd":"PUSHB","queue":"q","jobs":[{"data":${nested(allowed + 1)}}]}`
    expect(ordinary(fits).ok).toBe(true)
    expect(agree(fits)).toEqual({ scanned: true, raw: 1 })
    expect(ordinary(tooDeep).ok).toBe(false)
    expect(scanPushBatch(tooDeep)).toBeNull()
  })

  test('payloads not in JSON.stringify form are parsed, not kept as sent', () => {
    const cases = ['{"a":1,"a":2}', '{"b":1,"1":2}', '{ "a":1}', '1.0', '-0', '"\\u0041"', '"\\/"', '1e2', '"\\ud800"']
    for (const data of cases) {
      const scanned = scanPushBatch(`{"cmd":"PUSHB","queue":"q","jobs":[{"data":${data}}]}`)
      expect(scanned).not.toBeNull()
      const job = (scanned as PushBatchRequest).jobs[0] as JobInput
      expect(job.data instanceof RawJson).toBe(false)
      expect(job.data).toEqual(JSON.parse(data))
    }
    const kept = scanPushBatch('{"cmd":"PUSHB","queue":"q","jobs":[{"data":{"a":[1,"\\n\\u0001é"],"b":null,"c":-2.5e-7}}]}')
    expect(((kept as PushBatchRequest).jobs[0] as JobInput).data).toEqual(new RawJson('{"a":[1,"\\n\\u0001é"],"b":null,"c":-2.5e-7}'))
  })
})
