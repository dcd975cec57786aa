/**
 * One io_uring, driven through liburing 2.3 for setup, SQE allocation and submission, and by hand
 * for everything liburing does inline: filling SQEs and walking the completion queue. Owns: the
 * native `struct io_uring` (a pinned Uint8Array), the views over the kernel-shared SQ/CQ memory,
 * and the CQ head. Knows nothing about promises; uring/backend.ts matches completions to callers.
 *
 * All offsets below are for LP64 Linux (x86_64 and arm64 have the same layout) and are checked
 * against <liburing.h> / <linux/io_uring.h> by test/conformance/io.test.ts with a compiled C
 * program printing offsetof()/sizeof().
 */
import { ptr, toArrayBuffer, type Pointer } from 'bun:ffi'
import { assert } from '../../base/assert.ts'
import { IoError } from '../backend.ts'
import { errnoName } from '../errno.ts'
import type { Liburing } from './ffi.ts'

/** struct io_uring_sqe (linux/io_uring.h, kernel UAPI): 64 bytes. */
export const sqeLayout = {
  bytes: 64,
  opcode: 0, // __u8 opcode
  flags: 1, // __u8 flags (IOSQE_*)
  ioprio: 2, // __u16 ioprio
  fd: 4, // __s32 fd
  off: 8, // __u64 off (union with addr2)
  addr: 16, // __u64 addr (union with splice_off_in)
  len: 24, // __u32 len
  rwFlags: 28, // union: __kernel_rwf_t rw_flags / __u32 fsync_flags
  userData: 32, // __u64 user_data
  bufIndex: 40, // __u16 buf_index (packed union)
  personality: 42, // __u16 personality
  spliceFdIn: 44, // __s32 splice_fd_in / __u32 file_index
  addr3: 48, // __u64 addr3, then __u64 __pad2[1] at 56
} as const

/** struct io_uring_cqe (linux/io_uring.h): 16 bytes without IORING_SETUP_CQE32 (not used). */
export const cqeLayout = {
  bytes: 16,
  userData: 0, // __u64 user_data
  res: 8, // __s32 res: result or -errno
  flags: 12, // __u32 flags
} as const

/**
 * struct io_uring (liburing.h 2.3): { struct io_uring_sq sq; struct io_uring_cq cq; unsigned flags;
 * int ring_fd; unsigned features; int enter_ring_fd; __u8 int_flags; __u8 pad[3]; unsigned pad2; }.
 * io_uring_sq is 8 pointers (0..56), sqe_head 64, sqe_tail 68, size_t ring_sz 72, void *ring_ptr 80,
 * ring_mask 88, ring_entries 92, pad[2] → 104 bytes. io_uring_cq is 7 pointers (0..48), ring_sz 56,
 * ring_ptr 64, ring_mask 72, ring_entries 76, pad[2] → 88 bytes, placed at 104.
 */
export const ringLayout = {
  bytes: 216,
  sqKhead: 0, // unsigned *sq.khead
  sqKtail: 8, // unsigned *sq.ktail
  sqKflags: 32, // unsigned *sq.kflags
  sqArray: 48, // unsigned *sq.array
  sqSqes: 56, // struct io_uring_sqe *sq.sqes
  sqSqeHead: 64, // unsigned sq.sqe_head (liburing's private copy)
  sqSqeTail: 68, // unsigned sq.sqe_tail
  sqRingMask: 88, // unsigned sq.ring_mask
  sqRingEntries: 92, // unsigned sq.ring_entries
  cq: 104, // struct io_uring_cq cq
  cqKhead: 104, // unsigned *cq.khead
  cqKtail: 112, // unsigned *cq.ktail
  cqKflags: 136, // unsigned *cq.kflags
  cqKoverflow: 144, // unsigned *cq.koverflow
  cqCqes: 152, // struct io_uring_cqe *cq.cqes
  cqRingMask: 176, // unsigned cq.ring_mask
  cqRingEntries: 180, // unsigned cq.ring_entries
  flags: 192, // unsigned flags
  ringFd: 196, // int ring_fd
  features: 200, // unsigned features
} as const

/** enum io_uring_op values (linux/io_uring.h; stable kernel ABI). */
export const opcode = { nop: 0, fsync: 3, write: 23 } as const
/** IORING_FSYNC_DATASYNC: fdatasync instead of fsync, written into fsync_flags (offset 28). */
export const fsyncDatasync = 1 << 0
/** RWF_DSYNC (linux/fs.h): this write completes only once it is durable, as if followed by fdatasync. */
export const rwfDsync = 0x2

/** A completion, copied out of the CQ before the head moves past it. */
export type Completion = { userData: number; res: number }

export class Ring {
  readonly sqEntries: number
  readonly cqEntries: number
  /** Native `struct io_uring`; its backing store never moves (BUN-NOTES), and we keep it referenced. */
  #struct: Uint8Array | null
  #structPtr: Pointer
  #sqes: DataView | null
  #sqesBytes: Uint8Array | null
  #sqesAddress: number
  #cqHead: Uint32Array | null
  #cqTail: Uint32Array | null
  #cqes: DataView | null
  #cqMask: number

  constructor(
    readonly lib: Liburing,
    entries: number,
  ) {
    // Built over an explicit ArrayBuffer: see stableAddress for why a bare `new Uint8Array(n)` moves.
    this.#struct = new Uint8Array(new ArrayBuffer(256))
    this.#structPtr = stableAddress(this.#struct, 0)
    assert(this.#structPtr % 8 === 0, 'struct io_uring must be 8-byte aligned')
    const result = lib.queueInit(entries, this.#structPtr, 0)
    if (result < 0) throw new IoError(errnoName(-result), 'io_uring_queue_init')
    const view = new DataView(this.#struct.buffer, this.#struct.byteOffset, ringLayout.bytes)
    const pointerAt = (offset: number): number =>
      view.getUint32(offset, true) + view.getUint32(offset + 4, true) * 2 ** 32

    this.sqEntries = view.getUint32(ringLayout.sqRingEntries, true)
    this.cqEntries = view.getUint32(ringLayout.cqRingEntries, true)
    this.#cqMask = view.getUint32(ringLayout.cqRingMask, true)
    assert(this.#cqMask === this.cqEntries - 1, 'cq ring_mask must be entries - 1')

    this.#sqesAddress = pointerAt(ringLayout.sqSqes)
    const sqes = toArrayBuffer(this.#sqesAddress as Pointer, 0, this.sqEntries * sqeLayout.bytes)
    this.#sqes = new DataView(sqes)
    this.#sqesBytes = new Uint8Array(sqes)
    this.#cqHead = new Uint32Array(toArrayBuffer(pointerAt(ringLayout.cqKhead) as Pointer, 0, 4))
    this.#cqTail = new Uint32Array(toArrayBuffer(pointerAt(ringLayout.cqKtail) as Pointer, 0, 4))
    const cqesBytes = this.cqEntries * cqeLayout.bytes
    this.#cqes = new DataView(toArrayBuffer(pointerAt(ringLayout.cqCqes) as Pointer, 0, cqesBytes))
  }

  /**
   * Takes an SQE from liburing and fills all 64 bytes. Returns false when the SQ is full (nothing
   * was written). `userData` must be below 2^32; `address` and `offset` below 2^53.
   */
  prepare(op: number, fd: number, address: number, length: number, offset: number,
    flags: number, opFlags: number, userData: number): boolean {
    const sqes = this.#sqes
    assert(sqes !== null && this.#sqesBytes !== null, 'ring is shut down')
    const sqeAddress = this.lib.getSqe(this.#structPtr)
    if (sqeAddress === 0) return false
    const base = sqeAddress - this.#sqesAddress
    assert(base >= 0 && base % sqeLayout.bytes === 0 && base < sqes.byteLength, 'sqe outside sqes')
    this.#sqesBytes.fill(0, base, base + sqeLayout.bytes)
    sqes.setUint8(base + sqeLayout.opcode, op)
    sqes.setUint8(base + sqeLayout.flags, flags)
    sqes.setInt32(base + sqeLayout.fd, fd, true)
    // 64-bit fields as two u32 stores (BUN-NOTES): lo = x >>> 0, hi = floor(x / 2^32).
    setU64(sqes, base + sqeLayout.off, offset)
    setU64(sqes, base + sqeLayout.addr, address)
    sqes.setUint32(base + sqeLayout.len, length, true)
    sqes.setUint32(base + sqeLayout.rwFlags, opFlags, true)
    setU64(sqes, base + sqeLayout.userData, userData)
    return true
  }

  /** io_uring_submit: hands every prepared SQE to the kernel. Returns the count or -errno. */
  submit(): number {
    assert(this.#struct !== null, 'ring is shut down')
    return this.lib.submit(this.#structPtr)
  }

  /** Blocks until `count` completions are ready (self-test and shutdown only). Returns 0 or -errno. */
  submitAndWait(count: number): number {
    assert(this.#struct !== null, 'ring is shut down')
    return this.lib.submitAndWait(this.#structPtr, count)
  }

  /** struct __kernel_timespec { i64 tv_sec; i64 tv_nsec } and an out-slot for the cqe pointer. */
  readonly #waitTimespec = new Uint8Array(new ArrayBuffer(16))
  readonly #waitCqeSlot = new Uint8Array(new ArrayBuffer(8))

  /**
   * Sleeps in the kernel until a completion is visible or `timeoutUs` passes, without consuming it
   * (reap() does). Returns true when a completion is visible. Used instead of spinning the event
   * loop while a flush is in flight: on 2 cores a spinning worker takes CPU from the front.
   */
  waitForCompletion(timeoutUs: number): boolean {
    assert(this.#struct !== null, 'ring is shut down')
    const timespec = new DataView(this.#waitTimespec.buffer)
    setU64(timespec, 0, Math.floor(timeoutUs / 1_000_000))
    setU64(timespec, 8, (timeoutUs % 1_000_000) * 1000)
    const result = this.lib.waitCqeTimeout(this.#structPtr, stableAddress(this.#waitCqeSlot, 0), stableAddress(this.#waitTimespec, 0))
    return result === 0
  }

  /**
   * Copies out every completion visible now and releases their CQ slots. Never blocks: the tail is
   * an Atomics.load of kernel-shared memory, so the JIT cannot hoist it out of a polling loop.
   */
  reap(): Completion[] {
    const head = this.#cqHead
    const tail = this.#cqTail
    const cqes = this.#cqes
    if (head === null || tail === null || cqes === null) return []
    let index = Atomics.load(head, 0)
    const end = Atomics.load(tail, 0)
    if (index === end) return []
    const completions: Completion[] = []
    while (index !== end) {
      const base = (index & this.#cqMask) * cqeLayout.bytes
      const userData = cqes.getUint32(base + cqeLayout.userData, true)
      assert(cqes.getUint32(base + cqeLayout.userData + 4, true) === 0, 'user_data above 2^32')
      completions.push({ userData, res: cqes.getInt32(base + cqeLayout.res, true) })
      index = (index + 1) >>> 0
    }
    // Release store of the new head: the kernel may reuse the slots only after we copied them.
    Atomics.store(head, 0, end)
    return completions
  }

  /** io_uring_queue_exit, then drop every view: touching them after munmap would segfault. */
  exit(): void {
    if (this.#struct === null) return
    this.#sqes = null
    this.#sqesBytes = null
    this.#cqHead = null
    this.#cqTail = null
    this.#cqes = null
    this.lib.queueExit(this.#structPtr)
    this.#struct = null
  }
}

/**
 * The address of `bytes[offset]`, valid until `bytes` is collected. Measured with Bun 1.4.5: a small
 * typed array (`new Uint8Array(256)`, storage inline in the JS heap) MOVES the first time its
 * `.buffer` is read, so a ptr() taken before that dangles. Reading `.buffer` first materialises the
 * ArrayBuffer; after that the backing store stays put (also across Bun.gc(true)).
 */
export function stableAddress(bytes: Uint8Array, offset: number): Pointer {
  void bytes.buffer
  return ptr(bytes, offset)
}

function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true)
  view.setUint32(offset + 4, Math.floor(value / 2 ** 32), true)
}
