/**
 * The fallback IoBackend: blocking pwrite + fdatasync through node:fs. It runs inside a shard
 * Worker, so blocking that thread is acceptable; the Promise API matches the io_uring backend so
 * storage cannot tell them apart. Errors are thrown as IoError and surface as rejections.
 */
import { fdatasyncSync, writeSync } from 'node:fs'
import { type IoBackend, IoError } from './backend.ts'
import { allocateRange } from './allocate.ts'
import { ioErrorFromException } from './errno.ts'
import { SyncFileOperations } from './file-operations.ts'

/** File and directory operations come from SyncFileOperations (shared with the io_uring backend). */
export class PwriteBackend extends SyncFileOperations implements IoBackend {
  readonly name = 'pwrite'
  constructor(readonly fallbackReason: string | null) {
    super()
  }

  allocate(fd: number, offset: number, bytes: number): void {
    allocateRange(fd, offset, bytes)
  }

  async writeDurable(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
    writeAll(fd, bytes, offset)
    syncData(fd)
  }

  async write(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
    writeAll(fd, bytes, offset)
  }

  async sync(fd: number): Promise<void> {
    syncData(fd)
  }

  shutdown(): void {}

}

/** pwrite until every byte is written; a short write is retried, so the real error (ENOSPC) shows. */
function writeAll(fd: number, bytes: Uint8Array, offset: number): void {
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

function syncData(fd: number): void {
  try {
    fdatasyncSync(fd)
  } catch (error) {
    throw ioErrorFromException(error, `fdatasync fd=${fd}`)
  }
}
