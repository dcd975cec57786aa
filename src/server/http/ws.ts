/**
 * WebSockets (spec §5.4): `/ws` and `/ws/{queue}` stream JobEvents; `/ws/dashboard` sends a snapshot
 * every DASHBOARD_INTERVAL_MS (dashboardIntervalMs by default). Auth: the Bearer header, `?token=`, or a first message
 * `{"type":"auth","token":"…"}` within webSocketAuthTimeoutMs (else close 1008). Nothing is sent
 * before auth. Events go to Bun one at a time while the socket takes them (until `send` reports
 * backpressure, then again on `drain`); the rest wait in the subscriber's EventBuffer (shared texts),
 * and a subscriber too slow for it (see eventStreamBufferedBytesMax) is closed with 1013 and the reason.
 */
import type { Server, ServerWebSocket } from 'bun'
import {
  dashboardIntervalMs, dashboardIntervalMsMax, dashboardIntervalMsMin, eventStreamBufferedBytesMax, webSocketAuthTimeoutMs,
  webSocketConnectionsMax,
} from '../../base/limits.ts'
import type { EventBuffer, EventFilter, Unsubscribe } from '../events.ts'
import { authProblem, requestToken } from './app.ts'
import { dashboardSnapshot } from './dashboard.ts'
import type { HttpDeps } from './deps.ts'
import { problemAnswer } from './envelope.ts'
import { validateQueueName } from '../../protocol/validate.ts'

export type WsData = {
  kind: 'events' | 'dashboard'
  filter: EventFilter
  authenticated: boolean
  /** The token given with the upgrade was wrong: closed with 1008 and this reason once open. */
  refused: string | null
  unsubscribe: Unsubscribe | null
  /** Events not yet handed to Bun (event sockets, once authenticated). */
  buffer: EventBuffer | null
  /** Bun reported backpressure: wait for `drain` before sending more. */
  blocked: boolean
  timer: ReturnType<typeof setTimeout> | ReturnType<typeof setInterval> | null
}

type Socket = ServerWebSocket<WsData>

/** `/ws/dashboard` wins over `/ws/{queue}` (static segments win, spec §5.1). */
export function webSocketRoute(path: string): Pick<WsData, 'kind' | 'filter'> | null {
  if (path === '/ws') return { kind: 'events', filter: {} }
  if (path === '/ws/dashboard') return { kind: 'dashboard', filter: {} }
  const queue = /^\/ws\/([^/]+)$/.exec(path)?.[1]
  if (queue === undefined) return null
  try {
    return { kind: 'events', filter: { queue: decodeURIComponent(queue) } }
  } catch {
    return null
  }
}

export class WebSocketHub {
  private open = 0
  private readonly dashboardIntervalMs: number

  /** A bad DASHBOARD_INTERVAL_MS stops the start with a reason, like the queued API's variables. */
  constructor(private readonly deps: HttpDeps, env: Record<string, string | undefined> = process.env) {
    this.dashboardIntervalMs = dashboardIntervalFromEnv(env.DASHBOARD_INTERVAL_MS)
  }

  /** Called for an upgrade request; a Response means "refused" (undefined: upgraded). */
  upgrade(request: Request, server: Server<WsData>, path: string): Response | undefined {
    const route = webSocketRoute(path)
    if (route === null) return new Response(`Not found: ${path}`, { status: 404 })
    // A name no job can have: the socket would never carry an event.
    const badQueue = route.filter.queue === undefined ? null : validateQueueName(route.filter.queue)
    if (badQueue !== null) return new Response(`Invalid queue for a WebSocket: ${badQueue}`, { status: 400 })
    if (this.open >= webSocketConnectionsMax) {
      return new Response(`Too many WebSocket connections (max ${webSocketConnectionsMax})`, { status: 503 })
    }
    const token = requestToken(request, path)
    // A wrong token given up front closes the socket with 1008 as soon as it opens (spec §5.4), as a
    // wrong auth message does; an address past its failure budget is refused here (429, Retry-After).
    // A missing token may still come as a message.
    let refused: string | null = null
    if (token !== undefined && this.deps.front.authRequired) {
      const problem = authProblem(this.deps.front, request, path, server)
      if (problem !== null && problem.status !== 401) return problemAnswer(problem)
      if (problem !== null) refused = invalidToken
    }
    const authenticated = refused === null && (!this.deps.front.authRequired || token !== undefined)
    const data: WsData = { ...route, authenticated, refused, unsubscribe: null, buffer: null, blocked: false, timer: null }
    if (server.upgrade(request, { data })) return undefined
    return new Response('Expected a WebSocket upgrade', { status: 400 })
  }

  readonly handlers = {
    open: (ws: Socket) => {
      this.open++
      if (ws.data.refused !== null) return ws.close(1008, ws.data.refused)
      if (ws.data.authenticated) return this.start(ws)
      ws.data.timer = setTimeout(() => ws.close(1008, 'authentication timeout'), webSocketAuthTimeoutMs)
    },
    message: (ws: Socket, message: string | Buffer) => {
      if (ws.data.authenticated || ws.data.refused !== null) return // every other client message is ignored
      let token: unknown
      try {
        const parsed = JSON.parse(String(message)) as { type?: unknown; token?: unknown }
        token = parsed.type === 'auth' ? parsed.token : undefined
      } catch {
        token = undefined
      }
      const verdict = this.deps.front.authorize(token, ws.remoteAddress)
      if (!verdict.ok) return ws.close(1008, closeReason(verdict.error))
      ws.data.authenticated = true
      if (ws.data.timer !== null) clearTimeout(ws.data.timer)
      ws.data.timer = null
      this.start(ws)
    },
    drain: (ws: Socket) => {
      ws.data.blocked = false
      this.flush(ws)
    },
    close: (ws: Socket) => {
      this.open--
      ws.data.unsubscribe?.()
      ws.data.buffer?.close('socket closed')
      if (ws.data.timer !== null) clearTimeout(ws.data.timer)
      ws.data.timer = null
    },
  }

  private start(ws: Socket): void {
    if (ws.data.kind === 'dashboard') {
      const send = () => void dashboardSnapshot(this.deps).then((snapshot) => this.send(ws, JSON.stringify(snapshot)))
      send()
      ws.data.timer = setInterval(send, this.dashboardIntervalMs)
      return
    }
    const buffer = this.deps.hub.buffers.create((reason) => {
      ws.data.unsubscribe?.()
      if (ws.readyState === 1) ws.close(1013, closeReason(reason))
    })
    ws.data.buffer = buffer
    ws.data.unsubscribe = this.deps.hub.subscribe(ws.data.filter, (_event, encoded) => {
      buffer.push(encoded.json)
      this.flush(ws)
    })
  }

  /** Hands buffered events to Bun until it reports backpressure. */
  private flush(ws: Socket): void {
    const buffer = ws.data.buffer
    while (buffer !== null && !ws.data.blocked && ws.readyState === 1) {
      const text = buffer.shift()
      if (text === undefined) return
      if (ws.send(text.data as string) === -1) ws.data.blocked = true
    }
  }

  /** A dashboard snapshot; a socket that has not taken the last ones is too slow. */
  private send(ws: Socket, text: string): void {
    if (ws.readyState !== 1) return
    if (ws.getBufferedAmount() > eventStreamBufferedBytesMax) {
      return ws.close(1013, `client too slow: more than ${eventStreamBufferedBytesMax} bytes not taken`)
    }
    ws.send(text)
  }
}

const invalidToken = 'Invalid token'

/** A close frame carries at most 123 bytes of reason (RFC 6455 §5.5); ours are ASCII but for addresses. */
const closeReason = (text: string) => (Buffer.byteLength(text) <= 123 ? text : Buffer.from(text).subarray(0, 120).toString().replace(/\uFFFD$/, ''))

export function dashboardIntervalFromEnv(text: string | undefined): number {
  if (text === undefined || text === '') return dashboardIntervalMs
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < dashboardIntervalMsMin || value > dashboardIntervalMsMax) {
    throw new Error(`DASHBOARD_INTERVAL_MS must be an integer from ${dashboardIntervalMsMin} to ${dashboardIntervalMsMax}, got '${text}'`)
  }
  return value
}
