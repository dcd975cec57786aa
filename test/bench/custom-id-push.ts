/**
 * What a custom id costs a push (server/custom-ids.ts: a push carrying `job_id` first asks the other
 * shards). One PUSH awaited at a time on a fresh server (production preset, default shards), without
 * and with a fresh `job_id` each; p50 and p99 in µs after a warm-up, memory and durable.
 *
 *   bun test/bench/custom-id-push.ts [--pushes 3000] [--server /path/to/checkout]
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { pushes: { type: 'string', default: '3000' }, server: { type: 'string', default: join(import.meta.dir, '..', '..') } } })
const root = values.server
const pushes = Number(values.pushes)
const warmupPushes = Math.min(300, pushes)
const { startServer } = await import(join(root, 'test/harness/server.ts'))
const { WireClient } = await import(join(root, 'test/harness/wire-client.ts'))

function percentileUs(sortedMs: number[], fraction: number): string {
  return ((sortedMs[Math.min(sortedMs.length - 1, Math.floor(sortedMs.length * fraction))] as number) * 1000).toFixed(0)
}

for (const mode of ['memory', 'durable'] as const) {
  const server = await startServer({ args: mode === 'memory' ? ['--memory'] : [], preset: 'production' })
  const client = await WireClient.connect(server.tcpPort)
  for (const withCustomId of [false, true]) {
    const tookMs: number[] = []
    for (let n = 0; n < warmupPushes + pushes; n++) {
      const request = withCustomId ? { cmd: 'PUSH', queue: 'b', data: { n }, job_id: `id-${n}` } : { cmd: 'PUSH', queue: 'b', data: { n } }
      const start = performance.now()
      await client.requestInOrder(request)
      if (n >= warmupPushes) tookMs.push(performance.now() - start)
    }
    tookMs.sort((a, b) => a - b)
    console.log(`${mode} ${withCustomId ? 'with job_id' : 'plain'}: ${pushes} pushes, p50 ${percentileUs(tookMs, 0.5)} µs, p99 ${percentileUs(tookMs, 0.99)} µs`)
  }
  client.close()
  await server.cleanup()
}
