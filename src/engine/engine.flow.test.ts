import { describe, expect, test } from 'bun:test'
import { Cluster, Harness, flat, nameOnShard, restart } from './test-helpers.ts'
import { outboxResendIntervalMs } from './engine-limits.ts'

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
    // One record: the parent first, then its children (a crash keeps all of them or none).
    expect(s0.records.map((r) => r.t)).toEqual(['tx'])
    expect(flat(s0.records).map((r) => [r.t, r.i])).toEqual([['j', parentId], ['j', childIds[0]], ['j', childIds[1]]])
    expect(flat(s0.records)[1]).toMatchObject({ par: parentId })
    expect(s0.state(parentId)).toBe('waitingparent')
    expect(s0.state(childIds[1] as number)).toBe('delayed')
  })

  test('a remote child is created on its queue\'s shard; the reply waits for its id', () => {
    const cluster = new Cluster(2)
    const [s0, s1] = cluster.shards as [Harness, Harness]
    const { token, reply } = flow(s0, [{ queue: remote, data: 'r', priority: 4 }, { queue: local, data: 'l' }])
    expect(reply).toBeUndefined()
    expect(s0.messages[0]!.message).toMatchObject({
      t: 'outbox', v: 1, from: 0, seq: 1, body: { type: 'flowChild', index: 0, queue: remote, data: 'r', priority: 4 },
    })
    expect(cluster.deliver()).toBe(4) // flowChild, its ack, flowChildId, its ack
    const answer = s0.take(token)!
    expect(answer.ok).toBe(true)
    const parentId = answer.parent_id as number
    const [remoteId, localId] = answer.children_ids as [number, number]
    expect(remoteId % 2).toBe(1) // allocated by shard 1
    expect(localId % 2).toBe(0)
    expect(s0.records.map((r) => r.t)).toEqual(['tx', 'in', 'oa'])
    expect(flat(s0.records).map((r) => r.t)).toEqual(['j', 'j', 'ob', 'fci', 'oa'])
    expect(s1.records[0]).toMatchObject({ t: 'in', from: 0, n: 1, r: [{ t: 'j', i: remoteId, par: parentId }, { t: 'ob', to: 0, n: 1 }] })
    const listing = s0.send({ cmd: 'GETCHILDREN', parent_id: parentId })
    expect(listing.reply).toBeUndefined()
    expect(s0.messages[0]!.message).toEqual({ t: 'childrenQuery', v: 1, from: 0, queryId: 1, ids: [remoteId] })
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
    expect(restarted.messages.map((m) => m.message)).toEqual([request.message])
    cluster.deliver() // a repeat: acknowledged, not applied again
    expect(s1.call({ cmd: 'COUNT', queue: remote }).count).toBe(1)
    const parentId = flat(s0.records)[0]!.i as number
    expect(restarted.call({ cmd: 'GETCHILDREN', parent_id: parentId }).children_ids).toEqual([0])
    // The child shard's answer was not acknowledged either: it goes again after the resend interval.
    cluster.advance(outboxResendIntervalMs)
    cluster.deliver()
    const childId = (flat(s1.records)[0]!.i as number)
    const listing = restarted.send({ cmd: 'GETCHILDREN', parent_id: parentId })
    cluster.deliver()
    expect(restarted.take(listing.token)).toMatchObject({ children_ids: [childId], children: [{ id: childId, parent_id: parentId }] })
    expect(restarted.engine.core.links.outbox.pendingCount()).toBe(0)
    expect(s1.engine.core.links.outbox.pendingCount()).toBe(0)
    // Nothing is pending any more after another restart.
    expect(restart(restarted).engine.nextWakeMs()).toBe(Infinity)
  })

  test('the child shard restarts too: a repeated request is recognised by its number', () => {
    const cluster = new Cluster(2)
    const [s0, s1] = cluster.shards as [Harness, Harness]
    flow(s0, [{ queue: remote, data: 'r' }])
    const request = s0.messages.splice(0)[0]!
    s1.engine.receive(request.message, s1.now)
    s1.collect()
    s1.messages.splice(0)
    const child = restart(s1, [...s1.engine.snapshot()])
    cluster.shards[1] = child
    child.engine.receive(request.message, child.now)
    child.collect()
    expect(child.call({ cmd: 'COUNT', queue: remote }).count).toBe(1)
    expect(child.messages.map((m) => m.message.t)).toEqual(['outboxAck'])
    cluster.deliver()
    cluster.advance(0) // the restarted child shard re-sends its pending answer
    expect(cluster.deliver()).toBe(2)
    expect(s0.engine.core.links.outbox.pendingCount() + child.engine.core.links.outbox.pendingCount()).toBe(0)
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
    s0.messages.splice(0)
    cluster.advance(30_000)
    const answer = s0.take(first.token)!
    expect(answer.ok).toBe(false)
    expect(answer.error).toContain('not confirmed within 30000 ms')
    expect(s0.late.has(second.token)).toBe(false)
  })

  test('snapshot keeps the pending messages and the numbers', () => {
    const cluster = new Cluster(2)
    const [s0, s1] = cluster.shards as [Harness, Harness]
    flow(s0, [{ queue: remote, data: 'r' }, { queue: local, data: 'l' }])
    const snapshot = [...s0.engine.snapshot()]
    expect(snapshot.filter((r) => r.t === 'ob').length).toBe(1)
    expect(snapshot.filter((r) => r.t === 'os')).toEqual([{ t: 'os', to: 1, n: 1 }])
    const restarted = restart(s0, snapshot)
    cluster.shards[0] = restarted
    s0.messages.splice(0)
    cluster.advance(0)
    cluster.deliver()
    expect(s1.call({ cmd: 'COUNT', queue: remote }).count).toBe(1)
    expect([...s1.engine.snapshot()].filter((r) => r.t === 'is')).toEqual([{ t: 'is', from: 0, n: 1 }])
    expect([...restarted.engine.snapshot()].filter((r) => r.t === 'ob')).toEqual([])
  })

  test('older logs: a flow child request without its answer (fq) is sent again as an outbox message', () => {
    const cluster = new Cluster(2)
    const [, s1] = cluster.shards as [Harness, Harness]
    const parentId = 2
    const legacy = [
      { t: 'j', i: parentId, q: local, d: 'p', c: s1.now, ch: [0], l: 8 },
      { t: 'fq', i: parentId, x: 0, s: 1, q: remote, d: 'r', p: 0, dl: null },
    ]
    const s0 = restart(cluster.shards[0] as Harness, legacy)
    cluster.shards[0] = s0
    cluster.advance(0)
    cluster.deliver()
    const childId = flat(s1.records)[0]!.i as number
    expect(s0.engine.core.jobs.get(parentId)!.childrenIds).toEqual([childId])
    s1.pull(remote)
    s1.call({ cmd: 'ACK', id: childId })
    cluster.deliver()
    expect(s0.pull(local)!.id).toBe(parentId)
  })
})
