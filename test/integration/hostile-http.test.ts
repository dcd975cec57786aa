/**
 * Hostile clients on the HTTP port (the second audit): event subscribers that never read, failed
 * authentication, unknown methods, and bad input on every route family. Real servers over real
 * sockets; memory is measured from /proc/<pid>/status, against bounds relative to what the old code
 * kept (never absolute timings).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import {
  authFailuresPerAddressPerMinuteMax, authFailuresPerConnectionMax, eventStreamBufferedBytesMax, eventStreamsBufferedBytesTotalMax,
  authTokensMax, httpBodyBytesInFlightMax, sseConnectionsMax, workerIdCharsMax,
} from '../../src/base/limits.ts'
import { startServer, type TestServer } from '../harness/server.ts'
import { waitFor } from './commands-kit.ts'
import { HttpClient, openWebSocket } from './http-kit.ts'
import { WireClient } from '../harness/wire-client.ts'

setDefaultTimeout(120_000)

const MB = 1_000_000
type Job = { id: number }

/** A server of its own (memory mode: RSS then moves only with what the test does). */
async function withServer(use: (server: TestServer, client: HttpClient) => Promise<void>, args: string[] = []): Promise<void> {
  const server = await startServer({ args: ['--memory', '--shards', '2', '--workers', '0', ...args] })
  try {
    await use(server, new HttpClient(`http://127.0.0.1:${server.httpPort}`))
  } finally {
    await server.cleanup()
  }
}

const rssMiB = (server: TestServer) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.process.pid}/status`, 'utf8'))?.[1]) / 1024

const memoryFacts = async (client: HttpClient) =>
  (await (await client.raw('GET', '/debug/memory')).json()) as { event_subscribers: number; event_buffered_bytes: number }
const subscriberCount = async (client: HttpClient) => (await memoryFacts(client)).event_subscribers

/** Raw sockets that ask for `path` as SSE (or a WebSocket) and then never read. */
function neverReading(server: TestServer, paths: string[], kind: 'sse' | 'ws'): Socket[] {
  return paths.map((path) => {
    const socket = connect(server.httpPort as number, '127.0.0.1')
    socket.on('error', () => {})
    const upgrade = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'
    socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n${kind === 'ws' ? upgrade : ''}\r\n`)
    socket.pause()
    return socket
  })
}

/** An active job of `queue`: its PARTIAL events carry their data and change no job state. */
async function activeJob(client: HttpClient, queue: string): Promise<Job> {
  const job = await client.data<Job>('POST', `/queues/${encodeURIComponent(queue)}/jobs`, { data: 1 })
  await client.data('GET', `/queues/${encodeURIComponent(queue)}/jobs?timeout=0`)
  return job
}

const partialOf = (bytes: number) => JSON.stringify({ data: 'x'.repeat(bytes) })

describe('event subscribers that never read', () => {
  test('100 SSE streams on the same events keep one copy of each event, not one per stream', async () => {
    await withServer(async (server, client) => {
      const job = await activeJob(client, 'shared')
      const body = partialOf(MB)
      for (let round = 0; round < 5; round++) await client.data('POST', `/jobs/${job.id}/partial`, body) // warm-up
      const streams = 100
      const sockets = neverReading(server, Array(streams).fill('/events'), 'sse')
      await waitFor(async () => (await subscriberCount(client)) === streams)
      const before = rssMiB(server)
      const events = 12 // 12 MB behind each: under the per-subscriber limit, so every stream stays
      for (let round = 0; round < events; round++) await client.data('POST', `/jobs/${job.id}/partial`, body)
      const grownMiB = rssMiB(server) - before
      expect(await subscriberCount(client)).toBe(streams)
      // A copy per stream was streams × events MB (1.2 GB; 1.4 GiB measured); shared, about 150 MiB
      // (mostly the chunk each socket has not taken yet).
      expect(grownMiB).toBeLessThan((streams * events * MB) / (1024 * 1024) / 4)
      for (const socket of sockets) socket.destroy()
    })
  })

  test('streams on distinct queues together stay under the total: the ones furthest behind are dropped', async () => {
    await withServer(async (server, client) => {
      const streams = 40
      const queues = Array.from({ length: streams }, (_, index) => `distinct-${index}`)
      const jobs = await Promise.all(queues.map((queue) => activeJob(client, queue)))
      const sockets = neverReading(server, queues.map((queue) => `/events/${queue}`), 'sse')
      await waitFor(async () => (await subscriberCount(client)) === streams)
      const body = partialOf(MB)
      const eventsEach = 12 // under the per-subscriber limit; 480 MB in all, past the total
      let bufferedMost = 0
      for (let round = 0; round < eventsEach; round++) {
        for (const job of jobs) await client.data('POST', `/jobs/${job.id}/partial`, body)
        bufferedMost = Math.max(bufferedMost, (await memoryFacts(client)).event_buffered_bytes)
      }
      const kept = await subscriberCount(client)
      expect(kept).toBeLessThan(streams)
      expect(kept).toBeGreaterThan(0)
      expect(bufferedMost).toBeGreaterThan(eventStreamsBufferedBytesTotalMax / 2)
      expect(bufferedMost).toBeLessThanOrEqual(eventStreamsBufferedBytesTotalMax)
      // The dropped streams, once read, say why.
      const texts = sockets.map((socket) => {
        const text = { all: '' }
        socket.on('data', (chunk) => (text.all += chunk.toString()))
        socket.resume()
        return text
      })
      const reason = ": closed: client too slow: the server's event buffers passed"
      await waitFor(async () => texts.filter((text) => text.all.includes(reason)).length === streams - kept, 10_000)
      for (const socket of sockets) socket.destroy()
    })
  })

  test('a WebSocket that never reads is closed with 1013 and the reason', async () => {
    await withServer(async (server, client) => {
      const [socket] = neverReading(server, ['/ws'], 'ws') as [Socket]
      await waitFor(async () => (await subscriberCount(client)) === 1)
      const job = await activeJob(client, 'ws-slow')
      const body = partialOf(2 * MB)
      for (let round = 0; round < 20 && (await subscriberCount(client)) > 0; round++) {
        await client.data('POST', `/jobs/${job.id}/partial`, body)
      }
      expect(await subscriberCount(client)).toBe(0)
      const received: Buffer[] = []
      socket.on('data', (chunk: Buffer) => received.push(chunk))
      socket.resume()
      const reason = `client too slow: more than ${eventStreamBufferedBytesMax} bytes of events not taken`
      // The close frame: opcode 0x88, then the code (1013 = 0x03f5) and the reason.
      const closeFrame = Buffer.concat([Buffer.from([0x03, 0xf5]), Buffer.from(reason)])
      await waitFor(async () => Buffer.concat(received).includes(closeFrame), 10_000)
      socket.destroy()
    })
  })

  test('a WebSocket that reads is not dropped by a burst of big events', async () => {
    // A burst far past one subscriber's share of Bun's send buffer, taken promptly: all of it arrives.
    await withServer(async (server, client) => {
      const ws = await openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws/burst`)
      const data = 'y'.repeat(5 * MB)
      await client.data('POST', '/queues/burst/jobs/batch', { jobs: [{ data }, { data }, { data }] })
      await waitFor(async () => ws.messages.length >= 3, 20_000)
      expect(ws.messages.map((text) => (JSON.parse(text) as { data: string }).data.length)).toEqual([data.length, data.length, data.length])
      expect(ws.socket.readyState).toBe(WebSocket.OPEN)
      ws.socket.close()
    })
  })
})

test('HEAD on an event stream answers the headers and holds no stream (each held a slot for good: 1000 HEADs closed SSE for everyone)', async () => {
  await withServer(async (server, client) => {
    const base = `http://127.0.0.1:${server.httpPort}`
    for (let index = 0; index <= sseConnectionsMax; index++) {
      const response = await fetch(`${base}/events${index % 2 === 0 ? '' : '/some-queue'}`, { method: 'HEAD' })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('text/event-stream')
    }
    expect(await subscriberCount(client)).toBe(0)
    const controller = new AbortController()
    const stream = await fetch(`${base}/events`, { signal: controller.signal })
    expect(stream.status).toBe(200)
    controller.abort()
  })
})

test('HEAD on a GET with effects is refused (405): a HEAD pull took a job and sent it to nobody', async () => {
  await withServer(async (server, client) => {
    const base = `http://127.0.0.1:${server.httpPort}`
    const job = await client.data<Job>('POST', '/queues/head-pull/jobs', { data: 'keep me' })
    const head = await fetch(`${base}/queues/head-pull/jobs?timeout=0`, { method: 'HEAD' })
    expect(head.status).toBe(405)
    expect(head.headers.get('allow')).toBe('GET, POST')
    expect((await fetch(`${base}/jobs/${job.id}/wait?timeout=0`, { method: 'HEAD' })).status).toBe(405)
    expect((await fetch(`${base}/queues/head-pull/counts`, { method: 'HEAD' })).status).toBe(200) // no effects: served
    const pulled = await client.data<Job[]>('GET', '/queues/head-pull/jobs?timeout=0')
    expect(pulled.map((item) => item.id)).toEqual([job.id])
  })
})

test("a webhook's queue filter is a valid queue name and its event types are kept once (a 100 000-character queue, and one type listed 100 000 times, were kept whole)", async () => {
  await withServer(async (_server, client) => {
    const hook = { url: 'http://example.com/hook', events: ['*'] }
    const long = await client.raw('POST', '/webhooks', { ...hook, queue: 'q'.repeat(100_000) })
    expect([long.status, await long.text()]).toEqual([422, "Invalid: field 'queue': Queue name too long (max 256 chars)"])
    const odd = await client.raw('POST', '/webhooks', { ...hook, queue: 'a b' })
    expect(odd.status).toBe(422)
    const id = await client.data<string>('POST', '/webhooks', { ...hook, events: Array(100_000).fill('completed'), queue: 'hooked' })
    const listed = await client.data<Array<{ id: string; events: string[] }>>('GET', '/webhooks')
    expect(listed.find((webhook) => webhook.id === id)?.events).toEqual(['completed'])
    await client.data('DELETE', `/webhooks/${id}`)
  })
})

test('a worker id and the token list are bounded (an 8000-character id was kept for each of 10 000 workers)', async () => {
  await withServer(async (_server, client) => {
    const heartbeat = (id: string) => client.raw('POST', `/workers/${id}/heartbeat`, { queues: ['q'] })
    const long = await heartbeat('w'.repeat(workerIdCharsMax + 1))
    expect([long.status, await long.text()]).toEqual([422, `Invalid: worker id must have at most ${workerIdCharsMax} characters`])
    expect((await heartbeat('w'.repeat(workerIdCharsMax))).status).toBe(200)
    const tokens = await client.raw('POST', '/settings/auth', { tokens: Array.from({ length: authTokensMax + 1 }, (_, index) => `t${index}`).join(',') })
    expect([tokens.status, await tokens.text()]).toEqual([422, `Invalid: field 'tokens' must have at most ${authTokensMax} items`])
    expect((await client.data<{ auth_enabled: boolean }>('GET', '/settings')).auth_enabled).toBe(false)
  })
})

describe('failed authentication', () => {
  const tooMany = (seconds: string) => new RegExp(`^Too many failed authentications from 127\\.0\\.0\\.1 \\(max ${authFailuresPerAddressPerMinuteMax} per minute\\): retry in ${seconds} s$`)

  test(`TCP: the ${authFailuresPerConnectionMax}th failed AUTH on a connection is answered, then the connection closes`, async () => {
    await withServer(async (server) => {
      const client = await WireClient.connect(server.tcpPort)
      for (let attempt = 1; attempt < authFailuresPerConnectionMax; attempt++) {
        expect(await client.request({ cmd: 'AUTH', token: `guess-${attempt}` })).toMatchObject({ ok: false, error: 'Invalid token' })
      }
      const last = await client.request({ cmd: 'AUTH', token: 'guess-last' })
      expect(last).toMatchObject({ ok: false, error: `Too many failed AUTH on this connection (max ${authFailuresPerConnectionMax}): closing it` })
      await expect(client.request({ cmd: 'AUTH', token: 'secret' }, 2000)).rejects.toThrow()
      const fresh = await WireClient.connect(server.tcpPort)
      expect(await fresh.request({ cmd: 'AUTH', token: 'secret' })).toMatchObject({ ok: true })
      expect(await fresh.request({ cmd: 'PING' })).toMatchObject({ ok: true })
      fresh.close()
    }, ['--auth-token', 'secret'])
  })

  test('an address past its budget is refused on every transport, even with the right token, until the minute ends', async () => {
    await withServer(async (server) => {
      const base = `http://127.0.0.1:${server.httpPort}`
      const guess = (token: string) => fetch(`${base}/queues`, { headers: { Authorization: `Bearer ${token}` } })
      // Guesses over HTTP (401 each) and TCP count together.
      const tcp = await WireClient.connect(server.tcpPort)
      for (let attempt = 0; attempt < 5; attempt++) expect((await tcp.request({ cmd: 'AUTH', token: `t${attempt}` })).error).toBe('Invalid token')
      tcp.close()
      for (let attempt = 5; attempt < authFailuresPerAddressPerMinuteMax; attempt++) expect((await guess(`h${attempt}`)).status).toBe(401)
      const refused = await guess('secret')
      expect(refused.status).toBe(429)
      const retryAfter = Number(refused.headers.get('retry-after'))
      expect(retryAfter).toBeGreaterThanOrEqual(1)
      expect(retryAfter).toBeLessThanOrEqual(60)
      expect(await refused.text()).toMatch(tooMany('\\d+'))
      const viaFastPath = await fetch(`${base}/queues/q/jobs`, { method: 'POST', headers: { Authorization: 'Bearer secret', 'Content-Type': 'application/json' }, body: '{"data":1}' })
      expect(viaFastPath.status).toBe(429)
      const client = await WireClient.connect(server.tcpPort)
      expect((await client.request({ cmd: 'AUTH', token: 'secret' })).error).toMatch(tooMany('\\d+'))
      client.close()
      const upgrade = await fetch(`${base}/ws?token=secret`, { headers: { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' } })
      expect(upgrade.status).toBe(429)
      // No token guesses nothing: still the plain 401; public routes stay open.
      expect((await fetch(`${base}/queues`)).status).toBe(401)
      expect((await fetch(`${base}/health`)).status).toBe(200)
    }, ['--auth-token', 'secret'])
  })
})

/** One raw HTTP exchange: everything the server sent until it closed (or `waitMs` passed). */
async function rawExchange(port: number, text: string, waitMs = 3000): Promise<{ reply: string; closed: boolean }> {
  const socket = connect(port, '127.0.0.1')
  let reply = ''
  let closed = false
  socket.on('data', (chunk) => (reply += chunk.toString()))
  socket.on('error', () => {})
  const done = new Promise<void>((resolve) => socket.on('close', () => {
    closed = true
    resolve()
  }))
  socket.write(text)
  await Promise.race([done, Bun.sleep(waitMs)])
  socket.destroy()
  return { reply, closed }
}

describe('methods', () => {
  test('a method no route answers gets 501 naming it; a known one is 405 on a path that takes others, 404 on an unknown path', async () => {
    await withServer(async (server) => {
      const base = `http://127.0.0.1:${server.httpPort}`
      for (const method of ['PURGE', 'TRACE', 'PROPFIND', 'QUERY', 'LINK', 'CONNECT']) {
        const { reply } = await rawExchange(server.httpPort as number, `${method} /queues HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`)
        expect(reply).toStartWith('HTTP/1.1 501')
        expect(reply).toEndWith(JSON.stringify({ ok: false, error: `Method not implemented: ${method} (this server answers GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)` }))
      }
      const put = await fetch(`${base}/health`, { method: 'PUT' })
      expect([put.status, put.headers.get('allow'), await put.json()]).toEqual([405, 'GET, HEAD', { ok: false, error: 'Method not allowed: PUT /health (this path takes GET, HEAD)' }])
      expect(await (await fetch(`${base}/nothing`, { method: 'PUT' })).json()).toEqual({ ok: false, error: 'Not found: PUT /nothing' })
    })
  })

  test('Bun closes the connection, with no response, on methods outside its list; the server keeps serving', async () => {
    await withServer(async (server, client) => {
      for (const method of ['FOO', 'BREW', 'X-Y', 'PRI', 'get', 'post', 'Delete']) {
        expect(await rawExchange(server.httpPort as number, `${method} /queues HTTP/1.1\r\nHost: t\r\n\r\n`)).toEqual({ reply: '', closed: true })
      }
      expect(await client.data('GET', '/queues')).toEqual(expect.any(Array))
    })
  })
})

describe('request bodies that never end', () => {
  test('stalled bodies add up to at most the in-flight limit; past it requests get 503 naming it', async () => {
    // Each body was kept whole until it completed: ten clients sending 100 MB of a 128 MiB /push
    // body and stalling held 1 GB (unbounded in the number of clients).
    await withServer(async (server, client) => {
      const before = rssMiB(server)
      const piece = Buffer.alloc(MB, 'x')
      const stalled = Array.from({ length: 7 }, (_, index) => {
        const socket = connect(server.httpPort as number, '127.0.0.1')
        socket.on('error', () => {})
        const reply = { text: '' }
        socket.on('data', (chunk) => (reply.text += chunk.toString()))
        const head = index % 2 === 0 ? `Content-Length: ${128 * 1024 * 1024}` : 'Transfer-Encoding: chunked'
        socket.write(`POST /push HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n${head}\r\n\r\n`)
        return { socket, reply, chunked: index % 2 === 1 }
      })
      for (const { socket, chunked } of stalled) {
        for (let megabyte = 0; megabyte < 100 && !socket.destroyed; megabyte++) {
          if (chunked) socket.write(`${piece.length.toString(16)}\r\n`)
          await new Promise((resolve) => socket.write(piece, resolve))
          if (chunked) socket.write('\r\n')
        }
      }
      await waitFor(async () => stalled.some(({ reply }) => reply.text.includes('503')), 10_000)
      const refused = stalled.find(({ reply }) => reply.text.includes('503'))?.reply.text ?? ''
      expect(refused).toStartWith('HTTP/1.1 503')
      expect(refused).toContain(`Server busy: request bodies being received passed ${httpBodyBytesInFlightMax} bytes in all; retry`)
      expect(rssMiB(server) - before).toBeLessThan(httpBodyBytesInFlightMax / (1024 * 1024) + 150)
      for (const { socket } of stalled) socket.destroy()
      // Gone clients give their share back.
      await waitFor(async () => (await client.raw('POST', '/push', { contents: 'after' })).status === 200)
    })
  })
})
