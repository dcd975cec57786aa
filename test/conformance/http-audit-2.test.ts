/**
 * A second black-box audit of the HTTP side (http-clients.md, flashq-protocol.md §5, queued-api.md),
 * driving one server with curl-like requests. Each test is a discrepancy the first audit
 * (spec-audit.test.ts) and the area tests did not reach: wrong methods on known paths, event streams
 * on invalid queue names, ids that are valid u64 but beyond any id the server hands out.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { TestServer } from '../harness/server.ts'
import { queueNamer, startAuditServer } from './audit-server.ts'
import { type HttpClient, openWebSocket } from '../integration/http-kit.ts'

setDefaultTimeout(30_000)

let server: TestServer
let http: HttpClient
let base: string
const freshQueue = queueNamer()

beforeAll(async () => void ({ server, http, base } = await startAuditServer([])))
afterAll(() => server.cleanup())

const json = { 'Content-Type': 'application/json' }
const send = (method: string, path: string, body?: string) => fetch(base + path, { method, headers: json, body })

describe('a wrong method on a known path is 405 with Allow, not 404 (RFC 9110 §15.5.6)', () => {
  test('flashQ routes: the answer names the method and the path, and Allow lists what the path takes', async () => {
    const queue = freshQueue('method')
    const cases: Array<[method: string, path: string, allow: string[]]> = [
      ['GET', `/queues/${queue}/pause`, ['POST']],
      ['PUT', `/queues/${queue}/jobs`, ['GET', 'POST']],
      ['GET', '/jobs/1/ack', ['POST']],
      ['POST', '/jobs/1/state', ['GET']],
      ['DELETE', '/stats', ['GET']],
      ['PATCH', `/queues/${queue}/concurrency`, ['POST', 'DELETE']],
    ]
    for (const [method, path, allow] of cases) {
      const response = await send(method, path)
      expect({ method, path, status: response.status }).toEqual({ method, path, status: 405 })
      const listed = (response.headers.get('allow') ?? '').split(',').map((item) => item.trim())
      for (const allowed of allow) expect(listed).toContain(allowed)
      expect(listed).not.toContain(method)
      const body = (await response.json()) as { ok: boolean; error: string }
      expect(body.ok).toBe(false)
      expect(body.error).toContain(`${method} ${path}`)
    }
    // A path no route has stays 404.
    expect((await send('GET', `/queues/${queue}/nothing-here`)).status).toBe(404)
  })

  test('queued routes: 405 carries Allow', async () => {
    for (const [method, path, allow] of [['GET', '/push', 'POST'], ['DELETE', '/suspend', 'GET, POST'], ['PUT', '/healthz', 'GET']] as const) {
      const response = await send(method, path)
      expect(response.status).toBe(405)
      expect(response.headers.get('allow')).toBe(allow)
    }
  })
})

describe('event streams on an invalid queue name answer 400 naming the problem (they could never carry an event)', () => {
  test('SSE: /events/{queue} and /queues/{queue}/events', async () => {
    for (const path of ['/events/bad%20name', '/queues/bad%20name/events', `/events/${'x'.repeat(300)}`]) {
      const response = await fetch(base + path)
      expect({ path, status: response.status }).toEqual({ path, status: 400 })
      expect(await response.text()).toContain('Queue name')
    }
  })

  test('WebSocket: /ws/{queue} is refused at the upgrade', async () => {
    await expect(openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws/bad%20name`)).rejects.toThrow()
    const response = await fetch(`${base}/ws/bad%20name`, { headers: { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' } })
    expect(response.status).toBe(400)
    expect(await response.text()).toContain('Queue name')
    // A plain request to a WebSocket endpoint is told to upgrade (it was a 404, as if there were none).
    for (const path of ['/ws', '/ws/dashboard', `/ws/${freshQueue('plain')}`]) {
      const plain = await http.raw('GET', path)
      expect([path, plain.status, plain.headers.get('upgrade')]).toEqual([path, 426, 'websocket'])
      expect(((await plain.json()) as { error: string }).error).toContain('WebSocket')
    }
    // A valid one still upgrades.
    const good = await openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws/${freshQueue('ws-ok')}`)
    good.socket.close()
  })
})

describe('ids that are a valid u64 but above any id the server hands out (below 2^53)', () => {
  const u64Max = '18446744073709551615'
  const tag = 'a'.repeat(60)

  test('queued /delete and /update: 404 message not found (queued-api.md §1.8), not 422; counted as missing', async () => {
    const queue = freshQueue('bigid')
    const missing = async () => Number((await (await fetch(`${base}/metrics/prometheus`)).text()).match(/^queued_missing_delete (\d+)$/m)?.[1])
    const missingBefore = await missing()
    const del = await send('POST', `/delete?queue=${queue}`, `{"id":${u64Max},"poll_tag":"${tag}"}`)
    expect([del.status, await del.text()]).toEqual([404, 'message not found'])
    const update = await send('POST', `/update?queue=${queue}`, `{"index":${u64Max},"poll_tag":"${tag}","visibility_timeout_secs":1}`)
    expect([update.status, await update.text()]).toEqual([404, 'message not found'])
    const batch = await send('POST', `/delete?queue=${queue}`, `{"messages":[{"id":${u64Max},"poll_tag":"${tag}"}]}`)
    expect(batch.status).toBe(200)
    expect(((await batch.json()) as { results: Array<{ error?: string }> }).results[0]?.error).toBe('MessageNotFound')
    expect(await missing()).toBe(missingBefore + 2)
    // Past u64 it is the wrong type: 422.
    expect((await send('POST', `/delete?queue=${queue}`, `{"id":1e30,"poll_tag":"${tag}"}`)).status).toBe(422)
  })

  test('flashQ {id}: the 400 says what range an id has, since the value is a non-negative integer', async () => {
    const response = await send('POST', `/jobs/${u64Max}/ack`, '{}')
    expect(response.status).toBe(400)
    const text = await response.text()
    expect(text).toContain(u64Max)
    expect(text).not.toContain('must be a non-negative integer')
    expect(text).toContain(String(Number.MAX_SAFE_INTEGER))
    expect((await http.raw('GET', '/jobs/abc')).status).toBe(400)
    // The same for a numeric query parameter: 422 naming the bound, not "non-negative".
    const query = await http.raw('GET', `/queues/${freshQueue('bigq')}/jobs?count=1&timeout=${u64Max}`)
    expect([query.status, await query.text()]).toEqual([422, `Invalid: query parameter 'timeout' must be at most ${Number.MAX_SAFE_INTEGER}`])
  })
})

describe('GET /queues/{queue}/jobs?count=0 (spec §5.2: PULL when count = 1, else PULLB)', () => {
  test('answers [] at once and leases nothing, as PULLB of 0 does over TCP (it took and leased a job)', async () => {
    const queue = freshQueue('count0')
    const pushed = await http.data<{ id: number }>('POST', `/queues/${queue}/jobs`, { data: 1 })
    expect(await http.data('GET', `/queues/${queue}/jobs?count=0`)).toEqual([]) // at once: not the 60 s default wait
    expect(await http.data('GET', `/jobs/${pushed.id}/state`)).toBe('waiting')
  })
})

describe('POST /crons/{name} with the dashboard\'s `enabled` (http-clients.md §2)', () => {
  test('enabled: false is refused naming it (the cron was created enabled and fired); true or absent creates it', async () => {
    const queue = freshQueue('cron-q')
    const disabled = freshQueue('cron-off')
    const refused = await http.call('POST', `/crons/${disabled}`, { queue, schedule: '0 0 1 1 *', data: {}, priority: 0, enabled: false })
    expect(refused.ok).toBe(false)
    expect(refused.error).toContain('enabled')
    const crons = await http.data<Array<{ name: string }>>('GET', '/crons')
    expect(crons.map((cron) => cron.name)).not.toContain(disabled)
    for (const enabled of [true, undefined]) {
      const name = freshQueue('cron-on')
      expect(await http.call('POST', `/crons/${name}`, { queue, schedule: '0 0 1 1 *', data: {}, enabled })).toEqual({ ok: true, data: null })
      expect(await http.data('DELETE', `/crons/${name}`)).toBe(true)
    }
    // A non-boolean is the wrong shape.
    expect((await http.raw('POST', `/crons/${disabled}`, { queue, schedule: '0 0 1 1 *', enabled: 'no' })).status).toBe(422)
  })
})
