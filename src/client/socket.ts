/**
 * The byte stream under a Connection: node:net everywhere, or Bun's native socket when the SDK runs
 * in Bun. Measured with a no-op Worker draining a memory server (2 shared cores, back-to-back runs):
 * at concurrency 100, 53k jobs/s over node:net (whose profile is dominated by the streams layer,
 * writeBuffered and readable bookkeeping) against 102k over Bun's socket; at concurrency 10 both were
 * bound by round trips. test/sdk/flashq-client.test.ts runs its transport tests over each.
 *
 * Bun's socket does not buffer: write() returns the bytes it took, and the rest waits for `drain`.
 */
import * as net from 'node:net'

export interface ByteSocket {
  write(data: string | Uint8Array): void
  /** Half-closes after the pending output, then closes. */
  end(): void
  destroy(): void
}

export type SocketHandlers = {
  onData(chunk: Buffer): void
  onClose(): void
  onError(error: Error): void
}

export type SocketKind = 'node' | 'bun'

type BunSocket = { write(data: string | Uint8Array): number; end(): void; terminate?(): void; setNoDelay?(on: boolean): void }
type BunConnect = (options: {
  hostname: string
  port: number
  socket: {
    data(socket: BunSocket, chunk: Uint8Array): void
    drain(socket: BunSocket): void
    close(socket: BunSocket): void
    error(socket: BunSocket, error: Error): void
    connectError?(socket: BunSocket, error: Error): void
  }
}) => Promise<BunSocket>

/** Bun's native connect when running in Bun, found at runtime so Node never sees it. */
function bunConnect(): BunConnect | null {
  const bun = (globalThis as { Bun?: { connect?: BunConnect } }).Bun
  return typeof bun?.connect === 'function' ? bun.connect.bind(bun) : null
}

export function defaultSocketKind(): SocketKind {
  return bunConnect() !== null ? 'bun' : 'node'
}

/** Connects within `timeoutMs`; handlers receive data, close and errors after that. */
export function dial(kind: SocketKind, host: string, port: number, timeoutMs: number, handlers: SocketHandlers): Promise<ByteSocket> {
  const connect = kind === 'bun' ? bunConnect() : null
  const opening = connect !== null ? dialBun(connect, host, port, handlers) : dialNode(host, port, handlers)
  return new Promise<ByteSocket>((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() => {
      settled = true
      reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`))
      opening.then((socket) => socket.destroy(), () => {})
    }, timeoutMs)
    opening.then(
      (socket) => {
        clearTimeout(timer)
        if (settled) return
        settled = true
        resolve(socket)
      },
      (error: Error) => {
        clearTimeout(timer)
        if (settled) return
        settled = true
        reject(new Error(`cannot connect to ${host}:${port}: ${error.message}`))
      },
    )
  })
}

function dialNode(host: string, port: number, handlers: SocketHandlers): Promise<ByteSocket> {
  return new Promise<ByteSocket>((resolve, reject) => {
    const socket = net.createConnection({ host, port })
    socket.once('connect', () => {
      socket.setNoDelay(true)
      socket.removeListener('error', reject)
      socket.on('error', (error) => handlers.onError(error))
      socket.on('data', (chunk: Buffer) => handlers.onData(chunk))
      socket.on('close', () => handlers.onClose())
      resolve({
        write: (data) => void socket.write(data),
        end: () => void socket.end(),
        destroy: () => void socket.destroy(),
      })
    })
    socket.once('error', reject)
  })
}

async function dialBun(connect: BunConnect, host: string, port: number, handlers: SocketHandlers): Promise<ByteSocket> {
  const encoder = new TextEncoder()
  /** Bytes the kernel did not take yet, written on drain. */
  let pending: Uint8Array[] = []
  let closed = false
  let ending = false
  let socket: BunSocket | null = null
  const flushPending = (target: BunSocket) => {
    while (pending.length > 0) {
      const head = pending[0] as Uint8Array
      const written = target.write(head)
      if (written < head.length) {
        pending[0] = head.subarray(Math.max(0, written))
        return
      }
      pending.shift()
    }
    if (ending) target.end()
  }
  const close = () => {
    if (closed) return
    closed = true
    handlers.onClose()
  }
  socket = await connect({
    hostname: host,
    port,
    socket: {
      // Bun hands a Buffer already; touching `.buffer` would make it materialise an ArrayBuffer.
      data: (_socket, chunk) => handlers.onData(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)),
      drain: (target) => flushPending(target),
      close: () => close(),
      error: (_socket, error) => handlers.onError(error),
    },
  })
  socket.setNoDelay?.(true)
  const live = socket
  return {
    write(data) {
      if (closed) return
      if (pending.length > 0) return void pending.push(typeof data === 'string' ? encoder.encode(data) : data)
      // A string goes to the socket as it is (no copy); only an unwritten rest is encoded and kept.
      const written = live.write(data)
      const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length
      if (written < size) pending.push((typeof data === 'string' ? encoder.encode(data) : data).subarray(Math.max(0, written)))
    },
    end() {
      ending = true
      if (pending.length === 0) live.end()
    },
    destroy() {
      pending = []
      if (live.terminate) live.terminate()
      else live.end()
      close()
    },
  }
}
