/**
 * Flows (spec §3.6, §4.12) and depends_on (§4.11) over the real wire, within one shard and across
 * the two shards: parent/child states, GETCHILDREN, release of the parent and of parked jobs.
 */
import { describe, expect, test } from 'bun:test'
import type { TestServer } from '../harness/server.ts'
import type { WireClient } from '../harness/wire-client.ts'
import {
  expectError, expectInvalid, getJob, nameOnShard, pullNow, push, pushActive, shardArgs, sharedServer, shardOfId, state, unknownId, waitForState,
} from './commands-kit.ts'

let server: TestServer
let client: WireClient
sharedServer((started, connected) => {
  server = started
  client = connected
})

/** Runs a flow whose parent is on `parentShard` and whose children are on `childShards`. */
async function flowAcross(parentShard: number, childShards: number[]) {
  const parentQueue = nameOnShard('parent', parentShard)
  const childQueues = childShards.map((shard) => nameOnShard('child', shard))
  const reply = await client.request({
    cmd: 'FLOW', queue: parentQueue, data: { kind: 'parent' }, priority: 4,
    children: childQueues.map((queue, i) => ({ queue, data: { i }, priority: i })),
  })
  expect(reply).toEqual({ reqId: expect.any(String), ok: true, parent_id: expect.any(Number), children_ids: expect.any(Array) })
  return { parentQueue, childQueues, parent: reply.parent_id as number, children: reply.children_ids as number[] }
}

async function completeFlow(flow: Awaited<ReturnType<typeof flowAcross>>) {
  const { parentQueue, childQueues, parent, children } = flow
  expect(children).toHaveLength(childQueues.length)
  // Ids are allocated per shard (the shard is encoded in the id), so only same-shard children are
  // guaranteed to follow the parent's id.
  for (const id of children) if (shardOfId(id) === shardOfId(parent)) expect(id).toBeGreaterThan(parent)
  expect(await state(client, parent)).toBe('waitingparent')
  expect(await getJob(client, parent)).toMatchObject({ id: parent, queue: parentQueue, children_ids: children, children_completed: 0, priority: 4 })
  const listed = await client.request({ cmd: 'GETCHILDREN', parent_id: parent })
  expect(listed).toMatchObject({ ok: true, parent_id: parent, children_ids: children, completed: 0, total: children.length })
  expect((listed.children as Array<{ id: number }>).map((child) => child.id).sort()).toEqual([...children].sort())
  for (const [i, id] of children.entries()) {
    expect(await getJob(client, id)).toMatchObject({ id, queue: childQueues[i], parent_id: parent, data: { i } })
    expect(await state(client, id)).toBe('waiting')
  }
  // The parent is not deliverable while children are pending.
  expect(await pullNow(client, parentQueue)).toBeNull()
  for (const [i, id] of children.entries()) {
    const job = await pullNow(client, childQueues[i] as string)
    expect(job?.id).toBe(id)
    expect(await client.request({ cmd: 'ACK', id, result: i })).toMatchObject({ ok: true })
    if (i < children.length - 1) {
      expect(await client.request({ cmd: 'GETCHILDREN', parent_id: parent })).toMatchObject({ completed: i + 1 })
    }
  }
  await waitForState(client, parent, 'waiting')
  expect((await getJob(client, parent))?.children_completed).toBe(children.length)
  const logs = (await client.request({ cmd: 'GETLOGS', id: parent })).logs as Array<{ message: string }>
  expect(logs.map((entry) => entry.message)).toContain('All children completed, parent job ready')
  expectError(await client.request({ cmd: 'GETCHILDREN', parent_id: parent }), `Parent job ${parent} not found`)
  const pulled = await client.request({ cmd: 'PULL', queue: parentQueue, timeout: 2000 })
  expect(pulled.job).toMatchObject({ id: parent, data: { kind: 'parent' } })
  await client.request({ cmd: 'ACK', id: parent })
  expect(await state(client, parent)).toBe('completed')
}

describe('FLOW / GETCHILDREN', () => {
  test('children in the parent\'s shard: parent waits, is released when every child is acked', async () => {
    const flow = await flowAcross(0, [0, 0])
    for (const id of flow.children) expect(shardOfId(id)).toBe(0)
    await completeFlow(flow)
  })

  test('children in queues of the other shard (and of both shards)', async () => {
    const flow = await flowAcross(0, [1, 0, 1])
    expect(flow.children.map(shardOfId)).toEqual([1, 0, 1])
    await completeFlow(flow)
    const reverse = await flowAcross(1, [0])
    expect(shardOfId(reverse.parent)).toBe(1)
    expect(shardOfId(reverse.children[0] as number)).toBe(0)
    await completeFlow(reverse)
  })

  test('a child acked through ACKB counts too', async () => {
    const flow = await flowAcross(1, [1, 0])
    for (const [i, queue] of flow.childQueues.entries()) expect((await pullNow(client, queue))?.id).toBe(flow.children[i])
    expect(await client.request({ cmd: 'ACKB', ids: flow.children })).toMatchObject({ ok: true, count: 2 })
    await waitForState(client, flow.parent, 'waiting')
  })

  test('a child that fails finally never releases the parent; the parent can be cancelled', async () => {
    const flow = await flowAcross(0, [1])
    const child = flow.children[0] as number
    expect((await pullNow(client, flow.childQueues[0] as string))?.id).toBe(child)
    await client.request({ cmd: 'DISCARD', id: child })
    await Bun.sleep(300)
    expect(await state(client, flow.parent)).toBe('waitingparent')
    expect(await client.request({ cmd: 'CANCEL', id: flow.parent })).toMatchObject({ ok: true })
    expect(await state(client, flow.parent)).toBe('unknown')
  })

  test('FLOW and GETCHILDREN errors', async () => {
    const queue = nameOnShard('flowerr', 0)
    expectError(await client.request({ cmd: 'FLOW', queue, data: 1, children: [] }), 'Flow must have at least one child')
    const badChild = await client.request({ cmd: 'FLOW', queue, data: 1, children: [{ queue: 'bad name!', data: 1 }] })
    expect(badChild.ok).toBe(false)
    expect(badChild.error).toContain('Queue name must contain only alphanumeric characters, underscores, hyphens, or dots')
    expectInvalid(await client.request({ cmd: 'FLOW', queue, data: 1 }), 'children')
    expectError(await client.request({ cmd: 'GETCHILDREN', parent_id: unknownId }), `Parent job ${unknownId} not found`)
    const plain = await push(client, queue)
    expectError(await client.request({ cmd: 'GETCHILDREN', parent_id: plain }), `Parent job ${plain} not found`)
    expectInvalid(await client.request({ cmd: 'GETCHILDREN', parent_id: 'x' }), 'parent_id')
    // Nothing was created by the refused flows.
    expect(await client.request({ cmd: 'COUNT', queue })).toMatchObject({ count: 1 })
  })
})

describe('depends_on', () => {
  async function dependencyCase(depShard: number, jobShard: number) {
    const depQueue = nameOnShard('dep', depShard)
    const jobQueue = nameOnShard('dependent', jobShard)
    const dep = await push(client, depQueue)
    const other = await push(client, nameOnShard('dep', 1 - depShard))
    const id = await push(client, jobQueue, { depends_on: [dep, other] })
    expect(await state(client, id)).toBe('waitingchildren')
    expect((await getJob(client, id))?.depends_on).toEqual([dep, other])
    expect(await pullNow(client, jobQueue)).toBeNull()
    const filtered = await client.request({ cmd: 'GETJOBS', queue: jobQueue, state: 'waiting-children' })
    expect((filtered.jobs as Array<{ id: number }>).map((item) => item.id)).toEqual([id])
    await client.request({ cmd: 'ACK', id: (await pullNow(client, depQueue))?.id })
    await Bun.sleep(200)
    expect(await state(client, id)).toBe('waitingchildren') // one dependency still pending
    const second = await pullNow(client, (await getJob(client, other))?.queue as string)
    await client.request({ cmd: 'ACK', id: second?.id })
    await waitForState(client, id, 'waiting', 5000)
    expect((await pullNow(client, jobQueue))?.id).toBe(id)
  }

  test('dependencies in the same shard and in the other shard', async () => {
    await dependencyCase(0, 0)
    await dependencyCase(1, 0)
    await dependencyCase(0, 1)
  })

  test('an already completed dependency does not park the job (same shard: at once; other shard: promptly)', async () => {
    const same = await pushActive(client, nameOnShard('dep', 0))
    await client.request({ cmd: 'ACK', id: same })
    const id = await push(client, nameOnShard('dependent', 0), { depends_on: [same] })
    expect(await state(client, id)).toBe('waiting')
    // Across shards the completed-id set lives in the other shard; the job may be parked briefly.
    const remote = await pushActive(client, nameOnShard('dep', 1))
    await client.request({ cmd: 'ACK', id: remote })
    const crossId = await push(client, nameOnShard('dependent', 0), { depends_on: [remote] })
    await waitForState(client, crossId, 'waiting', 2000)
  })

  test('a failed dependency blocks forever; the parked job can be cancelled', async () => {
    const dep = await pushActive(client, nameOnShard('dep', 1), { max_attempts: 1 })
    const id = await push(client, nameOnShard('dependent', 0), { depends_on: [dep] })
    await client.request({ cmd: 'FAIL', id: dep })
    await Bun.sleep(300)
    expect(await state(client, id)).toBe('waitingchildren')
    expect(await client.request({ cmd: 'CANCEL', id })).toMatchObject({ ok: true })
    expect(await state(client, id)).toBe('unknown')
    expectInvalid(await client.request({ cmd: 'PUSH', queue: nameOnShard('dependent', 0), data: 1, depends_on: ['x'] }), 'depends_on')
  })
})
