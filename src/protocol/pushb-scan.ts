/**
 * PUSHB lines read without JSON.parse. A PUSHB of 1000 jobs is ~125 KB of JSON; parsing it built a
 * thousand payload objects only for the engine to serialise each back to text (the form it keeps),
 * and the nesting check then walked them all. This reads the line once: it checks the syntax and the
 * nesting limit, builds each item's JobInput with the fast parser's own code (commands-fast.ts:
 * same checks, same defaults), and keeps each job's `data` as its text (a RawJson, taken as is by
 * the engine) when the text is already what JSON.stringify writes for it. Data in any other form
 * (whitespace, escapes JSON.stringify does not write, numbers it writes otherwise, repeated or
 * integer-like keys, which JSON.parse reorders) is parsed, as before.
 *
 * Anything else unusual — another command, unknown or repeated fields, escapes in field names,
 * invalid JSON, nesting past requestNestingDepthMax, a value the fast parser rejects, more than
 * pushBatchJobsMax jobs — returns null, and the caller parses the line as before, which also words
 * the error. So it never accepts what that path rejects, and what it accepts is what that path gives
 * (pushb-scan.test.ts checks both on random lines). A line that is not a PUSHB costs a few
 * characters: the scan stops at the first field that does not belong to one.
 */
import { pushBatchJobsMax, requestNestingDepthMax } from '../base/limits.ts'
import type { CommandOf, JobInput } from './commands.ts'
import { pushBatchItem } from './commands-fast.ts'
import { RawJson } from './raw-json.ts'
import { queueNameAscii } from './validate.ts'

/**
 * A PUSHB request already validated: the fields the front routes by (cmd, queue, reqId) and, in
 * `jobs`, the command's items (so the request still reads like the parsed line wherever it goes).
 */
export class PushBatchRequest {
  readonly cmd = 'PUSHB'
  constructor(
    readonly queue: string,
    readonly jobs: JobInput[],
    readonly reqId: string | number | undefined,
  ) {}

  get command(): CommandOf<'PUSHB'> {
    return { cmd: 'PUSHB', queue: this.queue, jobs: this.jobs }
  }
}

/** The PUSHB request `line` holds, or null when the line should be parsed the ordinary way. */
export function scanPushBatch(line: string): PushBatchRequest | null {
  text = line
  at = 0
  keyCount = 0
  plainStrings = !escapesOrControls.test(line)
  try {
    return scanRequest()
  } finally {
    text = '' // the line may be megabytes: not kept alive by this module
  }
}

// The scan's state, module-wide so the readers allocate nothing.
let text = ''
let at = 0
/**
 * True when the line has no backslash, control character or surrogate: every string in it then ends
 * at its next quote and is as JSON.stringify writes it (one native search instead of a loop per character).
 */
let plainStrings = false
const escapesOrControls = /[\u0000-\u001f\\\ud800-\udfff]/
/** Cleared while reading a data value that is valid JSON but not in JSON.stringify's form. */
let canonical = true

// Levels as validate.ts counts them: the request object is level 1, `jobs` 2, an item 3, its values 4.
const itemValueLevel = 4

const quote = 0x22
const backslash = 0x5c

function scanRequest(): PushBatchRequest | null {
  skipSpace()
  if (text.charCodeAt(at) !== 0x7b) return null
  at++
  skipSpace()
  let isPushBatch = false
  let queue: string | undefined
  let reqId: string | number | undefined
  let reqIdSeen = false
  let jobs: JobInput[] | null = null
  if (text.charCodeAt(at) === 0x7d) return null // {} is no PUSHB
  for (;;) {
    const key = fieldName()
    if (key === null) return null
    if (key === 'cmd') {
      if (isPushBatch || plainString() !== 'PUSHB') return null
      isPushBatch = true
    } else if (key === 'queue') {
      const name = queue === undefined ? plainString() : null
      if (name === null || !queueNameAscii.test(name)) return null // other names: zod words the error
      queue = name
    } else if (key === 'reqId') {
      if (reqIdSeen) return null
      reqIdSeen = true
      if (text.charCodeAt(at) === quote) {
        const id = plainString()
        if (id === null) return null
        reqId = id
      } else {
        const end = skipNumber(text, at)
        if (end < 0) return null
        reqId = JSON.parse(text.slice(at, end)) as number
        at = end
      }
    } else if (key === 'jobs') {
      // Only after `cmd`: a line of another command is never read to its end.
      if (!isPushBatch || jobs !== null) return null
      jobs = readJobs()
      if (jobs === null) return null
    } else {
      return null
    }
    skipSpace()
    const next = text.charCodeAt(at++)
    if (next === 0x7d) break
    if (next !== 0x2c) return null
    skipSpace()
  }
  skipSpace()
  if (at !== text.length || !isPushBatch || queue === undefined || jobs === null) return null
  return new PushBatchRequest(queue, jobs, reqId)
}

/** `"name"` then `:`, the name without escapes; null otherwise. */
function fieldName(): string | null {
  const name = plainString()
  if (name === null) return null
  skipSpace()
  if (text.charCodeAt(at) !== 0x3a) return null
  at++
  skipSpace()
  return name
}

/** A string without escapes or control characters, or null. */
function plainString(): string | null {
  if (text.charCodeAt(at) !== quote) return null
  const start = at + 1
  let end = start
  for (;;) {
    const c = text.charCodeAt(end)
    if (c === quote) break
    if (c === backslash || c < 0x20 || c !== c) return null // c !== c: NaN, the end of the text
    end++
  }
  at = end + 1
  return text.slice(start, end)
}

function readJobs(): JobInput[] | null {
  if (text.charCodeAt(at) !== 0x5b) return null
  at++
  skipSpace()
  const jobs: JobInput[] = []
  if (text.charCodeAt(at) === 0x5d) {
    at++
    return jobs
  }
  for (;;) {
    if (jobs.length === pushBatchJobsMax) return null // the ordinary path answers `Batch too large`
    const job = readItem()
    if (job === null) return null
    jobs.push(job)
    skipSpace()
    const next = text.charCodeAt(at++)
    if (next === 0x5d) return jobs
    if (next !== 0x2c) return null
    skipSpace()
  }
}

/** Bits of the item fields seen so far, by name: a repeated field (JSON.parse keeps the last) is unusual. */
const itemFieldBits = new Map<string, number>(
  ['data', 'priority', 'delay', 'ttl', 'timeout', 'max_attempts', 'backoff', 'unique_key', 'depends_on', 'tags', 'lifo',
    'remove_on_complete', 'remove_on_fail', 'stall_timeout', 'debounce_id', 'debounce_ttl', 'job_id', 'keep_completed_age',
    'keep_completed_count', 'group_id', 'jobId', 'keepCompletedAge', 'keepCompletedCount'].map((name, index) => [name, 2 ** index]),
)
const dataBit = 1
const dataFieldName = '"data":'

/** One `{…}` of `jobs`: its JobInput, or null. */
function readItem(): JobInput | null {
  if (text.charCodeAt(at) !== 0x7b) return null
  at++
  skipSpace()
  let data: unknown = null
  let options: Record<string, unknown> | null = null
  let seen = 0
  if (text.charCodeAt(at) === 0x7d) {
    at++
    return pushBatchItem({ data })
  }
  for (;;) {
    let key: string | null = 'data'
    if (text.startsWith(dataFieldName, at)) {
      at += dataFieldName.length // the usual item, `{"data":…}`: no name to cut out and look up
      skipSpace()
    } else {
      key = fieldName()
      if (key === null) return null
    }
    const bit = itemFieldBits.get(key)
    if (bit === undefined || (seen & bit) !== 0) return null
    seen |= bit
    const start = at
    canonical = true
    at = skipValue(text, start, itemValueLevel)
    if (at < 0) return null
    if (bit === dataBit) data = canonical ? dataOf(start, at) : JSON.parse(text.slice(start, at))
    else (options ??= {})[key] = JSON.parse(text.slice(start, at))
    skipSpace()
    const next = text.charCodeAt(at++)
    if (next === 0x7d) break
    if (next !== 0x2c) return null
    skipSpace()
  }
  if (options === null) return pushBatchItem({ data })
  options.data = data
  return pushBatchItem(options)
}

/** A data value in JSON.stringify's form: its text, which the engine keeps as the job's payload. */
function dataOf(start: number, end: number): unknown {
  if (end - start === 4 && text.startsWith('null', start)) return null
  return new RawJson(text.slice(start, end))
}

// ── One JSON value, checked and skipped: each reader takes the position of the value's first
// character and returns the position after it, or -1 when the text is not JSON. A value that is
// JSON but not as JSON.stringify writes it clears `canonical`. Positions are passed and returned
// rather than kept in `at`: the loops then run on locals (measured ~3× faster).

function skipValue(s: string, i: number, level: number): number {
  const c = s.charCodeAt(i)
  if (c === quote) return skipString(s, i)
  if (c === 0x7b) return skipObject(s, i, level)
  if (c === 0x5b) return skipArray(s, i, level)
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return skipNumber(s, i)
  if (c === 0x74) return s.startsWith('true', i) ? i + 4 : -1
  if (c === 0x66) return s.startsWith('false', i) ? i + 5 : -1
  if (c === 0x6e) return s.startsWith('null', i) ? i + 4 : -1
  return -1
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

/** Skips JSON's four whitespace characters. */
function skipSpace(): void {
  while (isSpace(text.charCodeAt(at))) at++
}

/** Whitespace between the tokens of a value: JSON.stringify writes none. */
function spaceInValue(s: string, i: number): number {
  if (!isSpace(s.charCodeAt(i))) return i
  canonical = false
  while (isSpace(s.charCodeAt(i))) i++
  return i
}

function skipArray(s: string, i: number, level: number): number {
  if (level > requestNestingDepthMax) return -1 // the ordinary path answers the nesting error
  i = spaceInValue(s, i + 1)
  if (s.charCodeAt(i) === 0x5d) return i + 1
  for (;;) {
    i = skipValue(s, i, level + 1)
    if (i < 0) return -1
    i = spaceInValue(s, i)
    const next = s.charCodeAt(i)
    if (next === 0x5d) return i + 1
    if (next !== 0x2c) return -1
    i = spaceInValue(s, i + 1)
  }
}

// The keys of the objects open in a data value, as [start, end) of their texts, quotes included.
const keyStarts: number[] = []
const keyEnds: number[] = []
let keyCount = 0
/** Objects with more keys are parsed instead of checked for repeated keys pair by pair. */
const keysCheckedMax = 32

function skipObject(s: string, i: number, level: number): number {
  if (level > requestNestingDepthMax) return -1
  i = spaceInValue(s, i + 1)
  if (s.charCodeAt(i) === 0x7d) return i + 1
  const base = keyCount
  for (;;) {
    if (s.charCodeAt(i) !== quote) return -1
    const keyStart = i
    i = skipString(s, i)
    if (i < 0) return -1
    if (canonical) noteKey(s, base, keyStart, i)
    i = spaceInValue(s, i)
    if (s.charCodeAt(i) !== 0x3a) return -1
    i = skipValue(s, spaceInValue(s, i + 1), level + 1)
    if (i < 0) return -1
    i = spaceInValue(s, i)
    const next = s.charCodeAt(i)
    if (next === 0x7d) break
    if (next !== 0x2c) return -1
    i = spaceInValue(s, i + 1)
  }
  keyCount = base
  return i + 1
}

/**
 * JSON.parse keeps the last of repeated keys and puts integer-like keys first, so the text of such
 * an object is not what JSON.stringify writes back. Canonical key texts are equal exactly when the
 * keys are, so comparing texts is enough.
 */
function noteKey(s: string, base: number, start: number, end: number): void {
  const first = s.charCodeAt(start + 1)
  if ((first >= 0x30 && first <= 0x39) || keyCount - base >= keysCheckedMax) {
    canonical = false
    return
  }
  const length = end - start
  for (let index = base; index < keyCount; index++) {
    const other = keyStarts[index] as number
    if ((keyEnds[index] as number) - other === length && s.startsWith(s.slice(start, end), other)) {
      canonical = false
      return
    }
  }
  keyStarts[keyCount] = start
  keyEnds[keyCount] = end
  keyCount++
}

/** A string (at its opening quote). JSON.stringify escapes only `"`, `\`, control characters and lone surrogates. */
function skipString(s: string, i: number): number {
  if (plainStrings) {
    const end = s.indexOf('"', i + 1)
    return end < 0 ? -1 : end + 1
  }
  i++
  for (;;) {
    const c = s.charCodeAt(i)
    if (c > quote && c !== backslash && c < 0xd800) {
      i++
    } else if (c === quote) {
      return i + 1
    } else if (c === backslash) {
      i = skipEscape(s, i)
      if (i < 0) return -1
    } else if (c >= 0xd800) {
      i = skipSurrogate(s, i, c)
    } else if (c === 0x20 || c === 0x21) {
      i++
    } else {
      return -1 // a raw control character, or the end of the text (NaN)
    }
  }
}

/** A surrogate pair stays as it is; a lone surrogate JSON.stringify writes as `\udxxx`. */
function skipSurrogate(s: string, i: number, c: number): number {
  if (c > 0xdfff) return i + 1
  const next = s.charCodeAt(i + 1)
  if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) return i + 2
  canonical = false
  return i + 1
}

/** The escapes JSON.stringify writes itself: these, and \u00xx (lower-case hex) for other control characters. */
const shortEscapes = new Set(['"', '\\', 'b', 'f', 'n', 'r', 't'].map((char) => char.charCodeAt(0)))
const shortEscapedCodes = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d])
const fourHexDigits = /^[0-9a-fA-F]{4}$/

function skipEscape(s: string, i: number): number {
  const kind = s.charCodeAt(i + 1)
  if (shortEscapes.has(kind)) return i + 2
  if (kind === 0x2f) { // \/ is valid JSON; JSON.stringify writes a plain /
    canonical = false
    return i + 2
  }
  if (kind !== 0x75) return -1
  const hex = s.slice(i + 2, i + 6)
  if (!fourHexDigits.test(hex)) return -1
  const code = Number.parseInt(hex, 16)
  if (code >= 0x20 || shortEscapedCodes.has(code) || hex !== hex.toLowerCase()) canonical = false
  return i + 6
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39
}

/** Significant digits that any decimal has exactly as a double (DBL_DIG). */
const exactDigitsMax = 15
/** Zeros after `0.` that JS still writes in fixed notation (0.000001; 1e-7 is written so). */
const fixedLeadingZerosMax = 5

/**
 * A number. A token without exponent, of at most 15 significant digits and without trailing zeros
 * in its fraction, is what JSON.stringify writes for its value: a double holds every such decimal
 * distinctly, so it is the shortest that reads back as the value, and JS writes such values in fixed
 * notation. Any other token is in that form exactly when String(Number(token)) gives it back
 * (-0, 1.0, 1e2 and 0.0000001 do not).
 */
function skipNumber(s: string, i: number): number {
  const start = i
  if (s.charCodeAt(i) === 0x2d) i++
  const lead = s.charCodeAt(i)
  const intStart = i
  if (lead === 0x30) i++
  else if (lead >= 0x31 && lead <= 0x39) while (isDigit(s.charCodeAt(++i)));
  else return -1
  let digits = lead === 0x30 ? 0 : i - intStart
  let plain = true
  if (s.charCodeAt(i) === 0x2e) {
    const fracStart = i + 1
    if (!isDigit(s.charCodeAt(fracStart))) return -1
    i = fracStart
    while (isDigit(s.charCodeAt(++i)));
    let leadingZeros = 0
    if (digits === 0) while (s.charCodeAt(fracStart + leadingZeros) === 0x30) leadingZeros++
    digits += i - fracStart - leadingZeros
    plain = leadingZeros <= fixedLeadingZerosMax && s.charCodeAt(i - 1) !== 0x30
  }
  const e = s.charCodeAt(i)
  if (e === 0x65 || e === 0x45) {
    plain = false
    const sign = s.charCodeAt(++i)
    if (sign === 0x2b || sign === 0x2d) i++
    if (!isDigit(s.charCodeAt(i))) return -1
    while (isDigit(s.charCodeAt(++i)));
  }
  const negativeZero = lead === 0x30 && digits === 0 && start !== intStart
  if (canonical && (!plain || digits > exactDigitsMax || negativeZero)) {
    const token = s.slice(start, i)
    if (String(Number(token)) !== token) canonical = false
  }
  return i
}
