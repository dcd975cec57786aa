/**
 * Every liburing symbol flashq calls, in one place. Only exported (non-inline) functions of
 * liburing 2.3 are used; the SQE preparation and the CQ walk that liburing does inline are done
 * in ring.ts over the mmapped ring memory. `loadLiburing` throws when the library is absent; only
 * io/pick.ts calls it, inside a try.
 */
import { dlopen, FFIType, type Pointer } from 'bun:ffi'
import { existsSync, realpathSync } from 'node:fs'

export const liburingSoname = 'liburing.so.2'

export type Liburing = {
  /** int io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags) → 0 or -errno */
  queueInit(entries: number, ring: Pointer, flags: number): number
  /** void io_uring_queue_exit(struct io_uring *ring): munmaps the rings and closes the ring fd. */
  queueExit(ring: Pointer): void
  /** struct io_uring_sqe *io_uring_get_sqe(struct io_uring *ring) → address, or 0 when the SQ is full */
  getSqe(ring: Pointer): number
  /** int io_uring_submit(struct io_uring *ring) → SQEs submitted, or -errno */
  submit(ring: Pointer): number
  /** int io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr): blocks; self-test only. */
  submitAndWait(ring: Pointer, waitCount: number): number
  /**
   * int io_uring_wait_cqe_timeout(struct io_uring *ring, struct io_uring_cqe **cqe_ptr,
   * struct __kernel_timespec *ts): blocks until a CQE is visible or the timeout passes (→ -ETIME).
   * It does not consume the CQE; ring.reap() does. Kernels with IORING_FEAT_EXT_ARG (5.11+) pass
   * the timeout to io_uring_enter directly, so no internal timeout SQE (and no extra CQE) is made.
   */
  waitCqeTimeout(ring: Pointer, cqePointer: Pointer, timespec: Pointer): number
  /** `2.3`, read from the file the soname resolves to, or `2` when that cannot be seen. */
  version: string
  close(): void
}

/**
 * Loaded once per thread: every ring (the self-test's, the start-up warm-up's scratch ring, the
 * server's) then calls the same functions, so code that JSC compiled against one backend's calls
 * still holds for the next; a new set per load made the server's ring path exit (BadCache) and
 * recompile during its first requests.
 */
let liburing: Liburing | undefined

/** Throws when `soname` cannot be loaded; the parameter exists so tests can name an absent one. */
export function loadLiburing(soname = liburingSoname): Liburing {
  if (liburing !== undefined && soname === liburingSoname) return liburing
  const lib = dlopen(soname, {
    io_uring_queue_init: { args: [FFIType.u32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    io_uring_queue_exit: { args: [FFIType.ptr], returns: FFIType.void },
    io_uring_get_sqe: { args: [FFIType.ptr], returns: FFIType.ptr },
    io_uring_submit: { args: [FFIType.ptr], returns: FFIType.i32 },
    io_uring_submit_and_wait: { args: [FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    io_uring_wait_cqe_timeout: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  })
  const s = lib.symbols
  const loaded: Liburing = {
    queueInit: (entries, ring, flags) => s.io_uring_queue_init(entries, ring, flags),
    queueExit: (ring) => s.io_uring_queue_exit(ring),
    // read.ptr-style returns are numbers; null (SQ full) becomes 0.
    getSqe: (ring) => Number(s.io_uring_get_sqe(ring) ?? 0),
    submit: (ring) => s.io_uring_submit(ring),
    submitAndWait: (ring, waitCount) => s.io_uring_submit_and_wait(ring, waitCount),
    waitCqeTimeout: (ring, cqePointer, timespec) => s.io_uring_wait_cqe_timeout(ring, cqePointer, timespec),
    version: liburingVersion(),
    close: () => lib.close(),
  }
  if (soname === liburingSoname) liburing = loaded
  return loaded
}

/**
 * liburing 2.3 has no io_uring_major_version()/minor_version() (added in 2.4), so the version comes
 * from the real file name behind the soname (liburing.so.2 → liburing.so.2.3).
 */
function liburingVersion(): string {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib']
  for (const dir of dirs) {
    const path = `${dir}/${liburingSoname}`
    if (!existsSync(path)) continue
    const match = /liburing\.so\.(\d+\.\d+)/.exec(realpathSync(path))
    if (match?.[1] !== undefined) return match[1]
  }
  return '2'
}
