/**
 * Durability across SIGKILL (default durable mode): jobs in every state, crons, KV entries, paused
 * queues, rate and concurrency limits are set up, the server is killed with SIGKILL and restarted on
 * the same data directory, and the observable state is checked.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { startServer, type TestServer } from '../harness/server.ts'
import { type Reply, WireClient } from '../harness/wire-client.ts'
import { nameOnShard, pullNow, shardArgs, state, waitForState } from './commands-kit.ts'

setDefaultTimeout(30_000)

let first: TestServer
let second: TestServer
let client: WireClient

const q = {
  waiting: nameOnShard('rs-waiting', 0),
  delayed: nameOnShard('rs-delayed', 1),
  active: nameOnShard('rs-active', 0),
  dlq: nameOnShard('rs-dlq', 1),
  depSource: nameOnShard('rs-depsrc', 1),
  dependent: nameOnShard('rs-dependent', 0),
  parent: nameOnShard('rs-parent', 0),
  child: nameOnShard('rs-child', 0),
  done: nameOnShard('rs-done', 1),
  paused: nameOnShard('rs-paused', 0),
  rate: nameOnShard('rs-rate', 1),
  conc: nameOnShard('rs-conc', 0),
  cron: nameOnShard('rs-cron', 1),
}
const kv = { plain: nameOnShard('rs-kv', 0), withTtl: nameOnShard('rs-kv', 1), counter: nameOnShard('rs-kv', 1) }
const cronNames = { schedule: nameOnShard('rs-cron-a', 0), repeat: nameOnShard('rs-cron-b', 1) }
const ids = {
  waiting: 0, delayed: 0, active: 0, dlq: 0, depSource: 0, dependent: 0, parent: 0, child1: 0, child2: 0, done: 0, paused: 0,
}
const before: Record<string, Reply> = {}
let killedAtMs = 0

async function idOf(reply: Promise<Reply>): Promise<number> {
  const value = await reply
  if (!value.ok) throw new Error(`setup failed: ${JSON.stringify(value)}`)
  return value.id as number
}

beforeAll(async () => {
  first = await startServer({ args: shardArgs })
  client = await WireClient.connect(first.tcpPort)
  const r = (command: Record<string, unknown>) => client.request(command)

  ids.waiting = await idOf(r({ cmd: 'PUSH', queue: q.waiting, data: { w: 1 }, priority: 2, tags: ['t'] }))
  ids.delayed = await idOf(r({ cmd: 'PUSH', queue: q.delayed, data: 'later', delay: 600_000 }))
  ids.active = await idOf(r({ cmd: 'PUSH', queue: q.active, data: 'busy', unique_key: 'act' }))
  await r({ cmd: 'PULL', queue: q.active, timeout: 0 })
  ids.dlq = await idOf(r({ cmd: 'PUSH', queue: q.dlq, data: 'doomed', max_attempts: 1 }))
  await r({ cmd: 'PULL', queue: q.dlq, timeout: 0 })
  await r({ cmd: 'FAIL', id: ids.dlq, error: 'kaput' })
  ids.depSource = await idOf(r({ cmd: 'PUSH', queue: q.depSource, data: 'first' }))
  ids.dependent = await idOf(r({ cmd: 'PUSH', queue: q.dependent, data: 'second', depends_on: [ids.depSource] }))
  const flow = await r({ cmd: 'FLOW', queue: q.parent, data: 'parent', children: [{ queue: q.child, data: 'c1' }, { queue: q.child, data: 'c2' }] })
  ids.parent = flow.parent_id as number
  ids.child1 = (flow.children_ids as number[])[0] as number
  ids.child2 = (flow.children_ids as number[])[1] as number
  const c1 = await r({ cmd: 'PULL', queue: q.child, timeout: 0 })
  await r({ cmd: 'ACK', id: c1.job?.id })
  ids.done = await idOf(r({ cmd: 'PUSH', queue: q.done, data: 'x' }))
  await r({ cmd: 'PULL', queue: q.done, timeout: 0 })
  await r({ cmd: 'ACK', id: ids.done, result: { answer: 42 } })
  await r({ cmd: 'PAUSE', queue: q.paused })
  ids.paused = await idOf(r({ cmd: 'PUSH', queue: q.paused, data: 'held' }))
  await r({ cmd: 'RATELIMIT', queue: q.rate, limit: 1 })
  await r({ cmd: 'PUSHB', queue: q.rate, jobs: [{ data: 1 }, { data: 2 }, { data: 3 }] })
  await r({ cmd: 'SETCONCURRENCY', queue: q.conc, limit: 1 })
  await r({ cmd: 'PUSHB', queue: q.conc, jobs: [{ data: 1 }, { data: 2 }] })
  await r({ cmd: 'PULL', queue: q.conc, timeout: 0 })
  // Crons and KV last: if they are refused, the job state above is still set up.
  before.cronA = await r({ cmd: 'CRON', name: cronNames.schedule, queue: q.cron, data: { c: 1 }, schedule: '0 0 1 1 *', priority: 2 })
  before.cronB = await r({ cmd: 'CRON', name: cronNames.repeat, queue: q.cron, data: 'r', repeat_every: 3_600_000, limit: 5 })
  before.cronList = await r({ cmd: 'CRONLIST' })
  await r({ cmd: 'KVSET', key: kv.plain, value: { keep: [1, 2] } })
  await r({ cmd: 'KVSET', key: kv.withTtl, value: 'temporary', ttl: 600_000 })
  await r({ cmd: 'KVINCR', key: kv.counter, by: 5 })
  before.kvTtl = await r({ cmd: 'KVTTL', key: kv.withTtl })
  before.highestId = { ok: true, id: Math.max(...Object.values(ids)) }

  client.close()
  killedAtMs = Date.now()
  second = await first.restart() // SIGKILL, then the same data directory
  client = await WireClient.connect(second.tcpPort)
})

afterAll(async () => {
  client?.close()
  await second?.kill('SIGKILL')
  await first.cleanup()
})

describe('after SIGKILL and restart', () => {
  test('waiting, delayed, completed (with result) and DLQ jobs keep their state and data', async () => {
    expect(await client.request({ cmd: 'GETJOB', id: ids.waiting })).toMatchObject({ state: 'waiting', job: { data: { w: 1 }, priority: 2, tags: ['t'] } })
    expect(await client.request({ cmd: 'GETJOB', id: ids.delayed })).toMatchObject({ state: 'delayed', job: { data: 'later' } })
    expect(await state(client, ids.done)).toBe('completed')
    expect(await client.request({ cmd: 'GETRESULT', id: ids.done })).toMatchObject({ ok: true, result: { answer: 42 } })
    expect(await state(client, ids.dlq)).toBe('failed')
    const dlq = await client.request({ cmd: 'DLQ', queue: q.dlq })
    expect((dlq.jobs as any[]).map((job) => job.id)).toEqual([ids.dlq])
    expect((dlq.jobs as any[])[0]).toMatchObject({ attempts: 1, data: 'doomed' })
    expect(await client.request({ cmd: 'GETJOBCOUNTS', queue: q.done })).toMatchObject({ completed: 1 })
  })

  test('the active job comes back as waiting and can be processed', async () => {
    expect(await state(client, ids.active)).toBe('waiting')
    expect((await pullNow(client, q.active))?.id).toBe(ids.active)
    // Its unique key is still held while it is active again.
    expect(await client.request({ cmd: 'PUSH', queue: q.active, data: 1, unique_key: 'act' })).toMatchObject({ ok: false, error: 'Duplicate job with key: act' })
    expect(await client.request({ cmd: 'ACK', id: ids.active })).toMatchObject({ ok: true })
  })

  test('the dependent job is still waitingchildren and is released after its dependency is acked', async () => {
    expect(await state(client, ids.dependent)).toBe('waitingchildren')
    expect((await pullNow(client, q.depSource))?.id).toBe(ids.depSource)
    await client.request({ cmd: 'ACK', id: ids.depSource })
    await waitForState(client, ids.dependent, 'waiting', 5000)
    expect((await pullNow(client, q.dependent))?.id).toBe(ids.dependent)
  })

  test('the flow parent is still waitingparent with its children, and is released by the last child', async () => {
    expect(await state(client, ids.parent)).toBe('waitingparent')
    const children = await client.request({ cmd: 'GETCHILDREN', parent_id: ids.parent })
    expect(children).toMatchObject({ ok: true, parent_id: ids.parent, children_ids: [ids.child1, ids.child2], completed: 1, total: 2 })
    expect((await pullNow(client, q.child))?.id).toBe(ids.child2)
    await client.request({ cmd: 'ACK', id: ids.child2 })
    await waitForState(client, ids.parent, 'waiting', 5000)
  })

  test('the paused queue is still paused', async () => {
    expect(await client.request({ cmd: 'ISPAUSED', queue: q.paused })).toMatchObject({ ok: true, paused: true })
    expect(await pullNow(client, q.paused)).toBeNull()
    await client.request({ cmd: 'RESUME', queue: q.paused })
    expect((await pullNow(client, q.paused))?.id).toBe(ids.paused)
  })

  test('the rate limit still applies', async () => {
    const info = ((await client.request({ cmd: 'LISTQUEUES' })).queues as any[]).find((queue) => queue.name === q.rate)
    expect(info).toMatchObject({ rate_limit: 1, pending: 3 })
    expect(await pullNow(client, q.rate)).not.toBeNull()
    expect(await pullNow(client, q.rate)).toBeNull()
  })

  test('the concurrency limit still applies (the formerly active job is waiting again)', async () => {
    const info = ((await client.request({ cmd: 'LISTQUEUES' })).queues as any[]).find((queue) => queue.name === q.conc)
    expect(info).toMatchObject({ concurrency_limit: 1, pending: 2, processing: 0 })
    expect(await pullNow(client, q.conc)).not.toBeNull()
    expect(await pullNow(client, q.conc)).toBeNull()
  })

  test('the cron list is the same', async () => {
    expect(before.cronA).toMatchObject({ ok: true })
    expect(before.cronB).toMatchObject({ ok: true })
    const after = await client.request({ cmd: 'CRONLIST' })
    const pick = (reply: Reply) => (reply.crons as any[])
      .filter((cron) => cron.name === cronNames.schedule || cron.name === cronNames.repeat)
      .sort((a, b) => (a.name < b.name ? -1 : 1))
    expect(pick(after)).toHaveLength(2)
    expect(pick(after)).toEqual(pick(before.cronList as Reply))
  })

  test('KV values and TTLs survive', async () => {
    expect(await client.request({ cmd: 'KVGET', key: kv.plain })).toMatchObject({ ok: true, value: { keep: [1, 2] } })
    expect(await client.request({ cmd: 'KVTTL', key: kv.plain })).toMatchObject({ ttl: -1 })
    expect(await client.request({ cmd: 'KVGET', key: kv.withTtl })).toMatchObject({ ok: true, value: 'temporary' })
    const ttl = (await client.request({ cmd: 'KVTTL', key: kv.withTtl })).ttl as number
    expect(before.kvTtl?.ttl).toBeGreaterThan(590_000)
    expect(ttl).toBeLessThanOrEqual(before.kvTtl?.ttl as number)
    expect(ttl).toBeGreaterThan((before.kvTtl?.ttl as number) - (Date.now() - killedAtMs) - 5000)
    expect(await client.request({ cmd: 'KVINCR', key: kv.counter })).toMatchObject({ ok: true, value: 6 })
  })

  test('ids are not reused', async () => {
    const reply = await client.request({ cmd: 'PUSH', queue: q.waiting, data: 'new' })
    expect(reply.id).toBeGreaterThan(before.highestId?.id as number)
  })
})
