/**
 * The libc symbols flashq calls through bun:ffi: `posix_fallocate`, `sync_file_range` (the pwrite
 * backend's startWriteback), `flock` (the data directory's lock) and `setpriority` (the JIT compiler
 * threads' nice value, server/compiler-threads.ts). Each is wrapped to return the
 * error number (posix_fallocate returns it directly; the others set errno, read through
 * `__errno_location`). Loaded lazily, and absence (a libc under another name) is not an error:
 * callers fall back (zeros, fdatasync, no lock with a warning).
 */
import { dlopen, FFIType, read } from 'bun:ffi'

type Libc = {
  posix_fallocate(fd: number, offset: number, bytes: number): number
  /** 0, or the errno of sync_file_range(fd, offset, bytes, flags). */
  sync_file_range(fd: number, offset: number, bytes: number, flags: number): number
  /** 0, or the errno of flock(fd, operation). */
  flock(fd: number, operation: number): number
  /** 0, or the errno of setpriority(PRIO_PROCESS, tid, nice): on Linux the nice value of one thread. */
  setThreadNice(tid: number, nice: number): number
}

/** setpriority(2)'s `which` for one process, or on Linux one thread (a tid). */
const prioProcess = 0

/** SYNC_FILE_RANGE_WRITE (linux/fs.h): start writeback of the range, wait for nothing. The same
 * value for the system call and for io_uring's sync_range_flags. */
export const syncFileRangeWrite = 2

/** flock(2) operations (sys/file.h): an exclusive lock, without waiting for it. */
export const flockExclusive = 2
export const flockNoWait = 4
/** errno when flock would wait (EWOULDBLOCK = EAGAIN on Linux). */
export const errnoWouldBlock = 11

/** glibc's soname on x86_64 and arm64 Linux; musl would need `libc.musl-<arch>.so.1`. */
const libcNames = ['libc.so.6']

let libc: Libc | null | undefined

/** libc with posix_fallocate and sync_file_range, or null when it cannot be loaded. */
export function loadLibc(): Libc | null {
  if (libc !== undefined) return libc
  libc = null
  for (const name of libcNames) {
    try {
      const lib = dlopen(name, {
        // int posix_fallocate(int fd, off_t offset, off_t len); off_t is 64-bit on LP64.
        posix_fallocate: { args: [FFIType.i32, FFIType.i64, FFIType.i64], returns: FFIType.i32 },
        // int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags)
        sync_file_range: { args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.u32], returns: FFIType.i32 },
        // int flock(int fd, int operation)
        flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        // int setpriority(int which, id_t who, int prio)
        setpriority: { args: [FFIType.i32, FFIType.u32, FFIType.i32], returns: FFIType.i32 },
        // int *__errno_location(void): this thread's errno
        __errno_location: { args: [], returns: FFIType.ptr },
      })
      const { symbols } = lib
      const lastErrno = () => {
        const errno = symbols.__errno_location()
        return errno === null ? 5 /* EIO */ : read.i32(errno)
      }
      libc = {
        posix_fallocate: (fd, offset, bytes) => symbols.posix_fallocate(fd, offset, bytes),
        sync_file_range: (fd, offset, bytes, flags) => (symbols.sync_file_range(fd, offset, bytes, flags) === 0 ? 0 : lastErrno()),
        flock: (fd, operation) => (symbols.flock(fd, operation) === 0 ? 0 : lastErrno()),
        setThreadNice: (tid, nice) => (symbols.setpriority(prioProcess, tid, nice) === 0 ? 0 : lastErrno()),
      }
      break
    } catch {
      // Try the next name; null means "fall back".
    }
  }
  return libc
}
