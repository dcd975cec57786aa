/**
 * REMOVEJOB (extension, BullMQ's job.remove()) against the real server: over TCP (JSON lines and
 * MessagePack) and as HTTP `DELETE /jobs/{id}`, for jobs in every state on both shards (the id picks
 * the shard), unknown ids and the queue guard; then a SIGKILL restart does not bring a removed job back.
 * CANCEL keeps refusing completed and failed jobs (commands-job.test.ts).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { expectError, expectInvalid, nameOnShard, pushActive, push, shardArgs, state, unknownId } from './commands-kit.ts'
import { type HttpClient, startServerWithClients } from './http-kit.ts'

setDefaultTimeout(30_000)

let server: TestServer
let client: WireClient
let http: HttpClient

beforeAll(async () => {
  ;({ server, client, http } = await startServerWithClients(shardArgs))
})
// The last test restarts the server: the one to stop is the restarted one.
afterAll(async () => {
  client.close()
  await server.cleanup()
})

/** A completed job with a result and a log line. */
async function completed(queue: string): Promise<number> {
  const id = await pushActive(client, queue)
  expect(await client.request({ cmd: 'LOG', id, message: 'working' })).toMatchObject({ ok: true })
  expect(await client.request({ cmd: 'ACK', id, result: { sent: true } })).toMatchObject({ ok: true })
  return id
}

/** A job failed for good (in the DLQ), with a log line. */
async function failed(queue: string): Promise<number> {
  const id = await pushActive(client, queue, { max_attempts: 1 })
  expect(await client.request({ cmd: 'LOG', id, message: 'failing' })).toMatchObject({ ok: true })
  expect(await client.request({ cmd: 'FAIL', id, error: 'boom' })).toMatchObject({ ok: true })
  return id
}

/** Asserts that nothing of job `id` can be read any more. */
async function expectGone(id: number): Promise<void> {
  expect(await state(client, id)).toBe('unknown')
  expect(await client.request({ cmd: 'GETJOB', id })).toMatchObject({ ok: true, job: null, state: 'unknown' })
  expect(await client.request({ cmd: 'GETRESULT', id })).toMatchObject({ ok: true, result: null })
  expectError(await client.request({ cmd: 'GETLOGS', id }), `Job ${id} not found`)
}

describe('REMOVEJOB over TCP', () => {
  for (const shard of [0, 1]) {
    test(`removes completed, failed, waiting and active jobs (queue on shard ${shard})`, async () => {
      const queue = nameOnShard('rmj', shard)
      const done = await completed(queue)
      const dead = await failed(queue)
      const waiting = await push(client, queue, { delay: 60_000 })
      const active = await pushActive(client, queue)
      expect(await client.request({ cmd: 'GETJOBCOUNTS', queue })).toMatchObject({ completed: 1, failed: 1, delayed: 1, active: 1 })
      expectError(await client.request({ cmd: 'CANCEL', id: done }), `Job ${done} cannot be cancelled (already completed/failed)`)
      for (const id of [done, dead, waiting, active]) {
        expect(await client.request({ cmd: 'REMOVEJOB', id })).toEqual({ reqId: expect.any(String), ok: true })
        await expectGone(id)
      }
      expect(await client.request({ cmd: 'GETJOBCOUNTS', queue })).toMatchObject({ waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 })
      expect((await client.request({ cmd: 'DLQ', queue })).jobs).toEqual([])
      expectError(await client.request({ cmd: 'ACK', id: active }), `Job ${active} not found`)
      expectError(await client.request({ cmd: 'REMOVEJOB', id: done }), `Job ${done} not found`)
    })
  }

  test('unknown ids, a job of another queue (with `queue`), bad ids; MessagePack', async () => {
    const queue = nameOnShard('rmj', 0)
    expectError(await client.request({ cmd: 'REMOVEJOB', id: unknownId }), `Job ${unknownId} not found`)
    const id = await completed(queue)
    expectError(await client.request({ cmd: 'REMOVEJOB', id, queue: `${queue}-other` }), `Job ${id} not found`)
    expect(await state(client, id)).toBe('completed')
    expectInvalid(await client.request({ cmd: 'REMOVEJOB' }), 'id')
    expectInvalid(await client.request({ cmd: 'REMOVEJOB', id: 'seven' }), 'id')
    const mp = await WireClient.connect(server.tcpPort, 'msgpack')
    try {
      expect(await mp.request({ cmd: 'REMOVEJOB', id, queue })).toMatchObject({ ok: true })
      expectError(await mp.request({ cmd: 'REMOVEJOB', id, queue: null }), `Job ${id} not found`)
    } finally {
      mp.close()
    }
    await expectGone(id)
  })
})

describe('DELETE /jobs/{id}', () => {
  test('removes a completed and a failed job; unknown ids in the envelope; ?queue= guards; bad ids are 400', async () => {
    const queue = nameOnShard('rmh', 1)
    const done = await completed(queue)
    const dead = await failed(queue)
    const guarded = await http.call('DELETE', `/jobs/${done}?queue=${queue}-other`)
    expect(guarded).toEqual({ ok: false, error: `Job ${done} not found` })
    expect(await http.data('GET', `/jobs/${done}/state`)).toBe('completed')
    expect(await http.data('DELETE', `/jobs/${done}?queue=${queue}`)).toBeNull()
    expect(await http.data('DELETE', `/jobs/${dead}`)).toBeNull()
    for (const id of [done, dead]) {
      expect(await http.data('GET', `/jobs/${id}`)).toEqual({ job: null, state: 'unknown', result: null })
      await expectGone(id)
    }
    const again = await http.raw('DELETE', `/jobs/${done}`)
    expect(again.headers.get('x-error-kind')).toBe('notFound')
    expect(await again.json()).toEqual({ ok: false, error: `Job ${done} not found` })
    expect((await http.raw('DELETE', '/jobs/abc')).status).toBe(400)
  })
})

describe('durability', () => {
  test('after a SIGKILL restart a removed completed or failed job stays removed', async () => {
    const queues = [nameOnShard('rmd', 0), nameOnShard('rmd', 1)]
    const removed: number[] = []
    const kept: number[] = []
    for (const queue of queues) {
      removed.push(await completed(queue), await failed(queue))
      kept.push(await completed(queue))
    }
    for (const id of removed) expect(await client.request({ cmd: 'REMOVEJOB', id })).toMatchObject({ ok: true })
    client.close()
    server = await server.restart()
    client = await WireClient.connect(server.tcpPort)
    for (const id of removed) await expectGone(id)
    for (const id of kept) expect(await state(client, id)).toBe('completed')
    for (const queue of queues) {
      expect(await client.request({ cmd: 'GETJOBCOUNTS', queue })).toMatchObject({ completed: 1, failed: 0 })
    }
  })
})
