/**
 * One multiplexed TCP connection to a flashq server (spec §1, §7.1–§7.2), shared by every call of one
 * client object.
 *
 * Owns: the socket, request framing (JSON lines, or MessagePack frames with `useBinary`), reqId
 * matching, per-request timeouts, AUTH after every connect, and reconnection with backoff.
 *
 * - Pipelining: requests are written without waiting for replies; requests issued together (in one
 *   synchronous run and its promise callbacks) go out in one socket write.
 * - Reconnect: when the socket drops, requests in flight fail with `ConnectionClosedError` unless they
 *   were marked idempotent, in which case they are sent again once the connection is back.
 *   Requests issued while disconnected wait for the reconnect (bounded by their own timeout).
 * - The socket is node:net, or Bun's native socket in Bun (socket.ts says why).
 */
import { Unpackr } from 'msgpackr'
import { frameBytesMax, lineBytesMax, timerDelayMsMax } from '../base/limits.ts'
import { encodeMsgpackFrame } from '../protocol/msgpack-frames.ts'
import { AuthenticationError, ConnectionClosedError, RequestTimeoutError, errorFromReply } from './errors.ts'
import { type ByteSocket, defaultSocketKind, dial, type SocketKind } from './socket.ts'

export type ConnectionOptions = {
  /** Default '127.0.0.1'. */
  host?: string
  /** TCP port, default 6789. */
  port?: number
  /** Sent with AUTH after every connect; empty means no AUTH. */
  token?: string
  /** Connect timeout and default per-request timeout (ms), default 5000. */
  timeout?: number
  /** MessagePack frames instead of JSON lines. */
  useBinary?: boolean
  /** Reconnect when the connection drops (default true). */
  autoReconnect?: boolean
  /** Reconnect attempts before giving up (default 10; 0 = forever). */
  maxReconnectAttempts?: number
  /** First reconnect delay (ms), doubled per attempt up to maxReconnectDelay, plus 0–30 % jitter. */
  reconnectDelay?: number
  maxReconnectDelay?: number
  /** Socket implementation: 'bun' (default in Bun) or 'node' (node:net, default elsewhere). */
  socket?: SocketKind
}

/** A reply object: `ok`, the echoed `reqId` and the command's fields. */
// biome-ignore lint: replies are loosely typed by nature (one shape per command)
export type Reply = { ok?: boolean; error?: string; reqId?: string; [field: string]: any }

export type RequestOptions = {
  /** Overrides the connection's request timeout (blocking commands pass their server timeout + 5 s). */
  timeoutMs?: number
  /** Safe to send again after a reconnect (reads, and writes whose effect does not repeat). */
  idempotent?: boolean
}

type Pending = {
  command: Record<string, unknown>
  options: RequestOptions
  resolve: (reply: Reply) => void
  reject: (error: Error) => void
  timeoutMs: number
  /** performance.now() after which the request fails with RequestTimeoutError. */
  deadlineMs: number
}

/** The options of a request that gives none (shared: nothing writes to it). */
const noRequestOptions: RequestOptions = Object.freeze({})

type State = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed'

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })
const lineFeed = 0x0a

export class Connection {
  readonly host: string
  readonly port: number
  readonly useBinary: boolean
  readonly timeoutMs: number
  #token: string
  readonly #autoReconnect: boolean
  readonly #maxReconnectAttempts: number
  readonly #reconnectDelayMs: number
  readonly #maxReconnectDelayMs: number
  readonly #socketKind: SocketKind

  #state: State = 'idle'
  #socket: ByteSocket | null = null
  /** Resolves when the current socket has closed. */
  #socketClosed: Promise<void> = Promise.resolve()
  #opening: Promise<void> | null = null
  #reconnectAttempts = 0
  #lastConnectError: Error | null = null
  #reconnectTimer: ReturnType<typeof setTimeout> | null = null
  /**
   * One timer for every request's timeout, armed at the earliest deadline it knows of, instead of a
   * setTimeout + clearTimeout per request (~2 µs and a timer object each, on every push, pull and ack).
   * It fires rarely: requests with the same timeout have later deadlines than the one that armed it.
   */
  #deadlineTimer: ReturnType<typeof setTimeout> | null = null
  #deadlineTimerAtMs = Number.POSITIVE_INFINITY
  /** Requests sent and not yet answered, by reqId. */
  readonly #inFlight = new Map<string, Pending>()
  /** Requests issued while not connected, sent after (re)connect. */
  #queued: Array<[string, Pending]> = []
  /** Encoded requests of this turn, written together by #flush. */
  #outbox: Array<string | Uint8Array> = []
  #flushScheduled = false
  readonly #reqIdPrefix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6).padEnd(4, '0')}-`
  #reqIdCounter = 0
  /** Unparsed input: chunks of an incomplete line or frame. */
  #tail: Buffer[] = []
  #tailBytes = 0
  /** Listeners for connection-level events (the client objects turn them into 'error' events). */
  onError: ((error: Error) => void) | null = null
  onReconnected: (() => void) | null = null
  /** Times the connection was re-established after a drop. */
  reconnects = 0

  constructor(options: ConnectionOptions = {}) {
    this.host = options.host ?? '127.0.0.1'
    this.port = options.port ?? 6789
    this.useBinary = options.useBinary ?? false
    this.timeoutMs = options.timeout ?? 5000
    this.#token = options.token ?? ''
    this.#autoReconnect = options.autoReconnect ?? true
    this.#maxReconnectAttempts = options.maxReconnectAttempts ?? 10
    this.#reconnectDelayMs = options.reconnectDelay ?? 1000
    this.#maxReconnectDelayMs = options.maxReconnectDelay ?? 30_000
    this.#socketKind = options.socket ?? defaultSocketKind()
  }

  get connected(): boolean {
    return this.#state === 'open'
  }

  get closed(): boolean {
    return this.#state === 'closed'
  }

  /** Requests waiting for a reply or for the connection. */
  get pendingCount(): number {
    return this.#inFlight.size + this.#queued.length
  }

  /** Connects (and authenticates) if not connected yet. */
  async connect(): Promise<void> {
    if (this.#state === 'open') return
    if (this.#state === 'closed') throw new ConnectionClosedError('connection is closed')
    this.#opening ??= this.#open().finally(() => (this.#opening = null))
    return this.#opening
  }

  /** Replaces the token (also used on later reconnects) and authenticates now. */
  async auth(token: string): Promise<Reply> {
    this.#token = token
    return this.request({ cmd: 'AUTH', token })
  }

  /** Sends one command; resolves with the whole reply, rejects on `ok:false` + `error`. */
  request(command: Record<string, unknown>, options: RequestOptions = noRequestOptions): Promise<Reply> {
    if (this.#state === 'closed') return Promise.reject(new ConnectionClosedError('connection is closed'))
    return new Promise<Reply>((resolve, reject) => this.#issue(command, options, resolve, reject))
  }

  #issue(command: Record<string, unknown>, options: RequestOptions, resolve: (reply: Reply) => void, reject: (error: Error) => void): void {
    const reqId = this.#reqIdPrefix + ++this.#reqIdCounter
    const timeoutMs = options.timeoutMs ?? this.timeoutMs
    const pending: Pending = { command, options, resolve, reject, timeoutMs, deadlineMs: deadlineOf(timeoutMs) }
    if (pending.deadlineMs < this.#deadlineTimerAtMs) this.#armDeadline(pending.deadlineMs)
    if (this.#state === 'open') this.#send(reqId, pending)
    else {
      this.#queued.push([reqId, pending])
      if (this.#state === 'idle') this.connect().catch((error: Error) => this.#connectFailed(error))
    }
  }

  /** Closes the socket; every unanswered request fails with ConnectionClosedError. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer)
    this.#disarmDeadline()
    this.#flush()
    const socket = this.#socket
    const socketClosed = this.#socketClosed
    this.#failAll(new ConnectionClosedError('connection closed by the client'), false)
    if (socket === null) return
    socket.end()
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([socketClosed, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)))])
    clearTimeout(timer)
    socket.destroy()
    this.#socket = null
  }

  async #open(): Promise<void> {
    this.#state = 'connecting'
    const attempt: { socket: ByteSocket | null; closed: () => void } = { socket: null, closed: () => {} }
    const socketClosed = new Promise<void>((resolve) => (attempt.closed = resolve))
    let socket: ByteSocket
    try {
      socket = await dial(this.#socketKind, this.host, this.port, this.timeoutMs, {
        onData: (chunk) => {
          if (this.#socket === attempt.socket) this.#onData(chunk)
        },
        onClose: () => {
          attempt.closed()
          this.#onClose(attempt.socket)
        },
        onError: (error) => this.onError?.(error),
      })
    } catch (error) {
      if (!this.closed) this.#state = 'idle'
      throw new ConnectionClosedError((error as Error).message)
    }
    attempt.socket = socket
    if (this.closed) {
      socket.destroy()
      throw new ConnectionClosedError('connection is closed')
    }
    this.#socket = socket
    this.#socketClosed = socketClosed
    this.#tail = []
    this.#tailBytes = 0
    if (this.#token !== '') {
      try {
        await this.#authenticate()
      } catch (error) {
        // A refused token will be refused again: fail everything now instead of reconnecting.
        this.#socket = null
        socket.destroy()
        this.#state = 'idle'
        this.#failAll(error as Error, false)
        throw error
      }
    }
    this.#state = 'open'
    this.#reconnectAttempts = 0
    this.#lastConnectError = null
    const queued = this.#queued
    this.#queued = []
    for (const [reqId, pending] of queued) this.#send(reqId, pending)
  }

  /** A connect started by a request failed: keep trying if allowed, else fail what waits for it. */
  #connectFailed(error: Error): void {
    this.#lastConnectError = error
    if (this.#state !== 'idle') return
    if (this.#autoReconnect && this.#queued.length > 0) {
      this.#state = 'waiting'
      this.#scheduleReconnect()
    } else this.#failAll(error, false)
  }

  /** AUTH goes out first, ahead of the requests queued while connecting (spec §1.10). */
  #authenticate(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const reqId = this.#reqIdPrefix + ++this.#reqIdCounter
      const pending: Pending = { command: { cmd: 'AUTH', token: this.#token }, options: noRequestOptions, resolve: () => resolve(), reject, timeoutMs: this.timeoutMs, deadlineMs: deadlineOf(this.timeoutMs) }
      if (pending.deadlineMs < this.#deadlineTimerAtMs) this.#armDeadline(pending.deadlineMs)
      this.#send(reqId, pending)
    })
  }

  #send(reqId: string, pending: Pending): void {
    this.#inFlight.set(reqId, pending)
    this.#outbox.push(this.useBinary ? encodeMsgpackFrame({ ...pending.command, reqId }) : jsonLineOf(pending.command, reqId))
    if (!this.#flushScheduled) {
      // A microtask runs after the caller's synchronous code and the promise callbacks queued
      // before it, so requests issued together (a worker's ACKB and next PULLB) share one write.
      this.#flushScheduled = true
      queueMicrotask(this.#flushNow)
    }
  }

  readonly #flushNow = (): void => this.#flush()

  #flush(): void {
    this.#flushScheduled = false
    const socket = this.#socket
    const parts = this.#outbox
    if (parts.length === 0 || socket === null) return
    const data = this.useBinary ? (parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts as Uint8Array[])) : parts.length === 1 ? (parts[0] as string) : parts.join('')
    parts.length = 0 // the outbox is reused: one array per connection, not one per write
    socket.write(data)
  }

  #onData(chunk: Buffer): void {
    if (this.useBinary) this.#readFrames(chunk)
    else this.#readLines(chunk)
  }

  /** Lines end in LF, which never occurs inside a multibyte UTF-8 sequence: decode up to the last LF. */
  #readLines(chunk: Buffer): void {
    const lastLineFeed = chunk.lastIndexOf(lineFeed)
    if (lastLineFeed < 0) return this.#keep(chunk, lineBytesMax)
    let text: string
    if (this.#tailBytes > 0) {
      this.#tail.push(chunk.subarray(0, lastLineFeed))
      text = Buffer.concat(this.#tail).toString('utf8')
      this.#tail = []
      this.#tailBytes = 0
    } else text = chunk.toString('utf8', 0, lastLineFeed)
    if (lastLineFeed + 1 < chunk.length) this.#keep(chunk.subarray(lastLineFeed + 1), lineBytesMax)
    let start = 0
    while (start < text.length) {
      let end = text.indexOf('\n', start)
      if (end < 0) end = text.length
      if (end > start) this.#dispatchText(text.slice(start, end))
      start = end + 1
    }
  }

  #dispatchText(line: string): void {
    let reply: Reply
    try {
      reply = JSON.parse(line) as Reply
    } catch {
      this.onError?.(new Error(`flashq: unparsable reply line: ${line.slice(0, 200)}`))
      return
    }
    this.#settle(reply)
  }

  #readFrames(chunk: Buffer): void {
    let buffer = chunk
    if (this.#tailBytes > 0) {
      this.#tail.push(chunk)
      buffer = Buffer.concat(this.#tail)
      this.#tail = []
      this.#tailBytes = 0
    }
    let offset = 0
    while (buffer.length - offset >= 4) {
      const length = buffer.readUInt32BE(offset)
      if (length > frameBytesMax) return this.#protocolError(`reply frame of ${length} bytes exceeds ${frameBytesMax}`)
      if (buffer.length - offset - 4 < length) break
      const body = buffer.subarray(offset + 4, offset + 4 + length)
      offset += 4 + length
      let reply: Reply
      try {
        reply = unpackr.unpack(body) as Reply
      } catch (error) {
        this.onError?.(new Error(`flashq: undecodable reply frame: ${String(error)}`))
        continue
      }
      this.#settle(reply)
    }
    if (offset < buffer.length) this.#keep(buffer.subarray(offset), frameBytesMax + 4)
  }

  #keep(bytes: Buffer, limitBytes: number): void {
    if (this.#tailBytes + bytes.length > limitBytes) return this.#protocolError(`reply larger than ${limitBytes} bytes`)
    this.#tail.push(Buffer.from(bytes)) // copied: the socket may reuse the chunk's memory
    this.#tailBytes += bytes.length
  }

  /** The stream cannot be resynchronised: drop the socket (a reconnect follows). */
  #protocolError(message: string): void {
    this.onError?.(new Error(`flashq: ${message}`))
    this.#socket?.destroy()
  }

  #settle(reply: Reply): void {
    const reqId = reply.reqId
    const pending = typeof reqId === 'string' ? this.#inFlight.get(reqId) : undefined
    if (pending === undefined) return // a reply to a request that already timed out
    this.#inFlight.delete(reqId as string)
    if (reply.ok === false && typeof reply.error === 'string') pending.reject(errorFromReply(reply.error, String(pending.command.cmd)))
    else pending.resolve(reply)
  }

  #armDeadline(atMs: number): void {
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer)
    this.#deadlineTimerAtMs = atMs
    this.#deadlineTimer = setTimeout(this.#onDeadline, Math.min(timerDelayMsMax, Math.max(1, Math.ceil(atMs - performance.now()))))
  }

  #disarmDeadline(): void {
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer)
    this.#deadlineTimer = null
    this.#deadlineTimerAtMs = Number.POSITIVE_INFINITY
  }

  /** Fails the requests past their deadline, in the order they were issued; re-arms for the next one. */
  readonly #onDeadline = (): void => {
    this.#deadlineTimer = null
    this.#deadlineTimerAtMs = Number.POSITIVE_INFINITY
    const nowMs = performance.now()
    let nextMs = Number.POSITIVE_INFINITY
    const expired: Pending[] = []
    for (const [reqId, pending] of this.#inFlight) {
      if (pending.deadlineMs <= nowMs) {
        this.#inFlight.delete(reqId)
        expired.push(pending)
      } else if (pending.deadlineMs < nextMs) nextMs = pending.deadlineMs
    }
    if (this.#queued.length > 0) {
      const waiting: Array<[string, Pending]> = []
      for (const entry of this.#queued) {
        const pending = entry[1]
        if (pending.deadlineMs <= nowMs) expired.push(pending)
        else {
          waiting.push(entry)
          if (pending.deadlineMs < nextMs) nextMs = pending.deadlineMs
        }
      }
      this.#queued = waiting
    }
    if (nextMs < Number.POSITIVE_INFINITY) this.#armDeadline(nextMs)
    for (const pending of expired) this.#timeout(pending)
  }

  #timeout(pending: Pending): void {
    const why = this.#state === 'open' || this.#lastConnectError === null ? '' : ` (not connected: ${this.#lastConnectError.message})`
    pending.reject(new RequestTimeoutError(`${String(pending.command.cmd)} got no reply within ${pending.timeoutMs} ms${why}`))
  }

  #onClose(socket: ByteSocket | null): void {
    if (this.#socket !== socket) return
    this.#socket = null
    if (this.#state === 'closed') return
    const lost = new ConnectionClosedError(`connection to ${this.host}:${this.port} lost`)
    if (!this.#autoReconnect) {
      this.#state = 'idle'
      this.#failAll(lost, false)
      return
    }
    this.#failAll(lost, true)
    this.#state = 'waiting'
    this.#scheduleReconnect()
  }

  #scheduleReconnect(): void {
    if (this.#maxReconnectAttempts > 0 && this.#reconnectAttempts >= this.#maxReconnectAttempts) {
      this.#state = 'idle'
      this.#failAll(new ConnectionClosedError(`gave up reconnecting to ${this.host}:${this.port} after ${this.#reconnectAttempts} attempts`), false)
      return
    }
    const baseMs = Math.min(this.#maxReconnectDelayMs, this.#reconnectDelayMs * 2 ** this.#reconnectAttempts)
    const delayMs = baseMs * (1 + Math.random() * 0.3)
    this.#reconnectAttempts++
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null
      if (this.#state !== 'waiting') return
      this.connect().then(
        () => {
          this.reconnects++
          this.onReconnected?.()
        },
        (error: Error) => {
          this.#lastConnectError = error
          if (this.#state === 'closed' || error instanceof AuthenticationError) return
          this.#state = 'waiting'
          this.#scheduleReconnect()
        },
      )
    }, delayMs)
  }

  /** Fails the requests in flight; idempotent ones are kept for resending when `keepIdempotent`. */
  #failAll(error: Error, keepIdempotent: boolean): void {
    const inFlight = [...this.#inFlight]
    this.#inFlight.clear()
    const queued = this.#queued
    this.#queued = []
    this.#outbox = []
    for (const [reqId, pending] of [...inFlight, ...queued]) {
      if (keepIdempotent && pending.options.idempotent === true && pending.command.cmd !== 'AUTH') this.#queued.push([reqId, pending])
      else pending.reject(error)
    }
    if (this.#queued.length === 0) this.#disarmDeadline()
  }
}

/**
 * When a request given `timeoutMs` times out: as setTimeout(…, timeoutMs) would fire, which makes a
 * delay that is not a number, below 1 or beyond timerDelayMsMax 1 ms (what a timer per request did).
 */
function deadlineOf(timeoutMs: number): number {
  return performance.now() + (timeoutMs >= 1 && timeoutMs <= timerDelayMsMax ? timeoutMs : 1)
}

/**
 * A request as a JSON line with its reqId last: the bytes `JSON.stringify({...command, reqId})` gives,
 * without copying the command into a new object. Commands that could stringify differently once
 * copied (a prototype, toJSON, their own reqId) take the copy.
 */
export function jsonLineOf(command: Record<string, unknown>, reqId: string): string {
  if (Object.getPrototypeOf(command) === Object.prototype && !('reqId' in command) && !('toJSON' in command)) {
    const json = JSON.stringify(command)
    // reqIds are made of [0-9a-z-] only (reqIdPrefix + a counter): nothing to escape.
    if (json.length > 2) return `${json.slice(0, -1)},"reqId":"${reqId}"}\n`
  }
  return `${JSON.stringify({ ...command, reqId })}\n`
}
