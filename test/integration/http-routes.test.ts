/**
 * The flashQ REST routes (spec §5.2, http-clients.md) against a real server: every route group, the
 * shapes each flashQ client reads, and bad input per group (400 malformed JSON or id, 415, 422
 * naming the field, 413, unknown ids in the envelope).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { freshQueue, nameOnShard, shardArgs } from './commands-kit.ts'
import { HttpClient } from './http-kit.ts'

setDefaultTimeout(30_000)

let server: TestServer
let http: HttpClient
let sdk: HttpClient
/** What Node's fetch sends: the SDK under Node, or flashQ's MCP server. */
let node: HttpClient

beforeAll(async () => {
  server = await startServer({ args: shardArgs })
  http = new HttpClient(`http://127.0.0.1:${server.httpPort}`)
  sdk = new HttpClient(`http://127.0.0.1:${server.httpPort}`, undefined, 'Bun/1.4.5')
  node = new HttpClient(`http://127.0.0.1:${server.httpPort}`, undefined, 'node')
})
afterAll(() => server.cleanup())

type Job = Record<string, unknown> & { id: number }

const pushJob = (queue: string, body: Record<string, unknown> = { data: 1 }) => http.data<Job>('POST', `/queues/${queue}/jobs`, body)
const pullOne = async (queue: string) => (await http.data<Job[]>('GET', `/queues/${queue}/jobs?count=1&timeout=0`))[0]

describe('queues', () => {
  test('push answers the full job; pull, ack, counts', async () => {
    const queue = freshQueue('hq')
    const job = await pushJob(queue, { data: { to: 'a' }, priority: 3, tags: ['x'] })
    expect(Object.keys(job)).toHaveLength(31)
    expect(job).toMatchObject({ queue, data: { to: 'a' }, priority: 3, tags: ['x'], started_at: 0 })
    // `data` defaults to null over HTTP.
    expect((await pushJob(queue, {})).data).toBeNull()
    expect(await http.data('GET', `/queues/${queue}/count`)).toBe(2)
    const pulled = await pullOne(queue)
    expect(pulled?.id).toBe(job.id)
    expect(await http.data('GET', `/queues/${queue}/counts`)).toEqual({ waiting: 1, active: 1, delayed: 0, completed: 0, failed: 0 })
    expect(await http.data('POST', `/jobs/${job.id}/ack`, { result: { sent: true } })).toBeNull()
    expect(await http.data('GET', `/jobs/${job.id}/result`)).toEqual({ sent: true })
    // PULLB: count > 1 answers up to count jobs; an empty queue answers [] at once with timeout=0.
    expect(await http.data('GET', `/queues/${queue}/jobs?count=10&timeout=0`)).toHaveLength(1)
    expect(await http.data('GET', `/queues/${queue}/jobs?count=10&timeout=0`)).toEqual([])
  })

  test('SDK batch path answers the ids; an empty body is {} on bodiless routes', async () => {
    const queue = freshQueue('hb')
    const ids = await http.data<number[]>('POST', `/queues/${queue}/jobs/batch`, { jobs: [{ data: 1 }, { data: 2 }, {}] })
    expect(ids).toHaveLength(3)
    // flashQ's clients send Content-Type: application/json with no body on these.
    expect(await http.data('POST', `/queues/${queue}/pause`)).toBeNull()
    expect(await http.data('GET', `/queues/${queue}/paused`)).toBe(true)
    expect(await http.data('POST', `/queues/${queue}/resume`, '')).toBeNull()
    expect(await http.data('GET', `/queues/${queue}/paused`)).toBe(false)
    expect(await http.data('POST', `/queues/${queue}/drain`)).toBe(3)
    await pushJob(queue)
    expect(await http.data('DELETE', `/queues/${queue}/obliterate`)).toBe(1)
  })

  test('rate limit (both paths), concurrency, clean', async () => {
    const queue = freshQueue('hr')
    for (const path of ['rate-limit', 'ratelimit']) {
      expect(await http.data('POST', `/queues/${queue}/${path}`, { limit: 5 })).toBeNull()
      const info = (await http.data<Array<Record<string, unknown>>>('GET', '/queues')).find((item) => item.name === queue)
      expect(info?.rate_limit).toBe(5)
      expect(await http.data('DELETE', `/queues/${queue}/${path}`)).toBeNull()
    }
    expect(await http.data('POST', `/queues/${queue}/concurrency`, { limit: 2 })).toBeNull()
    const info = (await http.data<Array<Record<string, unknown>>>('GET', '/queues')).find((item) => item.name === queue)
    expect(info?.concurrency_limit).toBe(2)
    expect(await http.data('DELETE', `/queues/${queue}/concurrency`)).toBeNull()
    await pushJob(queue)
    expect(await http.data('POST', `/queues/${queue}/clean`, { grace: 0, state: 'waiting' })).toBe(1)
    // Extension: `ids: true` lists what it removed, custom ids by id.
    const plain = await pushJob(queue)
    const custom = await pushJob(queue, { data: 1, job_id: `order-${queue}` })
    expect(await http.data('POST', `/queues/${queue}/clean`, { grace: 0, state: 'waiting', ids: true })).toEqual({
      count: 2, ids: [plain.id, custom.id], custom_ids: { [custom.id]: `order-${queue}` }, more: false,
    })
    const bad = await http.raw('POST', `/queues/${queue}/clean`, { grace: 0, state: 'waiting', ids: 'yes' })
    expect([bad.status, await bad.text()]).toEqual([422, "Invalid: field 'ids' must be a boolean"])
    expect(await http.call('POST', `/queues/${queue}/clean`, { grace: 0, state: 'nope' })).toEqual({
      ok: false, error: 'Invalid state. Use: waiting, delayed, completed, failed',
    })
  })

  test('dead-letter queue: list, retry one (both paths), retry all, purge', async () => {
    const queue = freshQueue('hd')
    const failOnce = async () => {
      const job = await pushJob(queue, { data: 1, max_attempts: 1 })
      await pullOne(queue)
      await http.data('POST', `/jobs/${job.id}/fail`, { error: 'boom' })
      return job.id
    }
    const first = await failOnce()
    expect((await http.data<Job[]>('GET', `/queues/${queue}/dlq`)).map((job) => job.id)).toEqual([first])
    expect(await http.data('POST', `/queues/${queue}/dlq/retry`, { job_id: first })).toBe(1)
    await pullOne(queue)
    await http.data('POST', `/jobs/${first}/fail`, {})
    expect(await http.data('POST', `/queues/${queue}/dlq/${first}/retry`)).toBe(1)
    await pullOne(queue)
    await http.data('POST', `/jobs/${first}/fail`, {})
    await failOnce()
    expect(await http.data('POST', `/queues/${queue}/dlq/retry`)).toBe(2)
    await pullOne(queue)
    await pullOne(queue)
    expect(await http.data('GET', `/queues/${queue}/dlq?count=1`)).toEqual([])
  })

  test('flow answers parent and children ids; children route', async () => {
    const queue = freshQueue('hf')
    const other = freshQueue('hfc')
    const flow = await http.data<{ parent_id: number; children_ids: number[] }>('POST', `/queues/${queue}/flow`, {
      data: { p: 1 }, children: [{ queue: other, data: 1 }, { queue, data: 2 }],
    })
    expect(flow.children_ids).toHaveLength(2)
    const children = await http.data<{ children: number[]; completed: number; total: number }>('GET', `/jobs/${flow.parent_id}/children`)
    expect(children).toEqual({ children: flow.children_ids, completed: 0, total: 2 })
  })

  test('bad input: 400 malformed JSON, 415, 422 naming the field, 413, spec errors in the envelope', async () => {
    const queue = freshQueue('hx')
    const malformed = await http.raw('POST', `/queues/${queue}/jobs`, '{"data":1,')
    expect(malformed.status).toBe(400)
    expect(await malformed.text()).toContain('Malformed JSON')
    const notJson = await http.raw('POST', `/queues/${queue}/jobs`, '{}', { 'Content-Type': 'text/plain' })
    expect(notJson.status).toBe(415)
    const wrongType = await http.raw('POST', `/queues/${queue}/jobs`, { data: 1, priority: 'high' })
    expect(wrongType.status).toBe(422)
    expect(await wrongType.text()).toBe("Invalid: field 'priority' must be an integer")
    const notObject = await http.raw('POST', `/queues/${queue}/jobs`, [1, 2])
    expect(notObject.status).toBe(422)
    const badCount = await http.raw('GET', `/queues/${queue}/jobs?count=abc`)
    expect(badCount.status).toBe(422)
    expect(await badCount.text()).toContain("'count'")
    const badLimit = await http.raw('POST', `/queues/${queue}/concurrency`, { limit: -1 })
    expect(badLimit.status).toBe(422)
    expect(await badLimit.text()).toContain("'limit'")
    const huge = await http.raw('POST', `/queues/${queue}/jobs`, JSON.stringify({ data: 'x'.repeat(17 * 1024 * 1024) }))
    expect(huge.status).toBe(413)
    expect(await http.call('POST', '/queues/a%2Fb/jobs', { data: 1 })).toEqual({
      ok: false, error: 'Queue name must contain only alphanumeric characters, underscores, hyphens, or dots',
    })
    // No Content-Type at all is accepted when the body parses.
    const untyped = await fetch(`${http.base}/queues/${queue}/jobs`, { method: 'POST', body: '{"data":7}', headers: { 'Content-Type': '' } })
    expect(((await untyped.json()) as { data: Job }).data.data).toBe(7)
  })
})

describe('jobs', () => {
  test('GET /jobs: array for the reference and dashboard, {jobs,total} for the SDK', async () => {
    const queue = freshQueue('hj')
    const a = await pushJob(queue)
    const b = await pushJob(queue)
    const list = await http.data<Array<Record<string, unknown>>>('GET', `/jobs?queue=${queue}&state=waiting`)
    expect(list.map((item) => item.id)).toEqual([b.id, a.id])
    expect(list[0]).toMatchObject({ state: 'waiting', job: { id: b.id } })
    const page = await sdk.data<{ jobs: Array<{ job: Job; state: string }>; total: number }>('GET', `/jobs?queue=${queue}&limit=1`)
    expect(page.total).toBe(2)
    expect(page.jobs).toHaveLength(1)
    expect(page.jobs[0]?.job.id).toBe(b.id)
    // A plain fetch from Bun (no JSON Content-Type on a GET) gets the reference array.
    const plain = await fetch(`${http.base}/jobs?queue=${queue}`)
    expect(Array.isArray(((await plain.json()) as { data: unknown }).data)).toBe(true)
    // Node's fetch: the SDK run under Node reads {jobs,total}; the MCP server (Node too) scans
    // `?limit=1000`, exactly that query, as an array.
    const nodePage = await node.data<{ jobs: Array<{ job: Job; state: string }>; total: number }>('GET', `/jobs?queue=${queue}&limit=1`)
    expect(nodePage.total).toBe(2)
    expect(nodePage.jobs[0]?.job.id).toBe(b.id)
    const scanned = await node.data<Array<{ id: number; custom_id: string | null }>>('GET', '/jobs?limit=1000')
    expect(Array.isArray(scanned)).toBe(true)
    expect(scanned.some((job) => job.id === b.id)).toBe(true)
  })

  test('GET /jobs/{id}: flattened fields, job, state, result; unknown ids', async () => {
    const queue = freshQueue('hg')
    const job = await pushJob(queue, { data: { n: 1 }, job_id: `custom-${queue}` })
    const view = await http.data<Record<string, unknown>>('GET', `/jobs/${job.id}`)
    expect(view).toMatchObject({ id: job.id, queue, data: { n: 1 }, state: 'waiting', result: null, job: { id: job.id } })
    expect(await http.data('GET', `/jobs/custom/custom-${queue}`)).toMatchObject({ id: job.id, state: 'waiting' })
    expect(await http.data('GET', '/jobs/999999999')).toEqual({ job: null, state: 'unknown', result: null })
    const badId = await http.raw('GET', '/jobs/abc')
    expect(badId.status).toBe(400)
    const unknownAck = await http.raw('POST', '/jobs/999999999/ack', {})
    expect(unknownAck.headers.get('x-error-kind')).toBe('notFound')
    expect(await unknownAck.json()).toEqual({ ok: false, error: 'Job 999999999 not found' })
  })

  test('GET /jobs/{id} of a job in the DLQ says why it failed (failed_reason; TCP GETJOB too)', async () => {
    const queue = freshQueue('hf')
    const job = await pushJob(queue, { data: 1, max_attempts: 1 })
    expect((await pullOne(queue))?.id).toBe(job.id)
    await http.data('POST', `/jobs/${job.id}/fail`, { error: 'boom: disk on fire' })
    expect(await http.data('GET', `/jobs/${job.id}`)).toMatchObject({ id: job.id, state: 'failed', failed_reason: 'boom: disk on fire' })
    const tcp = await WireClient.connect(server.tcpPort)
    expect(await tcp.request({ cmd: 'GETJOB', id: job.id })).toMatchObject({ ok: true, state: 'failed', failed_reason: 'boom: disk on fire' })
    tcp.close()
    // A job that never failed has none.
    const fresh = await pushJob(queue)
    expect((await http.data<Record<string, unknown>>('GET', `/jobs/${fresh.id}`)).failed_reason).toBeNull()
  })

  test('state and progress in the reference, dashboard and SDK shapes', async () => {
    const queue = freshQueue('hp')
    const job = await pushJob(queue)
    expect(await http.data('GET', `/jobs/${job.id}/state`)).toBe('waiting')
    expect(await sdk.data('GET', `/jobs/${job.id}/state`)).toEqual({ id: job.id, state: 'waiting' })
    await pullOne(queue)
    expect(await http.data('POST', `/jobs/${job.id}/progress`, { progress: 40, message: 'copying' })).toBeNull()
    expect(await http.data('GET', `/jobs/${job.id}/progress`)).toEqual([40, 'copying'])
    expect(await http.data('GET', `/jobs/${job.id}/progress?shape=dashboard`)).toEqual({ progress: 40, message: 'copying' })
    expect(await sdk.data('GET', `/jobs/${job.id}/progress`)).toEqual({ progress: { id: job.id, progress: 40, message: 'copying' } })
    // Node's fetch (the SDK under Node, or the MCP server, which passes these on as text) gets the SDK's shape here.
    expect(await node.data('GET', `/jobs/${job.id}/state`)).toEqual({ id: job.id, state: 'active' })
    expect(await node.data('GET', `/jobs/${job.id}/progress`)).toEqual({ progress: { id: job.id, progress: 40, message: 'copying' } })
    const badProgress = await http.raw('POST', `/jobs/${job.id}/progress`, { progress: 'half' })
    expect(badProgress.status).toBe(422)
    expect(await badProgress.text()).toContain("'progress'")
  })

  test('logs, heartbeat, partial, priority, update (POST and PATCH), delay (both paths), promote, discard, cancel', async () => {
    const queue = freshQueue('hm')
    const job = await pushJob(queue)
    expect(await http.data('POST', `/jobs/${job.id}/priority`, { priority: 9 })).toBeNull()
    expect(await http.data('POST', `/jobs/${job.id}/update`, { data: { v: 2 } })).toBeNull()
    expect(await http.data('PATCH', `/jobs/${job.id}`, { data: { v: 3 } })).toBeNull()
    expect((await pullOne(queue))?.data).toEqual({ v: 3 })
    expect(await http.data('POST', `/jobs/${job.id}/logs`, { message: 'hello', level: 'warn' })).toBeNull()
    expect(await http.data('GET', `/jobs/${job.id}/logs`)).toMatchObject([{ message: 'hello', level: 'warn' }])
    expect(await http.data('POST', `/jobs/${job.id}/heartbeat`)).toBeNull()
    expect(await http.data('POST', `/jobs/${job.id}/partial`, { data: { chunk: 1 } })).toBeNull()
    expect(await http.data('POST', `/jobs/${job.id}/move-to-delayed`, { delay: 60_000 })).toBeNull()
    expect(await http.data('GET', `/jobs/${job.id}/state`)).toBe('delayed')
    expect(await http.data('POST', `/jobs/${job.id}/promote`)).toBeNull()
    await pullOne(queue)
    expect(await http.data('POST', `/jobs/${job.id}/delay`, { delay: 60_000 })).toBeNull()
    expect(await http.data('POST', `/jobs/${job.id}/discard`)).toBeNull()
    expect(await http.data('GET', `/jobs/${job.id}/state`)).toBe('failed')
    const other = await pushJob(queue)
    expect(await http.data('POST', `/jobs/${other.id}/cancel`)).toBeNull()
    expect(await http.data('GET', `/jobs/${other.id}/state`)).toBe('unknown')
  })

  test('ack-batch (both paths) and wait', async () => {
    const queue = freshQueue('ha')
    const ids = await http.data<number[]>('POST', `/queues/${queue}/jobs/batch`, { jobs: [{}, {}, {}] })
    await http.data('GET', `/queues/${queue}/jobs?count=3&timeout=0`)
    expect(await http.data('POST', '/jobs/ack-batch', { ids: ids.slice(0, 2) })).toBe(2)
    expect(await http.data('POST', '/jobs/ack/batch', { ids: ids.slice(2) })).toBe(1)
    expect(await http.data('GET', `/jobs/${ids[0]}/wait?timeout=1000`)).toBeNull()
    const waiting = await pushJob(queue)
    const result = http.data('GET', `/jobs/${waiting.id}/wait?timeout=10000`)
    await pullOne(queue)
    await http.data('POST', `/jobs/${waiting.id}/ack`, { result: 'done' })
    expect(await result).toBe('done')
  })

  test('a pull whose client went away returns its job to waiting', async () => {
    const queue = freshQueue('hgone')
    const controller = new AbortController()
    const abandoned = fetch(`${http.base}/queues/${queue}/jobs?timeout=20000`, { headers: http.headers(), signal: controller.signal })
      .catch(() => null)
    await Bun.sleep(200) // the pull is waiting at the shard
    controller.abort()
    await abandoned
    await Bun.sleep(200) // the cancel reached the shard
    const job = await pushJob(queue)
    await Bun.sleep(200)
    expect(await http.data('GET', `/jobs/${job.id}/state`)).toBe('waiting')
    expect((await pullOne(queue))?.id).toBe(job.id)
  })
})

describe('cron, stats, metrics, workers', () => {
  test('cron: POST and PUT create, GET lists with the dashboard fields, DELETE answers whether it existed', async () => {
    const queue = freshQueue('hc')
    const name = nameOnShard('cron', 1)
    expect(await http.data('POST', `/crons/${name}`, { queue, data: { a: 1 }, schedule: '0 0 1 1 *' })).toBeNull()
    expect(await http.data('PUT', `/crons/${name}-2`, { queue, repeat_every: 60_000 })).toBeNull()
    const crons = await http.data<Array<Record<string, unknown>>>('GET', '/crons')
    expect(crons.find((cron) => cron.name === name)).toMatchObject({ queue, schedule: '0 0 1 1 *', enabled: true })
    expect(crons.find((cron) => cron.name === `${name}-2`)).toMatchObject({ data: null, repeat_every: 60_000 })
    expect(await http.data('DELETE', `/crons/${name}`)).toBe(true)
    expect(await http.data('DELETE', `/crons/${name}`)).toBe(false)
    expect(await http.data('DELETE', `/crons/${name}-2`)).toBe(true)
    expect(await http.call('POST', `/crons/${name}`, { queue })).toEqual({ ok: false, error: "Must provide either 'schedule' or 'repeat_every'" })
    expect((await http.call('POST', `/crons/${name}`, { queue, schedule: 'nope' })).error).toContain("Invalid cron expression 'nope'")
  })

  test('stats; metrics JSON by negotiation with the nested copy the SDK reads; history', async () => {
    const stats = await http.data<Record<string, number>>('GET', '/stats')
    expect(Object.keys(stats).sort()).toEqual(['completed', 'delayed', 'dlq', 'processing', 'queued'])
    const json = await http.data<Record<string, unknown>>('GET', '/metrics') // Content-Type: application/json
    expect(json).toMatchObject({ total_pushed: expect.any(Number), metrics: { total_pushed: expect.any(Number) } })
    expect(Array.isArray(await http.data('GET', '/metrics/history'))).toBe(true)
  })

  test('workers: a heartbeat lists the worker; a wrong shape is 422', async () => {
    expect(await http.data('POST', '/workers/w-1/heartbeat', { queues: ['a'], concurrency: 4, jobs_processed: 9 })).toBeNull()
    const workers = await http.data<Array<Record<string, unknown>>>('GET', '/workers')
    expect(workers.find((worker) => worker.id === 'w-1')).toMatchObject({ queues: ['a'], concurrency: 4, jobs_processed: 9 })
    expect((await http.raw('POST', '/workers/w-1/heartbeat', { queues: 'a' })).status).toBe(422)
  })
})

describe('settings, server admin, system', () => {
  test('settings report what the dashboard reads; queue defaults fill later pushes', async () => {
    const settings = await http.data<Record<string, any>>('GET', '/settings')
    expect(settings).toMatchObject({ auth_enabled: false, auth_token_count: 0, tcp_port: server.tcpPort, http_port: server.httpPort, sqlite: { enabled: false } })
    expect(settings.storage).toMatchObject({ enabled: true, sync: 'always' })
    const queue = freshQueue('hdef')
    expect(await http.data('POST', '/settings/queue-defaults', { queue, default_timeout: 7000 })).toBeNull()
    expect((await pushJob(queue)).timeout).toBe(7000)
    expect(await http.data('POST', '/settings/queue-defaults', { default_max_attempts: 4 })).toBeNull()
    expect((await pushJob(freshQueue('hdef'))).max_attempts).toBe(4)
    expect((await pushJob(queue, { data: 1, max_attempts: 1 })).max_attempts).toBe(1)
    expect(await http.data('POST', '/settings/queue-defaults', {})).toBeNull()
    expect((await pushJob(freshQueue('hdef'))).max_attempts).toBe(0)
    expect((await http.raw('POST', '/settings/queue-defaults', { default_ttl: 'soon' })).status).toBe(422)
  })

  test('clear-dlq, clear-queues, clear-completed, reset-metrics answer counts', async () => {
    const queue = freshQueue('hclr')
    const done = await pushJob(queue)
    await pullOne(queue)
    await http.data('POST', `/jobs/${done.id}/ack`, {})
    await pushJob(queue)
    expect(await http.data<number>('POST', '/server/clear-queues')).toBeGreaterThanOrEqual(1)
    expect(await http.data('GET', `/queues/${queue}/count`)).toBe(0)
    expect(await http.data<number>('POST', '/server/clear-completed')).toBeGreaterThanOrEqual(1)
    expect(await http.data<number>('POST', '/server/clear-dlq')).toBeGreaterThanOrEqual(0)
    expect(await http.data('POST', '/server/reset-metrics')).toBeNull()
    const metrics = await http.data<Record<string, number>>('GET', '/metrics?format=json')
    expect(metrics.total_pushed).toBe(0)
  })

  test('system metrics, debug memory, health and healthz', async () => {
    expect(await http.data('GET', '/system/metrics')).toMatchObject({
      memory_used_mb: expect.any(Number), cpu_percent: expect.any(Number), tcp_connections: expect.any(Number), process_id: expect.any(Number),
    })
    const memory = (await (await http.raw('GET', '/debug/memory')).json()) as Record<string, unknown>
    expect(memory.rss).toEqual(expect.any(Number))
    expect(await (await http.raw('GET', '/health')).json()).toMatchObject({ ok: true, data: { status: 'healthy', sqlite_enabled: true } })
    expect(await (await http.raw('GET', '/healthz')).json()).toMatchObject({ version: expect.any(String), durable: true })
  })
})

describe('POST /api/command, docs', () => {
  test('any TCP command as JSON, answered with the TCP reply and the reqId', async () => {
    const queue = freshQueue('hapi')
    const pushed = (await (await http.raw('POST', '/api/command', { cmd: 'PUSH', queue, data: 1, reqId: 'r1' })).json()) as Record<string, unknown>
    expect(pushed).toEqual({ reqId: 'r1', ok: true, id: expect.any(Number) })
    const pulled = (await (await http.raw('POST', '/api/command', { cmd: 'PULL', queue, timeout: 0 })).json()) as Record<string, any>
    expect(pulled.job.id).toBe(pushed.id)
    expect(await (await http.raw('POST', '/api/command', { cmd: 'PING' })).json()).toEqual({ ok: true, pong: true })
    // Internal commands are not a client's to send.
    expect(await (await http.raw('POST', '/api/command', { cmd: '_PUSHJOB', queue, reqId: 'r2' })).json()).toEqual({
      reqId: 'r2', ok: false, error: "Invalid: unknown command '_PUSHJOB'",
    })
    expect(await (await http.raw('POST', '/api/command', { cmd: 'PUSH', queue })).json()).toEqual({ ok: false, error: "Invalid: missing field 'data'" })
  })

  test('/openapi.json comes from the schemas; /docs is a page', async () => {
    const spec = (await (await http.raw('GET', '/openapi.json')).json()) as { paths: Record<string, Record<string, any>> }
    const push = spec.paths['/queues/{queue}/jobs']?.post
    expect(push?.requestBody.content['application/json'].schema.properties.priority).toMatchObject({ anyOf: [{ type: 'integer' }, { type: 'null' }] })
    expect(push?.requestBody.content['application/json'].schema.properties.queue).toBeUndefined()
    expect(Object.keys(spec.paths).length).toBeGreaterThan(60)
    const docs = await http.raw('GET', '/docs')
    expect(docs.headers.get('content-type')).toContain('text/html')
    expect(await docs.text()).toContain('/queues/{queue}/jobs')
  })
})

describe('TCP compatibility gaps (flashQ Python and Go clients)', () => {
  test('CRON without data is data: null; PUSH takes jobId, keepCompletedAge, keepCompletedCount', async () => {
    const client = await WireClient.connect(server.tcpPort)
    try {
      const queue = freshQueue('tcp')
      expect(await client.request({ cmd: 'CRON', name: `${queue}-c`, queue, repeat_every: 60_000 })).toMatchObject({ ok: true })
      const crons = (await client.request({ cmd: 'CRONLIST' })).crons as Array<Record<string, unknown>>
      expect(crons.find((cron) => cron.name === `${queue}-c`)).toMatchObject({ data: null })
      const pushed = await client.request({ cmd: 'PUSH', queue, data: 1, jobId: 'go-1', keepCompletedAge: 5, keepCompletedCount: 6 })
      const job = (await client.request({ cmd: 'GETJOB', id: pushed.id })).job
      expect(job).toMatchObject({ custom_id: 'go-1', keep_completed_age: 5, keep_completed_count: 6 })
      // The alias is idempotent like job_id, and snake_case wins when both are given.
      expect((await client.request({ cmd: 'PUSH', queue, data: 2, jobId: 'go-1' })).id).toBe(pushed.id)
      const both = await client.request({ cmd: 'PUSH', queue, data: 3, job_id: 'snake', jobId: 'camel' })
      expect((await client.request({ cmd: 'GETJOB', id: both.id })).job.custom_id).toBe('snake')
      await client.request({ cmd: 'CRONDELETE', name: `${queue}-c` })
    } finally {
      client.close()
    }
  })

  test('an unknown command is answered by the front, not by a default shard', async () => {
    const client = await WireClient.connect(server.tcpPort)
    try {
      expect(await client.request({ cmd: 'NOPE' })).toMatchObject({ ok: false, error: "Invalid: unknown command 'NOPE'" })
      expect(await client.request({ cmd: '_PUSHJOB', queue: 'q' })).toMatchObject({ ok: false, error: "Invalid: unknown command '_PUSHJOB'" })
      expect(await client.request({ cmd: '_SETTOKENS', tokens: ['x'] })).toMatchObject({ ok: false })
      expect(await client.request({ cmd: 'PING' })).toMatchObject({ ok: true, pong: true }) // auth still off
    } finally {
      client.close()
    }
  })
})


