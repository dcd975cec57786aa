/**
 * The libc symbols the raw io_uring path calls through bun:ffi: `syscall` (io_uring has no libc
 * wrapper), `mmap`/`munmap` for the rings, `close`, and `__errno_location` to read errno after a
 * failed call. No liburing involved: this is what lets a fresh machine run io_uring. Loading throws
 * when libc cannot be opened; only io/pick.ts calls it, inside a try.
 */
import { dlopen, FFIType, read, type Pointer } from 'bun:ffi'

/** Syscall numbers from the unified table (asm-generic): the same on x86_64 and arm64 since 5.1. */
export const syscallNumber = { ioUringSetup: 425, ioUringEnter: 426 } as const

/** mmap(2) constants (asm-generic/mman-common.h; identical on x86_64 and arm64). */
export const mman = { protRead: 0x1, protWrite: 0x2, mapShared: 0x01, mapPopulate: 0x8000 } as const

export type Kernel = {
  /** The raw system call; returns the result, or -errno (read from errno right after a -1). */
  syscall(number: number, a: number, b: number, c: number, d: number, e: number, f: number): number
  /** mmap(NULL, bytes, prot, flags, fd, offset) → address, or -errno. */
  mmap(bytes: number, prot: number, flags: number, fd: number, offset: number): number
  munmap(address: number, bytes: number): number
  close(fd: number): number
}

let kernel: Kernel | undefined

/** glibc's soname on x86_64 and arm64 Linux (the binary targets glibc; musl would need another). */
export function loadKernel(soname = 'libc.so.6'): Kernel {
  if (kernel !== undefined && soname === 'libc.so.6') return kernel
  const lib = dlopen(soname, {
    // long syscall(long number, ...): variadic, but on x86_64 and arm64 Linux integer varargs travel
    // in the same registers as fixed arguments, so a fixed 7-argument signature calls it correctly.
    syscall: { args: [FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64], returns: FFIType.i64_fast },
    // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset); MAP_FAILED is -1.
    mmap: { args: [FFIType.u64, FFIType.u64, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.i64], returns: FFIType.i64_fast },
    munmap: { args: [FFIType.u64, FFIType.u64], returns: FFIType.i32 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  })
  const s = lib.symbols
  // errno is thread-local; its address is fixed per thread, so it is looked up once per Worker.
  const errnoAddress = s.__errno_location() as Pointer
  const orErrno = (result: number): number => (result === -1 ? -read.i32(errnoAddress, 0) : result)
  const loaded: Kernel = {
    syscall: (number, a, b, c, d, e, f) => orErrno(Number(s.syscall(number, a, b, c, d, e, f))),
    mmap: (bytes, prot, flags, fd, offset) => orErrno(Number(s.mmap(0, bytes, prot, flags, fd, offset))),
    munmap: (address, bytes) => s.munmap(address, bytes),
    close: (fd) => s.close(fd),
  }
  if (soname === 'libc.so.6') kernel = loaded
  return loaded
}
