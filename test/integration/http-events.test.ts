/**
 * Live events over HTTP (spec §5.4) against a real server: SSE and WebSocket subscribers see
 * pushed → active → drained → progress → completed for a job on a shard other than the first; filters by queue and job;
 * the dashboard snapshot; the WebSocket cap; and a slow SSE consumer stays bounded.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { connect } from 'node:net'
import { readFileSync } from 'node:fs'
import { eventStreamBufferedBytesMax, webSocketConnectionsMax } from '../../src/base/limits.ts'
import { startServer, type TestServer } from '../harness/server.ts'
import { nameOnShard, shardArgs, shardOfId, waitFor } from './commands-kit.ts'
import { HttpClient, openWebSocket, SseReader } from './http-kit.ts'

setDefaultTimeout(60_000)

let server: TestServer
let http: HttpClient

beforeAll(async () => {
  server = await startServer({ args: shardArgs })
  http = new HttpClient(`http://127.0.0.1:${server.httpPort}`)
})
afterAll(() => server.cleanup())

type Job = { id: number }

describe('event streams', () => {
  test('SSE and WebSocket see pushed → progress → completed for a job on shard 1', async () => {
    const queue = nameOnShard('ev', 1)
    const sse = await SseReader.open(`${http.base}/events/${queue}`)
    const alias = await SseReader.open(`${http.base}/queues/${queue}/events`)
    const ws = await openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws/${queue}`)
    const other = await openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws/${nameOnShard('ev-other', 0)}`)
    try {
      const job = await http.data<Job>('POST', `/queues/${queue}/jobs`, { data: { n: 1 } })
      expect(shardOfId(job.id)).toBe(1)
      const jobStream = await SseReader.open(`${http.base}/events/job/${job.id}?events=completed`)
      await http.data('GET', `/queues/${queue}/jobs?timeout=0`)
      await http.data('POST', `/jobs/${job.id}/progress`, { progress: 50, message: 'half' })
      await http.data('POST', `/jobs/${job.id}/ack`, { result: 'ok' })

      const expected = [
        { event_type: 'pushed', queue, job_id: job.id, data: { n: 1 } },
        { event_type: 'active', queue, job_id: job.id },
        { event_type: 'drained', queue, job_id: 0 },
        { event_type: 'progress', queue, job_id: job.id, progress: 50, data: { message: 'half' } },
        { event_type: 'completed', queue, job_id: job.id, data: 'ok' },
      ]
      for (const reader of [sse.reader, alias.reader]) {
        for (const event of expected) {
          const received = await (reader as SseReader).next()
          expect(received.event).toBe(event.event_type)
          expect(JSON.parse(received.data)).toMatchObject({ ...event, timestamp: expect.any(Number) })
        }
      }
      const onlyCompleted = await (jobStream.reader as SseReader).next()
      expect(onlyCompleted.event).toBe('completed')
      jobStream.reader?.close()

      await waitFor(async () => ws.messages.length >= expected.length)
      expect(ws.messages.map((text) => JSON.parse(text))).toMatchObject(expected)
      expect(other.messages).toEqual([]) // another queue's subscriber sees nothing of this one
    } finally {
      sse.reader?.close()
      alias.reader?.close()
      ws.socket.close()
      other.socket.close()
    }
  })

  test('partial, timeout, retrying, failed and stalled events reach SSE', async () => {
    const queue = nameOnShard('ev-kinds', 1)
    const { reader } = await SseReader.open(`${http.base}/events/${queue}`)
    const sse = reader as SseReader
    try {
      const job = await http.data<Job>('POST', `/queues/${queue}/jobs`, { data: 1, timeout: 300, max_attempts: 2, backoff: 0 })
      expect((await sse.next()).event).toBe('pushed')
      await http.data('GET', `/queues/${queue}/jobs?timeout=0`)
      expect([(await sse.next()).event, (await sse.next()).event]).toEqual(['active', 'drained'])
      await http.data('POST', `/jobs/${job.id}/partial`, { data: { rows: 3 }, index: 0 })
      const partial = await sse.next()
      expect(JSON.parse(partial.data)).toMatchObject({ event_type: 'partial', job_id: job.id, data: { chunk: { rows: 3 }, index: 0 } })
      // Not acked within its 300 ms timeout: timeout, then a retry.
      const timedOut = await sse.next(10_000)
      expect(JSON.parse(timedOut.data)).toMatchObject({ event_type: 'timeout', job_id: job.id, error: 'Job timed out' })
      expect((await sse.next(10_000)).event).toBe('retrying')
      await http.data('GET', `/queues/${queue}/jobs?timeout=5000`)
      expect([(await sse.next()).event, (await sse.next()).event]).toEqual(['active', 'drained'])
      await http.data('POST', `/jobs/${job.id}/fail`, { error: 'boom' })
      expect(JSON.parse((await sse.next()).data)).toMatchObject({ event_type: 'failed', job_id: job.id, error: 'boom' })
      // A job pulled and never heartbeated past its stall timeout gets a stall strike.
      const stalling = await http.data<Job>('POST', `/queues/${queue}/jobs`, { data: 2, stall_timeout: 300 })
      expect((await sse.next()).event).toBe('pushed')
      await http.data('GET', `/queues/${queue}/jobs?timeout=0`)
      expect([(await sse.next()).event, (await sse.next()).event]).toEqual(['active', 'drained'])
      const stalled = await sse.next(15_000)
      expect(JSON.parse(stalled.data)).toMatchObject({ event_type: 'stalled', job_id: stalling.id })
    } finally {
      sse.close()
    }
  })

  test('/ws/dashboard sends the snapshot the dashboard reads', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws/dashboard`)
    try {
      await waitFor(async () => ws.messages.length >= 1)
      const snapshot = JSON.parse(ws.messages[0] as string) as Record<string, unknown>
      expect(Object.keys(snapshot).sort()).toEqual([
        'crons', 'metrics', 'metrics_history', 'queues', 'sqlite_stats', 'stats', 'storage_stats', 'system_metrics', 'timestamp', 'workers',
      ])
      expect(snapshot.sqlite_stats).toBeNull()
      expect(snapshot.stats).toMatchObject({ queued: expect.any(Number), processing: expect.any(Number) })
    } finally {
      ws.socket.close()
    }
  })

  test(`at most ${webSocketConnectionsMax} WebSockets; the next upgrade gets 503`, async () => {
    const sockets = await Promise.all(Array.from({ length: webSocketConnectionsMax }, () => openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws`)))
    try {
      const refused = await fetch(`${http.base}/ws`, {
        headers: { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' },
      })
      expect(refused.status).toBe(503)
    } finally {
      for (const { socket } of sockets) socket.close()
    }
    // Closed sockets free their slots.
    await waitFor(async () => {
      const again = await openWebSocket(`ws://127.0.0.1:${server.httpPort}/ws`).catch(() => null)
      again?.socket.close()
      return again !== null
    })
  })
})

describe('slow consumers are bounded', () => {
  test('a subscriber that never reads costs a bounded buffer, and learns why it was dropped', async () => {
    const memoryServer = await startServer({ args: ['--memory', ...shardArgs] })
    const client = new HttpClient(`http://127.0.0.1:${memoryServer.httpPort}`)
    const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${memoryServer.process.pid}/status`, 'utf8'))?.[1]) / 1024
    const socket = connect(memoryServer.httpPort as number, '127.0.0.1')
    try {
      socket.write('GET /events HTTP/1.1\r\nHost: test\r\n\r\n')
      socket.pause() // never read: the kernel buffers fill, then the server must stop queueing for us
      // PARTIAL events carry their data and change no job state: ~2 MB of event per request.
      const queue = nameOnShard('slow', 1)
      const job = await client.data<Job>('POST', `/queues/${queue}/jobs`, { data: 1 })
      await client.data('GET', `/queues/${queue}/jobs?timeout=0`)
      const body = JSON.stringify({ data: 'x'.repeat(2_000_000) })
      for (let round = 0; round < 20; round++) await client.data('POST', `/jobs/${job.id}/partial`, body) // warm-up
      const before = rssMiB()
      const rounds = 300 // 600 MB of events for a reader that takes none of them
      for (let round = 0; round < rounds; round++) await client.data('POST', `/jobs/${job.id}/partial`, body)
      const grownMiB = rssMiB() - before
      expect(grownMiB).toBeLessThan(250)
      // Reading now: the stream says why it ended rather than having buffered everything.
      socket.resume()
      let text = ''
      socket.on('data', (chunk) => (text += chunk.toString()))
      await waitFor(async () => text.includes(`: closed: client too slow: more than ${eventStreamBufferedBytesMax} bytes of events not taken`), 10_000)
    } finally {
      socket.destroy()
      await memoryServer.cleanup()
    }
  })

  test('a WebSocket that never reads is closed once its unsent bytes pass the limit', async () => {
    const memoryServer = await startServer({ args: ['--memory', ...shardArgs] })
    const client = new HttpClient(`http://127.0.0.1:${memoryServer.httpPort}`)
    const socket = connect(memoryServer.httpPort as number, '127.0.0.1')
    let closed = false
    socket.on('close', () => (closed = true))
    let handshake = ''
    socket.once('data', (chunk) => (handshake = chunk.toString('latin1')))
    try {
      socket.write('GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
      await waitFor(async () => handshake.startsWith('HTTP/1.1 101'))
      socket.pause()
      const subscribers = async () => ((await (await client.raw('GET', '/debug/memory')).json()) as { event_subscribers: number }).event_subscribers
      expect(await subscribers()).toBe(1)
      const queue = nameOnShard('slow-ws', 0)
      const job = await client.data<Job>('POST', `/queues/${queue}/jobs`, { data: 1 })
      await client.data('GET', `/queues/${queue}/jobs?timeout=0`)
      const body = JSON.stringify({ data: 'x'.repeat(2_000_000) })
      for (let round = 0; round < 100; round++) await client.data('POST', `/jobs/${job.id}/partial`, body) // 200 MB of events
      expect(await subscribers()).toBe(0) // dropped by the server, not buffered for ever
      socket.resume()
      await waitFor(async () => closed)
    } finally {
      socket.destroy()
      await memoryServer.cleanup()
    }
  })
})
