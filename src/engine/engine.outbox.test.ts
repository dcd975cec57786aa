/**
 * Cross-shard messages survive a crash at every point: each scenario runs on two shards, then every
 * crash state (one durable record prefix per shard, consistent with what the messages needed) is
 * restarted and run until quiet. An acknowledged dependent job or flow parent must run exactly once.
 */
import { describe, expect, test } from 'bun:test'
import { CrashCluster } from './crash-points.ts'
import { nameOnShard } from './test-helpers.ts'

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
