/**
 * Chooses the IoBackend once at start-up. The only place that asks what the machine can do:
 * can liburing be loaded, will the kernel set up a ring, and does an RWF_DSYNC write + fdatasync really
 * land on disk. Any failure gives the pwrite backend with `io_uring unavailable: <reason>`. Never
 * throws, so the single binary starts on machines without liburing.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IoBackend } from './backend.ts'
import { PwriteBackend } from './pwrite.ts'
import { liburingSoname, loadLiburing, type Liburing } from './uring/ffi.ts'
import { UringBackend } from './uring/backend.ts'
import { fsyncDatasync, opcode, Ring, rwfDsync, stableAddress } from './uring/ring.ts'

export type IoPreference = 'auto' | 'uring' | 'pwrite'

/** `FLASHQ_IO=pwrite|uring` overrides the preference (tests run one suite per backend with it). */
export function pickIo(preference: IoPreference): IoBackend {
  const fromEnv = process.env.FLASHQ_IO
  const wanted = fromEnv === 'pwrite' || fromEnv === 'uring' ? fromEnv : preference
  if (wanted === 'pwrite') return new PwriteBackend(null)
  const probe = probeUring()
  if (typeof probe === 'string') return new PwriteBackend(`io_uring unavailable: ${probe}`)
  return probe
}

/** The io_uring backend, or why it cannot run. */
export function probeUring(soname = liburingSoname): UringBackend | string {
  let lib: Liburing
  try {
    lib = loadLiburing(soname)
  } catch (error) {
    return `cannot load ${soname} (${firstLine(error)})`
  }
  try {
    selfTest(lib)
  } catch (error) {
    return `${firstLine(error)}${disabledNote()}`
  }
  try {
    return new UringBackend(lib)
  } catch (error) {
    return `${firstLine(error)}${disabledNote()}`
  }
}

/**
 * On a throw-away ring: an RWF_DSYNC write and an fdatasync of a temp file (the two SQEs the backend
 * uses), waited for synchronously, must report the full length, a successful sync, and the bytes must
 * read back. This exercises the SQE and CQE offsets and the kernel's support for rw_flags end to end
 * before any real data depends on them.
 */
function selfTest(lib: Liburing): void {
  const ring = new Ring(lib, 4)
  const dir = mkdtempSync(join(tmpdir(), 'flashq-io-probe-'))
  const fd = openSync(join(dir, 'probe'), 'w+')
  try {
    const bytes = new TextEncoder().encode('flashq io_uring self-test\n')
    const wrote = ring.prepare(opcode.write, fd, stableAddress(bytes, 0), bytes.length, 0, 0, rwfDsync, 1)
    const synced = ring.prepare(opcode.fsync, fd, 0, 0, 0, 0, fsyncDatasync, 2)
    if (!wrote || !synced) throw new Error('self-test: no SQE available')
    const waited = ring.submitAndWait(2)
    if (waited < 0) throw new Error(`self-test: io_uring_submit_and_wait returned ${waited}`)
    const results = new Map(ring.reap().map((c) => [c.userData, c.res]))
    if (results.get(1) !== bytes.length || results.get(2) !== 0) {
      throw new Error(`self-test: write res ${results.get(1)}, fsync res ${results.get(2)}`)
    }
    const back = readFileSync(join(dir, 'probe'), 'utf8')
    if (back !== 'flashq io_uring self-test\n') throw new Error('self-test: bytes did not read back')
  } finally {
    ring.exit()
    closeSync(fd)
    rmSync(dir, { recursive: true, force: true })
  }
}

function disabledNote(): string {
  try {
    const value = readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim()
    return value === '0' ? '' : ` (kernel.io_uring_disabled=${value})`
  } catch {
    return ''
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''
}
