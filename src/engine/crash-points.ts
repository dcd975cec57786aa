/**
 * Test harness: every crash point of a cross-shard scenario. A CrashCluster runs shards on one fake
 * clock like Cluster, and also notes which records of the sender each delivered message depended on
 * (the host releases a message only once the sender's records up to it are durable). A crash state is
 * one prefix of records per shard that respects those dependencies; crashStates() lists them all.
 */
import type { LogRecord } from './types.ts'
import { Harness, restart } from './test-helpers.ts'

type Pending = { from: number; shardIndex: number; message: { t: string; [field: string]: unknown }; needs: number }

export class CrashCluster {
  readonly shards: Harness[]
  /** For each shard, record index → the prefix length of every shard that it needs durable. */
  private readonly needs: number[][][]
  private readonly queued: Pending[] = []

  constructor(readonly shardCount: number) {
    this.shards = Array.from({ length: shardCount }, (_, index) => new Harness(index, shardCount))
    this.needs = this.shards.map(() => [])
  }

  /** Runs `action` on shard `index`, then delivers every message it caused. */
  on<T>(index: number, action: (shard: Harness) => T): T {
    const result = action(this.shards[index] as Harness)
    this.settle()
    return result
  }

  advance(ms: number): void {
    for (const shard of this.shards) {
      shard.clock.advance(ms)
      shard.engine.tick(shard.now)
      shard.collect()
    }
    this.settle()
  }

  /** Delivers messages until none is left. */
  settle(): void {
    this.take()
    for (;;) {
      const next = this.queued.shift()
      if (next === undefined) return
      const target = this.shards[next.shardIndex] as Harness
      const before = target.records.length
      target.engine.receive(next.message, target.now)
      target.collect()
      const needs = this.needs[next.shardIndex] as number[][]
      for (let k = before; k < target.records.length; k++) {
        const need = Array.from({ length: this.shardCount }, () => 0)
        need[next.from] = next.needs
        needs[k] = need
      }
      this.take()
    }
  }

  private take(): void {
    this.shards.forEach((shard, from) => {
      for (const { shardIndex, message } of shard.messages.splice(0)) {
        this.queued.push({ from, shardIndex, message, needs: shard.records.length })
      }
    })
  }

  /** Every tuple of record prefixes a crash can leave (dependencies respected), in a fixed order. */
  crashStates(): number[][] {
    const states: number[][] = []
    const lengths = this.shards.map((shard) => shard.records.length)
    const walk = (prefix: number[]) => {
      if (prefix.length === this.shardCount) {
        if (this.consistent(prefix)) states.push(prefix)
        return
      }
      for (let n = 0; n <= (lengths[prefix.length] as number); n++) walk([...prefix, n])
    }
    walk([])
    return states
  }

  private consistent(prefix: number[]): boolean {
    for (let s = 0; s < this.shardCount; s++) {
      for (let k = 0; k < (prefix[s] as number); k++) {
        const need = (this.needs[s] as number[][])[k]
        if (need !== undefined && need.some((length, other) => length > (prefix[other] as number))) return false
      }
    }
    return true
  }

  /** A new cluster whose shards restarted from `prefix` records each (messages in flight are lost). */
  crashAt(prefix: number[]): CrashCluster {
    const next = new CrashCluster(this.shardCount)
    this.shards.forEach((shard, index) => {
      const records: LogRecord[] = shard.records.slice(0, prefix[index])
      next.shards[index] = restart(shard, records)
    })
    return next
  }

  /**
   * Runs the cluster after a restart: time passes (resends), messages are delivered, and every job
   * that can be pulled from `queues` (on any shard) is pulled and acked, until nothing moves. Returns
   * how many times each job id was pulled.
   */
  runToQuiet(queues: string[], rounds = 20, stepMs = 1000): Map<number, number> {
    const pulls = new Map<number, number>()
    for (let round = 0; round < rounds; round++) {
      this.advance(stepMs)
      for (let s = 0; s < this.shardCount; s++) {
        for (const queue of queues) {
          for (;;) {
            const job = this.on(s, (shard) => shard.pull(queue))
            if (job === null) break
            pulls.set(job.id, (pulls.get(job.id) ?? 0) + 1)
            this.on(s, (shard) => shard.call({ cmd: 'ACK', id: job.id }))
          }
        }
      }
    }
    return pulls
  }
}
