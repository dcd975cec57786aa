/**
 * A custom id (`job_id`) names one live job across the whole server (spec §4.10), also when it is
 * pushed into queues that live on different shards (server/custom-ids.ts).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { shardOfName } from '../../src/base/hash.ts'
import { startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

const shardCount = 4
let server: TestServer
let client: WireClient

/** Two queue names on different shards, fresh for each test. */
let testNumber = 0
function queuesOnTwoShards(): [string, string] {
  testNumber++
  const first = `cid-a-${testNumber}`
  for (let n = 0; ; n++) {
    const second = `cid-b-${testNumber}-${n}`
    if (shardOfName(second, shardCount) !== shardOfName(first, shardCount)) return [first, second]
  }
}

beforeAll(async () => {
  // Worker hosts: the question to the other shards crosses threads, as on a machine with cores.
  server = await startServer({ args: ['--shards', String(shardCount), '--workers', '2', '--memory'] })
  client = await WireClient.connect(server.tcpPort)
})
afterAll(async () => {
  client.close()
  await server.cleanup()
})

async function waitingIn(queue: string): Promise<number> {
  const reply = await client.request({ cmd: 'GETJOBCOUNTS', queue })
  return reply.waiting as number
}

test('a known custom id pushed into a queue of another shard returns the existing job and creates none', async () => {
  const [queueA, queueB] = queuesOnTwoShards()
  const first = await client.request({ cmd: 'PUSH', queue: queueA, data: 1, job_id: 'order-1' })
  const again = await client.request({ cmd: 'PUSH', queue: queueB, data: 2, job_id: 'order-1' })
  expect(again).toEqual({ ok: true, id: first.id, reqId: again.reqId })
  const camel = await client.request({ cmd: 'PUSH', queue: queueB, data: 3, jobId: 'order-1' })
  expect(camel.id).toBe(first.id)
  expect(await waitingIn(queueB)).toBe(0)
  const found = await client.request({ cmd: 'GETJOBBYCUSTOMID', job_id: 'order-1' })
  expect(found.job).toMatchObject({ id: first.id, queue: queueA, data: 1 })
})

test('once the job completed, the custom id is free again (a new job in the other shard)', async () => {
  const [queueA, queueB] = queuesOnTwoShards()
  const first = await client.request({ cmd: 'PUSH', queue: queueA, data: 1, job_id: 'done-1' })
  const pulled = await client.request({ cmd: 'PULL', queue: queueA, timeout: 1000 })
  expect(pulled.job.id).toBe(first.id)
  expect((await client.request({ cmd: 'ACK', id: first.id })).ok).toBe(true)
  const second = await client.request({ cmd: 'PUSH', queue: queueB, data: 2, job_id: 'done-1' })
  expect(second.id).not.toBe(first.id)
  expect(await waitingIn(queueB)).toBe(1)
})

test('PUSHB: items known elsewhere keep their place among the new ids and the refused items', async () => {
  const [queueA, queueB] = queuesOnTwoShards()
  const known = await client.request({ cmd: 'PUSH', queue: queueA, data: 'k', job_id: 'batch-known' })
  const reply = await client.request({
    cmd: 'PUSHB', queue: queueB, jobs: [
      { data: 'new-1', job_id: 'batch-new' },
      { data: 'dup', job_id: 'batch-known' },
      { data: 'refused', unique_key: 'u' },
      { data: 'refused', unique_key: 'u' },
      { data: 'dup-again', jobId: 'batch-known' },
      { data: 'plain' },
    ],
  })
  expect(reply.ok).toBe(true)
  expect(reply.errors).toEqual([{ index: 3, error: expect.stringContaining('u') }])
  expect(reply.ids).toHaveLength(5)
  expect(reply.ids[1]).toBe(known.id)
  expect(reply.ids[3]).toBe(known.id)
  const created = [reply.ids[0], reply.ids[2], reply.ids[4]]
  expect(new Set([...created, known.id]).size).toBe(4)
  expect(await waitingIn(queueB)).toBe(3)
  const all = await client.request({ cmd: 'PUSHB', queue: queueB, jobs: [{ data: 1, job_id: 'batch-known' }] })
  expect(all).toMatchObject({ ok: true, ids: [known.id], errors: [] })
})

test('pushes of the same custom ids racing into two shards make exactly one job per id', async () => {
  const [queueA, queueB] = queuesOnTwoShards()
  // Many connections per side, so that the two pushes of an id are read in the same turn.
  const connectionsPerQueue = 8
  const connect = () => Promise.all(Array.from({ length: connectionsPerQueue }, () => WireClient.connect(server.tcpPort)))
  const [sideA, sideB] = await Promise.all([connect(), connect()])
  const pushAll = (ids: string[], side: WireClient[], queue: string) =>
    Promise.all(ids.map((jobId, n) => (side[n % connectionsPerQueue] as WireClient).request({ cmd: 'PUSH', queue, data: queue, job_id: jobId })))
  // Several rounds: without the gate one round makes duplicates about every other run.
  const rounds = 5
  for (let round = 0; round < rounds; round++) {
    const ids = Array.from({ length: 400 }, (_, n) => `race-${round}-${n}`)
    const [fromA, fromB] = await Promise.all([pushAll(ids, sideA, queueA), pushAll(ids, sideB, queueB)])
    ids.forEach((_jobId, n) => expect(fromB[n]?.id).toBe(fromA[n]?.id))
  }
  for (const connection of [...sideA, ...sideB]) connection.close()
  expect((await waitingIn(queueA)) + (await waitingIn(queueB))).toBe(rounds * 400)
})

test('requests pipelined behind a push with a custom id run after it', async () => {
  const [, queueB] = queuesOnTwoShards()
  // No reqId: replies in order; the PULL (timeout 0) is sent before the PUSH's reply came.
  const push = client.requestInOrder({ cmd: 'PUSH', queue: queueB, data: 'first', job_id: 'piped-1' })
  const pull = client.requestInOrder({ cmd: 'PULL', queue: queueB, timeout: 0 })
  const [pushed, pulled] = await Promise.all([push, pull])
  expect(pulled.job?.id).toBe(pushed.id)
  await client.request({ cmd: 'ACK', id: pushed.id })
})

test('HTTP push with a custom id known in another shard answers the existing job', async () => {
  const [queueA, queueB] = queuesOnTwoShards()
  const first = await client.request({ cmd: 'PUSH', queue: queueA, data: { n: 1 }, job_id: 'http-1' })
  const response = await fetch(`http://127.0.0.1:${server.httpPort}/queues/${queueB}/jobs`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { n: 2 }, job_id: 'http-1' }),
  })
  const body = await response.json() as { ok: boolean; data: { id: number; queue: string; data: unknown } }
  expect(response.status).toBe(200)
  expect(body.data).toMatchObject({ id: first.id, queue: queueA, data: { n: 1 } })
  expect(await waitingIn(queueB)).toBe(0)
})
