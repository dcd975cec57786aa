/**
 * A route is a command: build the TCP request from the path, query and body, validate it with the
 * command's schema (422 naming the field), send it through the Front, and map the TCP reply to the
 * envelope's `data`.
 */
import type { Context } from 'hono'
import { parseCommand } from '../../protocol/commands.ts'
import { callCommand, clientGone, requestTimedOut, type Reply } from './call.ts'
import type { HttpDeps } from './deps.ts'
import { envelope, fail } from './envelope.ts'

export type RunOptions = { blockingMs?: number }

export type Runner = (
  c: Context,
  request: Record<string, unknown>,
  toData?: (reply: Reply) => unknown,
  options?: RunOptions,
) => Promise<Response>

/** Shape errors from the schemas start with `Invalid:`; the spec's named errors stay in the envelope. */
export const isShapeError = (error: string) => error.startsWith('Invalid: ')

export function makeRunner(deps: HttpDeps): Runner {
  return async (c, request, toData = () => null, options = {}) => {
    const parsed = parseCommand(request, { internal: true })
    if (!parsed.ok) return isShapeError(parsed.error) ? c.text(parsed.error, 422) : fail(c, parsed.error)
    const reply = await callCommand(deps.front, deps.pool, request, { signal: c.req.raw.signal, blockingMs: options.blockingMs })
    if (!reply.ok && (reply.error === requestTimedOut || reply.error === clientGone)) return c.json(reply, 503)
    return envelope(c, reply, toData)
  }
}

/** For routes that combine several commands: the reply, or an error thrown as the envelope. */
export async function ask(deps: HttpDeps, c: Context | null, request: Record<string, unknown>): Promise<Reply> {
  return callCommand(deps.front, deps.pool, request, { signal: c?.req.raw.signal })
}
