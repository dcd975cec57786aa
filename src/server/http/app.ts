/**
 * The HTTP front (Hono on Bun.serve). For now: /health, plus the sub-apps mounted at `/` (the queued
 * API, storage routes) and the Prometheus text of their families. The flashQ REST routes and events
 * are built on the same Front as TCP.
 */
import { Hono } from 'hono'

export type HealthInfo = () => Record<string, unknown>

export type HttpMounts = {
  /** Sub-apps whose routes are mounted at `/`. */
  apps: Hono[]
  /** Prometheus text producers, concatenated on /metrics and /metrics/prometheus. */
  metrics: Array<() => Promise<string>>
}

export function createHttpApp(health: HealthInfo, mounts: HttpMounts = { apps: [], metrics: [] }): Hono {
  const app = new Hono()
  app.get('/health', (c) => {
    const info = health()
    return c.json({ ok: info.status === 'ok', ...info })
  })
  const metricsText = async () => (await Promise.all(mounts.metrics.map((family) => family()))).join('')
  const prometheus = { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', Vary: 'Accept' }
  app.get('/metrics/prometheus', async (c) => c.body(await metricsText(), 200, prometheus))
  app.get('/metrics', async (c) => c.body(await metricsText(), 200, prometheus))
  for (const sub of mounts.apps) app.route('/', sub)
  app.notFound((c) => c.json({ ok: false, error: `Not found: ${c.req.method} ${c.req.path}` }, 404))
  app.onError((error, c) => c.json({ ok: false, error: `Internal error: ${error.message}` }, 500))
  return app
}
