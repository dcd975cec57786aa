/**
 * The fallback IoBackend: blocking pwrite + fdatasync through node:fs. It runs inside a shard
 * Worker, so blocking that thread is acceptable; the Promise API matches the io_uring backend so
 * storage cannot tell them apart. Errors are thrown as IoError and surface as rejections.
 */
import type { IoBackend } from './backend.ts'
import { allocateRange } from './allocate.ts'
import { syncData, writeAll } from './blocking-write.ts'
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
