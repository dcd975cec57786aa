/**
 * sd_notify(3) without libsystemd: one datagram to the unix socket named by $NOTIFY_SOCKET, which
 * systemd sets for a `Type=notify` service. Bun has no unix datagram sockets, so socket(2) and
 * sendto(2) go through libc via bun:ffi. Without NOTIFY_SOCKET (not under systemd) every call is a
 * no-op; a failure to notify is returned, never thrown: readiness reporting must not stop a server.
 */
import { dlopen, FFIType, ptr } from 'bun:ffi'

/** AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC (Linux values; the same on x86_64 and arm64). */
const afUnix = 1
const sockDgramCloexec = 2 | 0o2000000
/** struct sockaddr_un: sa_family_t (u16), then char sun_path[108]. */
const sunPathOffset = 2
const sunPathBytes = 108

type Libc = {
  socket(domain: number, type: number, protocol: number): number
  sendto(fd: number, buffer: Uint8Array, length: number, flags: number, address: Uint8Array, addressBytes: number): number
  close(fd: number): number
}

let libc: Libc | null = null

function loadLibc(): Libc {
  if (libc !== null) return libc
  const lib = dlopen('libc.so.6', {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    // ssize_t sendto(int, const void *, size_t, int, const struct sockaddr *, socklen_t)
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64_fast },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  })
  const s = lib.symbols
  libc = {
    socket: (domain, type, protocol) => s.socket(domain, type, protocol),
    sendto: (fd, buffer, length, flags, address, addressBytes) =>
      Number(s.sendto(fd, ptr(buffer), length, flags, ptr(address), addressBytes)),
    close: (fd) => s.close(fd),
  }
  return libc
}

/**
 * Sends `state` (e.g. `READY=1`, `STOPPING=1`, `STATUS=…`) to $NOTIFY_SOCKET. Returns null when sent
 * or when there is no socket to send to, otherwise the reason it failed.
 */
export function sdNotify(state: string, socketPath = process.env.NOTIFY_SOCKET): string | null {
  if (socketPath === undefined || socketPath === '') return null
  // '@name' is an abstract socket: the name starts with a NUL byte and has no terminator.
  const pathBytes = new TextEncoder().encode(socketPath.startsWith('@') ? `\0${socketPath.slice(1)}` : socketPath)
  if (pathBytes.length >= sunPathBytes) return `NOTIFY_SOCKET path too long (${pathBytes.length} bytes)`
  const address = new Uint8Array(sunPathOffset + sunPathBytes)
  new DataView(address.buffer).setUint16(0, afUnix, true)
  address.set(pathBytes, sunPathOffset)
  const addressBytes = sunPathOffset + pathBytes.length + (socketPath.startsWith('@') ? 0 : 1)
  const message = new TextEncoder().encode(state)
  try {
    const lib = loadLibc()
    const fd = lib.socket(afUnix, sockDgramCloexec, 0)
    if (fd < 0) return 'socket(AF_UNIX, SOCK_DGRAM) failed'
    try {
      const sent = lib.sendto(fd, message, message.length, 0, address, addressBytes)
      return sent === message.length ? null : `sendto ${socketPath} failed`
    } finally {
      lib.close(fd)
    }
  } catch (error) {
    return `sd_notify: ${(error as Error).message}`
  }
}
