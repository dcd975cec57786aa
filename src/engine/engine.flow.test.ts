import { describe, expect, test } from 'bun:test'
import { Cluster, Harness, nameOnShard, restart } from './test-helpers.ts'

const local = nameOnShard('local', 0, 2)
const remote = nameOnShard('remote', 1, 2)

function flow(h: Harness, children: Array<Record<string, unknown>>) {
  return h.send({ cmd: 'FLOW', queue: local, data: { p: 1 }, children })
}

describe('FLOW across shards', () => {
  test('all-local flow answers at once; the parent is recorded before its children', () => {
    const cluster = new Cluster(2)
    const s0 = cluster.shards[0] as Harness
    const { reply } = flow(s0, [{ queue: local, data: 1 }, { queue: local, data: 2, delay: 500 }])
    expect(reply).toMatchObject({ ok: true })
    const parentId = reply!.parent_id as number
    const childIds = reply!.children_ids as number[]
    expect(s0.messages).toEqual([])
    expect(s0.records.map((r) => [r.t, r.i])).toEqual([['j', parentId], ['j', childIds[0]], ['j', childIds[1]]])
    expect(s0.records[1]).toMatchObject({ par: parentId })
    expect(s0.state(parentId)).toBe('waitingparent')
    expect(s0.state(childIds[1] as number)).toBe('delayed')
  })

  test('a remote child is created on its queue\'s shard; the reply waits for its id', () => {
    const cluster = new Cluster(2)
    const [s0, s1] = cluster.shards as [Harness, Harness]
    const { token, reply } = flow(s0, [{ queue: remote, data: 'r', priority: 4 }, { queue: local, data: 'l' }])
    expect(reply).toBeUndefined()
    expect(s0.messages[0]!.message).toMatchObject({ t: 'flowchild', s: 0, index: 0, queue: remote, data: 'r', priority: 4 })
    expect(cluster.deliver()).toBe(2)
    const answer = s0.take(token)!
    expect(answer.ok).toBe(true)
    const parentId = answer.parent_id as number
    const [remoteId, localId] = answer.children_ids as [number, number]
    expect(remoteId % 2).toBe(1) // allocated by shard 1
    expect(localId % 2).toBe(0)
    expect(s0.records.map((r) => r.t)).toEqual(['j', 'j', 'fq', 'fci'])
    expect(s1.records[0]).toMatchObject({ t: 'j', i: remoteId, par: parentId, fk: `${parentId}:0` })
    const listing = s0.send({ cmd: 'GETCHILDREN', parent_id: parentId })
    expect(listing.reply).toBeUndefined()
    expect(s0.messages[0]!.message).toEqual({ t: 'childrenget', s: 0, r: 1, ids: [remoteId] })
    cluster.deliver()
    const listed = s0.take(listing.token)!
    expect(listed).toMatchObject({ ok: true, parent_id: parentId, children_ids: [remoteId, localId], completed: 0, total: 2 })
    expect((listed.children as Array<{ id: number }>).map((job) => job.id)).toEqual([remoteId, localId])
    // A shard that never answers: the reply goes out with the local children after the timeout.
    const stuck = s0.send({ cmd: 'GETCHILDREN', parent_id: parentId })
    s0.messages.splice(0)
    cluster.advance(30_000)
    expect((s0.take(stuck.token)!.children as Array<{ id: number }>).map((job) => job.id)).toEqual([localId])

    // Children complete on their shards; the parent becomes ready after the last one.
    const child = s1.pull(remote)!
    expect(child).toMatchObject({ id: remoteId, parent_id: parentId, priority: 4 })
    s1.call({ cmd: 'ACK', id: remoteId })
    cluster.deliver()
    expect(s0.state(parentId)).toBe('waitingparent')
    expect(s0.pull(local)!.id).toBe(localId)
    s0.call({ cmd: 'ACK', id: localId })
    expect(s0.pull(local)!.id).toBe(parentId)
  })

  test('crash before the child shard answered: the restarted parent shard asks again, child exists once', () => {
    const cluster = new Cluster(2)
    const [s0, s1] = cluster.shards as [Harness, Harness]
    const { reply } = flow(s0, [{ queue: remote, data: 'r' }])
    expect(reply).toBeUndefined()
    // The child shard got the request and created the child, but its answer is lost in the crash.
    const request = s0.messages.splice(0)[0]!
    s1.engine.receive(request.message, s1.now)
    s1.collect()
    s1.messages.splice(0)
    const restarted = restart(s0)
    cluster.shards[0] = restarted
    expect(restarted.engine.nextWakeMs()).toBe(0)
    cluster.advance(0)
    expect(restarted.messages.map((m) => m.message.t)).toEqual(['flowchild'])
    cluster.deliver()
    expect(s1.call({ cmd: 'COUNT', queue: remote }).count).toBe(1)
    const parentId = (s0.records[0]!.i as number)
    const childId = (s1.records[0]!.i as number)
    const listing = restarted.send({ cmd: 'GETCHILDREN', parent_id: parentId })
    cluster.deliver()
    expect(restarted.take(listing.token)).toMatchObject({ children_ids: [childId], children: [{ id: childId, parent_id: parentId }] })
    expect(restarted.engine.core.flowRequests.size).toBe(0)
    // Nothing is pending any more after another restart.
    expect(restart(restarted).engine.nextWakeMs()).toBe(Infinity)
  })

  test('the child shard restarts too: a repeated request still maps to the same child', () => {
    const cluster = new Cluster(2)
    const [s0, s1] = cluster.shards as [Harness, Harness]
    flow(s0, [{ queue: remote, data: 'r' }])
    const request = s0.messages.splice(0)[0]!
    s1.engine.receive(request.message, s1.now)
    s1.collect()
    s1.messages.splice(0)
    const child = restart(s1, [...s1.engine.snapshot()])
    child.engine.receive(request.message, child.now)
    child.collect()
    expect(child.call({ cmd: 'COUNT', queue: remote }).count).toBe(1)
    expect(child.messages[0]!.message).toMatchObject({ t: 'flowchildid', id: (s1.records[0]!.i as number) })
  })

  test('crash before the parent was durable: no request left, nothing to resend', () => {
    const s0 = new Cluster(2).shards[0] as Harness
    flow(s0, [{ queue: remote, data: 'r' }])
    const restarted = restart(s0, [])
    expect(restarted.engine.nextWakeMs()).toBe(Infinity)
  })

  test('unanswered remote children time out the reply with a clear error; a closed connection gets nothing', () => {
    const cluster = new Cluster(2)
    const s0 = cluster.shards[0] as Harness
    const first = flow(s0, [{ queue: remote, data: 'r' }])
    const second = flow(s0, [{ queue: remote, data: 'r' }])
    s0.engine.cancelWaiters([second.token])
    cluster.advance(30_000)
    const answer = s0.take(first.token)!
    expect(answer.ok).toBe(false)
    expect(answer.error).toContain('not confirmed within 30000 ms')
    expect(s0.late.has(second.token)).toBe(false)
  })

  test('a cancelled parent stops asking for its remote children after a restart', () => {
    const cluster = new Cluster(2)
    const s0 = cluster.shards[0] as Harness
    flow(s0, [{ queue: remote, data: 'r' }])
    const parentId = s0.records[0]!.i as number
    expect(s0.call({ cmd: 'CANCEL', id: parentId })).toEqual({ ok: true })
    expect(s0.engine.core.flowRequests.size).toBe(0)
    expect(restart(s0).engine.core.flowRequests.size).toBe(0)
  })

  test('snapshot keeps the pending requests and the child keys', () => {
    const cluster = new Cluster(2)
    const [s0, s1] = cluster.shards as [Harness, Harness]
    flow(s0, [{ queue: remote, data: 'r' }, { queue: local, data: 'l' }])
    const snapshot = [...s0.engine.snapshot()]
    expect(snapshot.filter((r) => r.t === 'fq').length).toBe(1)
    const restarted = restart(s0, snapshot)
    cluster.shards[0] = restarted
    s0.messages.splice(0)
    cluster.advance(0)
    cluster.deliver()
    expect(s1.call({ cmd: 'COUNT', queue: remote }).count).toBe(1)
    expect([...s1.engine.snapshot()].filter((r) => r.t === 'fk').length).toBe(1)
  })
})
