/**
 * Runs the IoBackend conformance suite against every backend this machine can run, checks the
 * hand-written io_uring ABI offsets against a compiled C program, and checks pickIo's choices.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { kernelRingName, pickIo, probeKernelRing, probeUring } from '../../src/io/pick.ts'
import { PwriteBackend } from '../../src/io/pwrite.ts'
import { blockingWriteBytesMax, UringBackend } from '../../src/io/uring/backend.ts'
import { InlineWritePolicy, inlinePauseMs } from '../../src/io/inline-write-policy.ts'
import { loadLiburing } from '../../src/io/uring/ffi.ts'
import { ptr } from 'bun:ffi'
import { cqeLayout, fsyncDatasync, opcode, rwfDsync, sqeLayout, stableAddress } from '../../src/io/uring/ring.ts'
import { LiburingDriver, ringLayout } from '../../src/io/uring/liburing-ring.ts'
import { cqOffsetsLayout, enterFlags, featExtArg, featSingleMmap, geteventsArgLayout, mmapOffset, paramsLayout, sqOffsetsLayout }
  from '../../src/io/uring/kernel-ring.ts'
import { mman, syscallNumber } from '../../src/io/uring/kernel.ts'
import { syncFileRangeWrite } from '../../src/io/libc.ts'
import { ioConformance } from './io-suite.ts'

ioConformance('pwrite', () => new PwriteBackend(null))

/** One suite per io_uring path; a path this machine cannot run is a visible skip with the reason. */
function uringConformance(name: string, probe: () => UringBackend | string): UringBackend | string {
  const first = probe()
  if (typeof first === 'string') {
    describe.skip(`IoBackend conformance: ${name} — SKIPPED: ${first}`, () => {
      test('skipped', () => {})
    })
    return first
  }
  first.shutdown() // the probe's instance; the suite makes its own
  ioConformance(name, () => {
    const backend = probe()
    if (!(backend instanceof UringBackend)) throw new Error(`${name} vanished: ${backend}`)
    return backend
  })
  return first
}

const uring = uringConformance('io_uring (liburing)', () => probeUring())
const rawUring = uringConformance('io_uring (raw syscalls, no liburing)', () => probeKernelRing())

test('stableAddress gives an address that survives .buffer access and GC', () => {
  // Bun 1.4.5: a small `new Uint8Array(n)` moves when `.buffer` is first read; a plain ptr() taken
  // before that dangles. If this starts failing the other way round, Bun changed, not us.
  const moving = new Uint8Array(64)
  const early = ptr(moving)
  void moving.buffer
  const movedByBufferAccess = early !== ptr(moving)
  const bytes = new Uint8Array(64)
  const address = stableAddress(bytes, 8)
  void new DataView(bytes.buffer)
  Bun.gc(true)
  expect(ptr(bytes, 8)).toBe(address)
  expect(stableAddress(bytes, 8)).toBe(address)
  if (!movedByBufferAccess) console.log('note: this Bun no longer moves small typed arrays')
})

/**
 * A liburing backend with a stopped clock and a log file in a fresh directory, for `body`. The
 * stopped clock: no write on the thread looks slow, so a busy machine's slow fdatasync cannot pause
 * the thread path (InlineWritePolicy) and turn an expected 'fulfilled' into 'pending'.
 */
async function withIdleRing(body: (io: UringBackend, fd: number, path: string, dir: string) => Promise<void>): Promise<void> {
  const io = new UringBackend(new LiburingDriver(loadLiburing(), 8), 'io_uring (test)', new InlineWritePolicy(() => 0))
  const dir = mkdtempSync(join(tmpdir(), 'flashq-io-idle-'))
  const path = join(dir, 'log')
  const fd = io.open(path, true)
  try {
    await body(io, fd, path, dir)
  } finally {
    io.close(fd)
    io.shutdown()
    rmSync(dir, { recursive: true, force: true })
  }
}

test.skipIf(typeof uring === 'string')('io_uring: a small write for an idle caller is written and synced before writeDurable returns, unless another durable write is in flight', () =>
  withIdleRing(async (io, fd, path, dir) => {
    const bytes = new TextEncoder().encode('one record\n')
    const idle = io.writeDurable(fd, bytes, 0, true)
    // Settled on return: done on this thread. The ring's completions are reaped on a later turn.
    expect(Bun.peek.status(idle)).toBe('fulfilled')
    expect(readFileSync(path, 'utf8')).toBe('one record\n')
    const unhinted = io.writeDurable(fd, bytes, bytes.length)
    expect(Bun.peek.status(unhinted)).toBe('pending')
    await unhinted
    expect(readFileSync(path, 'utf8')).toBe('one record\none record\n')
    // A write nobody waits for (a checkpoint's) in flight on another file: still on this thread.
    const other = io.open(join(dir, 'checkpoint'), true)
    const background = io.write(other, new Uint8Array(8 * 1024 * 1024).fill(7), 0)
    const beside = io.writeDurable(fd, bytes, 2 * bytes.length, true)
    expect(Bun.peek.status(beside)).toBe('fulfilled')
    // Another durable write in flight (its caller waits for the ring): the hinted one joins the ring.
    const durable = io.writeDurable(other, bytes, 0)
    const behind = io.writeDurable(fd, bytes, 3 * bytes.length, true)
    expect(Bun.peek.status(behind)).toBe('pending')
    await Promise.all([background, durable, behind])
    io.close(other)
    expect(readFileSync(path, 'utf8')).toBe('one record\n'.repeat(4))
  }))

test.skipIf(typeof uring === 'string')('io_uring: an idle caller\'s write of a few records with the zeros storage writes ahead of them (64 KiB) is done on the thread; a batch larger than blockingWriteBytesMax goes to the ring', () =>
  withIdleRing(async (io, fd, path) => {
    const zeroAhead = new Uint8Array(64 * 1024 + 200).fill(1)
    const inline = io.writeDurable(fd, zeroAhead, 0, true)
    expect(Bun.peek.status(inline)).toBe('fulfilled')
    const largest = new Uint8Array(blockingWriteBytesMax).fill(2)
    expect(Bun.peek.status(io.writeDurable(fd, largest, 0, true))).toBe('fulfilled')
    const batch = io.writeDurable(fd, new Uint8Array(blockingWriteBytesMax + 1).fill(3), 0, true)
    expect(Bun.peek.status(batch)).toBe('pending')
    await batch
    expect(readFileSync(path).length).toBe(blockingWriteBytesMax + 1)
  }))

test.skipIf(typeof uring === 'string')('io_uring: writeDurableNow writes and syncs what writeDurable would do on the thread, and declines the rest', () =>
  withIdleRing(async (io, fd, path, dir) => {
    const bytes = new TextEncoder().encode('one record\n')
    expect(io.writeDurableNow(fd, bytes, 0)).toBe(true)
    expect(readFileSync(path, 'utf8')).toBe('one record\n')
    expect(io.writeDurableNow(fd, new Uint8Array(blockingWriteBytesMax + 1), 0)).toBe(false)
    // Another durable write in flight: declined, as writeDurable would send it to the ring.
    const other = io.open(join(dir, 'other'), true)
    const durable = io.writeDurable(other, bytes, 0)
    expect(io.writeDurableNow(fd, bytes, bytes.length)).toBe(false)
    await durable
    expect(io.writeDurableNow(fd, bytes, bytes.length)).toBe(true)
    io.close(other)
    expect(readFileSync(path, 'utf8')).toBe('one record\n'.repeat(2))
  }))

test.skipIf(typeof uring === 'string')('io_uring: writeDurableNow declines while writes on the thread are paused for a slow disk', () => {
  let nowMs = 0
  let stepMs = 0
  const io = new UringBackend(new LiburingDriver(loadLiburing(), 8), 'io_uring (test)', new InlineWritePolicy(() => (nowMs += stepMs)))
  const dir = mkdtempSync(join(tmpdir(), 'flashq-io-slow-'))
  const fd = io.open(join(dir, 'log'), true)
  try {
    const bytes = new Uint8Array(8)
    stepMs = 5 // every clock read 5 ms later: the write on the thread looks slow
    expect(io.writeDurableNow(fd, bytes, 0)).toBe(true)
    stepMs = 0
    expect(io.writeDurableNow(fd, bytes, 0)).toBe(false)
    nowMs += inlinePauseMs
    expect(io.writeDurableNow(fd, bytes, 0)).toBe(true)
  } finally {
    io.close(fd)
    io.shutdown()
    rmSync(dir, { recursive: true, force: true })
  }
})

describe('pickIo', () => {
  const saved = process.env.FLASHQ_IO
  afterEach(() => {
    if (saved === undefined) delete process.env.FLASHQ_IO
    else process.env.FLASHQ_IO = saved
  })

  test('pwrite preference gives pwrite with no fallback reason', () => {
    delete process.env.FLASHQ_IO
    const io = pickIo('pwrite')
    expect(io.name).toBe('pwrite')
    expect(io.fallbackReason).toBeNull()
    io.shutdown()
  })

  test('auto prefers liburing, then the raw ring, then pwrite with the reason', () => {
    delete process.env.FLASHQ_IO
    const io = pickIo('auto')
    if (typeof uring !== 'string') {
      expect(io.name).toMatch(/^io_uring \(liburing 2\.\d+\)$/)
      expect(io.fallbackReason).toBeNull()
    } else if (typeof rawUring !== 'string') {
      expect(io.name).toBe(kernelRingName)
    } else {
      expect(io.name).toBe('pwrite')
      expect(io.fallbackReason).toBe(`io_uring unavailable: ${rawUring}`)
    }
    io.shutdown()
  })

  test('uring-raw forces the ring without liburing; liburing forces liburing', () => {
    delete process.env.FLASHQ_IO
    if (typeof rawUring === 'string') expect(() => pickIo('uring-raw')).toThrow(rawUring)
    else {
      const raw = pickIo('uring-raw')
      expect(raw.name).toBe('io_uring (kernel, no liburing)')
      raw.shutdown()
    }
    if (typeof uring === 'string') expect(() => pickIo('liburing')).toThrow(uring)
    else {
      const viaLib = pickIo('liburing')
      expect(viaLib.name).toStartWith('io_uring (liburing ')
      viaLib.shutdown()
    }
  })

  test('an absent libc is a reason for the raw ring, not a throw', () => {
    const reason = probeKernelRing('libc.so.999')
    expect(reason as string).toStartWith('cannot load libc.so.999')
  })

  test('an absent liburing is a reason, not a throw', () => {
    const reason = probeUring('liburing.so.999')
    expect(typeof reason).toBe('string')
    expect(reason as string).toStartWith('cannot load liburing.so.999')
  })

  test('FLASHQ_IO=pwrite overrides the preference', () => {
    process.env.FLASHQ_IO = 'pwrite'
    const io = pickIo('uring')
    expect(io.name).toBe('pwrite')
    io.shutdown()
  })
})

/** Each line: `<name> <value>`; the names match the keys of the layout objects in ring.ts. */
const abiProgram = `
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <stddef.h>
#include <stdio.h>
#if __has_include(<liburing.h>)
#include <liburing.h>
#define HAVE_LIBURING 1
#endif
#define P(name, value) printf("%s %ld\\n", name, (long)(value))
int main(void) {
  P("params.bytes", sizeof(struct io_uring_params));
  P("params.sqEntries", offsetof(struct io_uring_params, sq_entries));
  P("params.cqEntries", offsetof(struct io_uring_params, cq_entries));
  P("params.flags", offsetof(struct io_uring_params, flags));
  P("params.features", offsetof(struct io_uring_params, features));
  P("params.sqOff", offsetof(struct io_uring_params, sq_off));
  P("params.cqOff", offsetof(struct io_uring_params, cq_off));
  P("sqOff.head", offsetof(struct io_sqring_offsets, head));
  P("sqOff.tail", offsetof(struct io_sqring_offsets, tail));
  P("sqOff.ringMask", offsetof(struct io_sqring_offsets, ring_mask));
  P("sqOff.ringEntries", offsetof(struct io_sqring_offsets, ring_entries));
  P("sqOff.flags", offsetof(struct io_sqring_offsets, flags));
  P("sqOff.dropped", offsetof(struct io_sqring_offsets, dropped));
  P("sqOff.array", offsetof(struct io_sqring_offsets, array));
  P("cqOff.head", offsetof(struct io_cqring_offsets, head));
  P("cqOff.tail", offsetof(struct io_cqring_offsets, tail));
  P("cqOff.ringMask", offsetof(struct io_cqring_offsets, ring_mask));
  P("cqOff.ringEntries", offsetof(struct io_cqring_offsets, ring_entries));
  P("cqOff.overflow", offsetof(struct io_cqring_offsets, overflow));
  P("cqOff.cqes", offsetof(struct io_cqring_offsets, cqes));
  P("cqOff.flags", offsetof(struct io_cqring_offsets, flags));
  P("getevents.bytes", sizeof(struct io_uring_getevents_arg));
  P("getevents.sigmask", offsetof(struct io_uring_getevents_arg, sigmask));
  P("getevents.sigmaskSize", offsetof(struct io_uring_getevents_arg, sigmask_sz));
  P("getevents.ts", offsetof(struct io_uring_getevents_arg, ts));
  P("mmap.sqRing", IORING_OFF_SQ_RING);
  P("mmap.cqRing", IORING_OFF_CQ_RING);
  P("mmap.sqes", IORING_OFF_SQES);
  P("feat.singleMmap", IORING_FEAT_SINGLE_MMAP);
  P("feat.extArg", IORING_FEAT_EXT_ARG);
  P("enter.getEvents", IORING_ENTER_GETEVENTS);
  P("enter.extArg", IORING_ENTER_EXT_ARG);
  P("sys.ioUringSetup", __NR_io_uring_setup);
  P("sys.ioUringEnter", __NR_io_uring_enter);
  P("mman.protRead", PROT_READ);
  P("mman.protWrite", PROT_WRITE);
  P("mman.mapShared", MAP_SHARED);
  P("mman.mapPopulate", MAP_POPULATE);
  P("sqe.bytes", sizeof(struct io_uring_sqe));
  P("sqe.opcode", offsetof(struct io_uring_sqe, opcode));
  P("sqe.flags", offsetof(struct io_uring_sqe, flags));
  P("sqe.ioprio", offsetof(struct io_uring_sqe, ioprio));
  P("sqe.fd", offsetof(struct io_uring_sqe, fd));
  P("sqe.off", offsetof(struct io_uring_sqe, off));
  P("sqe.addr", offsetof(struct io_uring_sqe, addr));
  P("sqe.len", offsetof(struct io_uring_sqe, len));
  P("sqe.rwFlags", offsetof(struct io_uring_sqe, rw_flags));
  P("sqe.fsyncFlags", offsetof(struct io_uring_sqe, fsync_flags));
  P("sqe.syncRangeFlags", offsetof(struct io_uring_sqe, sync_range_flags));
  P("sqe.userData", offsetof(struct io_uring_sqe, user_data));
  P("sqe.bufIndex", offsetof(struct io_uring_sqe, buf_index));
  P("sqe.personality", offsetof(struct io_uring_sqe, personality));
  P("sqe.spliceFdIn", offsetof(struct io_uring_sqe, splice_fd_in));
  P("sqe.addr3", offsetof(struct io_uring_sqe, addr3));
  P("cqe.bytes", sizeof(struct io_uring_cqe));
  P("cqe.userData", offsetof(struct io_uring_cqe, user_data));
  P("cqe.res", offsetof(struct io_uring_cqe, res));
  P("cqe.flags", offsetof(struct io_uring_cqe, flags));
#ifdef HAVE_LIBURING
  P("ring.bytes", sizeof(struct io_uring));
  P("ring.sqKhead", offsetof(struct io_uring, sq.khead));
  P("ring.sqKtail", offsetof(struct io_uring, sq.ktail));
  P("ring.sqKflags", offsetof(struct io_uring, sq.kflags));
  P("ring.sqArray", offsetof(struct io_uring, sq.array));
  P("ring.sqSqes", offsetof(struct io_uring, sq.sqes));
  P("ring.sqSqeHead", offsetof(struct io_uring, sq.sqe_head));
  P("ring.sqSqeTail", offsetof(struct io_uring, sq.sqe_tail));
  P("ring.sqRingMask", offsetof(struct io_uring, sq.ring_mask));
  P("ring.sqRingEntries", offsetof(struct io_uring, sq.ring_entries));
  P("ring.cq", offsetof(struct io_uring, cq));
  P("ring.cqKhead", offsetof(struct io_uring, cq.khead));
  P("ring.cqKtail", offsetof(struct io_uring, cq.ktail));
  P("ring.cqKflags", offsetof(struct io_uring, cq.kflags));
  P("ring.cqKoverflow", offsetof(struct io_uring, cq.koverflow));
  P("ring.cqCqes", offsetof(struct io_uring, cq.cqes));
  P("ring.cqRingMask", offsetof(struct io_uring, cq.ring_mask));
  P("ring.cqRingEntries", offsetof(struct io_uring, cq.ring_entries));
  P("ring.flags", offsetof(struct io_uring, flags));
  P("ring.ringFd", offsetof(struct io_uring, ring_fd));
  P("ring.features", offsetof(struct io_uring, features));
#endif
  P("op.nop", IORING_OP_NOP);
  P("op.fsync", IORING_OP_FSYNC);
  P("op.write", IORING_OP_WRITE);
  P("op.syncFileRange", IORING_OP_SYNC_FILE_RANGE);
  P("const.syncFileRangeWrite", SYNC_FILE_RANGE_WRITE);
  P("const.rwfDsync", RWF_DSYNC);
  P("const.fsyncDatasync", IORING_FSYNC_DATASYNC);
  return 0;
}
`

/** Compiles and runs abiProgram, or says why it cannot. */
function kernelAbi(): Map<string, number> | string {
  if (Bun.which('cc') === null) return 'no C compiler (cc) on PATH'
  if (!Bun.file('/usr/include/linux/io_uring.h').size) return '/usr/include/linux/io_uring.h is missing'
  const dir = mkdtempSync(join(tmpdir(), 'flashq-io-abi-'))
  try {
    writeFileSync(join(dir, 'abi.c'), abiProgram)
    const built = Bun.spawnSync(['cc', '-o', join(dir, 'abi'), join(dir, 'abi.c')])
    if (built.exitCode !== 0) return `cc failed: ${built.stderr.toString().split('\n')[0]}`
    const ran = Bun.spawnSync([join(dir, 'abi')])
    const values = new Map<string, number>()
    for (const line of ran.stdout.toString().trim().split('\n')) {
      const [name, value] = line.split(' ')
      values.set(name!, Number(value))
    }
    return values
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const abi = kernelAbi()
const abiTitle = 'SQE, CQE, io_uring_params, mmap offsets and struct io_uring match <linux/io_uring.h> and <liburing.h> (from cc)'
if (typeof abi === 'string') {
  test.skip(`${abiTitle} — SKIPPED: ${abi}`, () => {})
} else {
  test(abiTitle, () => {
    const ours = new Map<string, number>()
    for (const [key, value] of Object.entries(sqeLayout)) ours.set(`sqe.${key}`, value)
    for (const [key, value] of Object.entries(cqeLayout)) ours.set(`cqe.${key}`, value)
    // struct io_uring is liburing's: checked only where <liburing.h> is installed.
    if (abi.has('ring.bytes')) for (const [key, value] of Object.entries(ringLayout)) ours.set(`ring.${key}`, value)
    const groups = { params: paramsLayout, sqOff: sqOffsetsLayout, cqOff: cqOffsetsLayout, getevents: geteventsArgLayout,
      mmap: mmapOffset, enter: enterFlags, sys: syscallNumber, mman }
    for (const [group, layout] of Object.entries(groups)) {
      for (const [key, value] of Object.entries(layout)) ours.set(`${group}.${key}`, value)
    }
    ours.set('feat.singleMmap', featSingleMmap)
    ours.set('feat.extArg', featExtArg)
    for (const [key, value] of Object.entries(opcode)) ours.set(`op.${key}`, value)
    ours.set('sqe.fsyncFlags', sqeLayout.rwFlags)
    ours.set('const.rwfDsync', rwfDsync)
    ours.set('const.fsyncDatasync', fsyncDatasync)
    ours.set('sqe.syncRangeFlags', sqeLayout.rwFlags)
    ours.set('const.syncFileRangeWrite', syncFileRangeWrite)
    expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(abi))
  })
}
