/**
 * Bun.serve for the HTTP front: WebSocket upgrades first (ws.ts), then the hot routes of the fast path
 * (fast-path.ts), everything else through the Hono app. Bun's own limits back ours: the body cap (our 413 comes first for declared lengths) and the
 * idle timeout (longer than the longest pull).
 */
import type { Server } from 'bun'
import { eventStreamBufferedBytesMax, httpBodyBytesHardMax, httpIdleTimeoutSeconds } from '../../base/limits.ts'
import { createHttpApp } from './app.ts'
import type { HttpDeps } from './deps.ts'
import { fastPathEnabled, fastPathFamily, fastRoutesOf } from './fast-path.ts'
import { WebSocketHub, type WsData } from './ws.ts'

export function serveHttp(deps: HttpDeps, hostname: string, port: number): Server<WsData> {
  const app = createHttpApp(deps)
  const fast = fastPathEnabled() ? fastRoutesOf(deps) : null
  deps.metricsProviders.push(() => fastPathFamily(fast))
  const sockets = new WebSocketHub(deps)
  return Bun.serve<WsData>({
    hostname,
    port,
    idleTimeout: httpIdleTimeoutSeconds,
    // Every body is read under its route's cap (body.ts), chunked ones included, so that the 413
    // names the limit; Bun's own 413 (no body) only stops bodies no route would ever take.
    maxRequestBodySize: httpBodyBytesHardMax,
    fetch(request, server) {
      // Upgrades are GETs: other methods skip the header lookup.
      if (request.method === 'GET' && request.headers.get('upgrade')?.toLowerCase() === 'websocket') {
        const path = new URL(request.url).pathname
        if (path === '/ws' || path.startsWith('/ws/')) return sockets.upgrade(request, server, path)
      }
      return fast?.handle(request, server) ?? app.fetch(request, { server })
    },
    websocket: {
      ...sockets.handlers,
      idleTimeout: httpIdleTimeoutSeconds,
      sendPings: true,
      // ws.ts stops sending at the first backpressure and closes slow subscribers itself, with a reason.
      backpressureLimit: eventStreamBufferedBytesMax,
      closeOnBackpressureLimit: false,
    },
  })
}
