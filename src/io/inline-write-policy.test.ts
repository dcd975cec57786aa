import { afterEach, describe, expect, test } from 'bun:test'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InlineWritePolicy, inlinePauseMs, inlineWriteSlowMs } from './inline-write-policy.ts'
import { loadLiburing } from './uring/ffi.ts'
import { LiburingDriver } from './uring/liburing-ring.ts'
import { UringBackend } from './uring/backend.ts'

/** A clock the test moves; `perCall` is added at every reading (so a write between two readings takes it). */
function fakeClock(perCall = 0) {
  const clock = { ms: 1000, perCall, now: () => (clock.ms += clock.perCall) }
  return clock
}

describe('InlineWritePolicy', () => {
  test('fast writes on the thread keep it allowed; a slow one pauses it for inlinePauseMs', () => {
    const clock = fakeClock()
    const policy = new InlineWritePolicy(clock.now)
    const writeTaking = (ms: number) => () => void (clock.ms += ms)
    for (let i = 0; i < 5; i++) {
      policy.run(writeTaking(inlineWriteSlowMs / 2))
      expect(policy.allowed()).toBe(true)
    }
    policy.run(writeTaking(inlineWriteSlowMs * 3))
    expect(policy.allowed()).toBe(false)
    clock.ms += inlinePauseMs - 1
    expect(policy.allowed()).toBe(false)
    clock.ms += 1
    expect(policy.allowed()).toBe(true)
  })

  test('during the pause a fast ring write ends it; a slow one does not', async () => {
    const clock = fakeClock()
    const policy = new InlineWritePolicy(clock.now)
    policy.run(() => void (clock.ms += inlineWriteSlowMs * 3))
    await policy.throughRing(async () => void (clock.ms += inlineWriteSlowMs * 2))
    expect(policy.allowed()).toBe(false)
    await policy.throughRing(async () => void (clock.ms += inlineWriteSlowMs / 2))
    expect(policy.allowed()).toBe(true)
    // A failed ring write reaches the caller and ends nothing.
    policy.run(() => void (clock.ms += inlineWriteSlowMs * 3))
    await expect(policy.throughRing(async () => Promise.reject(new Error('EIO: write')))).rejects.toThrow('EIO: write')
    expect(policy.allowed()).toBe(false)
  })

  test('a slow write that fails pauses too, and its error reaches the caller', () => {
    const clock = fakeClock()
    const policy = new InlineWritePolicy(clock.now)
    expect(() => policy.run(() => {
      clock.ms += inlineWriteSlowMs * 2
      throw new Error('EIO: fdatasync')
    })).toThrow('EIO: fdatasync')
    expect(policy.allowed()).toBe(false)
  })
})

let liburingMissing: string | null = null
try {
  loadLiburing()
} catch (error) {
  liburingMissing = (error as Error).message
}

describe.skipIf(liburingMissing !== null)(`io_uring backend: a hinted write on the thread only while the disk is fast${liburingMissing === null ? '' : ` — SKIPPED: ${liburingMissing}`}`, () => {
  const cleanups: Array<() => void> = []
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup()
  })

  function setup(clock: ReturnType<typeof fakeClock>) {
    const dir = mkdtempSync(join(tmpdir(), 'flashq-inline-'))
    const path = join(dir, 'log')
    const fd = openSync(path, 'w+')
    const io = new UringBackend(new LiburingDriver(loadLiburing(), 8), 'io_uring (test)', new InlineWritePolicy(clock.now))
    cleanups.push(() => {
      io.shutdown()
      closeSync(fd)
      rmSync(dir, { recursive: true, force: true })
    })
    return { io, fd, path }
  }

  /** Whether the write settled within two microtasks: only one done on the calling thread can. */
  async function settledInline(write: Promise<void>): Promise<boolean> {
    let settled = false
    const done = write.then(() => void (settled = true))
    await Promise.resolve()
    await Promise.resolve()
    const inline = settled
    await done
    return inline
  }

  test('on a fast disk every hinted small write is done on the thread; unhinted ones go to the ring', async () => {
    const { io, fd, path } = setup(fakeClock(0))
    const bytes = new TextEncoder().encode('0123456789')
    expect(await settledInline(io.writeDurable(fd, bytes, 0, true))).toBe(true)
    expect(await settledInline(io.writeDurable(fd, bytes, 10, true))).toBe(true)
    expect(await settledInline(io.writeDurable(fd, bytes, 20))).toBe(false)
    expect(readFileSync(path, 'utf8')).toBe('012345678901234567890123456789')
  })

  test('after a slow write on the thread, hinted writes go to the ring while they are slow too, at most inlinePauseMs', async () => {
    // Each clock reading advances past the slow mark: every write looks slow, on the thread or not.
    const clock = fakeClock(inlineWriteSlowMs + 1)
    const { io, fd, path } = setup(clock)
    const bytes = new TextEncoder().encode('abcde')
    expect(await settledInline(io.writeDurable(fd, bytes, 0, true))).toBe(true)
    expect(await settledInline(io.writeDurable(fd, bytes, 5, true))).toBe(false)
    expect(await settledInline(io.writeDurable(fd, bytes, 10, true))).toBe(false)
    clock.ms += inlinePauseMs
    expect(await settledInline(io.writeDurable(fd, bytes, 15, true))).toBe(true) // the pause ran out
    // The disk is fast again: the first ring write says so, and the next one is on the thread.
    expect(await settledInline(io.writeDurable(fd, bytes, 20, true))).toBe(false)
    clock.perCall = 0
    expect(await settledInline(io.writeDurable(fd, bytes, 25, true))).toBe(false)
    expect(await settledInline(io.writeDurable(fd, bytes, 30, true))).toBe(true)
    expect(readFileSync(path, 'utf8')).toBe('abcde'.repeat(7))
  })
})
