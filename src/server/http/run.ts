/**
 * A route is a command: build the TCP request from the path, query and body, validate it with the
 * command's schema (422 naming the field), send it through the Front, and map the TCP reply to the
 * envelope's `data`.
 */
import type { Context } from 'hono'
import { parseCommand } from '../../protocol/commands.ts'
import { callCommand, clientGone, requestTimedOut, type Reply } from './call.ts'
import type { HttpDeps } from './deps.ts'
import { failResponse, jsonResponse, noHeaders, textResponse, type ExtraHeaders } from './envelope.ts'

export type RunOptions = { blockingMs?: number }

export type Runner = (
  c: Context,
  request: Record<string, unknown>,
  toData?: (reply: Reply) => unknown,
  options?: RunOptions,
) => Promise<Response>

/** Shape errors from the schemas start with `Invalid:`; the spec's named errors stay in the envelope. */
export const isShapeError = (error: string) => error.startsWith('Invalid: ')

const noData = () => null

export function makeRunner(deps: HttpDeps): Runner {
  return (c, request, toData, options) => runCommand(deps, c.req.raw, request, toData, options)
}

/**
 * One command for one HTTP request, answered as the envelope. Hono-free: the Hono routes (through
 * makeRunner) and the fast path (fast-path.ts, which passes the CORS headers) share it.
 */
export async function runCommand(
  deps: HttpDeps,
  http: Request,
  request: Record<string, unknown>,
  toData: (reply: Reply) => unknown = noData,
  options: RunOptions = {},
  headers: ExtraHeaders = noHeaders,
): Promise<Response> {
  const parsed = parseCommand(request, { internal: true })
  if (!parsed.ok) return isShapeError(parsed.error) ? textResponse(parsed.error, 422, headers) : failResponse(parsed.error, headers)
  // Only a pull or a wait needs to learn that its client left (to end the wait, to give a job back);
  // a listener per request costs the rest, whose answer to a gone client is simply dropped.
  const signal = options.blockingMs === undefined ? undefined : http.signal
  const reply = await callCommand(deps.front, deps.pool, request, { signal, blockingMs: options.blockingMs })
  if (!reply.ok) {
    if (reply.error === requestTimedOut || reply.error === clientGone) return jsonResponse(reply, 503, headers)
    return failResponse(reply.error ?? 'Unknown error', headers)
  }
  const data = toData(reply)
  return jsonResponse({ ok: true, data: data === undefined ? null : data }, 200, headers)
}

/** For routes that combine several commands: the reply, or an error thrown as the envelope. */
export async function ask(deps: HttpDeps, c: Context | null, request: Record<string, unknown>): Promise<Reply> {
  return callCommand(deps.front, deps.pool, request, { signal: c?.req.raw.signal })
}
