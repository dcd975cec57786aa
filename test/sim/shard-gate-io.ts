/**
 * An IoBackend wrapper for the host simulation: holds the completion of the durable writes and syncs
 * of ONE shard's files (by directory) until released, while the other shards' flushes go on. Put it
 * under FaultyIo (FaultyIo(ShardGateIo(pwrite))): the page-cache model then sees the held shard's
 * flushes as unsynced, so a power loss can lose one shard's recent records and keep another's —
 * the state in which a message released before its sender's records were durable shows.
 */
import type { IoBackend } from '../../src/io/backend.ts'

export class ShardGateIo {
  /** The directory whose flushes are held, or null. */
  private heldDir: string | null = null
  private gate: Promise<void> | null = null
  private open: (() => void) | null = null
  private readonly paths = new Map<number, string>()
  readonly backend: IoBackend

  constructor(inner: IoBackend) {
    const gated = (fd: number, run: () => Promise<void>): Promise<void> => this.gated(fd, run)
    const overrides: Partial<IoBackend> = {
      open: (path, create) => {
        const fd = inner.open(path, create)
        this.paths.set(fd, path)
        return fd
      },
      writeDurable: (fd, bytes, offset, waitingIdle) => gated(fd, () => inner.writeDurable(fd, bytes, offset, waitingIdle)),
      sync: (fd) => gated(fd, () => inner.sync(fd)),
    }
    this.backend = new Proxy(inner, {
      get(target, key) {
        if (key in overrides) return overrides[key as keyof IoBackend]
        const value = Reflect.get(target, key, target) as unknown
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  }

  get holding(): boolean {
    return this.heldDir !== null
  }

  /** Holds the flushes of the files under `dir` (one shard's directory) from now on. */
  hold(dir: string): void {
    this.release()
    this.heldDir = dir
    this.gate = new Promise((resolve) => (this.open = resolve))
  }

  release(): void {
    this.open?.()
    this.heldDir = null
    this.gate = null
    this.open = null
  }

  private async gated(fd: number, run: () => Promise<void>): Promise<void> {
    await run()
    const path = this.paths.get(fd) ?? ''
    while (this.gate !== null && this.heldDir !== null && path.startsWith(`${this.heldDir}/`)) await this.gate
  }
}
