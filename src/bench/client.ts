/**
 * A lean load-generating client: raw Bun.connect, JSON lines, one socket write per batch of requests,
 * replies counted (or split into lines) incrementally. It does no per-reply allocation when only counting,
 * so on a 2-core machine most of the CPU is left to the server.
 */
import type { Socket } from 'bun'

const NEWLINE = 0x0a

export class BenchConnection {
  private socket!: Socket<undefined>
  /** Bytes not yet accepted by the kernel (Bun does not buffer partial writes). */
  private pending: Uint8Array | null = null
  private readonly encoder = new TextEncoder()
  private readonly decoder = new TextDecoder('latin1')
  /** Called with the number of complete reply lines in each read (counting mode). */
  onCount: ((lines: number, chunk: Uint8Array) => void) | null = null
  /** Called with each complete reply line (line mode; the tail is kept between reads). */
  onLine: ((line: string) => void) | null = null
  private tail = ''
  private closedResolve: () => void = () => {}
  readonly closed = new Promise<void>((resolve) => (this.closedResolve = resolve))

  static async connect(port: number, host = '127.0.0.1'): Promise<BenchConnection> {
    const connection = new BenchConnection()
    connection.socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_socket, chunk) => connection.onData(chunk),
        drain: () => connection.flushPending(),
        close: () => connection.closedResolve(),
        error: () => connection.closedResolve(),
      },
    })
    connection.socket.setNoDelay(true)
    return connection
  }

  /** Writes a batch of requests (already joined, each ending in LF) in one write. */
  send(text: string): void {
    const bytes = this.encoder.encode(text)
    if (this.pending !== null) {
      const joined = new Uint8Array(this.pending.byteLength + bytes.byteLength)
      joined.set(this.pending, 0)
      joined.set(bytes, this.pending.byteLength)
      this.pending = joined
      return
    }
    const written = this.socket.write(bytes)
    if (written < bytes.byteLength) this.pending = bytes.subarray(Math.max(0, written))
  }

  private flushPending(): void {
    if (this.pending === null) return
    const written = this.socket.write(this.pending)
    this.pending = written >= this.pending.byteLength ? null : this.pending.subarray(Math.max(0, written))
  }

  close(): void {
    this.socket.end()
  }

  private onData(chunk: Uint8Array): void {
    if (this.onLine !== null) {
      const text = this.tail + this.decoder.decode(chunk)
      let start = 0
      let newline: number
      while ((newline = text.indexOf('\n', start)) >= 0) {
        const line = text.slice(start, newline)
        start = newline + 1
        this.onLine(line)
      }
      this.tail = start < text.length ? text.slice(start) : ''
      return
    }
    if (this.onCount !== null) {
      let lines = 0
      let position = chunk.indexOf(NEWLINE)
      while (position >= 0) {
        lines++
        position = chunk.indexOf(NEWLINE, position + 1)
      }
      this.onCount(lines, chunk)
    }
  }
}

/** True when this read contains an error reply (a match split across two reads is missed; runs also check totals). */
export function chunkHasError(chunk: Uint8Array): boolean {
  // '"ok":false' — look for the byte sequence without decoding the chunk.
  let position = chunk.indexOf(0x66) // 'f'
  while (position >= 0) {
    if (position >= 5 && chunk[position - 1] === 0x3a && chunk[position - 2] === 0x22 && chunk[position - 3] === 0x6b && chunk[position + 1] === 0x61) return true
    position = chunk.indexOf(0x66, position + 1)
  }
  return false
}
