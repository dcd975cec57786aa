/**
 * Cron, stats and metrics, workers, settings, server admin, system, health and `POST /api/command`
 * (spec §5.2, §5.3; http-clients.md §2, §6). Routes that act on every queue (the server admin ones)
 * list the queues and send the per-queue command to each.
 */
import { type Context, Hono } from 'hono'
import { authTokensMax, httpBlockingTimeoutMsMax, workerIdCharsMax, workerQueuesMax } from '../../base/limits.ts'
import { parseCommand, validateQueueName } from '../../protocol/commands.ts'
import { errorKindOf, specOf } from '../../protocol/table.ts'
import { withRequestId } from '../connection.ts'
import { bodyBytesInFlight } from './body.ts'
import { callCommand, type Reply } from './call.ts'
import { cronView, storageStats, systemMetrics } from './dashboard.ts'
import type { HttpDeps } from './deps.ts'
import { HttpProblem, envelope, fail, ok, readObjectBody } from './envelope.ts'
import { flashqFamilies, metricsWantJson, prometheusContentType } from './prometheus.ts'
import { ask, makeRunner } from './run.ts'

const cronDisabledRefused = "Cron jobs cannot be created with enabled: false (every cron runs; delete it to stop it)"

export function adminRoutes(deps: HttpDeps): Hono {
  const app = new Hono()
  const run = makeRunner(deps)

  // Cron (reference POST, SDK PUT).
  app.get('/crons', (c) => run(c, { cmd: 'CRONLIST' }, (reply) => (reply.crons as Array<Record<string, unknown>>).map(cronView)))
  const putCron = async (c: Context) => {
    const body = await readObjectBody(c)
    // The dashboard's form sends `enabled`; crons here always run, so a disabled one is refused
    // rather than created running (the listing shows every cron `enabled: true`).
    const { enabled, ...cron } = body
    if (enabled !== undefined && enabled !== null && typeof enabled !== 'boolean') throw new HttpProblem(422, "Invalid: field 'enabled' must be a boolean")
    if (enabled === false) return fail(c, cronDisabledRefused)
    return run(c, { ...cron, cmd: 'CRON', name: c.req.param('name') })
  }
  app.post('/crons/:name', putCron)
  app.put('/crons/:name', putCron)
  app.delete('/crons/:name', async (c) => {
    const reply = await ask(deps, c, { cmd: 'CRONDELETE', name: c.req.param('name') })
    return ok(c, reply.ok) // bool: false when there was no such cron
  })

  // Stats and metrics.
  app.get('/stats', (c) => run(c, { cmd: 'STATS' }, ({ queued, processing, delayed, dlq, completed }) => ({ queued, processing, delayed, dlq, completed })))
  app.get('/metrics', async (c) => {
    c.header('Vary', 'Accept')
    if (metricsWantJson(c.req.query('format'), c.req.header('accept'), c.req.header('content-type'))) {
      const reply = await ask(deps, c, { cmd: 'METRICS' })
      // The SDK spreads `data` and reads `.metrics`: a nested copy keeps every reader working.
      return reply.ok ? ok(c, { ...(reply.metrics as object), metrics: reply.metrics }) : fail(c, reply.error ?? 'Unknown error')
    }
    return prometheusText(c, deps)
  })
  app.get('/metrics/prometheus', (c) => prometheusText(c, deps))
  app.get('/metrics/history', (c) => ok(c, deps.history.list()))

  // Workers (in-memory heartbeats, as the reference keeps them).
  app.get('/workers', (c) => ok(c, deps.workers.active(Date.now())))
  app.post('/workers/:id/heartbeat', async (c) => {
    const id = c.req.param('id')
    if (id.length > workerIdCharsMax) throw new HttpProblem(422, `Invalid: worker id must have at most ${workerIdCharsMax} characters`)
    const body = await readObjectBody(c)
    const queues = body.queues ?? []
    if (!Array.isArray(queues) || !queues.every((queue) => typeof queue === 'string')) {
      throw new HttpProblem(422, "Invalid: field 'queues' must be an array of strings")
    }
    // Kept for every worker heard from (workersTrackedMax): bounded like the queues they name.
    if (queues.length > workerQueuesMax) throw new HttpProblem(422, `Invalid: field 'queues' must have at most ${workerQueuesMax} items`)
    const badName = queues.find((queue: string) => validateQueueName(queue) !== null)
    if (badName !== undefined) throw new HttpProblem(422, `Invalid: field 'queues': ${validateQueueName(badName)}`)
    deps.workers.heartbeat({
      id,
      queues,
      concurrency: nonNegative(body.concurrency, 'concurrency') ?? 1,
      jobs_processed: nonNegative(body.jobs_processed, 'jobs_processed') ?? 0,
      last_heartbeat: Date.now(),
    })
    return ok(c, null)
  })

  // Settings.
  app.get('/settings', async (c) => {
    // The retention settings live in the shards; _SETCLEANUP without fields only reads them.
    const cleanup = await ask(deps, c, { cmd: '_SETCLEANUP' })
    return ok(c, { ...settingsView(deps), cleanup: cleanup.ok ? cleanupView(cleanup) : null })
  })
  app.post('/settings/auth', async (c) => {
    const body = await readObjectBody(c)
    const tokens = typeof body.tokens === 'string' ? body.tokens.split(',').map((token) => token.trim()).filter((token) => token !== '')
      : Array.isArray(body.tokens) ? body.tokens : undefined
    if (tokens === undefined) throw new HttpProblem(422, "Invalid: field 'tokens' must be a comma-separated string")
    // Every authenticated request compares against each token.
    if (tokens.length > authTokensMax) throw new HttpProblem(422, `Invalid: field 'tokens' must have at most ${authTokensMax} items`)
    return run(c, { cmd: '_SETTOKENS', tokens }, (reply) => ({ auth_enabled: (reply.count as number) > 0, auth_token_count: reply.count }))
  })
  app.post('/settings/queue-defaults', async (c) => {
    const body = await readObjectBody(c)
    const defaults = {
      timeout: nonNegative(body.default_timeout, 'default_timeout'),
      max_attempts: nonNegative(body.default_max_attempts, 'default_max_attempts'),
      backoff: nonNegative(body.default_backoff, 'default_backoff'),
      ttl: nonNegative(body.default_ttl, 'default_ttl'),
    }
    if (typeof body.queue === 'string') return run(c, { cmd: '_QUEUEDEFAULTS', queue: body.queue, ...defaults })
    const kept = Object.fromEntries(Object.entries(defaults).filter(([, value]) => value !== undefined))
    deps.front.pushDefaults = Object.keys(kept).length === 0 ? null : kept
    return ok(c, null)
  })
  app.post('/settings/cleanup', async (c) => {
    const body = await readObjectBody(c)
    const settings = Object.fromEntries(cleanupFields.filter((field) => body[field] !== undefined && body[field] !== null)
      .map((field) => [field, body[field]]))
    // The shards check the ranges (engine/retention.ts); an out-of-range field is a 422 naming it.
    const reply = await ask(deps, c, { cmd: '_SETCLEANUP', ...settings })
    if (!reply.ok && errorKindOf(reply.error ?? '') === 'invalid') throw new HttpProblem(422, reply.error as string)
    return envelope(c, reply, cleanupView)
  })
  app.post('/settings/cleanup/run', (c) => run(c, { cmd: '_RUNCLEANUP' }, (reply) => ({ removed: reply.count })))

  // Server admin.
  app.post('/server/shutdown', (c) => stopLater(c, deps, 0))
  app.post('/server/restart', (c) => stopLater(c, deps, 100))
  app.post('/server/clear-queues', (c) => everyQueue(c, deps, (queue) => ({ cmd: 'DRAIN', queue })))
  app.post('/server/clear-dlq', (c) => everyQueue(c, deps, (queue) => ({ cmd: 'PURGEDLQ', queue })))
  app.post('/server/clear-completed', (c) => everyQueue(c, deps, (queue) => ({ cmd: 'CLEAN', queue, grace: 0, state: 'completed' })))
  app.post('/server/reset-metrics', async (c) => {
    deps.history.clear()
    return run(c, { cmd: '_RESETMETRICS' })
  })
  app.post('/server/reset', async (c) => {
    const removed = await forEveryQueue(c, deps, (queue) => ({ cmd: 'OBLITERATE', queue }))
    const completed = await forEveryQueue(c, deps, (queue) => ({ cmd: 'CLEAN', queue, grace: 0, state: 'completed' }))
    deps.history.clear()
    await ask(deps, c, { cmd: '_RESETMETRICS' })
    return typeof removed === 'string' ? fail(c, removed) : ok(c, removed + (typeof completed === 'number' ? completed : 0))
  })

  // System, health, debug.
  app.get('/system/metrics', (c) => ok(c, systemMetrics(deps)))
  app.get('/health', (c) => {
    const facts = deps.health()
    const healthy = facts.status === 'ok'
    // uptime_seconds: the dashboard's health type reads it (http-clients.md §2); uptime_ms is the spec's.
    const data = { ...facts, status: healthy ? 'healthy' : 'degraded', uptime_seconds: Math.floor(Number(facts.uptime_ms) / 1000), sqlite_enabled: !deps.config.memory, persistence: !deps.config.memory }
    return c.json({ ok: true, data }, healthy ? 200 : 503)
  })
  app.get('/debug/memory', (c) => {
    const memory = process.memoryUsage()
    return c.json({ ...memory, event_subscribers: deps.hub.subscriberCount, event_buffered_bytes: deps.hub.buffers.bytes, http_body_bytes_in_flight: bodyBytesInFlight(), workers_tracked: deps.workers.active(Date.now()).length })
  })

  // flashQ's Python client in HTTP mode posts TCP commands here and reads the TCP reply.
  app.post('/api/command', async (c) => {
    const body = await readObjectBody(c)
    const reqId = typeof body.reqId === 'string' ? body.reqId : undefined
    const tcpReply = (reply: object) => c.body(withRequestId(reqId, JSON.stringify(reply)), 200, { 'Content-Type': 'application/json' })
    const parsed = parseCommand(body) // a client's request: internal commands are unknown here
    if (!parsed.ok) return tcpReply({ ok: false, error: parsed.error })
    const request = { ...body }
    delete request.reqId
    let blockingMs: number | undefined
    if (specOf(request.cmd)?.blocking === true) {
      const asked = 'timeout' in parsed.command ? (parsed.command.timeout as number) : httpBlockingTimeoutMsMax
      blockingMs = Math.min(asked, httpBlockingTimeoutMsMax)
      request.timeout = blockingMs
    }
    return tcpReply(await callCommand(deps.front, deps.pool, request, { signal: c.req.raw.signal, blockingMs }))
  })
  return app
}

const cleanupFields = ['max_completed_jobs', 'max_job_results', 'cleanup_interval_secs', 'metrics_history_size']

const cleanupView = (reply: Reply) => Object.fromEntries(cleanupFields.map((field) => [field, reply[field]]))

function nonNegative(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new HttpProblem(422, `Invalid: field '${field}' must be a non-negative integer`)
  }
  return value
}

async function prometheusText(c: Context, deps: HttpDeps): Promise<Response> {
  const [stats, metrics] = await Promise.all([ask(deps, c, { cmd: 'STATS' }), ask(deps, c, { cmd: 'METRICS' })])
  const texts = await Promise.all(deps.metricsProviders.map((provider) => provider()))
  const leading = texts.filter((_text, index) => deps.metricsProviders[index]?.leading === true)
  const trailing = texts.filter((_text, index) => deps.metricsProviders[index]?.leading !== true)
  const text = leading.join('') + flashqFamilies(stats, metrics, deps.workers.active(Date.now()).length) + trailing.join('')
  return c.body(text, 200, { 'Content-Type': prometheusContentType })
}

function settingsView(deps: HttpDeps): Record<string, unknown> {
  const tokens = deps.front.tokenCount
  return {
    version: deps.version,
    tcp_port: deps.tcpPort(),
    http_port: deps.httpPort(),
    storage: storageStats(deps),
    // The dashboard reads these two; our store is neither (spec §5.7), and `enabled: true` would make
    // it call the /sqlite/* routes we do not serve.
    sqlite: { enabled: false, path: null, synchronous: null },
    s3_backup: { enabled: false, endpoint: null, bucket: null, region: null, interval_secs: null, keep_count: null, compress: false },
    auth_enabled: tokens > 0,
    auth_token_count: tokens,
    queue_defaults: deps.front.pushDefaults,
    uptime_seconds: Math.floor((Date.now() - deps.startedAtMs) / 1000),
  }
}

function stopLater(c: Context, deps: HttpDeps, exitCode: number): Response {
  // After the response is written: the caller learns that the stop began.
  setTimeout(() => deps.requestStop(exitCode), 50)
  return ok(c, null)
}

/** Sends one command per queue (from LISTQUEUES) and sums the counts; an error text if any failed. */
async function forEveryQueue(c: Context, deps: HttpDeps, build: (queue: string) => Record<string, unknown>): Promise<number | string> {
  const listed = await ask(deps, c, { cmd: 'LISTQUEUES' })
  if (!listed.ok) return listed.error ?? 'Unknown error'
  const names = (listed.queues as Array<{ name: string }>).map((queue) => queue.name)
  const replies: Reply[] = await Promise.all(names.map((queue) => ask(deps, c, build(queue))))
  const failed = replies.find((reply) => !reply.ok)
  if (failed !== undefined) return failed.error ?? 'Unknown error'
  return replies.reduce((total, reply) => total + (Number(reply.count) || 0), 0)
}

async function everyQueue(c: Context, deps: HttpDeps, build: (queue: string) => Record<string, unknown>): Promise<Response> {
  const result = await forEveryQueue(c, deps, build)
  return typeof result === 'string' ? fail(c, result) : ok(c, result)
}
