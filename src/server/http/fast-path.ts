/**
 * The HTTP fast path: the hot routes (queued /push /poll /delete, job push and pull, acks) answered
 * straight from Bun.serve's `fetch`, without Hono's router, context and middleware, which cost about
 * a third of the front's CPU per request. Everything else, and every request the fast path is not
 * sure about (a `%` or `+` in the path or query, another method, a trailing slash), goes to Hono.
 *
 * Same answers as the Hono routes by construction: both call the same route function (registered
 * here by the module that owns the route), which builds its Response itself; this file adds what
 * app.ts's middleware adds there, the CORS headers and the token check. http-fast-path.test.ts sends
 * the same requests to a server with and without the fast path and compares the answers.
 */
import type { Server } from 'bun'
import type { Context } from 'hono'
import { authProblem, corsOrigins, isPublicPath } from './app.ts'
import type { HttpDeps } from './deps.ts'
import { HttpProblem, internalError, problemAnswer, type ExtraHeaders } from './envelope.ts'
import { family } from './prometheus.ts'

/** What a route learns from the URL: its `:name` path parameters and the (plain) query parameters. */
export type FastMatch = {
  params: Record<string, string>
  /** A query parameter as Hono's `c.req.query(name)` gives it; undefined when absent. */
  query(name: string): string | undefined
}

/** A route's answer; `headers` are added to the response (the CORS headers). */
export type FastHandler = (request: Request, match: FastMatch, headers: ExtraHeaders) => Promise<Response>

/** `settles`: the handler's promise never rejects (it answers its own errors), so no catch is chained. */
type Route = { segments: string[]; handler: FastHandler; settles: boolean }

/** `FLASHQ_HTTP_FAST_PATH=off` sends every request through Hono (the agreement tests compare the two). */
export const fastPathEnabled = () => process.env.FLASHQ_HTTP_FAST_PATH !== 'off'

export class FastRoutes {
  /** Routes by method, then by segment count (`/queues/:queue/jobs` has three). */
  private readonly routes = new Map<string, Map<number, Route[]>>()

  private readonly cors: (request: Request) => ExtraHeaders
  /** Requests answered here (flashq_http_fast_path_requests_total). */
  served = 0

  constructor(private readonly deps: HttpDeps) {
    this.cors = corsHeaders(corsOrigins())
  }

  /** `pattern` is a path of literal and `:name` segments, as in Hono. */
  add(method: string, pattern: string, handler: FastHandler, settles = false): void {
    const segments = pattern.split('/').slice(1)
    const byLength = this.routes.get(method) ?? new Map<number, Route[]>()
    this.routes.set(method, byLength)
    byLength.set(segments.length, [...(byLength.get(segments.length) ?? []), { segments, handler, settles }])
  }

  /** The answer, or null when Hono must take the request. */
  handle(request: Request, server?: Server<unknown>): Promise<Response> | null {
    const byLength = this.routes.get(request.method)
    if (byLength === undefined) return null
    const url = request.url
    const pathStart = url.indexOf('/', url.indexOf(':') + 3)
    const queryStart = url.indexOf('?', pathStart)
    const path = queryStart < 0 ? url.slice(pathStart) : url.slice(pathStart, queryStart)
    if (path.includes('%')) return null // percent-decoding is Hono's
    const parts = path.split('/')
    const candidates = byLength.get(parts.length - 1)
    if (candidates === undefined) return null
    for (const route of candidates) {
      const params = matchSegments(route.segments, parts)
      if (params === null) continue
      const queryText = queryStart < 0 ? '' : url.slice(queryStart + 1)
      if (needsDecoding.test(queryText)) return null
      return this.answer(request, path, route, { params, query: (name) => queryParam(queryText, name) }, server)
    }
    return null
  }

  private answer(request: Request, path: string, route: Route, match: FastMatch, server: Server<unknown> | undefined): Promise<Response> {
    this.served++
    const headers = this.cors(request)
    const { front } = this.deps
    if (front.authRequired && !isPublicPath(request.method, path)) {
      const problem = authProblem(front, request, path, server)
      if (problem !== null) return Promise.resolve(problemAnswer(problem, headers))
    }
    const failed = (error: Error) => {
      if (error instanceof HttpProblem) return problemAnswer(error, headers)
      return internalError(request.method, path, error, headers) // as app.ts's onError
    }
    try {
      const answer = route.handler(request, match, headers)
      return route.settles ? answer : answer.catch(failed)
    } catch (error) {
      return Promise.resolve(failed(error as Error))
    }
  }
}

/**
 * The headers app.ts's `cors()` middleware puts on every answer but a preflight (preflights, OPTIONS,
 * are Hono's): the allowed origin, the exposed header, and `Vary: Origin` when origins are listed.
 */
function corsHeaders(origins: '*' | string[]): (request: Request) => ExtraHeaders {
  const exposed = 'X-Error-Kind'
  if (origins === '*') {
    const headers = Object.freeze({ 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': exposed })
    return () => headers
  }
  return (request): ExtraHeaders => {
    const origin = request.headers.get('origin') ?? ''
    return origins.includes(origin)
      ? { 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': exposed, Vary: 'Origin' }
      : { 'Access-Control-Expose-Headers': exposed, Vary: 'Origin' }
  }
}

/** `:name` parameters of a path, or null when it does not match (an empty segment never matches). */
function matchSegments(segments: string[], parts: string[]): Record<string, string> | null {
  let params: Record<string, string> | null = null
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string
    const part = parts[i + 1] as string
    if (segment.charCodeAt(0) === colon) {
      if (part === '') return null
      params ??= {}
      params[segment.slice(1)] = part
    } else if (segment !== part) return null
  }
  return params ?? noParams
}

const colon = ':'.charCodeAt(0)
const noParams: Record<string, string> = Object.freeze({}) as Record<string, string>

/** What the fast path leaves to Hono's decoding. */
const needsDecoding = /[%+#]/

/** A query parameter of an undecoded query, as `c.req.query(name)`: the first one; '' without `=`. */
function queryParam(query: string, name: string): string | undefined {
  let start = 0
  while (start <= query.length) {
    let end = query.indexOf('&', start)
    if (end < 0) end = query.length
    if (query.startsWith(name, start)) {
      const after = start + name.length
      if (after === end) return ''
      if (query.charCodeAt(after) === equalsSign) return query.slice(after + 1, end)
    }
    start = end + 1
  }
  return undefined
}

const equalsSign = '='.charCodeAt(0)

/** The fast path's Prometheus family. */
export function fastPathFamily(routes: FastRoutes | null): string {
  if (routes === null) return ''
  return family('flashq_http_fast_path_requests_total', 'counter', 'HTTP requests answered by the fast path (the rest went through the router).', [{ value: routes.served }])
}

/** The same view of a request under Hono (params percent-decoded by its router). */
export function honoMatch(c: Context): FastMatch {
  return { params: c.req.param() as Record<string, string>, query: (name) => c.req.query(name) }
}

const routesOfDeps = new WeakMap<HttpDeps, FastRoutes>()

/** The fast routes of a server (one set per deps), registered by the modules that own the routes. */
export function fastRoutesOf(deps: HttpDeps): FastRoutes {
  let routes = routesOfDeps.get(deps)
  if (routes === undefined) {
    routes = new FastRoutes(deps)
    routesOfDeps.set(deps, routes)
  }
  return routes
}
