/**
 * The log record frame: the only on-disk unit of segments and checkpoints. Owns the byte layout and
 * its validation on both sides of the disk (STYLE habit 11). Does not own what is inside a body: the
 * engine encodes and decodes bodies; storage treats them as opaque bytes.
 *
 * Frame v2 (segments, written since format 2), little-endian:
 *   off  size  field
 *   0    4     bodyBytes   bytes of `body`, 1 … frameBodyBytesMax (0 is never written: an all-zero
 *                          header means "no record here", the state of preallocated space)
 *   4    4     crc32c      CRC32C over bytes 8 … 20+bodyBytes (lsn, syncedBelow and body)
 *   8    4     lsnLow      lsn mod 2^32
 *   12   4     lsnHigh     floor(lsn / 2^32) | 0x80000000 — bit 31 marks the v2 header
 *   16   4     syncedBelow every byte of this segment below this offset was durable when this frame
 *                          was written (in --fsync=always: where its flush began). Recovery uses it
 *                          to tell a torn final flush from damage to data that was acknowledged.
 *   20   n     body        opaque to storage/ (UTF-8 JSON from the host today)
 *
 * Frame v1 (segments of format 1, and every checkpoint file), little-endian:
 *   0    4     bodyBytes
 *   4    4     crc32c      CRC32C over bytes 8 … 16+bodyBytes (lsn and body)
 *   8    4     lsnLow
 *   12   4     lsnHigh     < 2^21 so that lsn stays a safe integer (< 2^53); bit 31 clear
 *   16   n     body
 * Frames are packed back to back with no padding; decodeFrame reads both versions (bit 31 of the
 * word at offset 12 tells them apart). LSNs start at 1 and increase by exactly 1 within a log; within
 * a checkpoint file the lsn field holds the frame's index (see checkpoint.ts).
 *
 * To change the format: bump frameVersion, keep the older decoders (and their golden fixtures under
 * test/fixtures/log/v<n>/) so existing logs still replay, write the new version's fixtures with
 * src/storage/make-fixtures.ts, and record the version in the manifest.
 */
import { AssertionError, assert } from '../base/assert.ts'
import { MiB } from '../base/units.ts'
import { crc32c } from './crc32c.ts'

export const frameVersion = 2
/** Header of the frames the log writes (v2). */
export const frameHeaderBytes = 20
/** Header of v1 frames (checkpoints, and segments of format 1). */
export const frameV1HeaderBytes = 16
const v2Flag = 0x80000000
/** Largest body: a 64 MiB JSON line (base/limits lineBytesMax) plus room for the host's envelope. */
export const frameBodyBytesMax = 64 * MiB + 64 * 1024
/** lsnHigh above this would make the lsn an unsafe integer. */
const lsnHighMax = 0x1fffff
const twoTo32 = 2 ** 32

export type Frame = {
  lsn: number
  /** v2: the segment was durable below this offset when the frame was written; v1: the frame's own offset. */
  syncedBelow: number
  /** A view into the decoded buffer (not a copy). */
  body: Uint8Array
  /** Offset just past this frame in the decoded buffer. */
  end: number
}

/**
 * What decodeFrame found at an offset:
 *  - a Frame;
 *  - 'end': an all-zero header (preallocated space, nothing written here);
 *  - 'torn': the header says the frame runs past the end of the buffer;
 *  - 'invalid': a header that cannot be right, or a checksum mismatch.
 */
export type DecodeResult = Frame | 'end' | 'torn' | 'invalid'

/** Bytes a frame of `bodyBytes` takes. */
export function frameBytes(bodyBytes: number): number {
  return frameHeaderBytes + bodyBytes
}

/** Writes a v2 header for a body already placed at out[offset+20 … offset+20+bodyBytes). */
export function sealFrame(
  out: Uint8Array,
  view: DataView,
  offset: number,
  lsn: number,
  bodyBytes: number,
  syncedBelow: number,
): void {
  // Every appended record passes here: the messages are built only on failure (a template string per
  // check cost ~0.07 µs per record).
  if (!(bodyBytes > 0 && bodyBytes <= frameBodyBytesMax)) throw new AssertionError(`frame body of ${bodyBytes} bytes`)
  if (!(Number.isSafeInteger(lsn) && lsn >= 0)) throw new AssertionError(`frame lsn ${lsn}`)
  if (!(Number.isInteger(syncedBelow) && syncedBelow >= 0 && syncedBelow < twoTo32)) throw new AssertionError(`syncedBelow ${syncedBelow}`)
  view.setUint32(offset, bodyBytes, true)
  view.setUint32(offset + 8, lsn >>> 0, true)
  view.setUint32(offset + 12, (Math.floor(lsn / twoTo32) | v2Flag) >>> 0, true)
  view.setUint32(offset + 16, syncedBelow, true)
  view.setUint32(offset + 4, crc32c(out, offset + 8, offset + frameHeaderBytes + bodyBytes), true)
}

/** Writes a v1 header (checkpoint files) for a body already placed at out[offset+16 …). */
export function sealFrameV1(out: Uint8Array, view: DataView, offset: number, lsn: number, bodyBytes: number): void {
  // Every checkpoint record passes here: the messages are built only on failure (as in sealFrame).
  if (!(bodyBytes > 0 && bodyBytes <= frameBodyBytesMax)) throw new AssertionError(`frame body of ${bodyBytes} bytes`)
  if (!(Number.isSafeInteger(lsn) && lsn >= 0)) throw new AssertionError(`frame lsn ${lsn}`)
  view.setUint32(offset, bodyBytes, true)
  view.setUint32(offset + 8, lsn >>> 0, true)
  view.setUint32(offset + 12, Math.floor(lsn / twoTo32), true)
  view.setUint32(offset + 4, crc32c(out, offset + 8, offset + frameV1HeaderBytes + bodyBytes), true)
}

/** Encodes one v2 frame into `out` at `offset` (validated before the write); returns the offset after it. */
export function encodeFrame(lsn: number, body: Uint8Array, out: Uint8Array, offset: number, syncedBelow = offset): number {
  assert(offset + frameBytes(body.length) <= out.length, 'frame does not fit the output buffer')
  out.set(body, offset + frameHeaderBytes)
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  sealFrame(out, view, offset, lsn, body.length, syncedBelow)
  return offset + frameBytes(body.length)
}

/** Encodes one v1 frame (checkpoints, the v1 fixtures); returns the offset after it. */
export function encodeFrameV1(lsn: number, body: Uint8Array, out: Uint8Array, offset: number): number {
  assert(offset + frameV1HeaderBytes + body.length <= out.length, 'frame does not fit the output buffer')
  out.set(body, offset + frameV1HeaderBytes)
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  sealFrameV1(out, view, offset, lsn, body.length)
  return offset + frameV1HeaderBytes + body.length
}

/** Decodes the frame (v1 or v2) at `offset` and checks it (validated again after the read). */
export function decodeFrame(bytes: Uint8Array, offset: number): DecodeResult {
  if (offset + frameV1HeaderBytes <= bytes.length && (bytes[offset + 15] as number) & 0x80) {
    return decodeFrameV2(bytes, offset)
  }
  return decodeFrameV1(bytes, offset)
}

export function decodeFrameV2(bytes: Uint8Array, offset: number): DecodeResult {
  if (offset + frameHeaderBytes > bytes.length) return 'torn'
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const bodyBytes = view.getUint32(offset, true)
  const crc = view.getUint32(offset + 4, true)
  const lsnLow = view.getUint32(offset + 8, true)
  const lsnHigh = (view.getUint32(offset + 12, true) & ~v2Flag) >>> 0
  if (bodyBytes === 0 || bodyBytes > frameBodyBytesMax || lsnHigh > lsnHighMax) return 'invalid'
  const end = offset + frameHeaderBytes + bodyBytes
  if (end > bytes.length) return 'torn'
  if (crc32c(bytes, offset + 8, end) !== crc) return 'invalid'
  const syncedBelow = view.getUint32(offset + 16, true)
  return { lsn: lsnHigh * twoTo32 + lsnLow, syncedBelow, body: bytes.subarray(offset + frameHeaderBytes, end), end }
}

export function decodeFrameV1(bytes: Uint8Array, offset: number): DecodeResult {
  if (offset + frameV1HeaderBytes > bytes.length) {
    return isZero(bytes, offset, bytes.length) ? 'end' : 'torn'
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const bodyBytes = view.getUint32(offset, true)
  const crc = view.getUint32(offset + 4, true)
  const lsnLow = view.getUint32(offset + 8, true)
  const lsnHigh = view.getUint32(offset + 12, true)
  if (bodyBytes === 0) {
    return crc === 0 && lsnLow === 0 && lsnHigh === 0 ? 'end' : 'invalid'
  }
  if (bodyBytes > frameBodyBytesMax || lsnHigh > lsnHighMax) return 'invalid'
  const end = offset + frameV1HeaderBytes + bodyBytes
  if (end > bytes.length) return 'torn'
  if (crc32c(bytes, offset + 8, end) !== crc) return 'invalid'
  // v1 says nothing about syncs: treat everything before the frame as acknowledged (the old rule).
  return { lsn: lsnHigh * twoTo32 + lsnLow, syncedBelow: offset, body: bytes.subarray(offset + frameV1HeaderBytes, end), end }
}

/** True when bytes[start, end) are all zero. */
export function isZero(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] !== 0) return false
  return true
}
