/**
 * HTTP auth and CORS (spec §5.1, §5.4) against a real server with a token: 401 without it, public
 * routes, CORS preflight without auth, SSE and WebSocket with `?token=`, the WebSocket auth message,
 * and replacing the tokens at runtime (`POST /settings/auth`, which TCP sees too).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { freshQueue, waitFor } from './commands-kit.ts'
import { HttpClient, openWebSocket, SseReader } from './http-kit.ts'

setDefaultTimeout(30_000)

let server: TestServer
let base: string
let authed: HttpClient
let anonymous: HttpClient

beforeAll(async () => {
  server = await startServer({ args: ['--auth-token', 'secret'] })
  base = `http://127.0.0.1:${server.httpPort}`
  authed = new HttpClient(base, 'secret')
  anonymous = new HttpClient(base)
})
afterAll(() => server.cleanup())

describe('tokens', () => {
  test('401 with WWW-Authenticate and the spec text without a valid token; CORS headers on it', async () => {
    for (const client of [anonymous, new HttpClient(base, 'wrong')]) {
      const response = await client.raw('GET', '/queues', undefined, { Origin: 'http://dashboard.example' })
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer')
      expect(response.headers.get('access-control-allow-origin')).toBe('*')
      expect(await response.text()).toBe('Invalid or missing authentication token')
    }
    expect((await anonymous.raw('GET', '/metrics')).status).toBe(401)
    // `?token=` is for event streams only.
    expect((await anonymous.raw('GET', '/queues?token=secret')).status).toBe(401)
    expect(await authed.data('GET', '/queues')).toEqual(expect.any(Array))
  })

  test('public routes need no token', async () => {
    for (const path of ['/health', '/healthz', '/metrics/prometheus', '/docs', '/openapi.json']) {
      expect((await anonymous.raw('GET', path)).status).toBe(200)
    }
  })

  test('CORS preflight answers 2xx without auth and allows Content-Type and Authorization', async () => {
    const response = await fetch(`${base}/queues/q/jobs`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://dashboard.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,authorization' },
    })
    expect(response.status).toBeGreaterThanOrEqual(200)
    expect(response.status).toBeLessThan(300)
    const allowed = (response.headers.get('access-control-allow-headers') ?? '').toLowerCase()
    expect(allowed).toContain('content-type')
    expect(allowed).toContain('authorization')
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
  })
})

describe('event streams', () => {
  test('SSE takes ?token=; refuses a missing or wrong one', async () => {
    expect((await SseReader.open(`${base}/events`)).response.status).toBe(401)
    expect((await SseReader.open(`${base}/events?token=wrong`)).response.status).toBe(401)
    const queue = freshQueue('sse-auth')
    const { response, reader } = await SseReader.open(`${base}/events/${queue}?token=secret`)
    expect(response.status).toBe(200)
    try {
      await authed.data('POST', `/queues/${queue}/jobs`, { data: 1 })
      expect((await (reader as SseReader).next()).event).toBe('pushed')
    } finally {
      reader?.close()
    }
  })

  test('WebSocket: ?token=, or a first auth message; a wrong token closes with 1008', async () => {
    const queue = freshQueue('ws-auth')
    const byQuery = await openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws/${queue}?token=secret`)
    const byMessage = await openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws/${queue}`)
    byMessage.socket.send(JSON.stringify({ type: 'auth', token: 'secret' }))
    const wrong = await openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws/${queue}`)
    wrong.socket.send(JSON.stringify({ type: 'auth', token: 'nope' }))
    expect((await wrong.closed).code).toBe(1008)
    try {
      await Bun.sleep(100) // the auth message has been handled
      await authed.data('POST', `/queues/${queue}/jobs`, { data: 1 })
      await waitFor(async () => byQuery.messages.length === 1 && byMessage.messages.length === 1)
      expect(JSON.parse(byMessage.messages[0] as string)).toMatchObject({ event_type: 'pushed', queue })
    } finally {
      byQuery.socket.close()
      byMessage.socket.close()
    }
    // A wrong ?token= closes with 1008 too (spec §5.4), before anything is sent.
    const wrongQuery = await openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws/${queue}?token=nope`)
    await authed.data('POST', `/queues/${queue}/jobs`, { data: 2 })
    expect(await wrongQuery.closed).toEqual({ code: 1008, reason: 'Invalid token' })
    expect(wrongQuery.messages).toEqual([])
  })

  test('no event reaches a WebSocket before it authenticates', async () => {
    const queue = freshQueue('ws-pre')
    const pending = await openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws/${queue}`)
    try {
      await authed.data('POST', `/queues/${queue}/jobs`, { data: 1 })
      await Bun.sleep(200)
      expect(pending.messages).toEqual([])
    } finally {
      pending.socket.close()
    }
  })
})

describe('replacing tokens at runtime', () => {
  test('POST /settings/auth replaces the tokens for HTTP and TCP alike', async () => {
    expect(await authed.data('POST', '/settings/auth', { tokens: 'fresh, second' })).toEqual({ auth_enabled: true, auth_token_count: 2 })
    expect((await authed.raw('GET', '/queues')).status).toBe(401)
    const fresh = new HttpClient(base, 'fresh')
    expect(await fresh.data('GET', '/settings')).toMatchObject({ auth_enabled: true, auth_token_count: 2 })
    const client = await WireClient.connect(server.tcpPort)
    try {
      expect(await client.request({ cmd: 'AUTH', token: 'secret' })).toMatchObject({ ok: false, error: 'Invalid token' })
      expect(await client.request({ cmd: 'AUTH', token: 'second' })).toMatchObject({ ok: true })
    } finally {
      client.close()
    }
    expect(await fresh.data('POST', '/settings/auth', { tokens: 'secret' })).toEqual({ auth_enabled: true, auth_token_count: 1 })
    expect(await authed.data('GET', '/queues')).toEqual(expect.any(Array))
  })
})
