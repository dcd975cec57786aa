/**
 * A RingDriver with no liburing: io_uring_setup and io_uring_enter through libc's `syscall`, and
 * the SQ ring, CQ ring and SQE array mmapped at the offsets the kernel reports in io_uring_params.
 * This is what liburing does in queue_init/get_sqe/submit/wait_cqe_timeout, for the one way flashq
 * uses a ring (no SQPOLL, no IOPOLL, 16-byte CQEs, 64-byte SQEs). Owns: the ring fd, the three
 * mappings, the SQ tail we fill before publishing it.
 */
import { type Pointer, toArrayBuffer } from 'bun:ffi'
import { assert } from '../../base/assert.ts'
import { IoError } from '../backend.ts'
import { errnoName } from '../errno.ts'
import { type Kernel, mman, syscallNumber } from './kernel.ts'
import { cqeLayout, type RingDriver, setU64, sqeLayout, stableAddress } from './ring.ts'

/** struct io_uring_params (linux/io_uring.h): 120 bytes, filled in by io_uring_setup. */
export const paramsLayout = {
  bytes: 120,
  sqEntries: 0, // __u32 sq_entries
  cqEntries: 4, // __u32 cq_entries
  flags: 8, // __u32 flags (IORING_SETUP_*; 0 here)
  features: 20, // __u32 features (IORING_FEAT_*)
  sqOff: 40, // struct io_sqring_offsets sq_off
  cqOff: 80, // struct io_cqring_offsets cq_off
} as const

/** struct io_sqring_offsets: byte offsets of each field inside the SQ ring mapping. */
export const sqOffsetsLayout = { head: 0, tail: 4, ringMask: 8, ringEntries: 12, flags: 16, dropped: 20, array: 24 } as const
/** struct io_cqring_offsets: byte offsets of each field inside the CQ ring mapping. */
export const cqOffsetsLayout = { head: 0, tail: 4, ringMask: 8, ringEntries: 12, overflow: 16, cqes: 20, flags: 24 } as const

/** struct io_uring_getevents_arg { u64 sigmask; u32 sigmask_sz; u32 pad; u64 ts }: 24 bytes. */
export const geteventsArgLayout = { bytes: 24, sigmask: 0, sigmaskSize: 8, ts: 16 } as const

/** mmap offsets that select which region of the ring fd to map (IORING_OFF_*). */
export const mmapOffset = { sqRing: 0, cqRing: 0x8000000, sqes: 0x10000000 } as const
/** IORING_FEAT_SINGLE_MMAP: SQ and CQ rings share one mapping (5.4+). */
export const featSingleMmap = 1 << 0
/** IORING_FEAT_EXT_ARG: io_uring_enter takes a timeout (5.11+); the wait below needs it. */
export const featExtArg = 1 << 8
/** IORING_ENTER_* flags. */
export const enterFlags = { getEvents: 1 << 0, extArg: 1 << 3 } as const
/** ETIME: what a timed-out wait returns (-62 on Linux). */
const etime = 62

type Mapping = { address: number; bytes: number }

export class KernelRingDriver implements RingDriver {
  readonly sqEntries: number
  readonly cqEntries: number
  readonly sqesAddress: number
  readonly cqHeadAddress: number
  readonly cqTailAddress: number
  readonly cqesAddress: number
  readonly #fd: number
  #mappings: Mapping[] = []
  readonly #sqHead: Uint32Array
  readonly #sqTail: Uint32Array
  readonly #sqMask: number
  readonly #cqHead: Uint32Array
  readonly #cqTail: Uint32Array
  /** Our tail: SQEs up to here are taken; the kernel sees them once submit() publishes it. */
  #sqeTail: number
  readonly #waitArg = new Uint8Array(new ArrayBuffer(geteventsArgLayout.bytes))
  readonly #waitTimespec = new Uint8Array(new ArrayBuffer(16))

  constructor(
    readonly kernel: Kernel,
    entries: number,
  ) {
    const params = new Uint8Array(new ArrayBuffer(paramsLayout.bytes))
    const fd = kernel.syscall(syscallNumber.ioUringSetup, entries, stableAddress(params, 0), 0, 0, 0, 0)
    if (fd < 0) throw new IoError(errnoName(-fd), 'io_uring_setup')
    this.#fd = fd
    try {
      const view = new DataView(params.buffer)
      const u32 = (offset: number) => view.getUint32(offset, true)
      const features = u32(paramsLayout.features)
      if ((features & featExtArg) === 0) {
        throw new IoError('ENOTSUP', 'io_uring lacks IORING_FEAT_EXT_ARG (kernel 5.11+ needed)')
      }
      this.sqEntries = u32(paramsLayout.sqEntries)
      this.cqEntries = u32(paramsLayout.cqEntries)
      const sq = (field: keyof typeof sqOffsetsLayout) => u32(paramsLayout.sqOff + sqOffsetsLayout[field])
      const cq = (field: keyof typeof cqOffsetsLayout) => u32(paramsLayout.cqOff + cqOffsetsLayout[field])
      const sqRingBytes = sq('array') + this.sqEntries * 4
      const cqRingBytes = cq('cqes') + this.cqEntries * cqeLayout.bytes
      const single = (features & featSingleMmap) !== 0
      const sqRing = this.#map(single ? Math.max(sqRingBytes, cqRingBytes) : sqRingBytes, mmapOffset.sqRing)
      const cqRing = single ? sqRing : this.#map(cqRingBytes, mmapOffset.cqRing)
      this.sqesAddress = this.#map(this.sqEntries * sqeLayout.bytes, mmapOffset.sqes)

      const words = (address: number, count: number) => new Uint32Array(toArrayBuffer(address as Pointer, 0, count * 4))
      this.#sqHead = words(sqRing + sq('head'), 1)
      this.#sqTail = words(sqRing + sq('tail'), 1)
      this.#sqMask = words(sqRing + sq('ringMask'), 1)[0]!
      // The SQ array maps ring slots to SQE indexes; identity once, so a slot's SQE is its index.
      const array = words(sqRing + sq('array'), this.sqEntries)
      for (let i = 0; i < this.sqEntries; i++) array[i] = i
      this.#sqeTail = Atomics.load(this.#sqTail, 0)
      this.cqHeadAddress = cqRing + cq('head')
      this.cqTailAddress = cqRing + cq('tail')
      this.cqesAddress = cqRing + cq('cqes')
      this.#cqHead = words(this.cqHeadAddress, 1)
      this.#cqTail = words(this.cqTailAddress, 1)
      assert(words(cqRing + cq('ringMask'), 1)[0] === this.cqEntries - 1, 'cq ring_mask must be entries - 1')
      assert(this.#sqMask === this.sqEntries - 1, 'sq ring_mask must be entries - 1')
    } catch (error) {
      this.exit()
      throw error
    }
    const arg = new DataView(this.#waitArg.buffer)
    // No signal mask (sigmask 0), but sigmask_sz must still be _NSIG/8 = 8 for the kernel to accept it.
    arg.setUint32(geteventsArgLayout.sigmaskSize, 8, true)
    setU64(arg, geteventsArgLayout.ts, stableAddress(this.#waitTimespec, 0))
  }

  #map(bytes: number, offset: number): number {
    const flags = mman.mapShared | mman.mapPopulate
    const address = this.kernel.mmap(bytes, mman.protRead | mman.protWrite, flags, this.#fd, offset)
    if (address < 0) throw new IoError(errnoName(-address), `mmap io_uring region ${offset.toString(16)}`)
    this.#mappings.push({ address, bytes })
    return address
  }

  takeSqe(): number {
    const head = Atomics.load(this.#sqHead, 0)
    if (((this.#sqeTail - head) >>> 0) >= this.sqEntries) return 0
    const address = this.sqesAddress + (this.#sqeTail & this.#sqMask) * sqeLayout.bytes
    this.#sqeTail = (this.#sqeTail + 1) >>> 0
    return address
  }

  submit(): number {
    return this.#enter(0, 0, 0)
  }

  submitAndWait(count: number): number {
    return this.#enter(count, enterFlags.getEvents, 0)
  }

  waitForCompletion(timeoutUs: number): boolean {
    if (Atomics.load(this.#cqHead, 0) !== Atomics.load(this.#cqTail, 0)) return true
    const timespec = new DataView(this.#waitTimespec.buffer)
    setU64(timespec, 0, Math.floor(timeoutUs / 1_000_000))
    setU64(timespec, 8, (timeoutUs % 1_000_000) * 1000)
    const result = this.#enter(1, enterFlags.getEvents | enterFlags.extArg, geteventsArgLayout.bytes)
    if (result < 0 && -result !== etime) return false
    return Atomics.load(this.#cqHead, 0) !== Atomics.load(this.#cqTail, 0)
  }

  /**
   * Publishes our SQ tail (a release store: the SQE bytes are written before the kernel can see the
   * slot), then io_uring_enter with every SQE the kernel has not consumed yet — as liburing counts
   * them, so SQEs left over by an earlier partial submit go again.
   */
  #enter(minComplete: number, flags: number, argBytes: number): number {
    Atomics.store(this.#sqTail, 0, this.#sqeTail)
    const toSubmit = (this.#sqeTail - Atomics.load(this.#sqHead, 0)) >>> 0
    if (toSubmit === 0 && minComplete === 0) return 0
    const arg = argBytes === 0 ? 0 : stableAddress(this.#waitArg, 0)
    return this.kernel.syscall(syscallNumber.ioUringEnter, this.#fd, toSubmit, minComplete, flags, arg, argBytes)
  }

  exit(): void {
    for (const { address, bytes } of this.#mappings.splice(0)) this.kernel.munmap(address, bytes)
    this.kernel.close(this.#fd)
  }
}
