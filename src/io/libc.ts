/**
 * The one libc symbol flashq calls through bun:ffi: `posix_fallocate`. It returns the error number
 * directly instead of setting errno, so no `__errno_location` dance is needed. Loaded lazily, and
 * absence (a libc under another name) is not an error: callers fall back to writing zeros.
 */
import { dlopen, FFIType } from 'bun:ffi'

type Libc = { posix_fallocate(fd: number, offset: number, bytes: number): number }

/** glibc's soname on x86_64 and arm64 Linux; musl would need `libc.musl-<arch>.so.1`. */
const libcNames = ['libc.so.6']

let libc: Libc | null | undefined

/** libc with posix_fallocate, or null when it cannot be loaded. */
export function loadLibc(): Libc | null {
  if (libc !== undefined) return libc
  libc = null
  for (const name of libcNames) {
    try {
      const lib = dlopen(name, {
        // int posix_fallocate(int fd, off_t offset, off_t len); off_t is 64-bit on LP64.
        posix_fallocate: { args: [FFIType.i32, FFIType.i64, FFIType.i64], returns: FFIType.i32 },
      })
      libc = { posix_fallocate: (fd, offset, bytes) => lib.symbols.posix_fallocate(fd, offset, bytes) }
      break
    } catch {
      // Try the next name; null means "write zeros instead".
    }
  }
  return libc
}
