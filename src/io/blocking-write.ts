/**
 * Blocking pwrite + fdatasync through node:fs, shared by the pwrite backend (always) and the
 * io_uring backend (a small durable write on an idle ring, see uring/backend.ts). Errors are IoError.
 */
import { fdatasyncSync, writeSync } from 'node:fs'
import { IoError } from './backend.ts'
import { ioErrorFromException } from './errno.ts'

/** pwrite until every byte is written; a short write is retried, so the real error (ENOSPC) shows. */
export function writeAll(fd: number, bytes: Uint8Array, offset: number): void {
  let done = 0
  try {
    while (done < bytes.length) {
      const written = writeSync(fd, bytes, done, bytes.length - done, offset + done)
      if (written === 0) throw new IoError('EIO', `pwrite wrote 0 of ${bytes.length - done} bytes`)
      done += written
    }
  } catch (error) {
    throw ioErrorFromException(error, `pwrite fd=${fd} at ${offset + done}`)
  }
}

export function syncData(fd: number): void {
  try {
    fdatasyncSync(fd)
  } catch (error) {
    throw ioErrorFromException(error, `fdatasync fd=${fd}`)
  }
}
