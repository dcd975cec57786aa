/**
 * Checkpoint files: the records that recreate a shard's state as of one LSN, so that every segment
 * holding only older records can be deleted (this is how disk use stays proportional to live data).
 * Owns the checkpoint byte layout; the log (log.ts) decides when to write one.
 *
 * Checkpoint v1, little-endian:
 *   header (16 bytes)
 *     0   4  magic       'FQCK'
 *     4   4  version     1
 *     8   4  lsnLow      the LSN this checkpoint covers (state after applying records 1 … lsn)
 *     12  4  lsnHigh
 *   frames: frame v1 (frame.ts) back to back; the lsn field holds the frame's index 0 … n-1
 *   trailer (24 bytes)
 *     0   4  magic       'FQCE'
 *     4   4  frameCount  n
 *     8   4  lsnLow      same as the header
 *     12  4  lsnHigh
 *     16  4  contentCrc  CRC32C over every byte before the trailer
 *     20  4  trailerCrc  CRC32C over trailer bytes 0 … 20
 * A file without a valid trailer is torn (never renamed into place, or damaged) and recovery uses
 * the previous checkpoint. To change: bump checkpointVersion, keep the v1 decoder, add fixtures.
 */
import { assert } from '../base/assert.ts'
import { KiB } from '../base/units.ts'
import { crc32c } from './crc32c.ts'
import { decodeFrame, frameV1HeaderBytes, sealFrameV1 } from './frame.ts'

export const checkpointVersion = 1
const headerMagic = 0x4b435146 // 'FQCK' read as little-endian u32
const trailerMagic = 0x45435146 // 'FQCE'
const headerBytes = 16
const trailerBytes = 24
const twoTo32 = 2 ** 32
/** fill() reads the clock and asks whether to yield once per this many bodies (a power of two). */
const clockEveryBodies = 8

/**
 * A record that writes its own bytes, so a large state needs no string per record (the engine's
 * capture hands out one such writer, reused, for each job). It is written before the next body is
 * pulled.
 */
export interface BodyWriter {
  /** At least the bytes writeTo() writes. */
  bytesMax(): number
  /** Writes the body into `out` at `at` (bytesMax() bytes free there); returns the bytes written. */
  writeTo(out: Buffer, at: number): number
}

/** One record of a checkpoint: its JSON text, or a writer of its UTF-8 bytes. */
export type CheckpointBody = string | BodyWriter

/**
 * Encodes a checkpoint piece by piece, so the log can write a large one across event-loop turns
 * (a shard never stalls for the whole file). The pieces, then trailer(), concatenated are the file.
 */
export class CheckpointEncoder {
  readonly #lsn: number
  #count = 0
  #contentCrc = 0
  #started = false
  /** A Buffer: write() encodes a body in place, with no view or copy per body. */
  #buffer = Buffer.alloc(0)
  #view = new DataView(this.#buffer.buffer, this.#buffer.byteOffset, this.#buffer.byteLength)
  /** Bytes of #buffer encoded and not yet taken. */
  #used = 0
  /** Bytes produced so far (header and frames). */
  producedBytes = 0

  constructor(lsn: number) {
    assert(Number.isSafeInteger(lsn) && lsn >= 0, `checkpoint lsn ${lsn}`)
    this.#lsn = lsn
  }

  /** Bytes encoded and not yet taken. */
  get pendingBytes(): number {
    return this.#used
  }

  /**
   * Encodes the next bodies of `bodies` (the header first) until `pieceBytes` are pending or the
   * clock passes `untilMs` or `yieldNow()` says so (checked every few bodies, so every call makes
   * progress); true once `bodies` is exhausted. Bodies are pulled only as needed, so a source that
   * produces them on demand (the engine's capture) spreads its work over the calls, and the deadline
   * bounds one call whatever a body costs (a cold JIT, a collection). Then take().
   */
  fill(bodies: Iterator<CheckpointBody>, pieceBytes: number, untilMs = Infinity, yieldNow: () => boolean = never): boolean {
    if (this.#buffer.length < pieceBytes + 64 * KiB) this.#grow(pieceBytes + 64 * KiB)
    if (!this.#started) {
      this.#started = true
      const view = this.#view
      view.setUint32(0, headerMagic, true)
      view.setUint32(4, checkpointVersion, true)
      writeLsn(view, 8, this.#lsn)
      this.#used = headerBytes
    }
    for (let pulled = 1; this.#used < pieceBytes; pulled++) {
      // The clock is read every few bodies: one read costs a few percent of a body's encoding.
      if ((pulled & (clockEveryBodies - 1)) === 0 && (performance.now() >= untilMs || yieldNow())) return false
      const step = bodies.next()
      if (step.done === true) return true
      const body = step.value
      const at = this.#used
      const bytesMax = typeof body === 'string' ? body.length * 3 : body.bytesMax()
      if (at + frameV1HeaderBytes + bytesMax > this.#buffer.length) {
        this.#grow(Math.max(at + frameV1HeaderBytes + bytesMax, this.#buffer.length * 2))
      }
      const written = typeof body === 'string'
        ? this.#buffer.write(body, at + frameV1HeaderBytes)
        : body.writeTo(this.#buffer, at + frameV1HeaderBytes)
      sealFrameV1(this.#buffer, this.#view, at, this.#count, written)
      this.#used = at + frameV1HeaderBytes + written
      this.#count++
    }
    return false
  }

  /**
   * The bytes encoded since the last take (a view of a buffer the next fill overwrites: write it
   * before filling again).
   */
  take(): Uint8Array {
    const used = this.#used
    // A plain Uint8Array view, so that slice() copies it (Buffer's slice() would be another view).
    const bytes = new Uint8Array(this.#buffer.buffer, this.#buffer.byteOffset, used)
    this.#contentCrc = crc32c(bytes, 0, used, this.#contentCrc)
    this.producedBytes += used
    this.#used = 0
    return bytes
  }

  /** One buffer reused for every piece (no garbage per piece); it only grows for a large body. */
  #grow(bytes: number): void {
    const bigger = Buffer.alloc(bytes)
    bigger.set(this.#buffer.subarray(0, this.#used))
    this.#buffer = bigger
    this.#view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength)
  }

  /** The trailer, once every body is encoded. */
  trailer(): Uint8Array {
    assert(this.#started, 'checkpoint trailer before its header')
    const out = new Uint8Array(trailerBytes)
    const view = new DataView(out.buffer)
    view.setUint32(0, trailerMagic, true)
    view.setUint32(4, this.#count, true)
    writeLsn(view, 8, this.#lsn)
    view.setUint32(16, this.#contentCrc, true)
    view.setUint32(20, crc32c(out, 0, 20), true)
    return out
  }
}

/** Builds a whole checkpoint file in memory (tests, fixtures; the log writes it piece by piece). */
export function encodeCheckpoint(lsn: number, bodies: Iterable<CheckpointBody>): Uint8Array {
  const iterator = bodies[Symbol.iterator]()
  const encoder = new CheckpointEncoder(lsn)
  const pieces: Uint8Array[] = []
  for (let done = false; !done;) {
    done = encoder.fill(iterator, 1024 * KiB)
    pieces.push(encoder.take().slice())
  }
  pieces.push(encoder.trailer())
  const out = new Uint8Array(pieces.reduce((total, piece) => total + piece.length, 0))
  let offset = 0
  for (const piece of pieces) {
    out.set(piece, offset)
    offset += piece.length
  }
  return out
}

function never(): boolean {
  return false
}

export type DecodedCheckpoint = { lsn: number; bodies: Uint8Array[] }

/** Decodes and checks a checkpoint file; returns the reason it is unusable as a string. */
export function decodeCheckpoint(bytes: Uint8Array): DecodedCheckpoint | string {
  if (bytes.length < headerBytes + trailerBytes) return 'shorter than header and trailer'
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== headerMagic) return 'bad header magic'
  if (view.getUint32(4, true) !== checkpointVersion) return `unknown version ${view.getUint32(4, true)}`
  const trailer = bytes.length - trailerBytes
  if (view.getUint32(trailer, true) !== trailerMagic) return 'no trailer (torn)'
  if (crc32c(bytes, trailer, trailer + 20) !== view.getUint32(trailer + 20, true)) return 'trailer checksum'
  if (crc32c(bytes, 0, trailer) !== view.getUint32(trailer + 16, true)) return 'content checksum'
  const lsn = readLsn(view, 8)
  if (readLsn(view, trailer + 8) !== lsn) return 'header and trailer disagree on the lsn'
  const count = view.getUint32(trailer + 4, true)
  const bodies: Uint8Array[] = []
  let offset = headerBytes
  while (offset < trailer) {
    const frame = decodeFrame(bytes.subarray(0, trailer), offset)
    if (typeof frame === 'string') return `frame ${bodies.length} is ${frame} at offset ${offset}`
    if (frame.lsn !== bodies.length) return `frame ${bodies.length} has index ${frame.lsn}`
    bodies.push(frame.body)
    offset = frame.end
  }
  if (bodies.length !== count) return `trailer says ${count} frames, found ${bodies.length}`
  return { lsn, bodies }
}

function writeLsn(view: DataView, offset: number, lsn: number): void {
  view.setUint32(offset, lsn >>> 0, true)
  view.setUint32(offset + 4, Math.floor(lsn / twoTo32), true)
}

function readLsn(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true) * twoTo32 + view.getUint32(offset, true)
}
