/**
 * A RingDriver through liburing 2.3: io_uring_queue_init sets the ring up inside a native
 * `struct io_uring` (a pinned Uint8Array we own), io_uring_get_sqe hands out SQEs, io_uring_submit
 * and io_uring_wait_cqe_timeout talk to the kernel. Owns: that struct and the liburing handle.
 */
import type { Pointer } from 'bun:ffi'
import { assert } from '../../base/assert.ts'
import { IoError } from '../backend.ts'
import { errnoName } from '../errno.ts'
import type { Liburing } from './ffi.ts'
import { type RingDriver, setU64, stableAddress } from './ring.ts'

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

export class LiburingDriver implements RingDriver {
  readonly sqEntries: number
  readonly cqEntries: number
  readonly sqesAddress: number
  readonly cqHeadAddress: number
  readonly cqTailAddress: number
  readonly cqesAddress: number
  /** Native `struct io_uring`; its backing store never moves (BUN-NOTES), and we keep it referenced. */
  readonly #struct = new Uint8Array(new ArrayBuffer(256))
  readonly #structPtr: Pointer
  /** struct __kernel_timespec { i64 tv_sec; i64 tv_nsec } and an out-slot for the cqe pointer. */
  readonly #waitTimespec = new Uint8Array(new ArrayBuffer(16))
  readonly #waitCqeSlot = new Uint8Array(new ArrayBuffer(8))

  constructor(
    readonly lib: Liburing,
    entries: number,
  ) {
    this.#structPtr = stableAddress(this.#struct, 0)
    assert(this.#structPtr % 8 === 0, 'struct io_uring must be 8-byte aligned')
    const result = lib.queueInit(entries, this.#structPtr, 0)
    if (result < 0) throw new IoError(errnoName(-result), 'io_uring_queue_init')
    const view = new DataView(this.#struct.buffer, this.#struct.byteOffset, ringLayout.bytes)
    const pointerAt = (offset: number): number =>
      view.getUint32(offset, true) + view.getUint32(offset + 4, true) * 2 ** 32
    this.sqEntries = view.getUint32(ringLayout.sqRingEntries, true)
    this.cqEntries = view.getUint32(ringLayout.cqRingEntries, true)
    assert(view.getUint32(ringLayout.cqRingMask, true) === this.cqEntries - 1, 'cq ring_mask must be entries - 1')
    this.sqesAddress = pointerAt(ringLayout.sqSqes)
    this.cqHeadAddress = pointerAt(ringLayout.cqKhead)
    this.cqTailAddress = pointerAt(ringLayout.cqKtail)
    this.cqesAddress = pointerAt(ringLayout.cqCqes)
  }

  takeSqe(): number {
    return this.lib.getSqe(this.#structPtr)
  }

  submit(): number {
    return this.lib.submit(this.#structPtr)
  }

  submitAndWait(count: number): number {
    return this.lib.submitAndWait(this.#structPtr, count)
  }

  waitForCompletion(timeoutUs: number): boolean {
    const timespec = new DataView(this.#waitTimespec.buffer)
    setU64(timespec, 0, Math.floor(timeoutUs / 1_000_000))
    setU64(timespec, 8, (timeoutUs % 1_000_000) * 1000)
    const slot = stableAddress(this.#waitCqeSlot, 0)
    return this.lib.waitCqeTimeout(this.#structPtr, slot, stableAddress(this.#waitTimespec, 0)) === 0
  }

  exit(): void {
    this.lib.queueExit(this.#structPtr)
  }
}
