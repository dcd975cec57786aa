/**
 * The HTTP envelope and bad-request rules of spec §5.1: `{ok:true,data}` / `{ok:false,error}` at 200
 * for command results; plain-text 4xx for requests we cannot even read (400 malformed JSON or a
 * non-numeric id, 413 too large, 415 not JSON, 422 wrong shape naming the field).
 */
import type { Context } from 'hono'
import { httpBodyBytesMax } from '../../base/limits.ts'
import { errorKindOf } from '../../protocol/table.ts'
import { bodiesBusyText, readBodyText, type BodyErrors } from './body.ts'
import { nestingProblem, nestingScanCharsMin } from '../../protocol/validate.ts'
import type { Reply } from './call.ts'

/** A request rejected before it became a command: answered as plain text with `status`. */
/** Headers a response gets beyond its Content-Type: CORS on the fast path (fast-path.ts), none under Hono. */
export type ExtraHeaders = Record<string, string>
export const noHeaders: ExtraHeaders = Object.freeze({}) as ExtraHeaders

export class HttpProblem extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 413 | 415 | 422 | 429 | 501 | 503,
    message: string,
    /** Headers the problem needs (Retry-After of a 429, Allow of a 405). */
    readonly headers: ExtraHeaders = noHeaders,
  ) {
    super(message)
  }
}

// Hono's c.json and c.text content types: the fast path and the Hono routes answer byte for byte alike.
const jsonType = 'application/json'
const textType = 'text/plain; charset=UTF-8'

/** A JSON answer built without a Hono context (both paths use it for the hot routes). */
export function jsonResponse(value: unknown, status = 200, headers: ExtraHeaders = noHeaders): Response {
  return new Response(JSON.stringify(value), responseInit(jsonType, status, headers))
}

/** A JSON answer whose text is already built. */
export function jsonTextResponse(json: string, headers: ExtraHeaders = noHeaders): Response {
  return new Response(json, responseInit(jsonType, 200, headers))
}

/** A plain-text answer (the 4xx of §5.1 and the queued API's errors). */
export function textResponse(text: string, status: number, headers: ExtraHeaders = noHeaders): Response {
  return new Response(text, responseInit(textType, status, headers))
}

/**
 * Bun builds a Response from a shared init with a Headers object several times faster than from a
 * fresh header record (0.2 µs against 1–2 µs, most of a fast-path request's own cost), and copies
 * the headers. Frozen header records (noHeaders, the CORS headers when any origin is allowed) are
 * constants, so their inits are built once per content type and status.
 */
const sharedInits = new WeakMap<ExtraHeaders, Map<string, ResponseInit>>()

function responseInit(type: string, status: number, headers: ExtraHeaders): ResponseInit {
  if (!Object.isFrozen(headers)) return { status, headers: { 'Content-Type': type, ...headers } }
  let inits = sharedInits.get(headers)
  if (inits === undefined) sharedInits.set(headers, (inits = new Map()))
  const key = `${status} ${type}`
  let init = inits.get(key)
  if (init === undefined) inits.set(key, (init = { status, headers: new Headers({ 'Content-Type': type, ...headers }) }))
  return init
}

/** `fail` without a context. */
export function failResponse(error: string, headers: ExtraHeaders = noHeaders): Response {
  return jsonResponse({ ok: false, error }, 200, { 'X-Error-Kind': errorKindOf(error), ...headers })
}

/** `problemResponse` without a context. */
export function problemAnswer(problem: HttpProblem, headers: ExtraHeaders = noHeaders): Response {
  const own = problem.status === 401 ? { 'WWW-Authenticate': 'Bearer', ...problem.headers } : problem.headers
  return textResponse(problem.message, problem.status, own === noHeaders ? headers : { ...own, ...headers })
}

/** A failure that is not the request's fault: logged, answered 500 without its details. */
export function internalError(method: string, path: string, error: Error, headers: ExtraHeaders = noHeaders): Response {
  process.stderr.write(`flashq: HTTP ${method} ${path} failed: ${error.message}\n`)
  return jsonResponse({ ok: false, error: 'Internal error' }, 500, headers)
}

export const ok = (c: Context, data: unknown) => c.json({ ok: true, data: data === undefined ? null : data })
/**
 * A command error: `ok:false` at HTTP 200, as flashQ's clients expect (spec §5.1). The error's kind
 * from the command table's catalogue (notFound, conflict, limit, …) rides along in `X-Error-Kind`
 * for clients that want to branch without matching text.
 */
export function fail(c: Context, error: string): Response {
  c.header('X-Error-Kind', errorKindOf(error))
  return c.json({ ok: false, error })
}

/** A command's reply as the envelope: errors are `ok:false` at 200, as the reference answers. */
export function envelope(c: Context, reply: Reply, toData: (reply: Reply) => unknown): Response {
  if (!reply.ok) return fail(c, reply.error ?? 'Unknown error')
  return ok(c, toData(reply))
}

export function problemResponse(_c: Context, problem: HttpProblem): Response {
  return problemAnswer(problem)
}

const isJsonType = (type: string) => {
  const mediaType = type.split(';')[0]?.trim().toLowerCase() ?? ''
  return mediaType === 'application/json' || mediaType.endsWith('+json')
}

/**
 * The body as JSON. Empty (flashQ's clients send `Content-Type: application/json` with no body on
 * GET, DELETE and bodiless POSTs) is `{}`. No Content-Type is accepted when the body parses.
 */
export async function readJsonBody(c: Context): Promise<unknown> {
  return readRequestJson(c.req.raw)
}

/** `readJsonBody` on the raw request (the fast path has no context). */
export async function readRequestJson(request: Request): Promise<unknown> {
  const type = request.headers.get('content-type') ?? undefined
  if (type !== undefined && type.trim() !== '' && !isJsonType(type)) {
    throw new HttpProblem(415, `Unsupported Content-Type '${type}': send application/json`)
  }
  const text = await readBodyText(request, httpBodyBytesMax, bodyErrors)
  if (text.length === 0 || text.trim() === '') return {}
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (error) {
    throw new HttpProblem(400, `Malformed JSON body: ${(error as Error).message}`)
  }
  // As on TCP: a body nested past the limit would overflow the stack where it is encoded again
  // (the command text, log records, replies), a 500 instead of naming the problem.
  const problem = text.length > nestingScanCharsMin ? nestingProblem(body) : null
  if (problem !== null) throw new HttpProblem(422, `Invalid: ${problem}`)
  return body
}


/** The body as a JSON object (every flashQ route but the incoming webhook takes one). */
export async function readObjectBody(c: Context): Promise<Record<string, unknown>> {
  return readRequestObject(c.req.raw)
}

/** `readObjectBody` on the raw request. */
export async function readRequestObject(request: Request): Promise<Record<string, unknown>> {
  const body = await readRequestJson(request)
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpProblem(422, 'Invalid: the request body must be a JSON object')
  }
  return body as Record<string, unknown>
}

const bodyTooLarge = () => new HttpProblem(413, `Request body too large (max ${httpBodyBytesMax} bytes)`)
/** 503 once the bodies being received pass httpBodyBytesInFlightMax (body.ts). */
export const bodiesBusy = () => new HttpProblem(503, bodiesBusyText, { 'Retry-After': '1' })
export const bodyErrors: BodyErrors = { tooLarge: bodyTooLarge, busy: bodiesBusy }

/** `{id}` path parameters must be a u64 (spec §5.1): 400 otherwise. */
export function jobIdParam(c: Context, name = 'id'): number {
  return jobIdOf(c.req.param(name) ?? '')
}

/** A `{id}` path segment as a job id, or a 400. */
export function jobIdOf(text: string): number {
  const id = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN
  if (Number.isSafeInteger(id)) return id
  // Ids stay far below 2^53 (they are JS numbers end to end); a larger integer is no job's id.
  const why = /^\d+$/.test(text) ? `job ids are at most ${Number.MAX_SAFE_INTEGER}` : 'must be a non-negative integer'
  throw new HttpProblem(400, `Invalid job id '${text}': ${why}`)
}

/** `{queue}` is percent-decoded by the router; validation is the command schema's. */
export function queueParam(c: Context): string {
  return c.req.param('queue') ?? ''
}

/** A numeric query parameter; absent ⇒ undefined; anything else but digits ⇒ 422 naming it. */
export function numberQuery(c: Context, name: string): number | undefined {
  return queryNumber(c.req.query(name), name)
}

/** `numberQuery` of a parameter's text. */
export function queryNumber(text: string | undefined, name: string): number | undefined {
  if (text === undefined || text === '') return undefined
  if (!/^\d{1,16}$/.test(text)) {
    const why = /^\d+$/.test(text) ? `must be at most ${Number.MAX_SAFE_INTEGER}` : 'must be a non-negative integer'
    throw new HttpProblem(422, `Invalid: query parameter '${name}' ${why}`)
  }
  return Number(text)
}
