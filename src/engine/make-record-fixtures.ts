/**
 * Golden fixtures of engine records, made of real records: `bun src/engine/make-record-fixtures.ts
 * <dir>` runs `fixtureScenario` on two shards and writes each shard's records, one JSON per line,
 * to <dir>/shard-<n>.jsonl. Committed under test/fixtures/records/v<recordFormatVersion>/; v1 was
 * written by the last flashq before the outbox (commit c08b9b6) running this same file. Never
 * regenerate an existing version: records.fixtures.test.ts replays every version and checks that
 * today's records still equal the newest fixture, so a format change is noticed and versioned.
 *
 * The scenario only uses commands and Cluster/Harness, so it runs on old and new engines alike.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Cluster, type Harness, nameOnShard } from './test-helpers.ts'

export const fixtureQueues = {
  dependency: nameOnShard('fx-dependency-', 1, 2),
  dependent: nameOnShard('fx-dependent-', 0, 2),
  parent: nameOnShard('fx-parent-', 0, 2),
  remoteChild: nameOnShard('fx-child-', 1, 2),
  pendingChild: nameOnShard('fx-pending-', 1, 2),
  failing: nameOnShard('fx-failing-', 0, 2),
  batch: nameOnShard('fx-batch-', 0, 2),
}

/**
 * Two shards: a cross-shard depends_on whose dependency completed, a flow with a remote and a local
 * child (created, not run), a flow whose remote child request is still in flight (its message lost
 * in the "crash" that ends the scenario), a job in the DLQ, a KV key, a queue setting, and (v3) a
 * PUSHB and an ACKB.
 */
export function fixtureScenario(): Cluster {
  const q = fixtureQueues
  const cluster = new Cluster(2)
  const [s0, s1] = cluster.shards as [Harness, Harness]
  const dep = s1.push(q.dependency, { data: 'dependency' })
  s0.push(q.dependent, { data: 'dependent', depends_on: [dep] })
  cluster.deliver()
  s1.pull(q.dependency)
  s1.call({ cmd: 'ACK', id: dep, result: { done: true } })
  cluster.deliver()
  s0.send({ cmd: 'FLOW', queue: q.parent, data: 'parent', children: [{ queue: q.remoteChild, data: 'remote' }, { queue: q.parent, data: 'local' }] })
  cluster.deliver()
  s0.send({ cmd: 'FLOW', queue: q.parent, data: 'parent-2', children: [{ queue: q.pendingChild, data: 'pending' }] })
  s0.messages.splice(0) // lost in the crash
  s0.push(q.failing, { data: 'failing', max_attempts: 1 })
  const failing = s0.pull(q.failing)!
  s0.call({ cmd: 'FAIL', id: failing.id, error: 'broken' })
  s0.call({ cmd: 'KVSET', key: nameOnShard('fx-key-', 0, 2), value: { n: 1 } })
  s0.call({ cmd: 'PAUSE', queue: q.failing })
  // v3: a PUSHB whose alike jobs pack into `jb` records around one that differs, and an ACKB (`ab`).
  const batch = [{ data: 'b1' }, { data: 'b2' }, { data: 'b3', priority: 5 }, { data: { b: 4 }, max_attempts: 2 }, { data: 'b5', max_attempts: 2 }]
  s0.call({ cmd: 'PUSHB', queue: q.batch, jobs: batch })
  const pulled = s0.call({ cmd: 'PULLB', queue: q.batch, count: 2, timeout: 0 }).jobs as Array<{ id: number }>
  s0.call({ cmd: 'ACKB', ids: pulled.map((job) => job.id) })
  return cluster
}

export function fixtureLines(cluster: Cluster): string[] {
  return cluster.shards.map((shard) => shard.records.map((record) => JSON.stringify(record)).join('\n') + '\n')
}

if (import.meta.main) {
  const dir = process.argv[2]
  if (dir === undefined) throw new Error('usage: bun src/engine/make-record-fixtures.ts <dir>')
  mkdirSync(dir, { recursive: true })
  fixtureLines(fixtureScenario()).forEach((text, shard) => writeFileSync(join(dir, `shard-${shard}.jsonl`), text))
}
