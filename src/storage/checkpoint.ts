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
import { crc32c } from './crc32c.ts'
import { decodeFrame, frameV1HeaderBytes, sealFrameV1 } from './frame.ts'

export const checkpointVersion = 1
const headerMagic = 0x4b435146 // 'FQCK' read as little-endian u32
const trailerMagic = 0x45435146 // 'FQCE'
const headerBytes = 16
const trailerBytes = 24
const twoTo32 = 2 ** 32

/** Builds a whole checkpoint file in memory (synchronously; the log writes it in chunks). */
export function encodeCheckpoint(lsn: number, bodies: Iterable<string>): Uint8Array {
  assert(Number.isSafeInteger(lsn) && lsn >= 0, `checkpoint lsn ${lsn}`)
  const encoder = new TextEncoder()
  let out = new Uint8Array(64 * 1024)
  let view = new DataView(out.buffer)
  let used = headerBytes
  let count = 0
  for (const body of bodies) {
    const need = used + frameV1HeaderBytes + body.length * 3 + trailerBytes
    if (need > out.length) {
      const bigger = new Uint8Array(Math.max(need, out.length * 2))
      bigger.set(out.subarray(0, used))
      out = bigger
      view = new DataView(out.buffer)
    }
    const written = encoder.encodeInto(body, out.subarray(used + frameV1HeaderBytes)).written
    sealFrameV1(out, view, used, count, written)
    used += frameV1HeaderBytes + written
    count++
  }
  if (used + trailerBytes > out.length) {
    const bigger = new Uint8Array(used + trailerBytes)
    bigger.set(out.subarray(0, used))
    out = bigger
    view = new DataView(out.buffer)
  }
  view.setUint32(0, headerMagic, true)
  view.setUint32(4, checkpointVersion, true)
  writeLsn(view, 8, lsn)
  const trailer = used
  view.setUint32(trailer, trailerMagic, true)
  view.setUint32(trailer + 4, count, true)
  writeLsn(view, trailer + 8, lsn)
  view.setUint32(trailer + 16, crc32c(out, 0, trailer), true)
  view.setUint32(trailer + 20, crc32c(out, trailer, trailer + 20), true)
  return out.subarray(0, trailer + trailerBytes)
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
