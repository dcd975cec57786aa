/**
 * Golden fixtures of engine records (make-record-fixtures.ts): every format version ever written is
 * still read to the same state, and today's engine writes exactly the newest fixture (a change to
 * the records must bump recordFormatVersion and add a fixture directory, keeping the old readable).
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Cluster, type Harness, nameOnShard, restart } from './test-helpers.ts'
import { fixtureLines, fixtureQueues as q, fixtureScenario } from './make-record-fixtures.ts'
import { recordFormatVersion } from './records.ts'
import { outboxResendIntervalMs } from './engine-limits.ts'
import type { LogRecord } from './types.ts'

const fixtures = join(import.meta.dir, '..', '..', 'test', 'fixtures', 'records')
const versions = Array.from({ length: recordFormatVersion }, (_, index) => index + 1)

function fixtureText(version: number, shard: number): string {
  return readFileSync(join(fixtures, `v${version}`, `shard-${shard}.jsonl`), 'utf8')
}

function restartedCluster(version: number): Cluster {
  const cluster = new Cluster(2)
  cluster.shards.forEach((shard, index) => {
    const records = fixtureText(version, index).trim().split('\n').map((line) => JSON.parse(line) as LogRecord)
    cluster.shards[index] = restart(shard, records)
  })
  for (let round = 0; round < 3; round++) {
    cluster.advance(outboxResendIntervalMs)
    cluster.deliver()
  }
  return cluster
}

function runOne(cluster: Cluster, shard: Harness, queue: string): { id: number; data: unknown } {
  const job = shard.pull(queue)
  if (job === null) throw new Error(`nothing to run in ${queue}`)
  expect(shard.call({ cmd: 'ACK', id: job.id }).ok).toBe(true)
  cluster.deliver()
  return job as { id: number; data: unknown }
}

describe('engine record fixtures', () => {
  for (const version of versions) {
    test(`format v${version} replays to the scenario's state, and the work it left goes on`, () => {
      const cluster = restartedCluster(version)
      const [s0, s1] = cluster.shards as [Harness, Harness]
      // depends_on across shards: the dependency completed, so the dependent is waiting.
      expect(runOne(cluster, s0, q.dependent).data).toBe('dependent')
      const dependency = (s1.call({ cmd: 'GETJOBS', queue: q.dependency }).jobs as Array<{ id: number }>)[0]!
      expect(s1.call({ cmd: 'GETRESULT', id: dependency.id }).result).toEqual({ done: true })
      // The pending remote child was created exactly once after the restart.
      expect(s1.call({ cmd: 'COUNT', queue: q.pendingChild }).count).toBe(1)
      // Both flows finish: children first, then each parent once.
      expect(runOne(cluster, s1, q.remoteChild).data).toBe('remote')
      expect(runOne(cluster, s0, q.parent).data).toBe('local')
      expect(runOne(cluster, s1, q.pendingChild).data).toBe('pending')
      const parents = [runOne(cluster, s0, q.parent).data, runOne(cluster, s0, q.parent).data].sort()
      expect(parents).toEqual(['parent', 'parent-2'])
      expect(s0.pull(q.parent)).toBeNull()
      // The DLQ, the queue setting and the KV key.
      expect((s0.call({ cmd: 'DLQ', queue: q.failing }).jobs as Array<{ data: unknown }>).map((job) => job.data)).toEqual(['failing'])
      expect(s0.call({ cmd: 'ISPAUSED', queue: q.failing }).paused).toBe(true)
      expect(s0.call({ cmd: 'KVGET', key: nameOnShard('fx-key-', 0, 2) }).value).toEqual({ n: 1 })
      if (version < 3) return
      // The packed PUSHB and ACKB: the two acknowledged jobs (b3 first by priority, then b1) are
      // completed, the rest wait in order with their own options.
      const completed = s0.call({ cmd: 'GETJOBS', queue: q.batch, state: 'completed' }).jobs as Array<{ data: unknown }>
      expect(completed.map((job) => job.data).sort()).toEqual(['b1', 'b3'])
      const left = [runOne(cluster, s0, q.batch), runOne(cluster, s0, q.batch), runOne(cluster, s0, q.batch)]
      expect(left.map((job) => job.data)).toEqual(['b2', { b: 4 }, 'b5'])
      expect(left.map((job) => (job as { max_attempts?: number }).max_attempts)).toEqual([0, 2, 2])
      expect(s0.pull(q.batch)).toBeNull()
    })
  }

  test(`today's engine writes exactly the newest fixture (v${recordFormatVersion})`, () => {
    const lines = fixtureLines(fixtureScenario())
    lines.forEach((text, shard) => expect(text).toBe(fixtureText(recordFormatVersion, shard)))
  })

  test('a record format newer than this binary is refused by name', () => {
    const shard = new Cluster(1).shards[0]!
    expect(() => restart(shard, [{ t: 'fmt', v: recordFormatVersion + 1 }])).toThrow(
      `log records are format ${recordFormatVersion + 1}, this flashq reads formats up to ${recordFormatVersion}`,
    )
  })
})
