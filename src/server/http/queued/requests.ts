/**
 * Request bodies of the queued API, checked with the spec's exact answers (queued-api.md §1.8):
 * 415 for a non-JSON Content-Type, 413 for an oversize body, 400 with the parser's message for bad
 * JSON, 422 naming the field for a wrong shape, and the plain-text 400s for bad values.
 */
import { queuedRequestBodyBytesMax, queuedPollMessagesMax, queuedVisibilitySecondsMax } from '../../../base/limits.ts'
import { bodiesBusyText, readBodyText } from '../body.ts'

/** An answer other than 200: plain text (§1.1). */
export class QueuedError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 413 | 415 | 422 | 429 | 500 | 503 | 507,
    readonly text: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(text)
  }
}

export const texts = {
  invalidPollTag: 'invalid poll tag',
  invalidVisibility: 'invalid visibility timeout',
  invalidQueueName: 'invalid queue name',
  conflictingId: 'conflicting id and index',
  invalidThrottle: 'invalid throttle',
  notFound: 'message not found',
  contentTooLarge: 'content too large',
  tooManyMessages: 'too many messages',
  bodyTooLarge: 'request body too large',
  throttled: 'throttled',
  storageError: 'storage error',
  suspended: 'this endpoint has been suspended',
  insufficientStorage: 'insufficient storage',
} as const

export type Fields = Record<string, unknown>

/** The body as JSON; an empty body is `{}` (clients send none on bodiless requests). A rejection is a QueuedError. */
export function readJsonBody(request: Request): Promise<unknown> {
  return readBody(request, parseBody)
}

/**
 * `use` of the body as a JSON object (422 otherwise), in the same promise as the read: the hot
 * routes take one promise per request here, not one for the text and one for its use.
 */
export function withObjectBody<T>(request: Request, use: (body: Fields) => T | Promise<T>): Promise<T> {
  return readBody(request, (text) => use(objectBody(parseBody(text))))
}

function readBody<T>(request: Request, use: (text: string) => T | Promise<T>): Promise<T> {
  const headers = request.headers
  const type = headers.get('content-type') ?? undefined
  if (type !== undefined && !jsonType.test(type)) {
    return Promise.reject(new QueuedError(415, `unsupported Content-Type '${type}': expected application/json`))
  }
  // Under the cap, and counted with every body being received (body.ts).
  return readBodyText(request, queuedRequestBodyBytesMax, bodyErrors).then(use)
}

const jsonType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

const bodyTooLarge = () => new QueuedError(413, texts.bodyTooLarge)
const bodyErrors = { tooLarge: bodyTooLarge, busy: () => new QueuedError(503, bodiesBusyText, { 'Retry-After': '1' }) }

function parseBody(text: string): unknown {
  if (text.length > queuedRequestBodyBytesMax) throw new QueuedError(413, texts.bodyTooLarge)
  try {
    return JSON.parse(text)
  } catch (error) {
    if (text.trim() === '') return {}
    throw new QueuedError(400, `malformed JSON body: ${(error as Error).message}`)
  }
}

export function objectBody(body: unknown): Fields {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw shape('the request body must be a JSON object')
  return body as Fields
}

export function shape(message: string): QueuedError {
  return new QueuedError(422, message)
}

/** `visibility_timeout_secs` in ms: integer seconds 0 … 7 days (§1.6). */
export function visibilityMs(fields: Fields, required: boolean, where = ''): number {
  const value = fields.visibility_timeout_secs
  if (value === undefined || value === null) {
    if (required) throw shape(`missing field '${where}visibility_timeout_secs'`)
    return 0
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) throw shape(`field '${where}visibility_timeout_secs' must be an integer`)
  if (value < 0 || value > queuedVisibilitySecondsMax) throw new QueuedError(400, texts.invalidVisibility)
  return value * 1000
}

/** `contents`, or its v0.1 alias `content`. */
export function contentsOf(fields: Fields, where = ''): string {
  const value = fields.contents ?? fields.content
  if (value === undefined) throw shape(`missing field '${where}contents'`)
  if (typeof value !== 'string') throw shape(`field '${where}contents' must be a string`)
  return value
}

export function utf8BytesOver(text: string, bytesMax: number): boolean {
  // A UTF-16 unit encodes to at most 3 UTF-8 bytes, so short texts need no counting.
  return text.length * 3 > bytesMax && Buffer.byteLength(text) > bytesMax
}

/**
 * `id`, or its v0.1 name `index`; both given must agree. Any u64 is an id (§1.7); one past 2^53,
 * which no message has (ids stay far below it), comes back unsafe: see `noSuchId`.
 */
export function messageIdOf(fields: Fields, where = ''): number {
  const id = fields.id ?? undefined
  const index = fields.index ?? undefined
  if (id === undefined && index === undefined) throw shape(`missing field '${where}id'`)
  for (const [name, value] of [['id', id], ['index', index]] as const) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > u64Max)) {
      throw shape(`field '${where}${name}' must be an integer from 0 to ${u64MaxText}`)
    }
  }
  if (id !== undefined && index !== undefined && id !== index) throw new QueuedError(400, texts.conflictingId)
  return (id ?? index) as number
}

/** 2^64 - 1 as JSON.parse reads it (the double 2^64: every u64 text parses to at most it). */
const u64Max = 2 ** 64
const u64MaxText = '18446744073709551615'

/** A valid u64 id that no message can have (above 2^53): answered as not found, never sent to a shard. */
export const noSuchId = (id: number) => !Number.isSafeInteger(id)

/** A poll tag, lowercased; null when it is a string of the wrong form (400 / per-item error). */
export function pollTagOf(fields: Fields, where = ''): string | null {
  const tag = fields.poll_tag
  if (tag === undefined || tag === null) throw shape(`missing field '${where}poll_tag'`)
  if (typeof tag !== 'string') throw shape(`field '${where}poll_tag' must be a string`)
  return /^[0-9a-fA-F]{60}$/.test(tag) ? tag.toLowerCase() : null
}

/** `count` of a poll (extension): 1 … 1000, default 1. */
export function pollCountOf(fields: Fields): number {
  const count = fields.count
  if (count === undefined || count === null) return 1
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > queuedPollMessagesMax) {
    throw shape(`field 'count' must be an integer from 1 to ${queuedPollMessagesMax}`)
  }
  return count
}

/** `messages` of a batch: an array of objects, at most `itemsMax` (413 above). */
export function batchOf(value: unknown, itemsMax: number): Fields[] {
  if (!Array.isArray(value)) throw shape("field 'messages' must be an array")
  if (value.length > itemsMax) throw new QueuedError(413, texts.tooManyMessages)
  value.forEach((item, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw shape(`field 'messages[${index}]' must be an object`)
  })
  return value as Fields[]
}
