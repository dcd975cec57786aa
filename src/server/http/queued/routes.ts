/**
 * The queued-compatible simple-queue API (queued-api.md): /push, /poll, /delete, /update, /suspend,
 * /throttle on `?queue=` (default `default`), and /healthz. Every change goes through the Front as
 * an internal command (QUEUED_*, engine/queued-store.ts), so it takes the same shard routing, log and
 * group commit as TCP, and a 2xx is sent only once its records are durable (§1.5).
 *
 * Owns: the spec's status codes and plain-text errors, poll tags (CSPRNG), suspension, throttle and
 * the queued_* counters. Does not own: message state (the shards).
 */
import { Hono } from 'hono'
import { validateQueueName } from '../../../protocol/validate.ts'
import { queuedStoreFull } from '../../../protocol/queued-commands.ts'
import type { PolledMessage } from '../../../engine/queued-store.ts'
import { callCommand, type Reply } from '../call.ts'
import type { HttpDeps } from '../deps.ts'
import { jsonResponse, jsonTextResponse, noHeaders, textResponse, type ExtraHeaders } from '../envelope.ts'
import { fastRoutesOf, type FastRoutes } from '../fast-path.ts'
import { queuedConfigFromEnv, type QueuedConfig } from './config.ts'
import { Coalescer } from './coalesce.ts'
import { QueuedCounters, queuedExposition, type QueuedGauges } from './metrics.ts'
import {
  QueuedError, batchOf, contentsOf, messageIdOf, noSuchId, objectBody, pollCountOf, pollTagOf, readJsonBody, shape, texts, withObjectBody,
  utf8BytesOver, visibilityMs, type Fields,
} from './requests.ts'
import { QueuedSettings, endpoints, type Endpoint, type Suspension, type ThrottleSetting } from './settings.ts'

/** The sub-app (mounts.ts): the queued routes, and their queued_* families on /metrics. */
export function queuedApp(deps: HttpDeps): Hono {
  const api = new QueuedApi(deps, queuedConfigFromEnv(process.env))
  deps.metricsProviders.push(Object.assign(() => api.metricsText(), { leading: true }))
  api.registerFast(fastRoutesOf(deps))
  return api.app()
}

/**
 * One route: its answer for the request on the selected queue (a value to send as JSON, or a string
 * that is that JSON already), or a QueuedError, thrown or as the rejection.
 */
type Handle = (request: Request, queue: string) => Promise<unknown>

const defaultQueue = 'default'
const emptyPollText = '{"message":null}'
const pollTagBytes = 30

export class QueuedApi {
  readonly counters = new QueuedCounters()
  readonly settings = new QueuedSettings()
  /** A shard answered with a storage failure once (its log stopped; only a restart recovers it). */
  private storageFailed = false
  /** Single pushes, polls and deletes of one turn, as one command per queue. */
  private readonly merged = new Coalescer((request) => this.call(request, true))

  constructor(
    private readonly deps: HttpDeps,
    private readonly config: QueuedConfig,
  ) {}

  /** The routes as a Hono app to mount at `/`. Empty when NO_QUEUED_API is set (everything 404s). */
  app(): Hono {
    const app = new Hono()
    if (!this.config.enabled) return app
    for (const [method, path, handle] of this.routes()) {
      app.on(method, path, (c) => this.serve(c.req.raw, c.req.query('queue'), handle))
    }
    // §3.7; with the API off it answers 404 like the other routes (§1.1; the flashQ API has /health).
    app.get('/healthz', () => jsonResponse({ version: this.deps.version, durable: !this.deps.config.memory }))
    // 405 with the Allow header RFC 9110 requires of it.
    const allowed = new Map<string, string[]>([['/healthz', ['GET']]])
    for (const [method, path] of this.routes()) allowed.set(path, [...(allowed.get(path) ?? []), method])
    for (const [path, methods] of allowed) {
      app.all(path, (c) => c.text('method not allowed', 405, { Allow: methods.join(', ') }))
    }
    return app
  }

  /** The hot routes also on the fast path (fast-path.ts), through the same `serve`. */
  registerFast(fast: FastRoutes): void {
    if (!this.config.enabled) return
    for (const [method, path, handle] of this.routes()) {
      if (method === 'POST' && (path === '/push' || path === '/poll' || path === '/delete')) {
        fast.add(method, path, (request, match, headers) => this.serve(request, match.query('queue'), handle, headers), true)
      }
    }
  }

  private routes(): Array<[method: string, path: string, handle: Handle]> {
    return [
      ['POST', '/push', (request, queue) => this.push(request, queue)],
      ['POST', '/poll', (request, queue) => this.poll(request, queue)],
      ['POST', '/delete', (request, queue) => this.delete(request, queue)],
      ['POST', '/update', (request, queue) => this.update(request, queue)],
      ['GET', '/suspend', async (_request, queue) => this.settings.suspension(queue)],
      ['POST', '/suspend', (request, queue) => this.suspend(request, queue)],
      ['GET', '/throttle', async (_request, queue) => ({ throttle: this.settings.throttle(queue) })],
      ['POST', '/throttle', (request, queue) => this.throttle(request, queue)],
    ]
  }

  /** Prometheus text of the queued_* families. */
  async metricsText(): Promise<string> {
    const { front, pool } = this.deps
    const [stats, shards] = await Promise.all([callCommand(front, pool, { cmd: '_QSTATS' }), pool.admin({ op: 'stats' })])
    const gauges: QueuedGauges = stats.ok
      ? { available: Number(stats.available) || 0, visible: Number(stats.visible) || 0, invisible: Number(stats.invisible) || 0 }
      : { available: 0, visible: 0, invisible: 0 }
    return queuedExposition(this.counters, gauges, shards)
  }

  /**
   * Queue selection and the plain-text error answers around one route (the token is checked before:
   * app.ts or fast-path.ts). `headers` are the fast path's CORS headers (Hono's middleware adds them).
   * A promise chain, not async layers: each layer was a promise and a microtask per request. Never
   * rejects (every failure is answered), so the fast path chains no catch on it.
   */
  private serve(request: Request, queueParam: string | undefined, handle: Handle, headers: ExtraHeaders = noHeaders): Promise<Response> {
    const failed = (error: unknown) => errorResponse(error, headers)
    let answer: Promise<unknown>
    try {
      answer = handle(request, queueOf(queueParam))
    } catch (error) {
      return Promise.resolve(failed(error))
    }
    return answer.then((value) => (typeof value === 'string' ? jsonTextResponse(value, headers) : jsonResponse(value, 200, headers)), failed)
  }

  private checkSuspended(queue: string, endpoint: Endpoint): void {
    if (!this.settings.isSuspended(queue, endpoint)) return
    this.counters[`suspended_${endpoint}`]++
    throw new QueuedError(503, texts.suspended)
  }

  private async call(request: Record<string, unknown>, sendNow = false): Promise<Reply> {
    // Built here from validated strings and numbers: plain JSON.
    const reply = await callCommand(this.deps.front, this.deps.pool, request, { sendNow, plainJson: true })
    if (reply.ok) return reply
    const error = reply.error ?? ''
    if (error === queuedStoreFull || error.startsWith('Disk full')) throw new QueuedError(507, texts.insufficientStorage)
    if (/storage failure|shard worker/.test(error)) {
      // §1.5: the failed commit answers 500; after that the store refuses writes until a restart: 503.
      const status = this.storageFailed ? 503 : 500
      this.storageFailed = true
      throw new QueuedError(status, texts.storageError)
    }
    throw new QueuedError(500, error)
  }

  // ── /push ────────────────────────────────────────────────────────────────────────────────────

  private push(request: Request, queue: string): Promise<unknown> {
    return withObjectBody(request, (body) => this.pushBody(body, queue))
  }

  /** A single push answers its JSON text directly (`{"index":…,"id":…}`, as JSON.stringify writes it). */
  private pushBody(body: Fields, queue: string): Promise<unknown> {
    if (body.messages !== undefined) return this.pushBatch(body, queue)
    const contents = contentsOf(body)
    const delayMs = visibilityMs(body, false)
    if (utf8BytesOver(contents, this.config.contentBytesMax)) throw new QueuedError(413, texts.contentTooLarge)
    this.checkSuspended(queue, 'push')
    return this.merged.push(queue, { contents, delay_ms: delayMs }).then((id) => {
      this.counters.successful_push++
      return `{"index":${id},"id":${id}}`
    })
  }

  private async pushBatch(body: Fields, queue: string): Promise<unknown> {
    const items = batchOf(body.messages, this.config.batchMessagesMax)
    const accepted: Array<{ contents: string; delay_ms: number }> = []
    const rejections: Array<string | null> = items.map((item, index) => {
      const where = `messages[${index}].`
      const contents = contentsOf(item, where)
      let delayMs: number
      try {
        delayMs = visibilityMs(item, false, where)
      } catch (error) {
        if (error instanceof QueuedError && error.status === 400) return 'InvalidVisibilityTimeout'
        throw error
      }
      if (utf8BytesOver(contents, this.config.contentBytesMax)) return 'ContentTooLarge'
      accepted.push({ contents, delay_ms: delayMs })
      return null
    })
    this.checkSuspended(queue, 'push')
    const ids = accepted.length === 0 ? [] : ((await this.call({ cmd: '_QPUSH', queue, messages: accepted })).ids as number[])
    this.counters.successful_push += ids.length
    let next = 0
    const results: unknown[] = []
    const errors: unknown[] = []
    rejections.forEach((rejection, index) => {
      if (rejection === null) {
        const id = ids[next++]
        results.push({ index: id, id })
      } else {
        results.push({ error: rejection })
        errors.push({ typ: rejection, index })
      }
    })
    return { results, errors }
  }

  // ── /poll ────────────────────────────────────────────────────────────────────────────────────

  private poll(request: Request, queue: string): Promise<unknown> {
    return withObjectBody(request, (body) => this.pollBody(body, queue))
  }

  private pollBody(body: Fields, queue: string): Promise<unknown> {
    const visibility = visibilityMs(body, true)
    const count = pollCountOf(body)
    this.checkSuspended(queue, 'poll')
    try {
      this.settings.takePollToken(queue, Date.now())
    } catch (error) {
      this.counters.throttled_poll++
      throw error
    }
    const tags = newPollTags(count)
    return this.merged.poll(queue, visibility, tags).then((polled) => {
      if (count === 1) return this.singlePollText(polled[0], tags[0] as string)
      const messages = polled.map((message, index) => ({
        contents: message.contents,
        created: isoTime(message.created_at),
        index: message.id,
        id: message.id,
        poll_count: message.poll_count,
        poll_tag: tags[index],
      }))
      if (messages.length === 0) this.counters.empty_poll++
      this.counters.successful_poll += messages.length
      const first = messages[0] ?? null
      return count > 1 ? { message: first, messages } : { message: first }
    })
  }

  /**
   * The answer to a poll of one message as its JSON text, the text JSON.stringify gives for
   * `{message}` (same keys, same order): no object per answer on the hottest route.
   */
  private singlePollText(message: PolledMessage | undefined, tag: string): string {
    if (message === undefined) {
      this.counters.empty_poll++
      return emptyPollText
    }
    this.counters.successful_poll++
    const { id } = message
    return `{"message":{"contents":${JSON.stringify(message.contents)},"created":"${isoTime(message.created_at)}","index":${id},"id":${id},"poll_count":${message.poll_count},"poll_tag":"${tag}"}}`
  }

  // ── /delete and /update ──────────────────────────────────────────────────────────────────────

  private delete(request: Request, queue: string): Promise<unknown> {
    return withObjectBody(request, (body) => this.deleteBody(body, queue))
  }

  private deleteBody(body: Fields, queue: string): Promise<unknown> {
    if (body.messages !== undefined) return this.deleteBatch(body, queue)
    const id = messageIdOf(body)
    const tag = pollTagOf(body)
    if (tag === null) throw new QueuedError(400, texts.invalidPollTag)
    this.checkSuspended(queue, 'delete')
    const deleting = noSuchId(id) ? Promise.resolve(false) : this.merged.delete(queue, { id, tag })
    return deleting.then((deleted) => {
      if (!deleted) {
        this.counters.missing_delete++
        throw new QueuedError(404, texts.notFound)
      }
      this.counters.successful_delete++
      return '{}'
    })
  }

  private async deleteBatch(body: Fields, queue: string): Promise<unknown> {
    const items = batchOf(body.messages, this.config.batchMessagesMax)
    const parsed = items.map((item, index) => {
      const where = `messages[${index}].`
      return { id: messageIdOf(item, where), tag: pollTagOf(item, where) }
    })
    this.checkSuspended(queue, 'delete')
    const sent = (item: (typeof parsed)[number]) => item.tag !== null && !noSuchId(item.id)
    const valid = parsed.filter(sent)
    const deleted = valid.length === 0 ? [] : ((await this.call({ cmd: '_QDELETE', queue, items: valid })).deleted as boolean[])
    let next = 0
    const results = parsed.map((item) => {
      if (item.tag === null) return { id: item.id, error: 'InvalidPollTag' }
      if (sent(item) && deleted[next++] === true) {
        this.counters.successful_delete++
        return { id: item.id, deleted: true }
      }
      this.counters.missing_delete++
      return { id: item.id, error: 'MessageNotFound' }
    })
    return { results }
  }

  private async update(request: Request, queue: string): Promise<unknown> {
    const body = objectBody(await readJsonBody(request))
    const id = messageIdOf(body)
    const tag = pollTagOf(body)
    const visibility = visibilityMs(body, true)
    if (tag === null) throw new QueuedError(400, texts.invalidPollTag)
    this.checkSuspended(queue, 'update')
    const updated = !noSuchId(id) && (await this.call({ cmd: '_QUPDATE', queue, id, tag, visibility_ms: visibility })).updated === true
    if (!updated) {
      this.counters.missing_update++
      throw new QueuedError(404, texts.notFound)
    }
    this.counters.successful_update++
    return {}
  }

  // ── /suspend and /throttle ───────────────────────────────────────────────────────────────────

  private async suspend(request: Request, queue: string): Promise<Suspension> {
    const body = objectBody(await readJsonBody(request))
    const changes: Partial<Suspension> = {}
    for (const endpoint of endpoints) {
      const value = body[endpoint]
      if (value === undefined || value === null) continue
      if (typeof value !== 'boolean') throw shape(`field '${endpoint}' must be a boolean`)
      changes[endpoint] = value
    }
    return this.settings.setSuspension(queue, changes)
  }

  private async throttle(request: Request, queue: string): Promise<unknown> {
    const body = await readJsonBody(request)
    // `{"throttle": …}` as GET answers it, or the setting itself; null turns throttling off.
    const fields = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Fields) : null
    const value = fields !== null && 'throttle' in fields ? fields.throttle : body
    return { throttle: this.settings.setThrottle(queue, throttleSettingOf(value), Date.now()) }
  }
}

function throttleSettingOf(value: unknown): ThrottleSetting | null {
  if (value === null) return null
  const fields = objectBody(value)
  const setting: Record<string, number> = {}
  for (const name of ['max_polls_per_time_window', 'time_window_sec']) {
    const number = fields[name]
    if (number === undefined || number === null) throw shape(`missing field '${name}'`)
    if (typeof number !== 'number' || !Number.isInteger(number)) throw shape(`field '${name}' must be an integer`)
    if (number < 1 || !Number.isSafeInteger(number)) throw new QueuedError(400, texts.invalidThrottle)
    setting[name] = number
  }
  return setting as ThrottleSetting
}

function queueOf(param: string | undefined): string {
  if (param === undefined) return defaultQueue
  if (validQueues.has(param)) return param
  if (validateQueueName(param) !== null) throw new QueuedError(400, texts.invalidQueueName)
  if (validQueues.size >= validQueuesRemembered) validQueues.clear()
  validQueues.add(param)
  return param
}

/** Names that passed validateQueueName (a regex per request otherwise); cleared when full. */
const validQueues = new Set<string>()
const validQueuesRemembered = 1024

/** The error answers: the spec's plain texts (§1.8), or a 500 naming what failed. */
function errorResponse(error: unknown, headers: ExtraHeaders): Response {
  if (error instanceof QueuedError) return textResponse(error.text, error.status, { ...error.headers, ...headers })
  return textResponse(`internal error: ${(error as Error).message}`, 500, headers)
}

/**
 * RFC 3339 with milliseconds (§1.7). Messages pushed in the same millisecond share a `created`, and
 * a poll often takes a run of them, so the last one is remembered.
 */
function isoTime(ms: number): string {
  if (ms !== lastIsoMs) {
    lastIsoMs = ms
    lastIso = new Date(ms).toISOString()
  }
  return lastIso
}

let lastIsoMs = Number.NaN
let lastIso = ''

/**
 * `count` fresh tags: 30 bytes from the CSPRNG each, as 60 lowercase hex characters (§1.7). The
 * bytes are drawn in blocks (one getRandomValues per 1,024 tags, not one per poll), each byte used once.
 */
function newPollTags(count: number): string[] {
  const tags: string[] = new Array(count)
  for (let i = 0; i < count; i++) {
    if (tagBytesUsed + pollTagBytes > tagBytes.length) {
      crypto.getRandomValues(tagBytes)
      tagBytesUsed = 0
    }
    tags[i] = tagBytes.toString('hex', tagBytesUsed, tagBytesUsed + pollTagBytes)
    tagBytesUsed += pollTagBytes
  }
  return tags
}

const tagBytes = Buffer.alloc(pollTagBytes * 1024)
let tagBytesUsed = tagBytes.length
