/**
 * Cross-shard messages survive a crash at every point: each scenario runs on two shards, then every
 * crash state (one durable record prefix per shard, consistent with what the messages needed) is
 * restarted and run until quiet. An acknowledged dependent job or flow parent must run exactly once.
 */
import { describe, expect, test } from 'bun:test'
import { CrashCluster } from './crash-points.ts'
import { Cluster, type Harness, nameOnShard } from './test-helpers.ts'
import { outboxPendingMessagesMax } from '../base/limits.ts'
import { tooManyPendingShardMessages } from '../protocol/errors.ts'

const q0 = nameOnShard('dependent', 0, 2)
const q1 = nameOnShard('dependency', 1, 2)

/** The crash states (as `[prefix0, prefix1]`) after which `check` fails, with its complaint. */
function failures(cluster: CrashCluster, check: (after: CrashCluster, state: number[]) => string | null): string[] {
  const failed: string[] = []
  const states = cluster.crashStates()
  expect(states.length).toBeGreaterThan(3)
  for (const state of states) {
    const problem = check(cluster.crashAt(state), state)
    if (problem !== null) failed.push(`[${state.join(', ')}]: ${problem}`)
  }
  return failed
}

function ranOnce(after: CrashCluster, shard: number, id: number, pulls: Map<number, number>): string | null {
  const state = after.shards[shard]!.state(id)
  if (state !== 'completed') return `job ${id} is ${state}`
  if (pulls.get(id) !== 1) return `job ${id} ran ${pulls.get(id) ?? 0} times`
  return null
}

describe('cross-shard outbox: every crash point', () => {
  test('depends_on across shards: the dependency completes before the crash', () => {
    const cluster = new CrashCluster(2)
    const dep = cluster.on(1, (s) => s.push(q1))
    const dependent = cluster.on(0, (s) => s.push(q0, { depends_on: [dep] }))
    const pushDurable = cluster.shards[0]!.records.length
    cluster.on(1, (s) => s.pull(q1))
    cluster.on(1, (s) => s.call({ cmd: 'ACK', id: dep }))
    expect(cluster.shards[0]!.state(dependent)).toBe('waiting')
    expect(failures(cluster, (after, state) => {
      const pulls = after.runToQuiet([q0, q1])
      return state[0]! >= pushDurable ? ranOnce(after, 0, dependent, pulls) : null
    })).toEqual([])
  })

  test('depends_on across shards: the watch is in flight at the crash, the dependency runs after it', () => {
    const cluster = new CrashCluster(2)
    const dep = cluster.on(1, (s) => s.push(q1))
    const dependent = cluster.on(0, (s) => s.push(q0, { depends_on: [dep] }))
    const pushDurable = cluster.shards[0]!.records.length
    expect(failures(cluster, (after, state) => {
      const pulls = after.runToQuiet([q0, q1])
      if (state[1]! > 0 && pulls.get(dep) !== 1) return `dependency ran ${pulls.get(dep) ?? 0} times`
      return state[0]! >= pushDurable && state[1]! > 0 ? ranOnce(after, 0, dependent, pulls) : null
    })).toEqual([])
  })

  test('flow across shards: children complete before the crash, the parent runs once', () => {
    const cluster = new CrashCluster(2)
    const flow = cluster.on(0, (s) => s.send({
      cmd: 'FLOW', queue: q0, data: 'parent', children: [{ queue: q1, data: 'remote' }, { queue: q0, data: 'local' }],
    }))
    const reply = cluster.shards[0]!.take(flow.token)
    expect(reply).toMatchObject({ ok: true })
    const flowDurable = cluster.shards[0]!.records.length
    const parentId = reply!.parent_id as number
    const [remoteChild, localChild] = reply!.children_ids as [number, number]
    cluster.on(1, (s) => s.pull(q1))
    cluster.on(1, (s) => s.call({ cmd: 'ACK', id: remoteChild }))
    cluster.on(0, (s) => s.pull(q0))
    cluster.on(0, (s) => s.call({ cmd: 'ACK', id: localChild }))
    expect(cluster.shards[0]!.state(parentId)).toBe('waiting')
    expect(failures(cluster, (after, state) => {
      const pulls = after.runToQuiet([q0, q1])
      if ((pulls.get(parentId) ?? 0) > 1) return `parent ran ${pulls.get(parentId)} times`
      return state[0]! >= flowDurable ? ranOnce(after, 0, parentId, pulls) : null
    })).toEqual([])
  })

  test('flow across shards: the crash falls while the remote child is being created', () => {
    const cluster = new CrashCluster(2)
    const flow = cluster.on(0, (s) => s.send({ cmd: 'FLOW', queue: q0, data: 'parent', children: [{ queue: q1, data: 'remote' }] }))
    const parentId = cluster.shards[0]!.take(flow.token)!.parent_id as number
    expect(failures(cluster, (after, state) => {
      const pulls = after.runToQuiet([q0, q1])
      if (state[0] === 0) return null
      const children = [...pulls.keys()].filter((id) => id !== parentId)
      if (children.length !== 1) return `${children.length} children ran`
      return ranOnce(after, 0, parentId, pulls)
    })).toEqual([])
  })

  test('cron across shards: an entry with limit 1 pushes to the other shard\'s queue exactly once', () => {
    const cluster = new CrashCluster(2)
    cluster.on(0, (s) => s.call({ cmd: 'CRON', name: 'once', queue: q1, data: 'tick', repeat_every: 1000, limit: 1 }))
    cluster.advance(1000)
    expect(cluster.shards[1]!.call({ cmd: 'COUNT', queue: q1 }).count).toBe(1)
    expect(failures(cluster, (after, state) => {
      if (state[0] === 0) return null // the CRON command itself was lost
      const pulls = after.runToQuiet([q1])
      return pulls.size === 1 ? null : `${pulls.size} cron jobs ran`
    })).toEqual([])
  })
})

describe('cross-shard outbox: pending messages per lane are bounded', () => {
  const pendingMax = 3

  /** Two shards; shard 1 is "down": nothing is delivered until the test says so. */
  function twoShards() {
    const cluster = new Cluster(2)
    const [s0, s1] = cluster.shards as [Harness, Harness]
    s0.engine.core.links.outbox.pendingMessagesMax = pendingMax
    return { cluster, s0, s1, outbox: s0.engine.core.links.outbox }
  }

  test('the default limit is the named one', () => {
    expect(new Cluster(2).shards[0]!.engine.core.links.outbox.pendingMessagesMax).toBe(outboxPendingMessagesMax)
  })

  test('a new link to a shard that does not acknowledge is refused naming the limit; accepted ones are all kept and delivered', () => {
    const { cluster, s0, s1, outbox } = twoShards()
    const dep = s1.push(q1)
    const accepted = Array.from({ length: pendingMax }, () => s0.push(q0, { depends_on: [dep] }))
    expect(outbox.pendingFor(1)).toBe(pendingMax)
    const refusal = tooManyPendingShardMessages(1, pendingMax)
    expect(refusal).toContain('outboxPendingMessagesMax')
    expect(s0.call({ cmd: 'PUSH', queue: q0, data: 1, depends_on: [dep] })).toEqual({ ok: false, error: refusal })
    expect(s0.call({ cmd: 'PUSHB', queue: q0, jobs: [{ data: 1 }, { data: 2, depends_on: [dep] }] })).toMatchObject({
      ok: true, errors: [{ index: 1, error: refusal }],
    })
    expect(s0.call({ cmd: 'FLOW', queue: q0, data: 'p', children: [{ queue: q1, data: 'c' }] })).toEqual({ ok: false, error: refusal })
    expect(s0.call({ cmd: 'OBLITERATE', queue: q0 })).toEqual({ ok: false, error: refusal })
    // Work that needs no message to shard 1 goes on.
    expect(s0.call({ cmd: 'FLOW', queue: q0, data: 'p', children: [{ queue: q0, data: 'c' }] }).ok).toBe(true)
    // Time passes, re-sends are lost in transit: nothing pending is dropped.
    for (let round = 0; round < 5; round++) {
      cluster.advance(10_000)
      for (const shard of cluster.shards) shard.messages.length = 0
    }
    expect(outbox.pendingFor(1)).toBe(pendingMax)
    // Shard 1 is back: the next re-send is acknowledged, the lane has room again.
    cluster.advance(10_000)
    cluster.deliver()
    expect(outbox.pendingFor(1)).toBe(0)
    expect(s0.call({ cmd: 'PUSH', queue: q0, data: 1, depends_on: [dep] }).ok).toBe(true)
    cluster.deliver()
    // Every accepted dependent is released once its dependency completes.
    expect(s1.pull(q1)!.id).toBe(dep)
    expect(s1.call({ cmd: 'ACK', id: dep }).ok).toBe(true)
    cluster.deliver()
    for (const id of accepted) expect(s0.state(id)).toBe('waiting')
  })

  test('answers and completions of accepted links are never refused', () => {
    const { cluster, s0, s1 } = twoShards()
    s1.engine.core.links.outbox.pendingMessagesMax = 1
    const dep = s1.push(q1)
    const dependents = Array.from({ length: pendingMax }, () => s0.push(q0, { depends_on: [dep] }))
    cluster.deliver()
    s1.pull(q1)
    s1.call({ cmd: 'ACK', id: dep })
    // Three dependencyDone messages to shard 0, past shard 1's limit of 1: the links were accepted.
    expect(s1.engine.core.links.outbox.pendingFor(0)).toBe(pendingMax)
    cluster.deliver()
    for (const id of dependents) expect(s0.state(id)).toBe('waiting')
  })

  test('a cron fire for a queue behind a full lane is skipped; later fires go', () => {
    const { cluster, s0, s1, outbox } = twoShards()
    const dep = s1.push(q1)
    for (let i = 0; i < pendingMax; i++) s0.push(q0, { depends_on: [dep] })
    s0.call({ cmd: 'CRON', name: nameOnShard('cron', 0, 2), queue: q1, data: 'tick', repeat_every: 1000 })
    cluster.advance(1000)
    expect(outbox.pendingFor(1)).toBe(pendingMax)
    for (const shard of cluster.shards) shard.messages.length = 0
    cluster.advance(10_000)
    cluster.deliver()
    cluster.advance(1000)
    cluster.deliver()
    // The dependency itself, and the one fire after the lane emptied.
    expect(s1.call({ cmd: 'COUNT', queue: q1 }).count).toBe(2)
  })
})
