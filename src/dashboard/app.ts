/**
 * The dashboard's routes: `GET /` and `/dashboard/` serve the page, `/dashboard/assets/<name>` its
 * script and stylesheet. The page holds no data; it reads everything from the public HTTP API and
 * `/ws/dashboard` with the browser's token, so these routes need no auth (mount them before the
 * auth middleware).
 */
import { Hono } from 'hono'
import type { Context } from 'hono'
import { type Asset, type Assets, makeAssets } from './assets.ts'
import { clientBundle } from './bundle.ts'

// Made on the first dashboard request: from source, loading embedded.ts bundles the browser code,
// which servers that nobody opens in a browser (most test servers) need not pay for. Under
// node_modules Bun runs no macros, so the same bundle is made by calling the function directly.
let assets: Promise<Assets> | null = null
const loadAssets = () =>
  (assets ??= import('./embedded.ts').then((module) => module.clientScript, () => clientBundle()).then(makeAssets))

const securityHeaders = {
  'Content-Security-Policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
}

function send(c: Context, asset: Asset): Response {
  const headers: Record<string, string> = {
    ...securityHeaders,
    'Content-Type': asset.contentType,
    ETag: asset.etag,
    Vary: 'Accept-Encoding',
    'Cache-Control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
  }
  if (c.req.header('If-None-Match') === asset.etag) return new Response(null, { status: 304, headers })
  const gzip = /\bgzip\b/.test(c.req.header('Accept-Encoding') ?? '')
  if (gzip) headers['Content-Encoding'] = 'gzip'
  return new Response(gzip ? asset.gzipBody : asset.body, { headers })
}

export function dashboardApp(): Hono {
  const app = new Hono()
  const serve = async (c: Context) => {
    const loaded = await loadAssets()
    const name = /^\/dashboard\/assets\/([^/]+)$/.exec(c.req.path)?.[1]
    if (name === undefined) return send(c, loaded.indexPage) // the page routes by its #fragment, so any path here is the page
    const asset = loaded.assetsByName.get(name)
    return asset === undefined ? c.text('Not found', 404) : send(c, asset)
  }
  app.get('/', serve)
  app.get('/dashboard', (c) => c.redirect('/dashboard/', 301))
  app.get('/dashboard/*', serve)
  return app
}
