import { expect, test } from 'bun:test'
import type { IoBackend } from './backend.ts'
import { reportSlowIo, type SlowIoReport } from './slow-io.ts'

/** A backend whose durable writes and syncs take `delayMs` on a fake clock; with a private field, as the real ones. */
class DelayedBackend implements IoBackend {
  readonly name = 'delayed'
  readonly fallbackReason = null
  nowMs = 0
  #opened = 0
  constructor(public delayMs: number) {}
  open(): number { return ++this.#opened }
  allocate(): void {}
  async writeDurable(): Promise<void> { this.nowMs += this.delayMs }
  async write(): Promise<void> {}
  async sync(): Promise<void> { this.nowMs += this.delayMs }
  async startWriteback(): Promise<void> {}
  close(): void {}
  shutdown(): void {}
  // File and directory operations: not timed by the wrapper, never called here.
  readFile(): Uint8Array { return new Uint8Array() }
  readDirectory(): string[] { return [] }
  readAt(): number { return 0 }
  removeDirectory(): void {}
  makeDirectory(): boolean { return false }
  rename(): void {}
  remove(): void {}
  async removeInBackground(): Promise<void> {}
  truncate(): void {}
  fileSize(): number { return 0 }
  syncNow(): void {}
  syncDirectory(): void {}
  filesystemSpace() { return { availableBytes: 0, totalBytes: 0 } }
}

function wrap(backend: DelayedBackend, slowMs: number, reportEveryMs: number) {
  const reports: SlowIoReport[] = []
  const io = reportSlowIo(backend, slowMs, reportEveryMs, (report) => reports.push(report), () => backend.nowMs)
  return { io, reports }
}

test('a slow durable write is reported; other members reach the real backend', async () => {
  const backend = new DelayedBackend(30)
  const { io, reports } = wrap(backend, 20, 10_000)
  expect(io.name).toBe('delayed')
  expect(io.open('x', true)).toBe(1) // bound to the real backend, so its private fields work
  await io.writeDurable(1, new Uint8Array(100), 0)
  expect(reports).toEqual([{ operation: 'flush (write + fdatasync)', bytes: 100, ms: 30, slowSinceLastReport: 1 }])
  backend.delayMs = 5
  await io.sync(1)
  expect(reports).toHaveLength(1) // fast: not counted
})

test('reports are rate-limited: slow writes within the interval are counted into the next report', async () => {
  const backend = new DelayedBackend(30)
  const { io, reports } = wrap(backend, 20, 1000)
  for (let i = 0; i < 10; i++) await io.writeDurable(1, new Uint8Array(1), 0) // 300 ms of slow writes
  expect(reports).toHaveLength(1)
  backend.nowMs += 1000
  await io.sync(1)
  expect(reports.map((r) => [r.operation, r.slowSinceLastReport])).toEqual([['flush (write + fdatasync)', 1], ['fdatasync', 10]])
})
