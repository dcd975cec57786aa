/**
 * Chooses the IoBackend once at start-up. The only place that asks what the machine can do: can
 * liburing be loaded, will the kernel set up a ring (through liburing, or through raw system calls
 * when liburing is absent, as on a fresh Debian or Ubuntu), and does an RWF_DSYNC write + fdatasync
 * really land on disk. `auto` tries liburing, then the raw ring, then pwrite with the reason; it never
 * throws, so the single binary starts anywhere. A forced backend that cannot run throws instead.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Config, ioPreferences } from '../base/config.ts'
import type { IoBackend } from './backend.ts'
import { PwriteBackend } from './pwrite.ts'
import { liburingSoname, loadLiburing, type Liburing } from './uring/ffi.ts'
import { UringBackend, ringEntriesDefault } from './uring/backend.ts'
import { loadKernel } from './uring/kernel.ts'
import { KernelRingDriver } from './uring/kernel-ring.ts'
import { LiburingDriver } from './uring/liburing-ring.ts'
import { fsyncDatasync, opcode, Ring, type RingDriver, rwfDsync, stableAddress } from './uring/ring.ts'

export type IoPreference = Config['io']

/** The label of the raw-syscall ring on the start-up line and in /health. */
export const kernelRingName = 'io_uring (kernel, no liburing)'

/** `FLASHQ_IO=<preference>` overrides the argument (tests run one suite per backend with it). */
export function pickIo(preference: IoPreference): IoBackend {
  const fromEnv = process.env.FLASHQ_IO as IoPreference | undefined
  const wanted = fromEnv !== undefined && ioPreferences.includes(fromEnv) ? fromEnv : preference
  if (wanted === 'pwrite') return new PwriteBackend(null)
  if (wanted === 'liburing') return orThrow(probeUring())
  if (wanted === 'uring-raw') return orThrow(probeKernelRing())
  const viaLiburing = probeUring()
  if (viaLiburing instanceof UringBackend) return viaLiburing
  const raw = probeKernelRing()
  if (raw instanceof UringBackend) return raw
  if (wanted === 'uring') throw new Error(`io_uring unavailable: ${raw}`)
  return new PwriteBackend(`io_uring unavailable: ${raw}`)
}

/** Why `preference` cannot run here, or null when it can (the CLI checks before starting workers). */
export function ioUnavailableReason(preference: IoPreference): string | null {
  if (preference === 'auto' || preference === 'pwrite') return null
  try {
    pickIo(preference).shutdown()
    return null
  } catch (error) {
    return firstLine(error)
  }
}

/**
 * Whether the backend `preference` resolves to here blocks its thread in fdatasync (pwrite), so the
 * stores should not share the main thread by default. `auto` is resolved by probing, as pickIo does.
 */
export function ioBlocksThread(preference: IoPreference): boolean {
  const fromEnv = process.env.FLASHQ_IO as IoPreference | undefined
  const wanted = fromEnv !== undefined && ioPreferences.includes(fromEnv) ? fromEnv : preference
  if (wanted === 'pwrite') return true
  if (wanted !== 'auto') return false
  const backend = pickIo('auto')
  backend.shutdown()
  return backend instanceof PwriteBackend
}

function orThrow(probe: UringBackend | string): UringBackend {
  if (typeof probe === 'string') throw new Error(probe)
  return probe
}

/** The io_uring backend through liburing, or why it cannot run. */
export function probeUring(soname = liburingSoname): UringBackend | string {
  let lib: Liburing
  try {
    lib = loadLiburing(soname)
  } catch (error) {
    return `cannot load ${soname} (${firstLine(error)})`
  }
  const name = `io_uring (liburing ${lib.version})`
  return probeRing((entries) => new LiburingDriver(lib, entries), name)
}

/** The io_uring backend on a ring set up with raw system calls (no liburing), or why it cannot run. */
export function probeKernelRing(libcSoname = 'libc.so.6'): UringBackend | string {
  let kernel
  try {
    kernel = loadKernel(libcSoname)
  } catch (error) {
    return `cannot load ${libcSoname} (${firstLine(error)})`
  }
  return probeRing((entries) => new KernelRingDriver(kernel, entries), kernelRingName)
}

function probeRing(makeDriver: (entries: number) => RingDriver, name: string): UringBackend | string {
  try {
    selfTest(new Ring(makeDriver(4)))
    return new UringBackend(makeDriver(ringEntriesDefault), name)
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
/** Waits of the self-test, each ended by a completion or a signal. */
const selfTestWaitsMax = 100
const eintr = 4

function selfTest(ring: Ring): void {
  const dir = mkdtempSync(join(tmpdir(), 'flashq-io-probe-'))
  const fd = openSync(join(dir, 'probe'), 'w+')
  try {
    const bytes = new TextEncoder().encode('flashq io_uring self-test\n')
    const wrote = ring.prepare(opcode.write, fd, stableAddress(bytes, 0), bytes.length, 0, 0, rwfDsync, 1)
    const synced = ring.prepare(opcode.fsync, fd, 0, 0, 0, 0, fsyncDatasync, 2)
    if (!wrote || !synced) throw new Error('self-test: no SQE available')
    // A signal (a profiler's SIGPROF, say) may end the wait early: wait again for what is missing.
    const results = new Map<number, number>()
    for (let attempt = 0; attempt < selfTestWaitsMax && results.size < 2; attempt++) {
      const waited = ring.submitAndWait(2 - results.size)
      if (waited < 0 && -waited !== eintr) throw new Error(`self-test: submit and wait returned ${waited}`)
      for (const completion of ring.reap()) results.set(completion.userData, completion.res)
    }
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
