/**
 * The HTTP fast path (src/server/http/fast-path.ts) answers exactly as the Hono routes do. Two real
 * servers get the same requests in the same order, one with the fast path and one without
 * (FLASHQ_HTTP_FAST_PATH=off); every answer (status, headers, body) must be the same, apart from
 * what is fresh by nature (Date, timestamps, poll tags). Inputs: good and bad JSON, wrong types,
 * oversize bodies, bad ids and queue names, missing and wrong tokens, CORS origins, and the paths
 * the fast path leaves to Hono (percent-encoding, trailing slash, other methods).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { startServer, type TestServer } from '../harness/server.ts'
import { metricValue } from '../harness/queued-client.ts'

setDefaultTimeout(60_000)

type Case = { method: string; path: string; body?: string; headers?: Record<string, string>; token?: string | null }
type Answer = { status: number; headers: Record<string, string>; body: unknown }

const token = 'fast-secret'
const allowedOrigin = 'https://dash.example'
const queuedEnv = { QUEUED_MAX_CONTENT_BYTES: '1000', QUEUED_MAX_BATCH: '3' }

let pairs: Array<{ name: string; fast: TestServer; hono: TestServer; auth: boolean }>

beforeAll(async () => {
  const start = (env: Record<string, string>, args: string[]) => startServer({ args: ['--memory', '--shards', '2', ...args], env })
  const guarded = { ...queuedEnv, CORS_ALLOW_ORIGIN: `${allowedOrigin},https://other.example` }
  const [fastOpen, honoOpen, fastGuarded, honoGuarded] = await Promise.all([
    start(queuedEnv, []),
    start({ ...queuedEnv, FLASHQ_HTTP_FAST_PATH: 'off' }, []),
    start(guarded, ['--auth-token', token]),
    start({ ...guarded, FLASHQ_HTTP_FAST_PATH: 'off' }, ['--auth-token', token]),
  ])
  pairs = [
    { name: 'open, any origin', fast: fastOpen, hono: honoOpen, auth: false },
    { name: 'token, listed origins', fast: fastGuarded, hono: honoGuarded, auth: true },
  ]
})

afterAll(async () => {
  await Promise.all((pairs ?? []).flatMap((pair) => [pair.fast.cleanup(), pair.hono.cleanup()]))
})

/** Values that differ between two servers by nature, not by path taken. */
const volatileKeys = new Set(['created_at', 'run_at', 'started_at', 'completed_at', 'created', 'poll_tag', 'timestamp', 'last_heartbeat'])

function normalized(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalized)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, volatileKeys.has(key) ? typeof field : normalized(field)]))
}

async function send(server: TestServer, request: Case, auth: boolean): Promise<Answer> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...request.headers }
  const bearer = request.token === undefined ? (auth ? token : null) : request.token
  if (bearer !== null) headers.Authorization = `Bearer ${bearer}`
  const response = await fetch(`http://127.0.0.1:${server.httpPort}${request.path}`, { method: request.method, headers, body: request.body })
  const text = await response.text()
  let body: unknown = text
  try {
    body = normalized(JSON.parse(text))
  } catch {
    // plain-text answers compare as text
  }
  const answerHeaders: Record<string, string> = {}
  response.headers.forEach((value, name) => {
    if (name !== 'date' && name !== 'content-length') answerHeaders[name] = value
  })
  return { status: response.status, headers: answerHeaders, body }
}

/** Sends each case to both servers of a pair (in order: state stays the same on both) and compares. */
async function agree(cases: Case[]): Promise<Answer[]> {
  const answers: Answer[] = []
  for (const pair of pairs) {
    for (const request of cases) {
      const fast = await send(pair.fast, request, pair.auth)
      const hono = await send(pair.hono, request, pair.auth)
      expect({ pair: pair.name, request, answer: fast }).toEqual({ pair: pair.name, request, answer: hono })
      answers.push(fast)
    }
  }
  return answers
}

const post = (path: string, body?: unknown, extra: Partial<Case> = {}): Case =>
  ({ method: 'POST', path, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), ...extra })

describe('the fast path and the Hono routes answer alike', () => {
  test('queued /push, /poll, /delete: good requests, then every kind of bad one', async () => {
    const answers = await agree([
      post('/push?queue=fq', { contents: 'one' }),
      post('/push?queue=fq', { messages: [{ contents: 'two' }, { contents: 'x'.repeat(1001) }, { contents: 'three', visibility_timeout_secs: -1 }] }),
      post('/push', { contents: 'default queue' }),
      post('/poll?queue=fq', { visibility_timeout_secs: 30 }),
      post('/poll?queue=fq', { visibility_timeout_secs: 30, count: 2 }),
      post('/poll?queue=empty-fq', { visibility_timeout_secs: 30 }),
      post('/delete?queue=fq', { id: 1, poll_tag: 'ab'.repeat(30) }),
      post('/delete?queue=fq', { id: 1, poll_tag: 'not hex' }),
      post('/delete?queue=fq', { messages: [{ id: 1, poll_tag: 'ab'.repeat(30) }, { id: 2, poll_tag: 'zz' }] }),
      post('/push?queue=fq', '{"contents": "unterminated'),
      post('/push?queue=fq', { contents: 5 }),
      post('/push?queue=fq', { nothing: true }),
      post('/push?queue=fq', [1, 2]),
      post('/push?queue=fq', ''),
      post('/push?queue=fq', { contents: 'x'.repeat(1001) }),
      post('/push?queue=fq', { messages: [{ contents: 'a' }, { contents: 'b' }, { contents: 'c' }, { contents: 'd' }] }),
      post('/push?queue=fq', { contents: 'typed' }, { headers: { 'Content-Type': 'text/plain' } }),
      post('/poll?queue=fq', { visibility_timeout_secs: -1 }),
      post('/poll?queue=fq', { visibility_timeout_secs: '30' }),
      post('/poll?queue=fq', {}),
      post('/poll?queue=fq', { visibility_timeout_secs: 1, count: 0 }),
      post('/delete?queue=fq', { id: 'one', poll_tag: 'ab'.repeat(30) }),
      post('/delete?queue=fq', { id: 1, index: 2, poll_tag: 'ab'.repeat(30) }),
      post('/push?queue=bad!name', { contents: 'x' }),
      post('/push?queue=', { contents: 'x' }),
      post('/push?queue', { contents: 'x' }),
      post('/push?other=1&queue=fq2&queue=ignored', { contents: 'first queue parameter wins' }),
      post('/poll?queue=fq2', { visibility_timeout_secs: 30 }),
      // Left to Hono by the fast path: percent-encoding, a `+`, a trailing slash, another method.
      post('/push?queue=f%71', { contents: 'encoded' }),
      post('/poll?queue=f+q', { visibility_timeout_secs: 30 }),
      post('/push/', { contents: 'x' }),
      { method: 'GET', path: '/push' },
      { method: 'PUT', path: '/poll', body: '{}' },
    ])
    expect(answers[0]?.status).toBe(200)
    expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThan(10)
    expect(new Set(answers.map((answer) => answer.status))).toEqual(new Set([200, 400, 404, 405, 413, 415, 422]))
  })

  test('flashQ job routes: push, batch push, pull, ack; bad JSON, types, ids, sizes', async () => {
    const answers = await agree([
      post('/queues/fj/jobs', { data: { n: 1 }, priority: 5 }),
      post('/queues/fj/jobs', ''),
      post('/queues/fj/jobs/batch', { jobs: [{ data: 1 }, { data: 2 }] }),
      { method: 'GET', path: '/queues/fj/jobs?count=2&timeout=0' },
      { method: 'GET', path: '/queues/fj/jobs?timeout=0' },
      { method: 'GET', path: '/queues/empty-fj/jobs?timeout=0' },
      post('/jobs/1/ack', { result: { done: true } }),
      post('/jobs/ack/batch', { ids: [2, 3] }),
      post('/jobs/ack-batch', { ids: [99999] }),
      post('/jobs/99999/ack', {}),
      post('/jobs/abc/ack', {}),
      post('/jobs/12345678901234567/ack', {}),
      post('/queues/fj/jobs', '{"data":1,'),
      post('/queues/fj/jobs', { data: 1, priority: 'high' }),
      post('/queues/fj/jobs', [1, 2]),
      post('/queues/fj/jobs', '{}', { headers: { 'Content-Type': 'text/plain' } }),
      post('/queues/fj/jobs', '{}', { headers: { 'Content-Type': 'application/vnd.flashq+json' } }),
      post('/queues/fj/jobs', JSON.stringify({ data: 'x'.repeat(17 * 1024 * 1024) })),
      post('/queues/fj/jobs/batch', { jobs: 'none' }),
      post('/queues/bad name!/jobs', { data: 1 }),
      { method: 'GET', path: '/queues/fj/jobs?count=abc' },
      { method: 'GET', path: '/queues/fj/jobs?count=2&timeout=-5' },
      post('/jobs/ack/batch', { ids: 'all' }),
      // Left to Hono: an encoded queue name, an empty one, a trailing slash.
      post('/queues/f%6A/jobs', { data: 'encoded' }),
      post('/queues//jobs', { data: 1 }),
      post('/queues/fj/jobs/', { data: 1 }),
      { method: 'DELETE', path: '/queues/fj/jobs' },
    ])
    expect(answers[0]?.status).toBe(200)
    expect(new Set(answers.map((answer) => answer.status))).toEqual(new Set([200, 400, 404, 405, 413, 415, 422]))
  })

  test('auth: missing, wrong and right tokens; CORS: listed, unlisted and no origin; preflight', async () => {
    const answers = await agree([
      post('/push?queue=fa', { contents: 'no token' }, { token: null }),
      post('/push?queue=fa', { contents: 'wrong token' }, { token: 'nope' }),
      post('/queues/fa/jobs', { data: 1 }, { token: null }),
      post('/jobs/1/ack', {}, { token: 'nope' }),
      { method: 'GET', path: '/queues/fa/jobs?timeout=0', token: null },
      post('/push?queue=fa', { contents: 'listed origin' }, { headers: { Origin: allowedOrigin } }),
      post('/push?queue=fa', { contents: 'unlisted origin' }, { headers: { Origin: 'https://evil.example' } }),
      post('/queues/fa/jobs', { data: 1 }, { headers: { Origin: allowedOrigin } }),
      post('/queues/fa/jobs', '{', { headers: { Origin: allowedOrigin } }),
      post('/push?queue=fa', { contents: 'x' }, { token: null, headers: { Origin: allowedOrigin } }),
      {
        method: 'OPTIONS', path: '/push?queue=fa', token: null,
        headers: { Origin: allowedOrigin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,authorization' },
      },
    ])
    const guarded = answers.slice(answers.length / 2)
    expect(guarded[0]?.status).toBe(401)
    expect(guarded[0]?.headers['www-authenticate']).toBe('Bearer')
    expect(guarded[5]?.headers['access-control-allow-origin']).toBe(allowedOrigin)
    expect(guarded[6]?.headers['access-control-allow-origin']).toBeUndefined()
    expect(answers[5]?.headers['access-control-allow-origin']).toBe('*')
  })

  test('the fast path did answer on one server of each pair, and never on the other', async () => {
    for (const pair of pairs) {
      const count = async (server: TestServer) => {
        const headers: Record<string, string> = pair.auth ? { Authorization: `Bearer ${token}` } : {}
        const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics?format=text`, { headers })).text()
        return metricValue(text, 'flashq_http_fast_path_requests_total')
      }
      expect(await count(pair.fast)).toBeGreaterThan(40)
      expect(await count(pair.hono)).toBeUndefined()
    }
  })
})
