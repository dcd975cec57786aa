/**
 * Disk reservation shared by both backends. posix_fallocate through libc when it loads; otherwise
 * zeros written in chunks (slower, same result: the range exists and reads as zeros). Synchronous:
 * segments are allocated rarely and outside the flush path.
 */
import { fdatasyncSync, writeSync } from 'node:fs'
import { errnoName, ioErrorFromException } from './errno.ts'
import { IoError } from './backend.ts'
import { loadLibc } from './libc.ts'

/** Chunk of zeros written at once (here and by storage): large enough to be cheap, small enough to keep around. */
export const zeroChunkBytes = 1024 * 1024
let zeroChunk: Uint8Array | null = null

export function allocateRange(fd: number, offset: number, bytes: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(bytes) || bytes < 0) {
    throw new IoError('EINVAL', `allocate: bad range offset=${offset} bytes=${bytes}`)
  }
  if (bytes === 0) return
  const libc = loadLibc()
  if (libc !== null) {
    const error = libc.posix_fallocate(fd, offset, bytes)
    if (error !== 0) throw new IoError(errnoName(error), `posix_fallocate(${offset}, ${bytes})`)
    return
  }
  writeZeros(fd, offset, bytes)
}

function writeZeros(fd: number, offset: number, bytes: number): void {
  zeroChunk ??= new Uint8Array(zeroChunkBytes)
  try {
    let done = 0
    while (done < bytes) {
      const length = Math.min(zeroChunkBytes, bytes - done)
      done += writeSync(fd, zeroChunk, 0, length, offset + done)
    }
    fdatasyncSync(fd)
  } catch (error) {
    throw ioErrorFromException(error, `allocate(${offset}, ${bytes}) by writing zeros`)
  }
}
