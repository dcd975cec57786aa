/**
 * A raw wire client for tests: real TCP, JSON lines or length-prefixed MessagePack, replies matched
 * by reqId (or in order when a request has none). No flashq code on the client side except the
 * msgpack encoder, so the server's decoding is what gets tested.
 */
import type { Socket } from 'bun'
import { Packr, Unpackr } from 'msgpackr'

// Replies are loosely typed on purpose: tests assert their shape.
// biome-ignore lint: test helper
export type Reply = { ok: boolean; error?: string; reqId?: string; [field: string]: any }
type Mode = 'json' | 'msgpack'

const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

export class WireClient {
  private socket!: Socket<undefined>
  private buffer = new Uint8Array(0)
  private readonly byReqId = new Map<string, (reply: Reply) => void>()
  private readonly inOrder: Array<(reply: Reply) => void> = []
  private nextReqId = 1
  private closedResolve: () => void = () => {}
  readonly closed = new Promise<void>((resolve) => (this.closedResolve = resolve))
  /** Every reply received, in arrival order (for tests of ordering and unmatched replies). */
  readonly received: Reply[] = []

  private constructor(readonly mode: Mode) {}

  static async connect(port: number, mode: Mode = 'json', host = '127.0.0.1'): Promise<WireClient> {
    const client = new WireClient(mode)
    client.socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_socket, chunk) => client.onData(chunk),
        close: () => client.closedResolve(),
        error: () => client.closedResolve(),
      },
    })
    return client
  }

  /** Sends a request with a fresh reqId and resolves with its reply. */
  request(command: Record<string, unknown>, timeoutMs = 20_000): Promise<Reply> {
    const reqId = `r${this.nextReqId++}`
    const reply = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${JSON.stringify(command).slice(0, 200)}`)), timeoutMs)
      this.byReqId.set(reqId, (value) => {
        clearTimeout(timer)
        resolve(value)
      })
    })
    this.sendRaw(this.encode({ ...command, reqId }))
    return reply
  }

  /** Sends a request without reqId; its reply is the next unmatched one. */
  requestInOrder(command: Record<string, unknown>, timeoutMs = 20_000): Promise<Reply> {
    const reply = this.nextUnmatched(timeoutMs)
    this.sendRaw(this.encode(command))
    return reply
  }

  /** Resolves with the next reply that carries no known reqId. */
  nextUnmatched(timeoutMs = 20_000): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no unmatched reply')), timeoutMs)
      this.inOrder.push((value) => {
        clearTimeout(timer)
        resolve(value)
      })
    })
  }

  encode(command: unknown): Uint8Array {
    if (this.mode === 'json') return new TextEncoder().encode(`${JSON.stringify(command)}\n`)
    return frame(packr.pack(command))
  }

  sendRaw(bytes: Uint8Array | string): void {
    const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes
    let offset = 0
    while (offset < data.byteLength) {
      const written = this.socket.write(data.subarray(offset))
      if (written <= 0) break // tests write small amounts; a full socket here is a test bug
      offset += written
    }
    this.socket.flush()
  }

  close(): void {
    this.socket.end()
  }

  private onData(chunk: Uint8Array): void {
    const joined = new Uint8Array(this.buffer.byteLength + chunk.byteLength)
    joined.set(this.buffer, 0)
    joined.set(chunk, this.buffer.byteLength)
    this.buffer = joined
    if (this.mode === 'json') this.readLines()
    else this.readFrames()
  }

  private readLines(): void {
    let newline: number
    while ((newline = this.buffer.indexOf(0x0a)) >= 0) {
      const line = new TextDecoder().decode(this.buffer.subarray(0, newline))
      this.buffer = this.buffer.slice(newline + 1)
      this.dispatch(JSON.parse(line) as Reply)
    }
  }

  private readFrames(): void {
    while (this.buffer.byteLength >= 4) {
      const length = new DataView(this.buffer.buffer, this.buffer.byteOffset).getUint32(0)
      if (this.buffer.byteLength < 4 + length) return
      const body = this.buffer.subarray(4, 4 + length)
      this.buffer = this.buffer.slice(4 + length)
      this.dispatch(unpackr.unpack(body) as Reply)
    }
  }

  private dispatch(reply: Reply): void {
    this.received.push(reply)
    const waiter = typeof reply.reqId === 'string' ? this.byReqId.get(reply.reqId) : undefined
    if (waiter !== undefined) {
      this.byReqId.delete(reply.reqId as string)
      return waiter(reply)
    }
    this.inOrder.shift()?.(reply)
  }
}

export function frame(body: Uint8Array): Uint8Array {
  const framed = new Uint8Array(4 + body.byteLength)
  new DataView(framed.buffer).setUint32(0, body.byteLength)
  framed.set(body, 4)
  return framed
}
