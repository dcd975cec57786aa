/**
 * Webhooks (spec §5.2, §5.6) against a real server and a local Bun.serve receiver: signed deliveries
 * of durable events with their filters, URL validation, the per-URL circuit breaker, the 10 s
 * timeout, and the incoming webhook. Receivers on 127.0.0.1 need FLASHQ_WEBHOOKS_ALLOW_PRIVATE=1.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { createHmac } from 'node:crypto'
import type { Server } from 'bun'
import { startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { freshQueue, waitFor } from './commands-kit.ts'

setDefaultTimeout(60_000)

type Received = { path: string; body: string; signature: string | null; aborted: boolean }

let server: TestServer
let receiver: Server<undefined>
const received: Received[] = []
let releaseHanging = () => {}
const hanging = new Promise<void>((resolve) => (releaseHanging = resolve))

beforeAll(async () => {
  receiver = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname
      const entry: Received = { path, body: await request.text(), signature: request.headers.get('x-flashq-signature'), aborted: false }
      received.push(entry)
      if (path.startsWith('/fail')) return new Response('nope', { status: 500 })
      if (path.startsWith('/hang')) {
        request.signal.addEventListener('abort', () => (entry.aborted = true))
        await hanging
      }
      return new Response('ok')
    },
  })
  server = await startServer({ args: ['--shards', '2'], env: { FLASHQ_WEBHOOKS_ALLOW_PRIVATE: '1' } })
})
afterAll(async () => {
  releaseHanging()
  await server?.cleanup()
  receiver?.stop(true)
})

const api = (path: string) => `http://127.0.0.1:${server.httpPort}${path}`
const hook = (path: string) => `http://127.0.0.1:${receiver.port}${path}`

async function post(path: string, body: unknown): Promise<any> {
  const response = await fetch(api(path), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  return { status: response.status, json: response.headers.get('content-type')?.includes('json') ? await response.json() : await response.text() }
}

async function listed(id: string): Promise<any> {
  const list = (await (await fetch(api('/webhooks'))).json()) as any
  return list.data.find((webhook: { id: string }) => webhook.id === id)
}

describe('delivery', () => {
  test('pushed and completed events are posted, signed, filtered by queue and type', async () => {
    const queue = freshQueue('wh')
    const path = `/ok/${queue}`
    const added = await post('/webhooks', { url: hook(path), events: ['pushed', 'completed'], queue, secret: 's3cret' })
    expect(added.json.ok).toBe(true)
    expect(added.json.data).toMatch(/^wh_\d+$/)
    const client = await WireClient.connect(server.tcpPort)
    const pushed = await client.request({ cmd: 'PUSH', queue, data: { hello: 'webhook' } })
    await client.request({ cmd: 'PUSH', queue: freshQueue('other'), data: 'not for this hook' })
    const job = await client.request({ cmd: 'PULL', queue, timeout: 1000 })
    await client.request({ cmd: 'ACK', id: job.job.id, result: { done: true } })
    client.close()
    const mine = () => received.filter((entry) => entry.path === path)
    await waitFor(async () => mine().length >= 2, 10_000)
    const bodies = mine().map((entry) => JSON.parse(entry.body))
    expect(bodies.map((body) => body.event).sort()).toEqual(['completed', 'pushed'])
    const pushedBody = bodies.find((body) => body.event === 'pushed')
    expect(pushedBody).toEqual({ event: 'pushed', queue, job_id: pushed.id, timestamp: expect.any(Number), data: { hello: 'webhook' }, error: null })
    expect(Object.keys(pushedBody)).toEqual(['event', 'queue', 'job_id', 'timestamp', 'data', 'error'])
    for (const entry of mine()) {
      expect(entry.signature).toBe(createHmac('sha256', 's3cret').update(entry.body).digest('hex'))
    }
    await Bun.sleep(200)
    expect(mine().length).toBe(2) // the other queue's push and the PULL were not delivered
    expect((await listed(added.json.data)).delivered).toBe(2)
  })

  test("'*' takes every type; no secret means no signature header", async () => {
    const queue = freshQueue('wh')
    const path = `/ok/${queue}`
    const added = await post('/webhooks', { url: hook(path), events: ['*'], queue })
    const client = await WireClient.connect(server.tcpPort)
    const pushed = await client.request({ cmd: 'PUSH', queue, data: 1 })
    await client.request({ cmd: 'PULL', queue, timeout: 1000 })
    await client.request({ cmd: 'FAIL', id: pushed.id, error: 'boom' })
    client.close()
    // Every event type is delivered ('*'), each in its own POST, so they may land in any order.
    const seen = () => new Set(received.filter((entry) => entry.path === path).map((entry) => JSON.parse(entry.body).event))
    await waitFor(async () => ['pushed', 'active', 'retrying'].every((type) => seen().has(type)), 10_000)
    const mine = received.filter((entry) => entry.path === path)
    expect(mine.every((entry) => entry.signature === null)).toBe(true)
    const events = mine.map((entry) => JSON.parse(entry.body))
    expect(events.map((event) => event.event)).toEqual(expect.arrayContaining(['pushed', 'active', 'retrying']))
    const failure = events.find((event) => event.event === 'retrying')
    expect(failure.error).toBe('boom')
    expect((await fetch(api(`/webhooks/${added.json.data}`), { method: 'DELETE' }).then((r) => r.json()) as any).data).toBe(true)
  })
})

describe('failures', () => {
  test('the circuit opens after 5 consecutive failures and later events are skipped', async () => {
    const queue = freshQueue('wh')
    const path = `/fail/${queue}`
    const added = await post('/webhooks', { url: hook(path), events: ['pushed'], queue })
    const client = await WireClient.connect(server.tcpPort)
    const attempts = () => received.filter((entry) => entry.path === path).length
    for (let i = 1; i <= 5; i++) {
      await client.request({ cmd: 'PUSH', queue, data: i })
      await waitFor(async () => attempts() >= i, 10_000)
    }
    await waitFor(async () => (await listed(added.json.data)).failed === 5, 10_000)
    expect((await listed(added.json.data)).circuit).toBe('open')
    for (let i = 0; i < 3; i++) await client.request({ cmd: 'PUSH', queue, data: `late ${i}` })
    client.close()
    await waitFor(async () => (await listed(added.json.data)).skipped === 3, 10_000)
    expect(attempts()).toBe(5)
  })

  test('a receiver that never answers is cut off by the 10 s timeout and counted as failed', async () => {
    const queue = freshQueue('wh')
    const path = `/hang/${queue}`
    const added = await post('/webhooks', { url: hook(path), events: ['pushed'], queue })
    const client = await WireClient.connect(server.tcpPort)
    await client.request({ cmd: 'PUSH', queue, data: 'slow' })
    client.close()
    await waitFor(async () => received.some((entry) => entry.path === path), 10_000)
    // Not a timing assertion: only that the delivery is abandoned (well within the wait).
    await waitFor(async () => (await listed(added.json.data)).failed === 1, 40_000, 250)
    await waitFor(async () => received.find((entry) => entry.path === path)?.aborted === true, 10_000)
  })
})

describe('registration', () => {
  test('list, validation and delete', async () => {
    const strict = await startServer({ args: ['--memory'] })
    try {
      const base = `http://127.0.0.1:${strict.httpPort}`
      const send = async (body: unknown) => {
        const response = await fetch(`${base}/webhooks`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
        return { status: response.status, text: await response.text() }
      }
      for (const url of ['http://127.0.0.1:9/x', 'http://localhost/x', 'http://169.254.169.254/', 'ftp://example.com/', 'http://db.internal/']) {
        const refused = await send({ url, events: ['pushed'] })
        expect(refused.status).toBe(200)
        expect(JSON.parse(refused.text)).toEqual({ ok: false, error: expect.stringContaining('Invalid webhook URL') })
      }
      expect((await send({ events: ['pushed'] })).status).toBe(422)
      expect((await send({ url: 'https://example.com/h', events: [] })).status).toBe(422)
      const badType = await send({ url: 'https://example.com/h', events: ['exploded'] })
      expect(badType.status).toBe(422)
      expect(badType.text).toContain('exploded')
      const added = JSON.parse((await send({ url: 'https://example.com/h', events: ['completed'], queue: 'q', secret: 'k' })).text)
      expect(added.ok).toBe(true)
      const list = (await (await fetch(`${base}/webhooks`)).json()) as any
      expect(list.data).toEqual([expect.objectContaining({
        id: added.data, url: 'https://example.com/h', events: ['completed'], queue: 'q', secret: 'k', enabled: true, created_at: expect.any(Number),
      })])
      const removed = (await (await fetch(`${base}/webhooks/${added.data}`, { method: 'DELETE' })).json()) as any
      expect(removed).toEqual({ ok: true, data: true })
      const again = (await (await fetch(`${base}/webhooks/${added.data}`, { method: 'DELETE' })).json()) as any
      expect(again).toEqual({ ok: true, data: false })
    } finally {
      await strict.cleanup()
    }
  })

  test('POST /webhooks/incoming/{queue} pushes the body as job data, without auth', async () => {
    const secured = await startServer({ args: ['--memory', '--auth-token', 'tok'] })
    try {
      const response = await fetch(`http://127.0.0.1:${secured.httpPort}/webhooks/incoming/inbox`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ from: 'github', n: 1 }),
      })
      const answer = (await response.json()) as any
      expect(answer.ok).toBe(true)
      expect(answer.data).toMatchObject({ queue: 'inbox', data: { from: 'github', n: 1 } })
      expect((await fetch(`http://127.0.0.1:${secured.httpPort}/webhooks`)).status).toBe(401)
    } finally {
      await secured.cleanup()
    }
  })
})
