/**
 * An IoBackend that keeps nothing and touches no file: every directory is empty, every write is
 * dropped and completes at once. Only for the start-up warm-up (server/warmup.ts), whose scratch
 * shards run the real log code so it is compiled before the first client, without writing a byte
 * anywhere. Never a backend for data anyone keeps.
 */
import { IoError, type FilesystemSpace, type IoBackend } from './backend.ts'

/** What the scratch filesystem reports as free and total: enough that no limit is ever reached. */
const discardSpaceBytes = 2 ** 50

export class DiscardIo implements IoBackend {
  readonly name = 'discard (warm-up)'
  readonly fallbackReason = null
  /** Size of each open scratch file: the end of the furthest write or allocation. */
  private readonly sizes = new Map<number, number>()
  private nextFd = 1

  open(): number {
    const fd = this.nextFd++
    this.sizes.set(fd, 0)
    return fd
  }

  allocate(fd: number, offset: number, bytes: number): void {
    this.grow(fd, offset + bytes)
  }

  async writeDurable(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
    this.grow(fd, offset + bytes.length)
  }

  writeDurableNow(fd: number, bytes: Uint8Array, offset: number): boolean {
    this.grow(fd, offset + bytes.length)
    return true
  }

  async write(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
    this.grow(fd, offset + bytes.length)
  }

  async sync(): Promise<void> {}
  async startWriteback(): Promise<void> {}

  close(fd: number): void {
    this.sizes.delete(fd)
  }

  shutdown(): void {
    this.sizes.clear()
  }

  readFile(path: string): Uint8Array {
    throw new IoError('ENOENT', `${path}: the warm-up's scratch filesystem keeps no files`)
  }

  readAt(): number {
    return 0
  }

  readDirectory(): string[] {
    return []
  }

  makeDirectory(): boolean {
    return true
  }

  rename(): void {}
  remove(): void {}
  async removeInBackground(): Promise<void> {}
  removeDirectory(): void {}

  truncate(fd: number, bytes: number): void {
    this.sizes.set(fd, bytes)
  }

  fileSize(fd: number): number {
    return this.sizes.get(fd) ?? 0
  }

  syncNow(): void {}
  syncDirectory(): void {}

  filesystemSpace(): FilesystemSpace {
    return { availableBytes: discardSpaceBytes, totalBytes: discardSpaceBytes }
  }

  private grow(fd: number, end: number): void {
    if (end > (this.sizes.get(fd) ?? 0)) this.sizes.set(fd, end)
  }
}
