/**
 * Helpers for the HTTP integration tests: a fetch wrapper that speaks the envelope (with the
 * `Content-Type: application/json` flashQ's clients always send), and an SSE reader built on fetch.
 */
import { startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

export type Envelope = { ok: boolean; data?: unknown; error?: string }

export class HttpClient {
  constructor(
    readonly base: string,
    private readonly token?: string,
    /** flashQ's SDK runs under Bun; tests that want the reference shapes say so. */
    private readonly userAgent = 'flashq-tests',
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': this.userAgent, ...extra }
    if (this.token !== undefined) headers.Authorization = `Bearer ${this.token}`
    return headers
  }

  raw(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    return fetch(this.base + path, { method, headers: this.headers(headers), body: text })
  }

  /** A request that must answer 200 with an envelope. */
  async call(method: string, path: string, body?: unknown): Promise<Envelope> {
    const response = await this.raw(method, path, body)
    if (response.status !== 200) throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`)
    return (await response.json()) as Envelope
  }

  /** The `data` of a successful envelope. */
  async data<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const envelope = await this.call(method, path, body)
    if (!envelope.ok) throw new Error(`${method} ${path}: ${envelope.error}`)
    return envelope.data as T
  }
}

export type SseEvent = { event: string; data: string }

/** Reads `text/event-stream` from a fetch body; `next()` returns the next event (comments skipped). */
export class SseReader {
  private buffer = ''
  private readonly decoder = new TextDecoder()
  comments: string[] = []

  private constructor(
    private readonly reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> },
    private readonly controller: AbortController,
  ) {}

  static async open(url: string, headers: Record<string, string> = {}): Promise<{ response: Response; reader: SseReader | null }> {
    const controller = new AbortController()
    const response = await fetch(url, { headers, signal: controller.signal })
    if (response.status !== 200 || response.body === null) return { response, reader: null }
    return { response, reader: new SseReader(response.body.getReader(), controller) }
  }

  async next(timeoutMs = 5000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const end = this.buffer.indexOf('\n\n')
      if (end >= 0) {
        const block = this.buffer.slice(0, end)
        this.buffer = this.buffer.slice(end + 2)
        if (block.startsWith(':')) {
          this.comments.push(block)
          continue
        }
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message'
        const data = /^data: (.*)$/m.exec(block)?.[1] ?? ''
        return { event, data }
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error('no SSE event in time')
      const chunk = await Promise.race([this.reader.read(), Bun.sleep(left).then(() => null)])
      if (chunk === null) throw new Error('no SSE event in time')
      if (chunk.done) throw new Error('SSE stream ended')
      this.buffer += this.decoder.decode(chunk.value)
    }
  }

  close(): void {
    this.controller.abort()
  }
}

/** Opens a WebSocket and collects its text messages. */
export async function openWebSocket(url: string): Promise<{ socket: WebSocket; messages: string[]; closed: Promise<{ code: number; reason: string }> }> {
  const socket = new WebSocket(url)
  const messages: string[] = []
  socket.onmessage = (event) => messages.push(String(event.data))
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.onclose = (event) => resolve({ code: event.code, reason: event.reason })
  })
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve()
    socket.onerror = () => reject(new Error(`WebSocket ${url} failed`))
  })
  return { socket, messages, closed }
}

/** A real server with one TCP client and one HTTP client, for a test file's beforeAll; `close` for its afterAll. */
export async function startServerWithClients(args: string[]): Promise<{ server: TestServer; client: WireClient; http: HttpClient; close: () => Promise<void> }> {
  const server = await startServer({ args })
  const client = await WireClient.connect(server.tcpPort)
  const http = new HttpClient(`http://127.0.0.1:${server.httpPort}`)
  return {
    server, client, http,
    close: async () => {
      client.close()
      await server.cleanup()
    },
  }
}
