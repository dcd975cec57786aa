/**
 * The TCP transport on Bun.listen: detects the mode from the first byte (`{`, LF, CR ⇒ JSON lines,
 * anything else ⇒ 4-byte length + MessagePack), decodes incrementally, hands requests to the Front,
 * and writes replies coalesced: everything produced by one read or one reply batch goes out in one
 * write (the biggest single win for pipelined throughput, DESIGN §6).
 *
 * Backpressure: Bun's socket.write takes what it can and buffers nothing, so each connection keeps
 * its own backlog, flushed on drain; while the backlog is over connectionOutputBytesHigh, or too many
 * requests are in flight, we stop reading from that socket. Checked whenever replies are queued, not
 * only after reads: replies of requests already in flight still arrive, and a connection whose
 * backlog passes connectionOutputBytesMax is closed (a client that never reads).
 *
 * Jobs are never handed to a connection that cannot take them: a half-close (FIN, as the kernel
 * sends for a killed worker) cancels its blocking pulls, and a pull reply that is never written
 * (the connection closed first) gives its jobs back to waiting (Front.returnUndelivered).
 */
import type { Socket, TCPSocketListener, UnixSocketListener } from 'bun'
import {
  authFailuresPerConnectionMax,
  connectionOutputBytesHigh, connectionOutputBytesMax, connectionRequestsInFlightMax, connectionsMax, frameBytesMax,
  lineBytesMax,
} from '../base/limits.ts'
import { authenticationRequired, clientErrorText, invalid, messageTooLarge } from '../protocol/errors.ts'
import { JsonLinesDecoder } from '../protocol/json-lines.ts'
import { MsgpackFrameDecoder, decodeMsgpackRequest, encodeMsgpackFrame } from '../protocol/msgpack-frames.ts'
import { nestingProblem, nestingScanCharsMin } from '../protocol/validate.ts'
import { ConnectionState, type Request } from './connection.ts'
import type { Front } from './front.ts'
import type { ShardPool } from './shard-pool.ts'
import { clearArray } from '../base/arrays.ts'

type Mode = 'unknown' | 'json' | 'msgpack'

type TcpConnection = {
  state: ConnectionState
  mode: Mode
  lines: JsonLinesDecoder | null
  frames: MsgpackFrameDecoder | null
  /** Reply text produced since the last flush (JSON mode). */
  pendingText: string
  /** Reply frames produced since the last flush (MessagePack mode). */
  pendingFrames: Uint8Array[]
  /** Bytes the socket did not take yet, in order; nothing else may be written before them. */
  backlog: Uint8Array[]
  backlogBytes: number
  /** Pull replies queued or in the backlog (not fully written yet): given back if the socket dies. */
  unsentPullReplies: string[]
  /** Close once the backlog is written (after `Message too large`, too many failed AUTH); read no more. */
  closeAfterFlush: boolean
  /** The client's address (unix socket: 'unix'): failed AUTH are counted per address too. */
  address: string
  authFailures: number
  /** The client half-closed (`printf … | nc`): answer what is in flight, then close. */
  inputEnded: boolean
  paused: boolean
  /** In TcpServer.dirtySockets: replies queued since its last flush. */
  dirty: boolean
}

type TcpSocket = Socket<TcpConnection>

const encoder = new TextEncoder()
const emptyState = null as unknown as ConnectionState

export class TcpServer {
  private listener: TCPSocketListener<TcpConnection> | UnixSocketListener<TcpConnection> | null = null
  /** Connections with replies queued since the last flush (each once: TcpConnection.dirty). */
  private readonly dirtySockets: TcpSocket[] = []
  private connectionCount = 0
  private nextConnectionId = 1

  constructor(
    private readonly front: Front,
    private readonly pool: ShardPool,
  ) {
    pool.afterReplies = () => this.flushDirty()
  }

  /** Open connections (for /system/metrics). */
  get connections(): number {
    return this.connectionCount
  }

  get port(): number {
    return this.listener !== null && 'port' in this.listener ? this.listener.port : 0
  }

  listen(hostname: string, port: number, unixSocketPath: string | null): void {
    const handlers = {
      open: (socket: TcpSocket) => this.open(socket),
      data: (socket: TcpSocket, chunk: Buffer) => this.data(socket, chunk),
      drain: (socket: TcpSocket) => this.drain(socket),
      end: (socket: TcpSocket) => this.inputEnd(socket),
      close: (socket: TcpSocket) => this.close(socket),
      error: (socket: TcpSocket) => this.close(socket),
    }
    // Half-open: a client that sends its requests and then shuts down its write side still gets
    // every reply (without this Bun closes the socket at the client's FIN).
    const options = { socket: handlers, data: undefined as unknown as TcpConnection, allowHalfOpen: true }
    try {
      this.listener = unixSocketPath !== null
        ? Bun.listen<TcpConnection>({ unix: unixSocketPath, ...options })
        : Bun.listen<TcpConnection>({ hostname, port, ...options })
    } catch (error) {
      throw listenFailure('TCP', unixSocketPath ?? hostPort(hostname, port), error)
    }
  }

  /** No new connections; the open ones keep being served (graceful shutdown). */
  stopAccepting(): void {
    this.listener?.stop(false)
  }

  stop(): void {
    this.listener?.stop(true)
  }

  private open(socket: TcpSocket): void {
    if (this.connectionCount >= connectionsMax) {
      // Refused: socket.data stays undefined, which every other handler takes as "not ours".
      socket.terminate()
      return
    }
    this.connectionCount++
    socket.setNoDelay(true)
    const connection: TcpConnection = {
      state: emptyState, mode: 'unknown', lines: null, frames: null, pendingText: '', pendingFrames: [],
      backlog: [], backlogBytes: 0, unsentPullReplies: [], closeAfterFlush: false, inputEnded: false, paused: false, dirty: false,
      address: socket.remoteAddress || 'unix', authFailures: 0,
    }
    connection.state = new ConnectionState(this.nextConnectionId++, (text, request) => this.emit(socket, text, request))
    socket.data = connection
  }

  private data(socket: TcpSocket, chunk: Buffer): void {
    const connection = socket.data as TcpConnection | undefined
    if (connection === undefined || connection.state.closed) return
    if (connection.mode === 'unknown') this.detectMode(connection, chunk[0] as number)
    this.pool.holdFlush()
    try {
      if (connection.mode === 'json') this.readLines(socket, connection, chunk)
      else this.readFrames(socket, connection, chunk)
    } finally {
      this.pool.flush()
    }
    this.flushDirty()
    this.applyBackpressure(socket)
  }

  private detectMode(connection: TcpConnection, firstByte: number): void {
    const json = firstByte === 0x7b || firstByte === 0x0a || firstByte === 0x0d
    connection.mode = json ? 'json' : 'msgpack'
    if (json) connection.lines = new JsonLinesDecoder(lineBytesMax)
    else connection.frames = new MsgpackFrameDecoder(frameBytesMax)
  }

  private readLines(socket: TcpSocket, connection: TcpConnection, chunk: Buffer): void {
    const decoder = connection.lines as JsonLinesDecoder
    for (const line of decoder.push(chunk)) this.handleLine(connection, line)
    if (decoder.overflowed) this.rejectOversize(socket, connection)
  }

  private handleLine(connection: TcpConnection, line: string): void {
    let request: unknown
    try {
      request = JSON.parse(line)
    } catch (error) {
      return this.replyAtFront(connection, undefined, { ok: false, error: invalid(clientErrorText((error as Error).message)) })
    }
    this.handleRequest(connection, request, line)
  }

  private readFrames(socket: TcpSocket, connection: TcpConnection, chunk: Buffer): void {
    const decoder = connection.frames as MsgpackFrameDecoder
    for (const frame of decoder.push(chunk)) {
      const request = decodeMsgpackRequest(frame)
      if (!request.ok) this.replyAtFront(connection, request.reqId, { ok: false, error: request.error })
      else this.handleRequest(connection, request.value, null)
    }
    if (decoder.overflowed) this.rejectOversize(socket, connection)
  }

  private handleRequest(connection: TcpConnection, request: unknown, line: string | null): void {
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      return this.replyAtFront(connection, undefined, { ok: false, error: 'Invalid: a request must be a JSON object' })
    }
    if (connection.closeAfterFlush) return
    const fields = request as Record<string, unknown>
    const reqId = typeof fields.reqId === 'string' || typeof fields.reqId === 'number' ? fields.reqId : undefined
    // JSON lines only (MessagePack frames are checked while decoding); a short line cannot nest deep.
    if (line !== null && line.length > nestingScanCharsMin) {
      const problem = nestingProblem(fields)
      if (problem !== null) return this.replyAtFront(connection, reqId, { ok: false, error: invalid(problem) })
    }
    if (fields.cmd === 'AUTH') return this.authenticate(connection, fields, reqId)
    if (this.front.authRequired && !connection.state.authenticated) {
      return this.replyAtFront(connection, reqId, { ok: false, error: authenticationRequired })
    }
    const target = connection.state.open(reqId)
    const cmd = fields.cmd
    if (cmd === 'PULL' || cmd === 'PULLB') {
      target.pull = cmd
      if (fields.timeout !== 0) connection.state.markBlocking(target)
    }
    this.front.submit(fields, line ?? JSON.stringify(fields), target, false, false, line !== null)
  }

  /** AUTH; the failure that reaches authFailuresPerConnectionMax is answered, then the connection closes. */
  private authenticate(connection: TcpConnection, fields: Record<string, unknown>, reqId: string | number | undefined): void {
    const { reply, authenticated } = this.front.authenticate(fields, connection.address)
    if (authenticated) connection.state.authenticated = true
    else if (++connection.authFailures >= authFailuresPerConnectionMax) {
      connection.closeAfterFlush = true
      return this.replyAtFront(connection, reqId, { ok: false, error: `Too many failed AUTH on this connection (max ${authFailuresPerConnectionMax}): closing it` })
    }
    this.replyAtFront(connection, reqId, reply)
  }

  private replyAtFront(connection: TcpConnection, reqId: string | number | undefined, reply: object): void {
    connection.state.open(reqId).deliver(0, JSON.stringify(reply))
  }

  /** A line or frame over the limit cannot be resynchronised: one error, then close. */
  private rejectOversize(socket: TcpSocket, connection: TcpConnection): void {
    this.emit(socket, JSON.stringify({ ok: false, error: messageTooLarge }))
    connection.closeAfterFlush = true
    this.flushConnection(socket)
  }

  /** Queues one reply for the next flush (called by ConnectionState in the allowed order). */
  private emit(socket: TcpSocket, text: string, request?: Request): void {
    const connection = socket.data
    if (connection.mode === 'msgpack') connection.pendingFrames.push(encodeMsgpackFrame(JSON.parse(text)))
    else connection.pendingText += `${text}\n`
    if (request !== undefined && request.pull !== null) connection.unsentPullReplies.push(text)
    if (connection.dirty) return
    connection.dirty = true
    this.dirtySockets.push(socket)
  }

  private flushDirty(): void {
    // An array and a flag, not a Set: this runs for every read and reply batch, and a Set's add and
    // delete hash the socket each time. Sockets queued while it runs are flushed too.
    const sockets = this.dirtySockets
    if (sockets.length === 0) return
    for (let index = 0; index < sockets.length; index++) {
      const socket = sockets[index] as TcpSocket
      socket.data.dirty = false
      this.flushConnection(socket)
    }
    sockets.length = 0
  }

  private flushConnection(socket: TcpSocket): void {
    const connection = socket.data
    if (connection.state.closed) return
    const output = takeOutput(connection)
    if (output !== null) {
      if (connection.backlogBytes > 0) this.addBacklog(connection, toBytes(output))
      else this.write(socket, connection, output)
    }
    if (connection.backlogBytes === 0) clearArray(connection.unsentPullReplies)
    if (connection.backlogBytes > connectionOutputBytesMax) return this.giveUp(socket, connection)
    this.endIfDone(socket)
    this.applyBackpressure(socket)
  }

  /**
   * Half-close (FIN). Requests in flight are still answered (`printf … | nc`), but a pull that is
   * still waiting ends now, answered empty: a killed worker's kernel sends FIN too, and a job handed
   * to it later would sit active until stall detection. A pull already served keeps its job.
   */
  private inputEnd(socket: TcpSocket): void {
    const connection = socket.data as TcpConnection | undefined
    if (connection === undefined || connection.state.closed) return
    connection.inputEnded = true
    this.pool.flush()
    const waiting = connection.state.blockingPulls().flatMap((request) => request.tokens)
    if (waiting.length > 0) this.pool.endPullWaits(waiting)
    this.endIfDone(socket)
  }

  /** Closes after `Message too large`, or once a half-closed client has all its replies. */
  private endIfDone(socket: TcpSocket): void {
    const connection = socket.data
    if (connection.backlogBytes > 0) return
    const answered = connection.state.inFlight === 0 && connection.pendingText === '' && connection.pendingFrames.length === 0
    if (connection.closeAfterFlush || (connection.inputEnded && answered)) socket.end()
  }

  private write(socket: TcpSocket, connection: TcpConnection, output: string | Uint8Array): void {
    const written = socket.write(output)
    const total = typeof output === 'string' ? Buffer.byteLength(output) : output.byteLength
    if (written < total) this.addBacklog(connection, toBytes(output).subarray(Math.max(0, written)))
  }

  private addBacklog(connection: TcpConnection, bytes: Uint8Array): void {
    connection.backlog.push(bytes)
    connection.backlogBytes += bytes.byteLength
  }

  private drain(socket: TcpSocket): void {
    const connection = socket.data as TcpConnection | undefined
    if (connection === undefined || connection.state.closed) return
    while (connection.backlog.length > 0) {
      const head = connection.backlog[0] as Uint8Array
      const written = Math.max(0, socket.write(head))
      connection.backlogBytes -= written
      if (written < head.byteLength) {
        connection.backlog[0] = head.subarray(written)
        break
      }
      connection.backlog.shift()
    }
    if (connection.backlogBytes === 0) clearArray(connection.unsentPullReplies)
    this.endIfDone(socket)
    this.applyBackpressure(socket)
  }

  /**
   * A client that does not read while its requests in flight keep answering: its unread replies
   * passed connectionOutputBytesMax. Nothing more can be written in order, so the connection closes
   * (its remaining requests are cancelled, undelivered pulls given back) and the reason is logged.
   */
  private giveUp(socket: TcpSocket, connection: TcpConnection): void {
    process.stderr.write(`flashq: closed connection ${connection.state.id}: ${connection.backlogBytes} bytes of replies `
      + `not read (limit ${connectionOutputBytesMax})\n`)
    this.close(socket)
    socket.terminate()
  }

  /** Stop reading while the client does not read its replies or has too much in flight. */
  private applyBackpressure(socket: TcpSocket): void {
    const connection = socket.data
    const overloaded = connection.backlogBytes > connectionOutputBytesHigh
      || connection.state.inFlightNonBlocking > connectionRequestsInFlightMax
    if (overloaded && !connection.paused) {
      connection.paused = true
      socket.pause()
    } else if (!overloaded && connection.paused) {
      connection.paused = false
      socket.resume()
    }
  }

  private close(socket: TcpSocket): void {
    const connection = socket.data as TcpConnection | undefined
    if (connection === undefined || connection.state.closed) return
    this.connectionCount--
    connection.dirty = false // if listed in dirtySockets, its flush finds it closed
    const { tokens, unsentPullReplies } = connection.state.close()
    if (tokens.length > 0) this.pool.cancel(tokens)
    // Pull replies that never left: the ones queued here and the ones still waiting for their turn.
    for (const text of [...connection.unsentPullReplies, ...unsentPullReplies]) this.front.returnUndelivered(text)
    connection.unsentPullReplies.length = 0
    connection.backlog = []
    connection.backlogBytes = 0
    connection.pendingText = ''
    connection.pendingFrames = []
  }
}

/** Why a listener could not start, naming where and the reason in words (run.ts prints it). */
export function listenFailure(what: string, where: string, error: unknown): Error {
  const code = (error as { code?: unknown } | null)?.code
  const reason = typeof code === 'string' && code in listenReasons ? listenReasons[code] : (error as Error)?.message ?? String(error)
  return new Error(`cannot listen for ${what} on ${where}: ${reason}${typeof code === 'string' ? ` (${code})` : ''}`)
}

const listenReasons: Record<string, string> = {
  EADDRINUSE: 'address in use (another process listens there)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this machine',
}

export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}


function takeOutput(connection: TcpConnection): string | Uint8Array | null {
  if (connection.mode === 'msgpack') {
    if (connection.pendingFrames.length === 0) return null
    const frames = connection.pendingFrames
    connection.pendingFrames = []
    return frames.length === 1 ? (frames[0] as Uint8Array) : concatAll(frames)
  }
  if (connection.pendingText.length === 0) return null
  const text = connection.pendingText
  connection.pendingText = ''
  return text
}

function toBytes(output: string | Uint8Array): Uint8Array {
  return typeof output === 'string' ? encoder.encode(output) : output
}

function concatAll(parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.byteLength
  const joined = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    joined.set(part, offset)
    offset += part.byteLength
  }
  return joined
}
