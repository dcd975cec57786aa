/**
 * The MessagePack transport (spec §1.4): u32 big-endian length N, then N bytes holding one msgpack map.
 *
 * Owns: frame reassembly for one connection, request decoding with the protocol's restrictions, and
 * reply encoding. Does not own: command validation (commands.ts).
 *
 * Decoding uses msgpackr with explicit options:
 *   - useRecords: false — msgpackr's record extension would otherwise read the fixints 0x40–0x7f as
 *     record references; flashQ clients send plain maps.
 *   - mapsAsObjects: true — maps become plain objects, the shape JSON.parse gives, so one schema
 *     serves both transports. (msgpackr turns a non-string key into its string form; we accept that.)
 *   - int64AsType: 'number' — uint64/int64 become numbers (never bigint); ids stay below 2^53, and a
 *     larger value fails the schema's safe-integer check.
 * msgpackr decodes `bin` to Uint8Array and extensions to Date, Set, undefined, … — none has a JSON
 * equivalent, so a walk over the decoded value rejects them (`MessagePack deserialize error`). The
 * same walk refuses non-finite numbers (NaN, ±Infinity: the request is forwarded as JSON, where they
 * would turn into null, i.e. absent) and nesting deeper than requestNestingDepthMax.
 * It works without its native addon (absent in `bun build --compile` binaries); tests run both ways.
 *
 * Encoding is hand-written (encodeMsgpackValue below) because msgpackr writes integers beyond 32 bits
 * (timestamps, large ids) as float64, and §1.4 requires integers to be ints.
 */
import { Unpackr } from 'msgpackr'
import { requestNestingDepthMax } from '../base/limits.ts'
import { clientErrorText, invalid, msgpackDeserialize } from './errors.ts'
import { requestIdOf } from './commands.ts'
import { nestingTooDeep } from './validate.ts'

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

export const frameLengthPrefixBytes = 4

// ---------------------------------------------------------------------------------------------------
// Frame reassembly

export class MsgpackFrameDecoder {
  readonly #header = new Uint8Array(frameLengthPrefixBytes)
  #headerFill = 0
  /** Body being filled across chunks; null between frames. */
  #body: Uint8Array | null = null
  #bodyFill = 0
  #overflowed = false

  constructor(readonly frameBytesMax: number) {}

  /**
   * True once a header announced more than frameBytesMax bytes. The frames returned before it are
   * valid; the caller answers them, sends one `Message too large` frame and closes (the stream
   * cannot be resynchronised). Later pushes return nothing.
   */
  get overflowed(): boolean {
    return this.#overflowed
  }

  /**
   * Returns the complete frame bodies in order. A frame with N = 0 comes out as an empty body, which
   * decodeMsgpackRequest answers with an error while the connection stays open.
   *
   * The bodies may be views into `chunk`: consume them before the chunk's buffer is reused (the end of
   * the socket's data callback), or copy them with `.slice()`.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = []
    let offset = 0
    while (offset < chunk.length && !this.#overflowed) {
      offset = this.#body === null ? this.#readHeader(chunk, offset, frames) : this.#fillBody(chunk, offset, frames)
    }
    return frames
  }

  #readHeader(chunk: Uint8Array, offset: number, frames: Uint8Array[]): number {
    let length: number
    if (this.#headerFill === 0 && chunk.length - offset >= frameLengthPrefixBytes) {
      length = readU32(chunk, offset)
      offset += frameLengthPrefixBytes
    } else {
      while (this.#headerFill < frameLengthPrefixBytes && offset < chunk.length) this.#header[this.#headerFill++] = chunk[offset++] as number
      if (this.#headerFill < frameLengthPrefixBytes) return offset
      this.#headerFill = 0
      length = readU32(this.#header, 0)
    }
    if (length > this.frameBytesMax) {
      this.#overflowed = true
      return chunk.length
    }
    if (chunk.length - offset >= length) {
      frames.push(chunk.subarray(offset, offset + length)) // whole body in this chunk: no copy
      return offset + length
    }
    this.#body = new Uint8Array(length)
    this.#bodyFill = 0
    return this.#fillBody(chunk, offset, frames)
  }

  #fillBody(chunk: Uint8Array, offset: number, frames: Uint8Array[]): number {
    const body = this.#body as Uint8Array
    const take = Math.min(body.length - this.#bodyFill, chunk.length - offset)
    body.set(chunk.subarray(offset, offset + take), this.#bodyFill)
    this.#bodyFill += take
    if (this.#bodyFill === body.length) {
      frames.push(body)
      this.#body = null
    }
    return offset + take
  }
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset] as number) * 0x1000000 +
    (((bytes[offset + 1] as number) << 16) | ((bytes[offset + 2] as number) << 8) | (bytes[offset + 3] as number))
  )
}

// ---------------------------------------------------------------------------------------------------
// Request decoding

export type MsgpackRequest =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; error: string; reqId?: string }

/** Decodes one frame body into a request map. Never throws. */
export function decodeMsgpackRequest(body: Uint8Array): MsgpackRequest {
  if (body.length === 0) return { ok: false, error: msgpackDeserialize('empty frame') }
  let value: unknown
  try {
    value = unpackr.unpack(body)
  } catch (error) {
    // msgpackr decodes recursively: only nesting far past the limit overflows the stack.
    if (error instanceof RangeError) return { ok: false, error: invalid(nestingTooDeep()) }
    return { ok: false, error: msgpackDeserialize(clientErrorText(error instanceof Error ? error.message : String(error))) }
  }
  if (!isPlainObject(value)) {
    const problem = jsonCompatibleProblem(value, requestNestingDepthMax)
    const error = problem === null ? invalid('request must be a map with string keys') : problemText(problem)
    return { ok: false, error }
  }
  const problem = jsonCompatibleProblem(value, requestNestingDepthMax)
  if (problem !== null) {
    const reqId = requestIdOf(value)
    const error = problemText(problem)
    return reqId === undefined ? { ok: false, error } : { ok: false, error, reqId }
  }
  return { ok: true, value }
}

/**
 * Why a decoded value is not a JSON-like request. `path` (the keys down to a non-finite number) is
 * built on the way back up, so a valid request costs nothing extra.
 */
type Problem = { kind: 'type'; detail: string } | { kind: 'nesting' } | { kind: 'nonFinite'; path: Array<string | number> }

function problemText(problem: Problem): string {
  switch (problem.kind) {
    case 'type': return msgpackDeserialize(problem.detail)
    case 'nesting': return invalid(nestingTooDeep())
    case 'nonFinite': return invalid(`field '${fieldPath(problem.path)}' must be a finite number`)
  }
}

function fieldPath(path: Array<string | number>): string {
  let text = ''
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : text === '' ? key : `.${key}`
  return text === '' ? '(request)' : text
}

const nesting: Problem = { kind: 'nesting' }
const binary: Problem = { kind: 'type', detail: 'binary (bin) values are not supported' }
const extension: Problem = { kind: 'type', detail: 'extension types are not supported' }

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

/**
 * Null when `value` is JSON-like, finite and nests at most `levelsLeft` levels; otherwise why not
 * (bin, an extension type, NaN, too deep, …).
 */
function jsonCompatibleProblem(value: unknown, levelsLeft: number): Problem | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null
    case 'number':
      return Number.isFinite(value) ? null : { kind: 'nonFinite', path: [] }
    case 'undefined':
      // msgpackr's default encoder writes `undefined` as the extension d4 00 00 instead of nil. A
      // client packing `{ delay: undefined }` means "absent", so it counts as nil (spec §1.4).
      return null
    case 'object':
      if (value === null) return null
      if (levelsLeft === 0) return nesting
      if (Array.isArray(value)) return arrayProblem(value, levelsLeft - 1)
      if (isPlainObject(value)) return objectProblem(value, levelsLeft - 1)
      if (value instanceof Uint8Array) return binary
      return extension
    default:
      return extension
  }
}

function arrayProblem(items: unknown[], levelsLeft: number): Problem | null {
  for (let index = 0; index < items.length; index++) {
    const problem = jsonCompatibleProblem(items[index], levelsLeft)
    if (problem !== null) return problem.kind === 'nonFinite' ? { kind: 'nonFinite', path: [index, ...problem.path] } : problem
  }
  return null
}

function objectProblem(fields: Record<string, unknown>, levelsLeft: number): Problem | null {
  for (const key in fields) {
    const problem = jsonCompatibleProblem(fields[key], levelsLeft)
    if (problem !== null) return problem.kind === 'nonFinite' ? { kind: 'nonFinite', path: [key, ...problem.path] } : problem
  }
  return null
}

// ---------------------------------------------------------------------------------------------------
// Reply encoding

const textEncoder = new TextEncoder()

/** Growable output buffer for one encode call. */
class Writer {
  bytes = new Uint8Array(256)
  view = new DataView(this.bytes.buffer)
  position = 0

  ensure(extraBytes: number): void {
    const needed = this.position + extraBytes
    if (needed <= this.bytes.length) return
    const grown = new Uint8Array(Math.max(needed, this.bytes.length * 2))
    grown.set(this.bytes.subarray(0, this.position))
    this.bytes = grown
    this.view = new DataView(grown.buffer)
  }

  byte(value: number): void {
    this.ensure(1)
    this.bytes[this.position++] = value
  }
}

/**
 * Encodes a reply as one frame: 4-byte big-endian length, then a msgpack map. Follows JSON.stringify:
 * undefined properties are omitted, undefined array items and non-finite numbers become nil.
 */
export function encodeMsgpackFrame(value: unknown): Uint8Array {
  const writer = new Writer()
  writer.position = frameLengthPrefixBytes
  writeValue(writer, value)
  const bodyBytes = writer.position - frameLengthPrefixBytes
  writer.view.setUint32(0, bodyBytes)
  return writer.bytes.subarray(0, writer.position)
}

function writeValue(writer: Writer, value: unknown): void {
  switch (typeof value) {
    case 'string':
      return writeString(writer, value)
    case 'number':
      return writeNumber(writer, value)
    case 'boolean':
      return writer.byte(value ? 0xc3 : 0xc2)
    case 'object':
      if (value === null) return writer.byte(0xc0)
      if (Array.isArray(value)) return writeArray(writer, value)
      return writeMap(writer, value as Record<string, unknown>)
    case 'bigint':
      return writeNumber(writer, Number(value))
    default:
      return writer.byte(0xc0) // undefined, functions, symbols: nil, as JSON.stringify writes null
  }
}

function writeNumber(writer: Writer, value: number): void {
  if (!Number.isFinite(value)) return writer.byte(0xc0)
  // Integers outside the int64/uint64 ranges have no msgpack int form: float64, like any non-integer.
  if (!Number.isInteger(value) || value >= 2 ** 64 || value < -(2 ** 63)) {
    writer.ensure(9)
    writer.bytes[writer.position] = 0xcb
    writer.view.setFloat64(writer.position + 1, value)
    writer.position += 9
    return
  }
  if (value >= 0) return writeUnsigned(writer, value)
  writeNegative(writer, value)
}

function writeUnsigned(writer: Writer, value: number): void {
  writer.ensure(9)
  const { bytes, view } = writer
  const at = writer.position
  if (value < 0x80) {
    bytes[at] = value
    writer.position += 1
  } else if (value < 0x100) {
    bytes[at] = 0xcc
    bytes[at + 1] = value
    writer.position += 2
  } else if (value < 0x10000) {
    bytes[at] = 0xcd
    view.setUint16(at + 1, value)
    writer.position += 3
  } else if (value < 0x100000000) {
    bytes[at] = 0xce
    view.setUint32(at + 1, value)
    writer.position += 5
  } else {
    bytes[at] = 0xcf
    view.setUint32(at + 1, Math.floor(value / 0x100000000))
    view.setUint32(at + 5, value >>> 0)
    writer.position += 9
  }
}

function writeNegative(writer: Writer, value: number): void {
  writer.ensure(9)
  const { bytes, view } = writer
  const at = writer.position
  if (value >= -0x20) {
    bytes[at] = value & 0xff
    writer.position += 1
  } else if (value >= -0x80) {
    bytes[at] = 0xd0
    view.setInt8(at + 1, value)
    writer.position += 2
  } else if (value >= -0x8000) {
    bytes[at] = 0xd1
    view.setInt16(at + 1, value)
    writer.position += 3
  } else if (value >= -0x80000000) {
    bytes[at] = 0xd2
    view.setInt32(at + 1, value)
    writer.position += 5
  } else {
    bytes[at] = 0xd3
    view.setBigInt64(at + 1, BigInt(value))
    writer.position += 9
  }
}

function writeString(writer: Writer, text: string): void {
  // Reserve the header for the worst case (3 bytes per UTF-16 unit), encode, then shrink the header.
  const bytesMax = text.length * 3
  const reserved = stringHeaderBytes(bytesMax)
  writer.ensure(reserved + bytesMax)
  const start = writer.position + reserved
  const written = textEncoder.encodeInto(text, writer.bytes.subarray(start)).written
  const needed = stringHeaderBytes(written)
  if (needed < reserved) writer.bytes.copyWithin(writer.position + needed, start, start + written)
  writeStringHeader(writer, written)
  writer.position += written
}

function stringHeaderBytes(length: number): number {
  return length < 32 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

function writeStringHeader(writer: Writer, length: number): void {
  const { bytes, view } = writer
  const at = writer.position
  if (length < 32) {
    bytes[at] = 0xa0 | length
  } else if (length < 0x100) {
    bytes[at] = 0xd9
    bytes[at + 1] = length
  } else if (length < 0x10000) {
    bytes[at] = 0xda
    view.setUint16(at + 1, length)
  } else {
    bytes[at] = 0xdb
    view.setUint32(at + 1, length)
  }
  writer.position += stringHeaderBytes(length)
}

function writeArray(writer: Writer, items: unknown[]): void {
  writeContainerHeader(writer, items.length, 0x90, 0xdc)
  for (let index = 0; index < items.length; index++) writeValue(writer, items[index])
}

function writeMap(writer: Writer, fields: Record<string, unknown>): void {
  // A value with toJSON (a Date) is written as JSON.stringify would write it.
  if (typeof (fields as { toJSON?: unknown }).toJSON === 'function') {
    return writeValue(writer, (fields as { toJSON: () => unknown }).toJSON())
  }
  let count = 0
  for (const key in fields) if (isEncodable(fields[key])) count++
  writeContainerHeader(writer, count, 0x80, 0xde)
  for (const key in fields) {
    const field = fields[key]
    if (!isEncodable(field)) continue
    writeString(writer, key)
    writeValue(writer, field)
  }
}

/** JSON.stringify omits these properties from objects. */
function isEncodable(value: unknown): boolean {
  return value !== undefined && typeof value !== 'function' && typeof value !== 'symbol'
}

function writeContainerHeader(writer: Writer, count: number, fixBase: number, wideBase: number): void {
  writer.ensure(5)
  const at = writer.position
  if (count < 16) {
    writer.bytes[at] = fixBase | count
    writer.position += 1
  } else if (count < 0x10000) {
    writer.bytes[at] = wideBase
    writer.view.setUint16(at + 1, count)
    writer.position += 3
  } else {
    writer.bytes[at] = wideBase + 1
    writer.view.setUint32(at + 1, count)
    writer.position += 5
  }
}
