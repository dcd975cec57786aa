/** One command through the Front, as TCP sends it (same routing, validation and durability). */
import type { Front } from '../../front.ts'

export type Reply = { ok: boolean; error?: string; [field: string]: unknown }

export function callCommand(front: Front, request: Record<string, unknown>): Promise<Reply> {
  const { promise, resolve } = Promise.withResolvers<Reply>()
  front.submit(request, JSON.stringify(request), {
    tokens: [],
    deliver: (_token, replyJson) => resolve(JSON.parse(replyJson) as Reply),
  })
  return promise
}
