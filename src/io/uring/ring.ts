/**
 * One io_uring: filling SQEs and walking the completion queue over the kernel-shared memory, the
 * same code whichever driver set the ring up (liburing-ring.ts through liburing, kernel-ring.ts
 * through raw system calls). Owns: the views over the SQE array and the CQ, and the CQ head. Knows
 * nothing about promises; uring/backend.ts matches completions to callers.
 *
 * All offsets below are for LP64 Linux (x86_64 and arm64 have the same layout) and are checked
 * against <linux/io_uring.h> by test/conformance/io.test.ts with a compiled C program printing
 * offsetof()/sizeof().
 */
import { ptr, toArrayBuffer, type Pointer } from 'bun:ffi'
import { assert } from '../../base/assert.ts'

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

/** enum io_uring_op values (linux/io_uring.h; stable kernel ABI). */
export const opcode = { nop: 0, fsync: 3, syncFileRange: 8, write: 23 } as const
/** IORING_FSYNC_DATASYNC: fdatasync instead of fsync, written into fsync_flags (offset 28). */
export const fsyncDatasync = 1 << 0
/** RWF_DSYNC (linux/fs.h): this write completes only once it is durable, as if followed by fdatasync. */
export const rwfDsync = 0x2

/** A completion, copied out of the CQ before the head moves past it. */
export type Completion = { userData: number; res: number }

/**
 * What setting a ring up provides: where the kernel-shared memory is, and how to take SQEs, submit
 * and wait. liburing-ring.ts and kernel-ring.ts implement it; Ring does the rest identically.
 */
export interface RingDriver {
  readonly sqEntries: number
  readonly cqEntries: number
  readonly sqesAddress: number
  readonly cqHeadAddress: number
  readonly cqTailAddress: number
  readonly cqesAddress: number
  /** The address of the next free SQE (now taken), or 0 when the SQ is full. */
  takeSqe(): number
  /** Hands every taken SQE to the kernel. Returns the count or -errno. */
  submit(): number
  /** Submits, then blocks until `count` completions are ready (self-test and shutdown). 0+ or -errno. */
  submitAndWait(count: number): number
  /** Blocks until a completion is visible or `timeoutUs` passes, consuming none. True when one is. */
  waitForCompletion(timeoutUs: number): boolean
  /** Unmaps the rings and closes the ring fd. */
  exit(): void
}

export class Ring {
  readonly sqEntries: number
  readonly cqEntries: number
  #driver: RingDriver | null
  #sqes: DataView | null
  #sqesBytes: Uint8Array | null
  #sqesAddress: number
  #cqHead: Uint32Array | null
  #cqTail: Uint32Array | null
  #cqes: DataView | null
  #cqMask: number

  constructor(driver: RingDriver) {
    this.#driver = driver
    this.sqEntries = driver.sqEntries
    this.cqEntries = driver.cqEntries
    this.#cqMask = driver.cqEntries - 1
    assert((driver.cqEntries & this.#cqMask) === 0, 'cq entries must be a power of two')
    this.#sqesAddress = driver.sqesAddress
    const sqes = toArrayBuffer(this.#sqesAddress as Pointer, 0, this.sqEntries * sqeLayout.bytes)
    this.#sqes = new DataView(sqes)
    this.#sqesBytes = new Uint8Array(sqes)
    this.#cqHead = new Uint32Array(toArrayBuffer(driver.cqHeadAddress as Pointer, 0, 4))
    this.#cqTail = new Uint32Array(toArrayBuffer(driver.cqTailAddress as Pointer, 0, 4))
    const cqesBytes = this.cqEntries * cqeLayout.bytes
    this.#cqes = new DataView(toArrayBuffer(driver.cqesAddress as Pointer, 0, cqesBytes))
  }

  /**
   * Takes an SQE from the driver and fills all 64 bytes. Returns false when the SQ is full (nothing
   * was written). `userData` must be below 2^32; `address` and `offset` below 2^53.
   */
  prepare(op: number, fd: number, address: number, length: number, offset: number,
    flags: number, opFlags: number, userData: number): boolean {
    const sqes = this.#sqes
    assert(sqes !== null && this.#sqesBytes !== null && this.#driver !== null, 'ring is shut down')
    const sqeAddress = this.#driver.takeSqe()
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

  /** Hands every prepared SQE to the kernel. Returns the count or -errno. */
  submit(): number {
    assert(this.#driver !== null, 'ring is shut down')
    return this.#driver.submit()
  }

  /** Blocks until `count` completions are ready (self-test and shutdown only). Returns 0+ or -errno. */
  submitAndWait(count: number): number {
    assert(this.#driver !== null, 'ring is shut down')
    return this.#driver.submitAndWait(count)
  }

  /**
   * Sleeps in the kernel until a completion is visible or `timeoutUs` passes, without consuming it
   * (reap() does). Returns true when a completion is visible. Used instead of spinning the event
   * loop while a flush is in flight: on 2 cores a spinning worker takes CPU from the front.
   */
  waitForCompletion(timeoutUs: number): boolean {
    assert(this.#driver !== null, 'ring is shut down')
    return this.#driver.waitForCompletion(timeoutUs)
  }

  /** True when a completion is visible (reap() would return it). One atomic load; never blocks. */
  hasCompletion(): boolean {
    const head = this.#cqHead
    const tail = this.#cqTail
    return head !== null && tail !== null && Atomics.load(head, 0) !== Atomics.load(tail, 0)
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

  /** Drops every view first (touching them after munmap would segfault), then tears the ring down. */
  exit(): void {
    const driver = this.#driver
    if (driver === null) return
    this.#sqes = null
    this.#sqesBytes = null
    this.#cqHead = null
    this.#cqTail = null
    this.#cqes = null
    this.#driver = null
    driver.exit()
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

export function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true)
  view.setUint32(offset + 4, Math.floor(value / 2 ** 32), true)
}
