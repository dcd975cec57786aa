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
   *
   * `waitingIdle`: the caller has little else to do until this settles (an idle log's flush, its
   * client waiting for the ack). A backend
   * that hands writes to another thread may then do a small write on the calling thread instead,
   * blocking it for the disk's flush time but saving the hand-off and the wake-up. Only a hint: the
   * result and its timing contract are the same.
   */
  writeDurable(fd: number, bytes: Uint8Array, offset: number, waitingIdle?: boolean): Promise<void>
  /**
   * writeDurable of a caller waiting idle, done on this thread before returning, when the backend
   * would do it there anyway: true once written and synced (throws IoError on failure), false when it
   * would rather not (the caller then calls writeDurable). Saves the caller the promise and its
   * microtask hops between the sync and what waits for it (storage/log.ts, #flushNow). Optional.
   */
  writeDurableNow?(fd: number, bytes: Uint8Array, offset: number): boolean
  /** Writes all of `bytes` at `offset` without syncing (for --fsync=interval). */
  write(fd: number, bytes: Uint8Array, offset: number): Promise<void>
  /** fdatasync alone. */
  sync(fd: number): Promise<void>
  /**
   * Starts writing the range's dirty pages to the disk (sync_file_range, SYNC_FILE_RANGE_WRITE) and
   * resolves once that is under way. Makes nothing durable (no metadata, no device cache flush; only
   * a later sync() does): a large file written piece by piece calls it after each piece, so its
   * final sync finds little left to write, and the disk never holds a pile of its dirty pages.
   */
  startWriteback(fd: number, offset: number, bytes: number): Promise<void>
  /**
   * True when an operation in flight has completed and its promise settles at the backend's next
   * poll: long work sharing the thread (a checkpoint's turn) ends its turn so the waiter runs now.
   * Only a hint, with no effect on what is durable; absent where operations settle synchronously
   * (pwrite) or in test wrappers.
   */
  completionReady?(): boolean
  close(fd: number): void
  /** Releases rings and buffers. */
  shutdown(): void

  // File and directory operations. Synchronous and rare (start-up, rotation, checkpoints); they are
  // here, not in node:fs calls inside storage, so a test backend sees (and can lose) every one of
  // them. Under POSIX rules a create, rename or unlink is durable only after syncDirectory(parent).

  /** The whole file (recovery reads). Throws IoError('ENOENT') when it does not exist. */
  readFile(path: string): Uint8Array
  /** Reads up to `target.length` bytes at `offset` into `target`; returns how many (0 at the end). Backups. */
  readAt(fd: number, target: Uint8Array, offset: number): number
  /** Names in a directory, unsorted. */
  readDirectory(dir: string): string[]
  /** Creates `dir` and missing parents; true when `dir` was created (then sync its parent). */
  makeDirectory(dir: string): boolean
  rename(from: string, to: string): void
  /** Deletes a file; a missing file is not an error. */
  remove(path: string): void
  /**
   * remove() run by another thread; this one stays free. Unlinking a large file frees its extents and
   * drops its page cache in the call: measured 35 ms for a 1M-job checkpoint and two 32 MiB segments,
   * a stall of every request of the shard when it ran on the shard's thread.
   */
  removeInBackground(path: string): Promise<void>
  /** Deletes an empty directory (a failed restore's); a missing one is not an error. */
  removeDirectory(dir: string): void
  /** Sets the size of an open file (shrinking frees the space). */
  truncate(fd: number, bytes: number): void
  /** Size of an open file in bytes (fstat). */
  fileSize(fd: number): number
  /** fsync of a whole file (data and metadata), blocking: small files such as the manifest. */
  syncNow(fd: number): void
  /** fsync of a directory, so creations, renames and deletions in it survive a power loss. */
  syncDirectory(dir: string): void
  /** Space of the filesystem holding `path` (statfs). */
  filesystemSpace(path: string): FilesystemSpace
}

export type FilesystemSpace = {
  /** Bytes an unprivileged process may still allocate (f_bavail × f_bsize). */
  availableBytes: number
  /** Size of the filesystem (f_blocks × f_bsize). */
  totalBytes: number
}
