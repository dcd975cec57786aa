/**
 * One conformance suite for every IoBackend (io_uring, pwrite, and the fault-injecting wrapper when
 * it passes faults through). test/conformance/io.test.ts runs it once per backend. Results are read
 * back with node:fs, never through the backend under test.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type IoBackend, IoError } from '../../src/io/backend.ts'

const KiB = 1024
const MiB = 1024 * KiB

/** Deterministic bytes, different per seed, so a misplaced write cannot look right by accident. */
function pattern(length: number, seed: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    bytes[i] = x & 0xff
  }
  return bytes
}

/** The whole file as a plain Uint8Array (not a Buffer, so toEqual compares bytes only). */
function readAll(path: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(readFileSync(path))
}

function slice(path: string, offset: number, length: number): Uint8Array<ArrayBuffer> {
  return readAll(path).subarray(offset, offset + length)
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error('expected a rejection, got success'),
    (error: unknown) => error,
  )
}

/** A 1 MiB tmpfs to provoke ENOSPC; `reason` says why there is none (not root, no mount). */
function mountTinyFs(): { dir: string; unmount: () => void } | { reason: string } {
  const dir = mkdtempSync(join(tmpdir(), 'flashq-io-tiny-'))
  const mounted = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir])
  if (mounted.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true })
    const why = mounted.stderr.toString().trim() || `exit ${mounted.exitCode}`
    return { reason: `cannot mount a 1 MiB tmpfs: ${why}` }
  }
  return {
    dir,
    unmount: () => {
      // io_uring drops its file references asynchronously, so a plain umount may meet EBUSY: detach lazily then.
      if (Bun.spawnSync(['umount', dir]).exitCode !== 0) Bun.spawnSync(['umount', '-l', dir])
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export function ioConformance(name: string, make: () => IoBackend): void {
  describe(`IoBackend conformance: ${name}`, () => {
    let io: IoBackend
    let dir: string
    const opened: number[] = []
    const openFile = (file: string): { fd: number; path: string } => {
      const path = join(dir, file)
      const fd = io.open(path, true)
      opened.push(fd)
      return { fd, path }
    }

    beforeAll(() => {
      io = make()
      dir = mkdtempSync(join(tmpdir(), 'flashq-io-conf-'))
    })
    afterAll(() => {
      for (const fd of opened) {
        try {
          io.close(fd)
        } catch {
          // Already closed by the test.
        }
      }
      io.shutdown()
      rmSync(dir, { recursive: true, force: true })
    })

    test('name and fallbackReason are reported', () => {
      expect(io.name.length).toBeGreaterThan(0)
      expect(io.fallbackReason === null || io.fallbackReason.length > 0).toBe(true)
    })

    test('open without create fails with IoError ENOENT', () => {
      let caught: unknown = null
      try {
        io.open(join(dir, 'missing'), false)
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(IoError)
      expect((caught as IoError).code).toBe('ENOENT')
    })

    test('writeDurable at offsets reads back', async () => {
      const { fd, path } = openFile('offsets')
      const writes = [
        { offset: 0, bytes: pattern(100, 1) },
        { offset: 4096, bytes: pattern(4096, 2) },
        { offset: 100_003, bytes: pattern(777, 3) },
        { offset: 50, bytes: pattern(10, 4) }, // overwrites inside the first write
      ]
      for (const { offset, bytes } of writes) await io.writeDurable(fd, bytes, offset)
      expect(statSync(path).size).toBe(100_003 + 777)
      expect(slice(path, 0, 50)).toEqual(pattern(100, 1).subarray(0, 50))
      expect(slice(path, 50, 10)).toEqual(pattern(10, 4))
      expect(slice(path, 60, 40)).toEqual(pattern(100, 1).subarray(60))
      expect(slice(path, 4096, 4096)).toEqual(pattern(4096, 2))
      expect(slice(path, 100_003, 777)).toEqual(pattern(777, 3))
    })

    test('write then sync, and a subarray view, read back', async () => {
      const { fd, path } = openFile('write-sync')
      const backing = pattern(1000, 5)
      await io.write(fd, backing.subarray(200, 300), 0)
      await io.write(fd, new Uint8Array(0), 0)
      await io.sync(fd)
      expect(readAll(path)).toEqual(backing.subarray(200, 300))
    })

    test('startWriteback after writes changes nothing that reads back; a sync after it completes the file', async () => {
      const { fd, path } = openFile('writeback')
      const pieceBytes = 64 * KiB
      for (let i = 0; i < 4; i++) {
        io.allocate(fd, i * pieceBytes, pieceBytes)
        await io.write(fd, pattern(pieceBytes, 300 + i), i * pieceBytes)
        await io.startWriteback(fd, i * pieceBytes, pieceBytes)
      }
      await io.startWriteback(fd, 0, 0) // an empty range is fine
      await io.sync(fd)
      const all = readAll(path)
      expect(all.length).toBe(4 * pieceBytes)
      for (let i = 0; i < 4; i++) expect(all.subarray(i * pieceBytes, (i + 1) * pieceBytes)).toEqual(pattern(pieceBytes, 300 + i))
    })

    test('many sequential writeDurable calls append in order', async () => {
      const { fd, path } = openFile('sequential')
      const recordBytes = 200
      const rounds = 300
      for (let i = 0; i < rounds; i++) {
        await io.writeDurable(fd, pattern(recordBytes, 1000 + i), i * recordBytes)
      }
      const all = readAll(path)
      expect(all.length).toBe(rounds * recordBytes)
      for (let i = 0; i < rounds; i += 37) {
        expect(all.subarray(i * recordBytes, (i + 1) * recordBytes)).toEqual(pattern(200, 1000 + i))
      }
    })

    test('writeDurable for an idle caller (waitingIdle) reads back: alone, beside a write in flight, and too large to block', async () => {
      const { fd, path } = openFile('waiting-idle')
      const recordBytes = 300
      for (let i = 0; i < 50; i++) await io.writeDurable(fd, pattern(recordBytes, 2000 + i), i * recordBytes, true)
      // Another file's write in flight: the hinted one must not overtake or lose anything either way.
      const other = openFile('waiting-idle-other')
      await Promise.all([
        io.writeDurable(other.fd, pattern(64 * KiB, 7), 0),
        io.writeDurable(fd, pattern(recordBytes, 2050), 50 * recordBytes, true),
      ])
      await io.writeDurable(fd, pattern(MiB, 2051), 51 * recordBytes, true)
      const all = readAll(path)
      expect(all.length).toBe(51 * recordBytes + MiB)
      for (let i = 0; i <= 50; i++) expect(all.subarray(i * recordBytes, (i + 1) * recordBytes)).toEqual(pattern(recordBytes, 2000 + i))
      expect(all.subarray(51 * recordBytes)).toEqual(pattern(MiB, 2051))
      expect(readAll(other.path)).toEqual(pattern(64 * KiB, 7))
    })

    test('concurrent writeDurable on two files', async () => {
      const a = openFile('concurrent-a')
      const b = openFile('concurrent-b')
      const rounds = 50
      const bytes = 51 * KiB
      for (let i = 0; i < rounds; i++) {
        // One flush in flight per file, two files at once: the contract storage relies on.
        await Promise.all([
          io.writeDurable(a.fd, pattern(bytes, 2 * i), i * bytes),
          io.writeDurable(b.fd, pattern(bytes, 2 * i + 1), i * bytes),
        ])
      }
      for (const i of [0, 17, rounds - 1]) {
        expect(slice(a.path, i * bytes, bytes)).toEqual(pattern(bytes, 2 * i))
        expect(slice(b.path, i * bytes, bytes)).toEqual(pattern(bytes, 2 * i + 1))
      }
    })

    test('large write (8 MiB) reads back', async () => {
      const { fd, path } = openFile('large')
      const bytes = pattern(8 * MiB, 42)
      await io.writeDurable(fd, bytes, 4096)
      expect(statSync(path).size).toBe(4096 + 8 * MiB)
      expect(slice(path, 4096, 8 * MiB)).toEqual(bytes)
    })

    test('allocate, then overwrite inside the allocation', async () => {
      const { fd, path } = openFile('allocated')
      io.allocate(fd, 0, 1 * MiB)
      expect(statSync(path).size).toBe(1 * MiB)
      expect(slice(path, 0, 1 * MiB).every((b) => b === 0)).toBe(true)
      const bytes = pattern(51 * KiB, 7)
      await io.writeDurable(fd, bytes, 300 * KiB)
      expect(statSync(path).size).toBe(1 * MiB)
      expect(slice(path, 300 * KiB, bytes.length)).toEqual(bytes)
      expect(slice(path, 0, 300 * KiB).every((b) => b === 0)).toBe(true)
      io.allocate(fd, 1 * MiB, 64 * KiB) // extending keeps existing bytes
      expect(statSync(path).size).toBe(1 * MiB + 64 * KiB)
      expect(slice(path, 300 * KiB, bytes.length)).toEqual(bytes)
    })

    test('removeInBackground deletes on another thread: the call returns before the unlink; missing files are fine, a directory is refused', async () => {
      const { fd, path } = openFile('to-remove')
      io.allocate(fd, 0, 4 * MiB)
      io.close(fd)
      let settled = false
      const removing = io.removeInBackground(path).then(() => (settled = true))
      expect(settled).toBe(false)
      await removing
      expect(existsSync(path)).toBe(false)
      await io.removeInBackground(path) // already gone: not an error
      const inner = join(dir, 'a-directory')
      mkdirSync(join(inner, 'child'), { recursive: true })
      const error = await rejection(io.removeInBackground(inner))
      expect(error).toBeInstanceOf(IoError)
      expect(String(error)).toContain(inner)
      expect(existsSync(join(inner, 'child'))).toBe(true)
    })

    test('closed and invalid fds reject with IoError, and the backend keeps working', async () => {
      const closedPath = join(dir, 'closed')
      const closed = openSync(closedPath, 'w+')
      closeSync(closed)
      // Nothing opens a file between closeSync and the calls below: they submit synchronously.
      const failures = [
        await rejection(io.writeDurable(closed, pattern(64, 8), 0)),
        await rejection(io.write(closed, pattern(64, 8), 0)),
        await rejection(io.sync(closed)),
        await rejection(io.startWriteback(closed, 0, 4096)),
        await rejection(io.writeDurable(1_000_000, pattern(64, 8), 0)),
        await rejection(io.writeDurable(closed, pattern(64, 8), 0, true)),
      ]
      for (const failure of failures) {
        expect(failure).toBeInstanceOf(IoError)
        expect((failure as IoError).code).toBe('EBADF')
      }
      const { fd, path } = openFile('after-failure')
      await io.writeDurable(fd, pattern(64, 9), 0)
      expect(readAll(path)).toEqual(pattern(64, 9))
    })

    const tiny = mountTinyFs()
    afterAll(() => {
      if ('unmount' in tiny) tiny.unmount()
    })
    const enospcTitle = 'a full disk surfaces as IoError ENOSPC from allocate and writeDurable'
    if ('reason' in tiny) {
      test.skip(`${enospcTitle} — SKIPPED: ${tiny.reason}`, () => {})
    } else {
      test(enospcTitle, async () => {
        const fd = io.open(join(tiny.dir, 'full'), true)
        opened.push(fd)
        let caught: unknown = null
        try {
          io.allocate(fd, 0, 4 * MiB)
        } catch (error) {
          caught = error
        }
        expect(caught).toBeInstanceOf(IoError)
        expect((caught as IoError).code).toBe('ENOSPC')
        const failure = await rejection(io.writeDurable(fd, pattern(4 * MiB, 10), 0))
        expect(failure).toBeInstanceOf(IoError)
        expect((failure as IoError).code).toBe('ENOSPC')
      })
    }
  })
}
