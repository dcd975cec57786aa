/**
 * A minimal WebSocket client (RFC 6455) over node:net, enough to read a server's event stream: the
 * upgrade handshake, text frames (fragmented or not), ping → pong, close. Node 20 has no global
 * WebSocket, and the SDK takes no dependency for one.
 */
import { createHash, randomBytes } from 'node:crypto'
import * as net from 'node:net'
import { sdkEventMessageBytesMax } from '../base/limits.ts'

const guid = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

const opContinuation = 0x0
const opText = 0x1
const opClose = 0x8
const opPing = 0x9

export type WebSocketHandlers = {
  onMessage: (text: string) => void
  onClose: (reason: string) => void
}

export class MiniWebSocket {
  #socket: net.Socket
  #buffer: Buffer = Buffer.alloc(0)
  #fragments: Buffer[] = []
  #fragmentBytes = 0
  #open = false
  #closed = false

  private constructor(socket: net.Socket, readonly handlers: WebSocketHandlers) {
    this.#socket = socket
  }

  /** Connects and completes the handshake; rejects when the server does not answer 101. */
  static connect(host: string, port: number, path: string, handlers: WebSocketHandlers, timeoutMs: number): Promise<MiniWebSocket> {
    return new Promise<MiniWebSocket>((resolve, reject) => {
      const socket = net.createConnection({ host, port })
      const ws = new MiniWebSocket(socket, handlers)
      const key = randomBytes(16).toString('base64')
      const expectedAccept = createHash('sha1').update(key + guid).digest('base64')
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error(`WebSocket ${path}: no handshake within ${timeoutMs} ms`))
      }, timeoutMs)
      socket.once('error', (error) => {
        clearTimeout(timer)
        reject(new Error(`WebSocket ${host}:${port}${path}: ${error.message}`))
      })
      socket.once('connect', () => {
        socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
      })
      socket.on('data', (chunk: Buffer) => {
        if (ws.#open) return ws.#read(chunk)
        ws.#buffer = Buffer.concat([ws.#buffer, chunk])
        const end = ws.#buffer.indexOf('\r\n\r\n')
        if (end < 0) return
        clearTimeout(timer)
        const head = ws.#buffer.subarray(0, end).toString('latin1')
        const rest = ws.#buffer.subarray(end + 4)
        ws.#buffer = Buffer.alloc(0)
        const status = head.split('\r\n')[0] ?? ''
        if (!/^HTTP\/1\.1 101/.test(status) || !head.includes(expectedAccept)) {
          socket.destroy()
          return reject(new Error(`WebSocket ${path}: upgrade refused (${status || 'no status line'})`))
        }
        ws.#open = true
        socket.removeAllListeners('error')
        socket.on('error', () => {})
        socket.on('close', () => ws.#finish('connection closed'))
        resolve(ws)
        if (rest.length > 0) ws.#read(rest)
      })
    })
  }

  sendText(text: string): void {
    this.#send(opText, Buffer.from(text, 'utf8'))
  }

  close(): void {
    if (this.#closed) return
    this.#send(opClose, Buffer.alloc(0))
    this.#socket.end()
    this.#finish('closed by the client')
  }

  #finish(reason: string): void {
    if (this.#closed) return
    this.#closed = true
    this.#socket.destroy()
    this.handlers.onClose(reason)
  }

  /** Client frames are always masked (RFC 6455 §5.3). */
  #send(opcode: number, payload: Buffer): void {
    if (this.#closed || this.#socket.destroyed) return
    const length = payload.length
    const header = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10)
    header[0] = 0x80 | opcode
    if (length < 126) header[1] = 0x80 | length
    else if (length < 65536) {
      header[1] = 0x80 | 126
      header.writeUInt16BE(length, 2)
    } else {
      header[1] = 0x80 | 127
      header.writeBigUInt64BE(BigInt(length), 2)
    }
    const mask = randomBytes(4)
    const masked = Buffer.alloc(length)
    for (let i = 0; i < length; i++) masked[i] = (payload[i] as number) ^ (mask[i & 3] as number)
    this.#socket.write(Buffer.concat([header, mask, masked]))
  }

  #read(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
    for (;;) {
      const frame = this.#nextFrame()
      if (frame === null) return
      this.#handle(frame.fin, frame.opcode, frame.payload)
    }
  }

  #nextFrame(): { fin: boolean; opcode: number; payload: Buffer } | null {
    const buffer = this.#buffer
    if (buffer.length < 2) return null
    const first = buffer[0] as number
    const second = buffer[1] as number
    let length = second & 0x7f
    let offset = 2
    if (length === 126) {
      if (buffer.length < 4) return null
      length = buffer.readUInt16BE(2)
      offset = 4
    } else if (length === 127) {
      if (buffer.length < 10) return null
      length = Number(buffer.readBigUInt64BE(2))
      offset = 10
    }
    if (length > sdkEventMessageBytesMax) {
      this.#finish(`frame of ${length} bytes exceeds ${sdkEventMessageBytesMax}`)
      return null
    }
    const maskBytes = second & 0x80 ? 4 : 0
    if (buffer.length < offset + maskBytes + length) return null
    let payload = buffer.subarray(offset + maskBytes, offset + maskBytes + length)
    if (maskBytes > 0) {
      const mask = buffer.subarray(offset, offset + 4)
      payload = Buffer.from(payload.map((byte, i) => byte ^ (mask[i & 3] as number)))
    }
    this.#buffer = buffer.subarray(offset + maskBytes + length)
    return { fin: (first & 0x80) !== 0, opcode: first & 0x0f, payload }
  }

  #handle(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode === opPing) return this.#send(0xa, payload)
    if (opcode === opClose) return this.#finish(`closed by the server${payload.length >= 2 ? ` (code ${payload.readUInt16BE(0)}${closeReasonOf(payload)})` : ''}`)
    if (opcode !== opText && opcode !== opContinuation) return
    this.#fragments.push(Buffer.from(payload))
    this.#fragmentBytes += payload.length
    if (this.#fragmentBytes > sdkEventMessageBytesMax) return this.#finish(`message exceeds ${sdkEventMessageBytesMax} bytes`)
    if (!fin) return
    this.#fragmentBytes = 0
    const text = Buffer.concat(this.#fragments).toString('utf8')
    this.#fragments = []
    this.handlers.onMessage(text)
  }
}

/** The reason text of a close frame after its 2-byte code, as `: <reason>`; empty without one. */
function closeReasonOf(payload: Buffer): string {
  const reason = payload.subarray(2).toString('utf8')
  return reason === '' ? '' : `: ${reason}`
}
