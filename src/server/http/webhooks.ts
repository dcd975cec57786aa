/**
 * Webhooks (spec §5.2 "Webhooks", §5.6): registration routes, the incoming-webhook push, and outgoing
 * delivery of engine events.
 *
 * Delivery: every event from the hub (released only once durable) that a webhook wants becomes one
 * `POST <url>` with body `{event, queue, job_id, timestamp, data, error}` (nulls kept), signed with
 * `X-FlashQ-Signature: hex HMAC-SHA256(body, secret)` when the webhook has a secret, aborted after
 * webhookTimeoutMs. A 2xx is a success; anything else, a network error or the timeout is a failure.
 * Deliveries are asynchronous and bounded: at most webhookDeliveriesInFlightMax at once and
 * webhookQueuedDeliveriesMax waiting; beyond that they are dropped and counted, never buffered
 * without limit. Each URL has a circuit breaker (CircuitBreaker): while it is open its deliveries
 * are skipped (counted as `skipped`).
 *
 * Webhooks live in memory, like the reference's: a restart forgets them.
 */
import { createHmac } from 'node:crypto'
import { Hono } from 'hono'
import {
  webhookBreakerFailuresMax, webhookBreakerOpenMs, webhookBreakerSuccessesToClose, webhookDeliveriesInFlightMax,
  webhookQueuedDeliveriesMax, webhookSecretCharsMax, webhookTimeoutMs, webhookUrlCharsMax, webhooksMax,
} from '../../base/limits.ts'
import { validateQueueName } from '../../protocol/commands.ts'
import { jobEventTypes, type JobEvent, type Unsubscribe } from '../events.ts'
import type { HttpDeps } from './deps.ts'
import { HttpProblem, fail, ok, queueParam, readJsonBody, readObjectBody } from './envelope.ts'
import { makeRunner } from './run.ts'
import { webhookUrlProblem } from './webhook-url.ts'

export type WebhookConfig = {
  id: string
  url: string
  events: string[]
  queue: string | null
  secret: string | null
  enabled: boolean
  created_at: number
}

type Counters = { delivered: number; failed: number; skipped: number }

// ── circuit breaker ─────────────────────────────────────────────────────────────────────────────

export type CircuitState = 'closed' | 'open' | 'half-open'

/**
 * Per URL: webhookBreakerFailuresMax consecutive failures open it for webhookBreakerOpenMs; then it
 * is half-open (deliveries go through again); webhookBreakerSuccessesToClose successes close it and
 * one failure opens it again. Time is an argument, so tests drive it without sleeping.
 */
export class CircuitBreaker {
  private failures = 0
  private successes = 0
  private openUntilMs = 0
  private opened = false

  state(nowMs: number): CircuitState {
    if (!this.opened) return 'closed'
    return nowMs < this.openUntilMs ? 'open' : 'half-open'
  }

  allows(nowMs: number): boolean {
    return this.state(nowMs) !== 'open'
  }

  succeeded(nowMs: number): void {
    this.failures = 0
    if (this.state(nowMs) !== 'half-open') return
    if (++this.successes >= webhookBreakerSuccessesToClose) {
      this.opened = false
      this.successes = 0
    }
  }

  failed(nowMs: number): void {
    const state = this.state(nowMs)
    this.successes = 0
    if (state === 'half-open' || ++this.failures >= webhookBreakerFailuresMax) {
      this.opened = true
      this.openUntilMs = nowMs + webhookBreakerOpenMs
      this.failures = 0
    }
  }
}

// ── registry and delivery ───────────────────────────────────────────────────────────────────────

type Delivery = { webhook: WebhookConfig; body: string }

export class Webhooks {
  private readonly byId = new Map<string, WebhookConfig>()
  private readonly counters = new Map<string, Counters>()
  private readonly breakers = new Map<string, CircuitBreaker>()
  private readonly waiting: Delivery[] = []
  private inFlight = 0
  private nextId = 1
  private unsubscribe: Unsubscribe | null = null
  /** Deliveries dropped because the queue was full. */
  dropped = 0

  constructor(
    private readonly deps: HttpDeps,
    private readonly allowPrivate: boolean,
  ) {}

  list(): Array<WebhookConfig & Counters & { circuit: CircuitState }> {
    const nowMs = Date.now()
    return [...this.byId.values()].map((webhook) => ({
      ...webhook,
      ...(this.counters.get(webhook.id) as Counters),
      circuit: this.breakers.get(webhook.url)?.state(nowMs) ?? 'closed',
    }))
  }

  /** Registers a webhook; returns its id or the reason it is refused. */
  add(url: string, events: string[], queue: string | null, secret: string | null): { id: string } | { error: string } {
    const problem = webhookUrlProblem(url, this.allowPrivate)
    if (problem !== null) return { error: `Invalid webhook URL: ${problem}` }
    if (this.byId.size >= webhooksMax) return { error: `Too many webhooks (max ${webhooksMax}): delete some first` }
    const webhook: WebhookConfig = { id: `wh_${this.nextId++}`, url, events, queue, secret, enabled: true, created_at: Date.now() }
    this.byId.set(webhook.id, webhook)
    this.counters.set(webhook.id, { delivered: 0, failed: 0, skipped: 0 })
    if (!this.breakers.has(url)) this.breakers.set(url, new CircuitBreaker())
    this.unsubscribe ??= this.deps.hub.subscribe({}, (event) => this.onEvent(event))
    return { id: webhook.id }
  }

  remove(id: string): boolean {
    const webhook = this.byId.get(id)
    if (webhook === undefined) return false
    this.byId.delete(id)
    this.counters.delete(id)
    if (![...this.byId.values()].some((other) => other.url === webhook.url)) this.breakers.delete(webhook.url)
    if (this.byId.size === 0) {
      this.unsubscribe?.()
      this.unsubscribe = null
    }
    return true
  }

  private onEvent(event: JobEvent): void {
    let body: string | null = null
    for (const webhook of this.byId.values()) {
      if (webhook.queue !== null && webhook.queue !== event.queue) continue
      if (!webhook.events.includes('*') && !webhook.events.includes(event.event_type)) continue
      body ??= JSON.stringify({
        event: event.event_type, queue: event.queue, job_id: event.job_id, timestamp: event.timestamp,
        data: event.data ?? null, error: event.error ?? null,
      })
      if (this.waiting.length >= webhookQueuedDeliveriesMax) {
        this.dropped++
        continue
      }
      this.waiting.push({ webhook, body })
    }
    this.pump()
  }

  private pump(): void {
    while (this.inFlight < webhookDeliveriesInFlightMax && this.waiting.length > 0) {
      const delivery = this.waiting.shift() as Delivery
      this.inFlight++
      void this.deliver(delivery).finally(() => {
        this.inFlight--
        this.pump()
      })
    }
  }

  private async deliver({ webhook, body }: Delivery): Promise<void> {
    const counters = this.counters.get(webhook.id)
    const breaker = this.breakers.get(webhook.url)
    if (counters === undefined || breaker === undefined) return // deleted meanwhile
    if (!breaker.allows(Date.now())) {
      counters.skipped++
      return
    }
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': `flashq/${this.deps.version}` }
    if (webhook.secret !== null) headers['X-FlashQ-Signature'] = createHmac('sha256', webhook.secret).update(body).digest('hex')
    let success = false
    try {
      const response = await fetch(webhook.url, {
        method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(webhookTimeoutMs),
      })
      success = response.ok
      await response.body?.cancel()
    } catch {
      success = false // refused, reset, DNS failure or the timeout
    }
    if (success) {
      counters.delivered++
      breaker.succeeded(Date.now())
    } else {
      counters.failed++
      breaker.failed(Date.now())
    }
  }
}

// ── routes ──────────────────────────────────────────────────────────────────────────────────────

/** The sub-app (mounts.ts): GET/POST /webhooks, DELETE /webhooks/{id}, POST /webhooks/incoming/{queue}. */
export function webhookRoutes(deps: HttpDeps): Hono {
  const webhooks = new Webhooks(deps, process.env.FLASHQ_WEBHOOKS_ALLOW_PRIVATE === '1')
  const run = makeRunner(deps)
  const app = new Hono()
  app.get('/webhooks', (c) => ok(c, webhooks.list()))
  app.post('/webhooks', async (c) => {
    const body = await readObjectBody(c)
    const url = body.url
    if (typeof url !== 'string') throw new HttpProblem(422, url === undefined ? "Invalid: missing field 'url'" : "Invalid: field 'url' must be a string")
    if (url.length > webhookUrlCharsMax) throw new HttpProblem(422, `Invalid: field 'url' must have at most ${webhookUrlCharsMax} characters`)
    const events = body.events
    if (!Array.isArray(events) || events.length === 0 || !events.every((event) => typeof event === 'string')) {
      throw new HttpProblem(422, "Invalid: field 'events' must be a non-empty array of event types")
    }
    const unknown = events.find((event) => event !== '*' && !(jobEventTypes as readonly string[]).includes(event))
    if (unknown !== undefined) {
      throw new HttpProblem(422, `Invalid: field 'events' has unknown event type '${unknown}' (use ${jobEventTypes.join(', ')} or *)`)
    }
    // A form left blank sends '': no queue can be named '' (it would never fire), nor is '' a key.
    const queue = optionalString(body.queue, 'queue') || null
    const badQueue = queue === null ? null : validateQueueName(queue)
    if (badQueue !== null) throw new HttpProblem(422, `Invalid: field 'queue': ${badQueue}`)
    const secret = optionalString(body.secret, 'secret') || null
    if (secret !== null && secret.length > webhookSecretCharsMax) {
      throw new HttpProblem(422, `Invalid: field 'secret' must have at most ${webhookSecretCharsMax} characters`)
    }
    // Each type once: a list of 100 000 '*' was kept whole by each of the 1000 webhooks.
    const added = webhooks.add(url, [...new Set(events as string[])], queue, secret)
    return 'error' in added ? fail(c, added.error) : ok(c, added.id)
  })
  app.delete('/webhooks/:id', (c) => ok(c, webhooks.remove(c.req.param('id'))))
  // No auth (app.ts isPublicPath): the body is the job data, the answer the full Job.
  app.post('/webhooks/incoming/:queue', async (c) => {
    const data = await readJsonBody(c)
    return run(c, { cmd: '_PUSHJOB', queue: queueParam(c), data }, (reply) => reply.job)
  })
  return app
}

function optionalString(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string') throw new HttpProblem(422, `Invalid: field '${field}' must be a string`)
  return value
}
