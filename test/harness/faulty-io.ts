/**
 * A fault-injecting IoBackend wrapper (STYLE habit 16). Faults are scheduled explicitly or drawn from
 * a seeded PRNG, so every failing run replays from its seed:
 *  - torn write: only a prefix of one write reaches the file, then the "process dies" (crash);
 *  - failed fsync: a writeDurable or sync rejects with EIO after the bytes were written;
 *  - ENOSPC: allocate throws once more than `enospcAfterBytes` have been allocated in total;
 *  - a small disk: with `disk`, allocate throws ENOSPC when the files in `disk.dir` would grow past
 *    `disk.capacityBytes` (so deleting or truncating files gives space back, as on a real disk);
 *  - crash: all further IO stops. Operations in flight never settle (the process is gone), new
 *    synchronous calls throw IoError('EIO'). A test then reopens the directory with a fresh backend;
 *  - hold/release: completions wait until released, so a test can keep a flush in flight;
 *  - power loss (with `pageCache`): see page-cache.ts. Every write, create, rename, unlink and
 *    truncation not covered by a sync is dropped (or kept, torn and reordered, by a policy), and the
 *    directory on disk is rewritten to what survived;
 *  - skipped syncs: `skipSyncs` turns one category of sync into a no-op, to prove each one matters.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { prng } from '../../src/base/prng.ts'
import { IoError } from '../../src/io/backend.ts'
import type { FilesystemSpace, IoBackend } from '../../src/io/backend.ts'
import { PageCache, type PowerLossPolicy, type SyncCategory } from './page-cache.ts'

export type FaultyIoOptions = {
  seed?: number
  /** Total bytes allocate() may reserve before it throws ENOSPC. */
  enospcAfterBytes?: number
  /** Models a small disk holding only `dir` (not recursive). */
  disk?: { dir: string; capacityBytes: number }
  /** Models the page cache of the files under `root` (on top of what `inner` writes there). */
  pageCache?: { root: string }
  /** Categories of file sync that do nothing (the bytes stay in the modelled page cache). */
  skipSyncs?: SyncCategory[]
  /** Directory fsyncs that do nothing, by directory path. */
  skipDirectorySync?: (dir: string) => boolean
  /** Reported free space (statfs), instead of the real filesystem's. */
  filesystemSpace?: FilesystemSpace
}

const never = new Promise<never>(() => {})

export class FaultyIo implements IoBackend {
  readonly name: string
  readonly fallbackReason = null
  crashed = false
  /** Bytes successfully allocated so far. */
  allocatedBytes = 0
  /** write + writeDurable calls started so far. */
  writeCount = 0
  syncCount = 0
  enospcAfterBytes: number
  disk: { dir: string; capacityBytes: number } | null
  readonly random: ReturnType<typeof prng>
  /** The modelled page cache, when `pageCache` was given. */
  readonly cache: PageCache | null
  readonly skipSyncs: Set<SyncCategory>
  skipDirectorySync: (dir: string) => boolean
  readonly #options: FaultyIoOptions

  #tearAtWrite = -1
  #tearPrefixBytes: number | null = null
  #failSyncs = 0
  #gate: Promise<void> | null = null
  #release: (() => void) | null = null

  constructor(
    readonly inner: IoBackend,
    options: FaultyIoOptions = {},
  ) {
    this.name = `faulty(${inner.name})`
    this.random = prng(options.seed ?? 1)
    this.enospcAfterBytes = options.enospcAfterBytes ?? Number.POSITIVE_INFINITY
    this.disk = options.disk ?? null
    this.#options = options
    this.cache = options.pageCache ? new PageCache(options.pageCache.root) : null
    this.skipSyncs = new Set(options.skipSyncs ?? [])
    this.skipDirectorySync = options.skipDirectorySync ?? (() => false)
  }

  /**
   * A power cut: IO stops (like crash()), every open descriptor is closed, and the files under the
   * page-cache root are rewritten to what survives under `policy`. Returns a fresh backend over the
   * same inner one, as after a reboot.
   */
  powerLoss(policy: PowerLossPolicy = 'drop'): FaultyIo {
    const cache = this.cache
    if (cache === null) throw new Error('powerLoss needs the pageCache option')
    this.crash()
    for (const fd of cache.openFds()) this.inner.close(fd)
    cache.materialize(policy, this.random)
    return new FaultyIo(this.inner, { ...this.#options, seed: this.random.int(2 ** 31) })
  }

  /** Bytes of the files in disk.dir (0 without a disk model). */
  diskUsedBytes(): number {
    if (this.disk === null) return 0
    let used = 0
    for (const name of fs.readdirSync(this.disk.dir)) used += fs.statSync(path.join(this.disk.dir, name)).size
    return used
  }

  /** The write `writesFromNow` writes ahead (0 = the next) is torn to `prefixBytes` (default: random), then crash. */
  tearWrite(writesFromNow = 0, prefixBytes: number | null = null): void {
    this.#tearAtWrite = this.writeCount + writesFromNow
    this.#tearPrefixBytes = prefixBytes
  }

  /** The next `count` syncs (alone or inside writeDurable) fail with EIO. */
  failSyncs(count = 1): void {
    this.#failSyncs += count
  }

  crash(): void {
    this.crashed = true
    // An inner backend that defers its work (the test-fs one) must not perform it after the crash.
    if ('halt' in this.inner && typeof this.inner.halt === 'function') this.inner.halt()
    this.release()
  }

  /** Holds every completion until release(). */
  hold(): void {
    if (this.#gate !== null) return
    this.#gate = new Promise((resolve) => {
      this.#release = resolve
    })
  }

  release(): void {
    this.#release?.()
    this.#gate = null
    this.#release = null
  }

  open(path: string, create: boolean): number {
    this.#checkAlive()
    const fd = this.inner.open(path, create)
    this.cache?.opened(fd, path)
    return fd
  }

  allocate(fd: number, offset: number, bytes: number): void {
    this.#checkAlive()
    if (this.allocatedBytes + bytes > this.enospcAfterBytes) {
      throw new IoError('ENOSPC', 'no space left on device (injected)')
    }
    if (this.disk !== null) {
      const growth = Math.max(0, offset + bytes - fs.fstatSync(fd).size)
      if (this.diskUsedBytes() + growth > this.disk.capacityBytes) {
        throw new IoError('ENOSPC', 'no space left on device (injected disk full)')
      }
    }
    this.inner.allocate(fd, offset, bytes)
    this.cache?.resized(fd, Math.max(this.inner.fileSize(fd), offset + bytes))
    this.allocatedBytes += bytes
  }

  writeDurable(fd: number, bytes: Uint8Array, offset: number, waitingIdle?: boolean): Promise<void> {
    return this.#write(fd, bytes, offset, true, waitingIdle)
  }

  write(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
    return this.#write(fd, bytes, offset, false)
  }

  async sync(fd: number): Promise<void> {
    if (this.crashed) return never
    this.syncCount++
    const fail = this.#takeSyncFailure()
    const covered = this.cache?.pendingMark(fd) ?? 0
    await this.inner.sync(fd)
    await this.#settle()
    if (fail) throw new IoError('EIO', 'fdatasync failed (injected)')
    if (this.cache !== null && !this.skipSyncs.has(this.cache.syncCategory(fd))) this.cache.synced(fd, covered)
  }

  /** Makes nothing durable: the page-cache model keeps the range unsynced (a power loss may drop it). */
  async startWriteback(fd: number, offset: number, bytes: number): Promise<void> {
    if (this.crashed) return never
    await this.inner.startWriteback(fd, offset, bytes)
    await this.#settle()
  }

  close(fd: number): void {
    // After a crash the descriptor numbers may already belong to the next life of the process.
    if (this.crashed) return
    this.inner.close(fd)
    this.cache?.closed(fd)
  }

  readFile(path: string): Uint8Array {
    this.#checkAlive()
    return this.inner.readFile(path)
  }

  readDirectory(dir: string): string[] {
    this.#checkAlive()
    return this.inner.readDirectory(dir)
  }

  readAt(fd: number, target: Uint8Array, offset: number): number {
    this.#checkAlive()
    return this.inner.readAt(fd, target, offset)
  }

  /** Not modelled by the page cache: only a failed restore removes directories, and they are empty. */
  removeDirectory(dir: string): void {
    this.#checkAlive()
    this.inner.removeDirectory(dir)
  }

  makeDirectory(dir: string): boolean {
    this.#checkAlive()
    const created = this.inner.makeDirectory(dir)
    this.cache?.madeDirectory(dir)
    return created
  }

  rename(from: string, to: string): void {
    this.#checkAlive()
    this.inner.rename(from, to)
    this.cache?.renamed(from, to)
  }

  remove(path: string): void {
    this.#checkAlive()
    this.inner.remove(path)
    this.cache?.removed(path)
  }

  async removeInBackground(path: string): Promise<void> {
    this.#checkAlive()
    if (this.cache !== null) {
      // With the page-cache model the unlink happens now, on this thread: a real background unlink
      // could land after a power loss had rewritten the directory (powerLoss → materialize) and
      // delete a file of the new state, or race materialize's own rm/mkdir (EEXIST, ENOENT in the
      // sim). The model still treats it as an unsynced name change until the directory is synced.
      this.inner.remove(path)
      this.cache.removed(path)
      return
    }
    await this.inner.removeInBackground(path)
  }

  truncate(fd: number, bytes: number): void {
    this.#checkAlive()
    this.inner.truncate(fd, bytes)
    this.cache?.resized(fd, bytes)
  }

  fileSize(fd: number): number {
    this.#checkAlive()
    return this.inner.fileSize(fd)
  }

  syncNow(fd: number): void {
    this.#checkAlive()
    this.inner.syncNow(fd)
    if (this.cache !== null && !this.skipSyncs.has(this.cache.syncCategory(fd))) {
      this.cache.synced(fd, this.cache.pendingMark(fd))
    }
  }

  syncDirectory(dir: string): void {
    this.#checkAlive()
    this.inner.syncDirectory(dir)
    if (!this.skipDirectorySync(dir)) this.cache?.syncedDirectory(dir)
  }

  filesystemSpace(path: string): FilesystemSpace {
    this.#checkAlive()
    return this.#options.filesystemSpace ?? this.inner.filesystemSpace(path)
  }

  shutdown(): void {
    this.inner.shutdown()
  }

  async #write(fd: number, bytes: Uint8Array, offset: number, durable: boolean, waitingIdle?: boolean): Promise<void> {
    if (this.crashed) return never
    const index = this.writeCount++
    if (index === this.#tearAtWrite) {
      const prefix = this.#tearPrefixBytes ?? this.random.int(bytes.length)
      if (prefix > 0) await this.inner.write(fd, bytes.subarray(0, Math.min(prefix, bytes.length)), offset)
      this.crash()
      return never
    }
    const fail = durable && this.#takeSyncFailure()
    if (durable) this.syncCount++
    this.cache?.wrote(fd, bytes, offset)
    const covered = this.cache?.pendingMark(fd) ?? 0
    await (durable && !fail ? this.inner.writeDurable(fd, bytes, offset, waitingIdle) : this.inner.write(fd, bytes, offset))
    await this.#settle()
    if (fail) throw new IoError('EIO', 'fdatasync failed (injected)')
    if (durable && this.cache !== null && !this.skipSyncs.has('data')) this.cache.synced(fd, covered)
  }

  #takeSyncFailure(): boolean {
    if (this.#failSyncs === 0) return false
    this.#failSyncs--
    return true
  }

  /** After an operation: wait while held; never settle after a crash. */
  async #settle(): Promise<void> {
    while (this.#gate !== null) await this.#gate
    if (this.crashed) await never
  }

  #checkAlive(): void {
    if (this.crashed) throw new IoError('EIO', 'process crashed (injected)')
  }
}
