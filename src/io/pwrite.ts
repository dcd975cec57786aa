/**
 * The fallback IoBackend: blocking pwrite + fdatasync through node:fs. It runs inside a shard
 * Worker, so blocking that thread is acceptable; the Promise API matches the io_uring backend so
 * storage cannot tell them apart. Errors are thrown as IoError and surface as rejections.
 */
import type { IoBackend } from './backend.ts'
import { allocateRange } from './allocate.ts'
import { syncData, writeAll } from './blocking-write.ts'
import { SyncFileOperations } from './file-operations.ts'
import { errnoName } from './errno.ts'
import { IoError } from './backend.ts'
import { loadLibc, syncFileRangeWrite } from './libc.ts'

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

  writeDurableNow(fd: number, bytes: Uint8Array, offset: number): boolean {
    writeAll(fd, bytes, offset)
    syncData(fd)
    return true
  }

  async write(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
    writeAll(fd, bytes, offset)
  }

  async sync(fd: number): Promise<void> {
    syncData(fd)
  }

  /** Without libc's sync_file_range, an fdatasync: more than asked (it also makes the range durable). */
  async startWriteback(fd: number, offset: number, bytes: number): Promise<void> {
    const libc = loadLibc()
    if (libc === null) return syncData(fd)
    const errno = libc.sync_file_range(fd, offset, bytes, syncFileRangeWrite)
    if (errno !== 0) throw new IoError(errnoName(errno), `sync_file_range fd=${fd} at ${offset} +${bytes}`)
  }

  shutdown(): void {}
}
