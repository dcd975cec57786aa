/**
 * Internal commands behind the queued-compatible HTTP API (queued-api.md; engine/queued-store.ts).
 * The HTTP front validates requests with the spec's texts and sends these; the schemas here guard the
 * engine against anything else that sends them (they are reachable over TCP like every command).
 */
import { z } from 'zod'
import { queuedBatchMessagesCap, queuedPollMessagesMax, queuedVisibilitySecondsMax } from '../base/limits.ts'
import { validateQueueName } from './validate.ts'

const queueName = () =>
  z.string().superRefine((name, ctx) => {
    const error = validateQueueName(name)
    if (error !== null) ctx.addIssue({ code: 'custom', message: error, input: name, params: { spec: true } })
  })
const id = () => z.int().min(0)
/** A poll tag as the front sends it: 60 lowercase hex characters. */
const pollTag = () => z.string().regex(/^[0-9a-f]{60}$/)
const visibilityMs = () => z.int().min(0).max(queuedVisibilitySecondsMax * 1000)

/** The engine's refusal of a push the shard cannot hold (answered 507 by the HTTP front). */
export const queuedStoreFull = 'insufficient storage'

export const queuedCommandSchemas = {
  _QPUSH: z.object({
    cmd: z.literal('_QPUSH'),
    queue: queueName(),
    messages: z.array(z.object({ contents: z.string(), delay_ms: visibilityMs() })).max(queuedBatchMessagesCap),
  }),
  _QPOLL: z.object({
    cmd: z.literal('_QPOLL'),
    queue: queueName(),
    visibility_ms: visibilityMs(),
    /** One fresh tag per message wanted (the front's CSPRNG); their count is the poll's count. */
    tags: z.array(pollTag()).min(1).max(queuedPollMessagesMax),
  }),
  _QDELETE: z.object({
    cmd: z.literal('_QDELETE'),
    queue: queueName(),
    items: z.array(z.object({ id: id(), tag: pollTag() })).max(queuedBatchMessagesCap),
  }),
  _QUPDATE: z.object({
    cmd: z.literal('_QUPDATE'),
    queue: queueName(),
    id: id(),
    tag: pollTag(),
    visibility_ms: visibilityMs(),
  }),
  _QSTATS: z.object({ cmd: z.literal('_QSTATS') }),
} as const
