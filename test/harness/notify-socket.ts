/**
 * A fake systemd notify socket for tests: binds a unix datagram socket (through libc via bun:ffi,
 * as Bun has none) and collects what a server sends with sd_notify, the way systemd's manager does.
 */
import { dlopen, FFIType, ptr } from 'bun:ffi'
import { join } from 'node:path'

const afUnix = 1
const sockDgramNonblockCloexec = 2 | 0o4000 | 0o2000000

const libc = dlopen('libc.so.6', {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64_fast },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
}).symbols

export type NotifySocket = {
  path: string
  /** Datagrams received so far, each as text (e.g. `READY=1\nSTATUS=…`). */
  messages(): string[]
  /** Resolves with the first datagram containing `needle`, polling every few ms until `timeoutMs`. */
  waitFor(needle: string, timeoutMs: number): Promise<string>
  close(): void
}

export function bindNotifySocket(dir: string): NotifySocket {
  const path = join(dir, 'notify.sock')
  const fd = libc.socket(afUnix, sockDgramNonblockCloexec, 0)
  if (fd < 0) throw new Error('socket(AF_UNIX, SOCK_DGRAM) failed')
  const address = new Uint8Array(110)
  new DataView(address.buffer).setUint16(0, afUnix, true)
  address.set(new TextEncoder().encode(path), 2)
  if (libc.bind(fd, ptr(address), 2 + path.length + 1) !== 0) throw new Error(`bind ${path} failed`)
  const received: string[] = []
  const buffer = new Uint8Array(new ArrayBuffer(4096))
  const poll = () => {
    for (;;) {
      const length = Number(libc.recv(fd, ptr(buffer), buffer.length, 0))
      if (length < 0) return
      received.push(new TextDecoder().decode(buffer.subarray(0, length)))
    }
  }
  return {
    path,
    messages: () => (poll(), [...received]),
    async waitFor(needle, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        poll()
        const found = received.find((message) => message.includes(needle))
        if (found !== undefined) return found
        if (Date.now() > deadline) throw new Error(`no notify message with '${needle}' in ${timeoutMs} ms (got ${JSON.stringify(received)})`)
        await Bun.sleep(5)
      }
    },
    close: () => void libc.close(fd),
  }
}
