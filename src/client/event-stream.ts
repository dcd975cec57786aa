/**
 * The server's event stream for one queue (or all queues): WebSocket `/ws/{queue}` or `/ws` on the
 * HTTP port (spec §5.4), re-opened with backoff when it drops. Events in a gap are lost: the server
 * keeps no event history. QueueEvents and FlashQ.subscribeWs are built on it.
 */
import { MiniWebSocket } from './websocket.ts'

/** A server event as sent (spec §5.4). */
/** A JobEvent (spec §5.4); `custom_id` (extension) is the job's custom id when it has one. */
export type ServerEvent = { event_type: string; queue: string; job_id: number; timestamp: number; data?: any; error?: string; progress?: number; custom_id?: string }

export type EventStreamOptions = { host: string; httpPort: number; token: string; timeoutMs: number; queue?: string }

export type EventStreamHandlers = {
  onEvent(event: ServerEvent): void
  onReady(): void
  onError(error: Error): void
}

const reconnectDelayMsMax = 10_000

export class EventStream {
  #socket: MiniWebSocket | null = null
  #opening: Promise<void> | null = null
  #closed = false
  #reconnectAttempts = 0
  #reconnectTimer: ReturnType<typeof setTimeout> | null = null

  constructor(readonly options: EventStreamOptions, readonly handlers: EventStreamHandlers) {}

  get open(): boolean {
    return this.#socket !== null
  }

  /** Opens the stream; resolves once subscribed. */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('event stream is closed'))
    this.#opening ??= this.#open().finally(() => (this.#opening = null))
    return this.#opening
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer)
    await this.#opening?.catch(() => {})
    this.#socket?.close()
    this.#socket = null
  }

  async #open(): Promise<void> {
    const { host, httpPort, token, queue } = this.options
    const path = `${queue === undefined ? '/ws' : `/ws/${encodeURIComponent(queue)}`}${token ? `?token=${encodeURIComponent(token)}` : ''}`
    const socket = await MiniWebSocket.connect(host, httpPort, path, { onMessage: (text) => this.#onMessage(text), onClose: (reason) => this.#onClose(reason) }, this.options.timeoutMs)
    if (this.#closed) return socket.close()
    if (token) socket.sendText(JSON.stringify({ type: 'auth', token }))
    this.#socket = socket
    this.#reconnectAttempts = 0
    this.handlers.onReady()
  }

  #onClose(reason?: string): void {
    this.#socket = null
    if (this.#closed) return
    // 1008: the server refused the token (spec §5.4); said, not only retried.
    if (reason?.includes('(code 1008')) this.handlers.onError(new Error(`event stream ${this.options.queue ?? '(all queues)'}: ${reason}`))
    const delayMs = Math.min(reconnectDelayMsMax, 100 * 2 ** this.#reconnectAttempts++)
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null
      if (this.#closed) return
      this.connect().catch((error: Error) => {
        this.handlers.onError(error)
        this.#onClose()
      })
    }, delayMs)
  }

  #onMessage(text: string): void {
    let event: ServerEvent
    try {
      event = JSON.parse(text) as ServerEvent
    } catch {
      return
    }
    if (typeof event?.event_type !== 'string') return
    if (this.options.queue !== undefined && event.queue !== undefined && event.queue !== this.options.queue) return
    this.handlers.onEvent(event)
  }
}
