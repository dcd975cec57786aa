/**
 * The IO seam. Storage knows only this interface; the implementation is picked once at start-up in
 * io/pick.ts (io_uring through bun:ffi + liburing, or pwrite), and tests wrap it to inject faults.
 * Knows bytes and file descriptors, nothing about jobs.
 */

/** An operating error from the OS, carrying its errno name (`ENOSPC`, `EIO`, …). */
export class IoError extends Error {
  override name = 'IoError'
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`)
  }
}

export interface IoBackend {
  /** `io_uring (liburing 2.3)` or `pwrite`; shown on the start-up line and in /health. */
  readonly name: string
  /** Why the fallback runs (`io_uring unavailable: …`), or null for the preferred backend. */
  readonly fallbackReason: string | null
  /** Opens (creating if asked) a file for reading and writing. Synchronous: opens are rare. */
  open(path: string, create: boolean): number
  /** Reserves `bytes` of disk at `offset` (fallocate), zero-filled. Throws IoError('ENOSPC') when full. */
  allocate(fd: number, offset: number, bytes: number): void
  /**
   * Writes all of `bytes` at `offset` and then fdatasyncs the file; resolves once both are done.
   * Rejects with IoError on a short write or a failed sync. The caller keeps `bytes` alive and
   * unchanged until it settles, and has at most one such operation in flight per file.
   */
  writeDurable(fd: number, bytes: Uint8Array, offset: number): Promise<void>
  /** Writes all of `bytes` at `offset` without syncing (for --fsync=interval). */
  write(fd: number, bytes: Uint8Array, offset: number): Promise<void>
  /** fdatasync alone. */
  sync(fd: number): Promise<void>
  close(fd: number): void
  /** Releases rings and buffers. */
  shutdown(): void
}
