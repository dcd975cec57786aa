/**
 * A black-box audit against the three contracts (flashq-protocol.md, http-clients.md, queued-api.md):
 * requests exactly as flashQ's real clients (SDK, dashboard, MCP), queued clients and curl send them,
 * for the cases the area tests do not reach: HTTP bodies nested past the limit, the HTTP-only error
 * texts and fields, blank form values, and slow or half-sent requests on both ports. One server.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { connect, type Socket } from 'node:net'
import { dashboardIntervalMs, requestNestingDepthMax } from '../../src/base/limits.ts'
import { startServer, type TestServer } from '../harness/server.ts'
import { queueNamer, startAuditServer } from './audit-server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { nameOnShard, shardArgs } from '../integration/commands-kit.ts'
import type { HttpClient } from '../integration/http-kit.ts'

setDefaultTimeout(30_000)

let server: TestServer
let http: HttpClient
let base: string
const freshQueue = queueNamer()

beforeAll(async () => void ({ server, http, base } = await startAuditServer([...shardArgs])))
afterAll(() => server.cleanup())

/** `{"a":{"a":…1…}}`, `levels` objects deep, as text (JSON.stringify of it would overflow first). */
const nestedObjects = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels)

const post = (path: string, body: string) => fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })

/** The server still answers on both ports: an HTTP push and a TCP round trip. */
async function expectServing(): Promise<void> {
  const queue = freshQueue('alive')
  const job = await http.data<{ id: number }>('POST', `/queues/${queue}/jobs`, { data: { alive: true } })
  const client = await WireClient.connect(server.tcpPort)
  const pulled = await client.request({ cmd: 'PULL', queue, timeout: 1000 })
  expect(pulled.job?.id).toBe(job.id)
  client.close()
}

describe('HTTP bodies nested past the limit (as on TCP, spec §1.5 / limits.ts)', () => {
  test('a job body nested one level past the limit is a 422 naming the nesting, on the fast path and under the router', async () => {
    // The body object is level 1 and `data` level 2, as a TCP request map and its `data`.
    const over = `{"data":${nestedObjects(requestNestingDepthMax)}}`
    for (const path of [`/queues/${freshQueue('deep')}/jobs`, `/queues/${encodeURIComponent('dé')}/jobs`]) {
      const response = await post(path, over)
      expect(response.status).toBe(422)
      expect(await response.text()).toBe(`Invalid: nesting deeper than ${requestNestingDepthMax} levels`)
    }
    const atLimit = await post(`/queues/${freshQueue('deep')}/jobs`, `{"data":${nestedObjects(requestNestingDepthMax - 1)}}`)
    expect(atLimit.status).toBe(200)
  })

  test('100,000 levels answer 422, not a 500 from a stack overflow; the server keeps serving', async () => {
    for (const path of [`/queues/${freshQueue('deep')}/jobs`, '/jobs/1/update', '/crons/deep']) {
      const response = await post(path, `{"data":${nestedObjects(100_000)},"queue":"q","schedule":"* * * * *"}`)
      expect(response.status).toBe(422)
      expect(await response.text()).toContain('nesting deeper than')
    }
    await expectServing()
  })
})

describe('HTTP-only texts and fields the clients read (http-clients.md, spec §5.2)', () => {
  test('GET /jobs/{id}/children of a job that is no parent: the route\'s own error text', async () => {
    const job = await http.data<{ id: number }>('POST', `/queues/${freshQueue('kids')}/jobs`, { data: 1 })
    for (const id of [job.id, 987_654_321]) {
      const envelope = await http.call('GET', `/jobs/${id}/children`)
      expect(envelope).toEqual({ ok: false, error: 'Parent job not found or has no children' })
    }
    // A parent still answers its children.
    const flow = await http.data<{ parent_id: number; children_ids: number[] }>('POST', `/queues/${freshQueue('kids')}/flow`, { data: {}, children: [{ queue: freshQueue('kid'), data: 1 }] })
    expect(await http.data('GET', `/jobs/${flow.parent_id}/children`)).toEqual({ children: flow.children_ids, completed: 0, total: 1 })
  })

  test('GET /health carries uptime_seconds (the dashboard\'s type) next to uptime_ms', async () => {
    const health = (await (await fetch(`${base}/health`)).json()) as { ok: boolean; data: Record<string, unknown> }
    expect(health.ok).toBe(true)
    const { status, uptime_ms, uptime_seconds } = health.data
    expect(status).toBe('healthy')
    expect(typeof uptime_ms).toBe('number')
    expect(uptime_seconds).toBe(Math.floor((uptime_ms as number) / 1000))
  })

  test('POST /webhooks from a form left blank (queue "", secret ""): all queues, unsigned', async () => {
    const id = await http.data<string>('POST', '/webhooks', { url: 'https://example.com/audit-hook', events: ['completed'], queue: '', secret: '' })
    const listed = (await http.data<Array<Record<string, unknown>>>('GET', '/webhooks')).find((webhook) => webhook.id === id)
    expect(listed).toMatchObject({ url: 'https://example.com/audit-hook', queue: null, secret: null })
    expect(await http.data('DELETE', `/webhooks/${id}`)).toBe(true)
  })
})

describe('GET /jobs across shards (spec §5.2: newest created_at first)', () => {
  test('a new job on a shard with lower ids still heads the page; TCP GETJOBS keeps id order', async () => {
    // Ids count per shard: after 40 pushes on shard 1, its ids run far above shard 0's.
    const busy = nameOnShard('busy', 1)
    const quiet = nameOnShard('quiet', 0)
    const client = await WireClient.connect(server.tcpPort)
    const pushed = await client.request({ cmd: 'PUSHB', queue: busy, jobs: Array.from({ length: 40 }, (_, index) => ({ data: index })) })
    await Bun.sleep(5) // a later millisecond
    const newest = await client.request({ cmd: 'PUSH', queue: quiet, data: 'newest' })
    // By id alone, ten older jobs would come first.
    expect((pushed.ids as number[]).filter((id) => id > newest.id).length).toBeGreaterThanOrEqual(10)
    const page = await http.data<Array<{ id: number; created_at: number }>>('GET', '/jobs?state=waiting&limit=10')
    expect(page[0]?.id).toBe(newest.id)
    const times = page.map((job) => job.created_at)
    expect(times).toEqual([...times].sort((a, b) => b - a))
    const tcp = await client.request({ cmd: 'GETJOBS', state: 'waiting', limit: 10 })
    const ids = (tcp.jobs as Array<{ id: number }>).map((job) => job.id)
    expect(ids).toEqual([...ids].sort((a, b) => b - a))
    client.close()
  })
})

describe('GETJOBS pages past one shard page without a queue (large pagination)', () => {
  test('every page matches the merged per-queue listings; invalid offsets are refused', async () => {
    const client = await WireClient.connect(server.tcpPort)
    const state = 'delayed' // this test's jobs only: the other tests push waiting jobs
    const queues = [nameOnShard('deep-a', 1), nameOnShard('deep-b', 1), nameOnShard('deep-c', 0)]
    const sizes = [1000, 700, 300]
    for (const [index, queue] of queues.entries()) {
      const jobs = Array.from({ length: sizes[index] as number }, (_, n) => ({ data: n, delay: 3_600_000 }))
      expect(await client.request({ cmd: 'PUSHB', queue, jobs })).toMatchObject({ ok: true })
    }
    type Item = { id: number; created_at: number }
    const listed: Item[] = []
    for (const queue of queues) {
      for (let offset = 0; ; offset += 1000) {
        const page = await client.request({ cmd: 'GETJOBS', queue, state, limit: 1000, offset })
        listed.push(...(page.jobs as Item[]))
        if (page.jobs.length < 1000) break
      }
    }
    expect(listed).toHaveLength(2000)
    const byId = listed.map((job) => job.id).sort((a, b) => b - a)
    const newest = [...listed].sort((a, b) => b.created_at - a.created_at || b.id - a.id).map((job) => job.id)
    for (const [offset, limit] of [[900, 200], [1000, 1000], [1950, 100], [2000, 10]] as const) {
      const tcp = await client.request({ cmd: 'GETJOBS', state, limit, offset })
      expect({ offset, ids: (tcp.jobs as Item[]).map((job) => job.id), total: tcp.total }).toEqual({ offset, ids: byId.slice(offset, offset + limit), total: 2000 })
      const page = await http.data<Item[]>('GET', `/jobs?state=${state}&limit=${limit}&offset=${offset}`)
      expect({ offset, ids: page.map((job) => job.id) }).toEqual({ offset, ids: newest.slice(offset, offset + limit) })
    }
    expect(await client.request({ cmd: 'GETJOBS', limit: 10, offset: -1 })).toMatchObject({ ok: false, error: "Invalid: field 'offset' must not be negative" })
    client.close()
  })
})

describe('POST /server/shutdown and /server/restart (spec §5.2; no other test sends them)', () => {
  test('shutdown exits 0 with acknowledged jobs kept; restart exits 100 for the supervisor', async () => {
    for (const [route, exitCode] of [['/server/shutdown', 0], ['/server/restart', 100]] as const) {
      const own = await startServer({ args: ['--no-warmup'] })
      let again: TestServer | null = null
      try {
        const client = await WireClient.connect(own.tcpPort)
        const queue = freshQueue('kept')
        expect(await client.request({ cmd: 'PUSH', queue, data: 1 })).toMatchObject({ ok: true })
        const response = await fetch(`http://127.0.0.1:${own.httpPort}${route}`, { method: 'POST', headers: { 'Content-Type': 'application/json' } })
        expect(await response.json()).toEqual({ ok: true, data: null })
        expect(await own.process.exited).toBe(exitCode)
        again = await own.restart()
        const after = await WireClient.connect(again.tcpPort)
        expect(await after.request({ cmd: 'COUNT', queue })).toMatchObject({ count: 1 })
        after.close()
      } finally {
        await again?.cleanup() // the restarted process (it keeps the directory, which own removes)
        await own.cleanup()
      }
    }
  })
})

describe('environment of the reference (spec §6)', () => {
  test('DASHBOARD_INTERVAL_MS sets the /ws/dashboard period; a bad one stops the start', async () => {
    const own = await startServer({ args: ['--memory', '--no-warmup'], env: { DASHBOARD_INTERVAL_MS: '50' } })
    try {
      const arrivals: number[] = []
      const socket = new WebSocket(`ws://127.0.0.1:${own.httpPort}/ws/dashboard`)
      socket.onmessage = () => arrivals.push(performance.now())
      for (let waited = 0; arrivals.length < 4 && waited < 5000; waited += 25) await Bun.sleep(25)
      socket.close()
      // The default period would bring the 4th snapshot 9 s after the first.
      expect(arrivals.length).toBe(4)
      expect((arrivals[3] as number) - (arrivals[0] as number)).toBeLessThan(3 * dashboardIntervalMs)
    } finally {
      await own.cleanup()
    }
    await expect(startServer({ args: ['--memory', '--no-warmup'], env: { DASHBOARD_INTERVAL_MS: 'often' } })).rejects.toThrow(/DASHBOARD_INTERVAL_MS/)
  })

  test('RUST_LOG sets the log level; the reference\'s storage variables are ignored with a warning', async () => {
    // Durable: the recovery lines are at info.
    const own = await startServer({ args: ['--no-warmup'], env: { RUST_LOG: 'warn,flashq=debug', SQLITE_PATH: '/tmp/x.db', S3_BUCKET: 'b' } })
    try {
      const output = own.output()
      expect(output).toContain('SQLITE_PATH is ignored')
      expect(output).toContain('S3_BUCKET is ignored')
      // At warn, no info line but the start-up line, which is always printed.
      expect(output.split('\n').filter((line) => / info /.test(line) && !line.includes(' listening '))).toEqual([])
    } finally {
      await own.cleanup()
    }
  })
})

describe('bodies past the caps (spec §5.1 413, queued-api.md §1.8 `request body too large`)', () => {
  /** Sends `head` and answers the status line and body the server sends before reading any body. */
  const answerTo = (head: string) => new Promise<string>((resolve) => {
    const socket = connect(server.httpPort as number, '127.0.0.1')
    let text = ''
    socket.on('data', (chunk) => {
      text += chunk
      const headEnd = text.indexOf('\r\n\r\n')
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? Number.NaN)
      if (headEnd >= 0 && text.length - headEnd - 4 >= length) socket.destroy()
    })
    socket.on('error', () => resolve(text))
    socket.on('close', () => resolve(text))
    socket.write(head)
    setTimeout(() => socket.destroy(), 3000)
  })
  const statusAndBody = (text: string) => [text.split(' ')[1], text.slice(text.indexOf('\r\n\r\n') + 4)]

  test('a declared length past every cap gets each API\'s own 413 text, before the body is sent', async () => {
    const declared = 200 * 1024 * 1024
    const queued = await answerTo(`POST /push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`)
    expect(statusAndBody(queued)).toEqual(['413', 'request body too large'])
    const flashq = await answerTo(`POST /queues/big/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`)
    expect(statusAndBody(flashq)[0]).toBe('413')
    expect(statusAndBody(flashq)[1]).toContain('Request body too large')
  })

  test('a chunked body is cut off at the route\'s cap; the server keeps serving', async () => {
    const megabyte = new TextEncoder().encode('x'.repeat(1024 * 1024))
    const body = () => new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"data":"'))
        for (let index = 0; index < 20; index++) controller.enqueue(megabyte)
        controller.enqueue(new TextEncoder().encode('"}'))
        controller.close()
      },
    })
    const response = await fetch(`${base}/queues/${freshQueue('chunked')}/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: body() })
    expect(response.status).toBe(413)
    expect(await response.text()).toContain('Request body too large')
    await expectServing()
  })
})

describe('slow and half-sent requests (slowloris) on both ports', () => {
  test('hundreds of half-sent requests neither block other clients nor break the server', async () => {
    const held: Socket[] = []
    const hold = (port: number, text: string) => {
      const socket = connect(port, '127.0.0.1')
      socket.on('error', () => {})
      socket.write(text)
      held.push(socket)
    }
    for (let i = 0; i < 100; i++) {
      hold(server.httpPort as number, 'GET /health HTTP/1.1\r\nHost: x\r\n') // headers never end
      hold(server.httpPort as number, `POST /queues/slow/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"data":`)
      hold(server.tcpPort, '{"cmd":"PUSH","queue":"slow","data":') // a line never ends
    }
    try {
      await Bun.sleep(200)
      await expectServing()
    } finally {
      for (const socket of held) socket.destroy()
    }
    // The half-sent push became nothing.
    expect(await http.data('GET', '/queues/slow/count')).toBe(0)
    await expectServing()
  })
})
