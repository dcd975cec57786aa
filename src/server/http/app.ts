/**
 * The HTTP front (Hono on Bun.serve). For now: /health and /healthz. The flashQ REST routes, events
 * and the queued API are built on the same Front as TCP.
 */
import { Hono } from 'hono'
import { dashboardApp } from '../../dashboard/app.ts'

export type HealthInfo = () => Record<string, unknown>

export function createHttpApp(health: HealthInfo): Hono {
  const app = new Hono()
  app.route('/', dashboardApp()) // first: the page and its assets need no token (they hold no data)
  app.get('/health', (c) => {
    const info = health()
    return c.json({ ok: info.status === 'ok', ...info })
  })
  app.get('/healthz', (c) => {
    const info = health()
    return info.status === 'ok' ? c.text('ok') : c.text(String(info.status), 503)
  })
  app.notFound((c) => c.json({ ok: false, error: `Not found: ${c.req.method} ${c.req.path}` }, 404))
  app.onError((error, c) => c.json({ ok: false, error: `Internal error: ${error.message}` }, 500))
  return app
}
