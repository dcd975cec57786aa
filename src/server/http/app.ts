/**
 * The HTTP front (Hono on Bun.serve, port 6790): CORS, auth, the envelope and bad-request rules of
 * spec §5.1, then the sub-apps (mounts.ts) and the flashQ route groups (routes-*.ts). Every route is a
 * command sent through the same Front as TCP. WebSocket upgrades are taken before Hono (serve.ts).
 */
import type { Server } from 'bun'
import { Hono } from 'hono'
import { dashboardApp } from '../../dashboard/app.ts'
import { cors } from 'hono/cors'
import type { Front } from '../front.ts'
import type { HttpDeps } from './deps.ts'
import { HttpProblem, internalError, problemResponse } from './envelope.ts'
import { subApps } from './mounts.ts'
import { adminRoutes } from './routes-admin.ts'
import { docsRoutes } from './routes-docs.ts'
import { eventRoutes } from './routes-events.ts'
import { jobRoutes } from './routes-jobs.ts'
import { queueRoutes } from './routes-queues.ts'

/**
 * Methods some route answers; others (PURGE, TRACE, PROPFIND…) get 501 naming the method. Bun itself
 * closes the connection, without a response, on methods outside its own list (README, hostile clients).
 */
const methodsServed: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/**
 * GET routes with effects, and the methods they allow: Hono runs a HEAD as the GET and drops the body,
 * so a HEAD pull took a job and sent it to nobody. HEAD is refused there (405).
 */
function getsWithEffects(path: string): string | null {
  if (/^\/queues\/[^/]+\/jobs$/.test(path)) return 'GET, POST' // a pull; POST pushes
  if (/^\/jobs\/[^/]+\/wait$/.test(path) || path === '/storage/backup') return 'GET' // blocks; checkpoints and builds a backup
  return null
}

/** Routes that need no token (spec §5.1). */
export function isPublicPath(method: string, path: string): boolean {
  if (path === '/health' || path === '/healthz' || path === '/metrics/prometheus') return true
  if (path === '/docs' || path.startsWith('/docs/') || path === '/openapi.json') return true
  return method === 'POST' && path.startsWith('/webhooks/incoming/')
}

/** SSE and WebSocket routes also take the token as `?token=` (browsers cannot set headers there). */
export const acceptsQueryToken = (path: string) =>
  path === '/events' || path.startsWith('/events/') || path === '/ws' || path.startsWith('/ws/') ||
  (path.startsWith('/queues/') && path.endsWith('/events'))

export const authFailure = 'Invalid or missing authentication token'

/** The token of a request: the Bearer header, or `?token=` where allowed. */
export function requestToken(request: Request, path: string): string | undefined {
  const header = request.headers.get('authorization')
  const bearer = header?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim()
  if (bearer !== undefined) return bearer
  if (!acceptsQueryToken(path)) return undefined
  return new URL(request.url).searchParams.get('token') ?? undefined
}

/** The client address of an HTTP request: failed tokens are counted per address (auth-failures.ts). */
export function clientAddress(request: Request, server: Server<unknown> | undefined): string {
  return server?.requestIP(request)?.address ?? 'unknown'
}

/**
 * The token check of an HTTP request (auth on, route not public): null when it may go on, else 401,
 * or 429 with Retry-After once its address is past authFailuresPerAddressPerMinuteMax. A request
 * with no token at all guesses nothing and is not counted.
 */
export function authProblem(front: Front, request: Request, path: string, server: Server<unknown> | undefined): HttpProblem | null {
  const token = requestToken(request, path)
  if (token === undefined) return new HttpProblem(401, authFailure)
  const verdict = front.authorize(token, clientAddress(request, server))
  if (verdict.ok) return null
  if (verdict.retryAfterSeconds === undefined) return new HttpProblem(401, authFailure)
  return new HttpProblem(429, verdict.error, { 'Retry-After': String(verdict.retryAfterSeconds) })
}

export function createHttpApp(deps: HttpDeps): Hono {
  const app = new Hono()
  app.route('/', dashboardApp()) // first, before auth: the page and its assets hold no data
  const origins = corsOrigins()
  app.use('*', cors({
    origin: origins === '*' ? '*' : (origin) => (origins.includes(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowHeaders: ['Content-Type', 'Authorization'],
    exposeHeaders: ['X-Error-Kind'],
    maxAge: 600,
  }))
  app.use('*', async (c, next) => {
    if (!deps.front.authRequired || c.req.method === 'OPTIONS' || isPublicPath(c.req.method, c.req.path)) return next()
    const problem = authProblem(deps.front, c.req.raw, c.req.path, (c.env as { server?: Server<unknown> } | undefined)?.server)
    return problem === null ? next() : problemResponse(c, problem)
  })
  app.use('*', async (c, next) => {
    const allow = c.req.method === 'HEAD' ? getsWithEffects(c.req.path) : null
    if (allow === null) return next()
    return problemResponse(c, new HttpProblem(405, `Method not allowed: HEAD ${c.req.path} (a GET here has effects: use GET)`, { Allow: allow }))
  })
  for (const subApp of subApps) app.route('/', subApp(deps))
  app.route('/', docsRoutes(deps))
  app.route('/', eventRoutes(deps))
  app.route('/', queueRoutes(deps))
  app.route('/', jobRoutes(deps))
  app.route('/', adminRoutes(deps))
  const methodsOf = routeMethods(app)
  app.notFound((c) => {
    if (!methodsServed.has(c.req.method)) {
      return c.json({ ok: false, error: `Method not implemented: ${c.req.method} (this server answers ${[...methodsServed].join(', ')})` }, 501)
    }
    if (c.req.path === '/ws' || c.req.path.startsWith('/ws/')) {
      // Upgrades are taken before the app (serve.ts): what reaches here is a plain request.
      return c.json({ ok: false, error: `${c.req.path} is a WebSocket endpoint: send a GET with Upgrade: websocket` }, 426, { Upgrade: 'websocket' })
    }
    const allowed = methodsOf(c.req.path)
    if (allowed.length > 0) {
      const allow = allowed.join(', ')
      return c.json({ ok: false, error: `Method not allowed: ${c.req.method} ${c.req.path} (this path takes ${allow})` }, 405, { Allow: allow })
    }
    return c.json({ ok: false, error: `Not found: ${c.req.method} ${c.req.path}` }, 404)
  })
  app.onError((error, c) => {
    if (error instanceof HttpProblem) return problemResponse(c, error)
    return internalError(c.req.method, c.req.path, error)
  })
  return app
}

/**
 * The methods the app's routes take on a path (none: no route has the path), for the 405 and its
 * Allow header of a known path asked with another method (it was a 404, as if the path did not
 * exist). Read once the routes are registered; GET implies HEAD.
 */
function routeMethods(app: Hono): (path: string) => string[] {
  const routes = app.routes
    .filter((route) => route.method !== 'ALL')
    .map((route) => ({ method: route.method, pattern: new RegExp(`^${route.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/:[^/]+/g, '[^/]+')}$`) }))
  return (path) => {
    const methods = new Set(routes.filter((route) => route.pattern.test(path)).map((route) => route.method))
    if (methods.has('GET')) methods.add('HEAD')
    return [...methods]
  }
}

/** `CORS_ALLOW_ORIGIN` (comma-separated) restricts CORS; unset is permissive (spec §5.1). */
export function corsOrigins(): '*' | string[] {
  const value = process.env.CORS_ALLOW_ORIGIN
  if (value === undefined || value.trim() === '' || value.trim() === '*') return '*'
  return value.split(',').map((origin) => origin.trim()).filter((origin) => origin.length > 0)
}
