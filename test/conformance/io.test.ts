/**
 * Runs the IoBackend conformance suite against every backend this machine can run, checks the
 * hand-written io_uring ABI offsets against a compiled C program, and checks pickIo's choices.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pickIo, probeUring } from '../../src/io/pick.ts'
import { PwriteBackend } from '../../src/io/pwrite.ts'
import { UringBackend } from '../../src/io/uring/backend.ts'
import { ptr } from 'bun:ffi'
import { cqeLayout, fsyncDatasync, opcode, ringLayout, rwfDsync, sqeLayout, stableAddress }
  from '../../src/io/uring/ring.ts'
import { ioConformance } from './io-suite.ts'

ioConformance('pwrite', () => new PwriteBackend(null))

const uring = probeUring()
if (typeof uring === 'string') {
  describe.skip(`IoBackend conformance: io_uring — SKIPPED: io_uring unavailable: ${uring}`, () => {
    test('skipped', () => {})
  })
} else {
  uring.shutdown() // the probe's instance; the suite makes its own
  ioConformance('io_uring', () => {
    const backend = probeUring()
    if (!(backend instanceof UringBackend)) throw new Error(`io_uring vanished: ${backend}`)
    return backend
  })
}

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

  test('auto gives io_uring when the probe passes, else pwrite with the reason', () => {
    delete process.env.FLASHQ_IO
    const io = pickIo('auto')
    if (typeof uring === 'string') {
      expect(io.name).toBe('pwrite')
      expect(io.fallbackReason).toBe(`io_uring unavailable: ${uring}`)
    } else {
      expect(io.name).toMatch(/^io_uring \(liburing 2\.\d+\)$/)
      expect(io.fallbackReason).toBeNull()
    }
    io.shutdown()
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
#include <liburing.h>
#include <stddef.h>
#include <stdio.h>
#define P(name, value) printf("%s %ld\\n", name, (long)(value))
int main(void) {
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
  P("sqe.userData", offsetof(struct io_uring_sqe, user_data));
  P("sqe.bufIndex", offsetof(struct io_uring_sqe, buf_index));
  P("sqe.personality", offsetof(struct io_uring_sqe, personality));
  P("sqe.spliceFdIn", offsetof(struct io_uring_sqe, splice_fd_in));
  P("sqe.addr3", offsetof(struct io_uring_sqe, addr3));
  P("cqe.bytes", sizeof(struct io_uring_cqe));
  P("cqe.userData", offsetof(struct io_uring_cqe, user_data));
  P("cqe.res", offsetof(struct io_uring_cqe, res));
  P("cqe.flags", offsetof(struct io_uring_cqe, flags));
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
  P("op.nop", IORING_OP_NOP);
  P("op.fsync", IORING_OP_FSYNC);
  P("op.write", IORING_OP_WRITE);
  P("const.rwfDsync", RWF_DSYNC);
  P("const.fsyncDatasync", IORING_FSYNC_DATASYNC);
  return 0;
}
`

/** Compiles and runs abiProgram, or says why it cannot. */
function kernelAbi(): Map<string, number> | string {
  if (Bun.which('cc') === null) return 'no C compiler (cc) on PATH'
  if (!Bun.file('/usr/include/liburing.h').size) return '/usr/include/liburing.h is missing'
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
const abiTitle = 'SQE, CQE and struct io_uring offsets match <liburing.h> (offsetof from cc)'
if (typeof abi === 'string') {
  test.skip(`${abiTitle} — SKIPPED: ${abi}`, () => {})
} else {
  test(abiTitle, () => {
    const ours = new Map<string, number>()
    for (const [key, value] of Object.entries(sqeLayout)) ours.set(`sqe.${key}`, value)
    for (const [key, value] of Object.entries(cqeLayout)) ours.set(`cqe.${key}`, value)
    for (const [key, value] of Object.entries(ringLayout)) ours.set(`ring.${key}`, value)
    for (const [key, value] of Object.entries(opcode)) ours.set(`op.${key}`, value)
    ours.set('sqe.fsyncFlags', sqeLayout.rwFlags)
    ours.set('const.rwfDsync', rwfDsync)
    ours.set('const.fsyncDatasync', fsyncDatasync)
    expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(abi))
  })
}
