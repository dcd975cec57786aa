/**
 * `bun test/bench/queued-front.ts [--durable] [ops]`: the server's own CPU per queued operation,
 * without sockets: a real Front and in-thread shards (memory, or durable in a temp directory),
 * requests handed to the same fetch logic as serve.ts, 256 in flight, cycling push → poll → delete
 * as test/bench/queued.lua does. It isolates what this process spends per request (routing, body,
 * command path, engine, log, Response) from the kernel, Bun's HTTP parser and wrk, which the wrk
 * benchmark includes and which make it noisy on a shared 2-core machine.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from '../../src/cli/args.ts'
import { Front } from '../../src/server/front.ts'
import { createHttpApp } from '../../src/server/http/app.ts'
import type { HttpDeps } from '../../src/server/http/deps.ts'
import { fastRoutesOf } from '../../src/server/http/fast-path.ts'
import { ShardPool } from '../../src/server/shard-pool.ts'

const durable = process.argv.includes('--durable')
const total = Number(process.argv.slice(2).find((arg) => /^\d+$/.test(arg)) ?? 300_000)
const inFlight = 256
const shards = 2

const dataDir = durable ? mkdtempSync(join(tmpdir(), 'flashq-queued-front-')) : null
const config = parseArgs(durable ? ['--data-dir', dataDir as string, '--shards', String(shards), '--workers', '0'] : ['--memory', '--shards', String(shards), '--workers', '0'], {})
const pool = new ShardPool(config, shards, 0, join(import.meta.dir, '..', '..', 'src', 'main.ts'))
await pool.start(false)
const front = new Front(pool, config)
const deps = {
  front, pool, config, version: 'bench', startedAtMs: Date.now(), health: () => ({}), hub: { subscribe: () => () => {} },
  tcpConnections: () => 0, tcpPort: () => 0, httpPort: () => 0, metricsProviders: [], requestStop: () => {},
  workers: { active: () => [] }, history: { add() {} },
} as unknown as HttpDeps
const app = createHttpApp(deps)
const fast = fastRoutesOf(deps)
const serve = (request: Request): Promise<Response> => Promise.resolve(fast.handle(request) ?? app.fetch(request))

const base = 'http://127.0.0.1:6790'
const json = { 'Content-Type': 'application/json' }
const pushBody = `{"contents":"${'x'.repeat(100)}"}`
const post = (path: string, body: string) => new Request(`${base}${path}`, { method: 'POST', headers: json, body })
const queues = ['bench-a', 'bench-b']

/** One client connection of queued.lua: push, poll, then delete what the poll got. */
async function client(index: number, budget: { left: number }): Promise<void> {
  const queue = queues[index % queues.length] as string
  while (budget.left > 0) {
    budget.left -= 3
    await (await serve(post(`/push?queue=${queue}`, pushBody))).text()
    const polled = JSON.parse(await (await serve(post(`/poll?queue=${queue}`, '{"visibility_timeout_secs":30}'))).text()) as { message: { id: number; poll_tag: string } | null }
    if (polled.message === null) continue
    const { id, poll_tag } = polled.message
    const deleted = await serve(post(`/delete?queue=${queue}`, `{"id":${id},"poll_tag":"${poll_tag}"}`))
    if (deleted.status !== 200) throw new Error(`delete answered ${deleted.status}`)
    await deleted.text()
  }
}

async function measure(ops: number): Promise<{ cpuUs: number; wallUs: number }> {
  const budget = { left: ops }
  const cpu = process.cpuUsage()
  const wall = performance.now()
  await Promise.all(Array.from({ length: inFlight }, (_, index) => client(index, budget)))
  const used = process.cpuUsage(cpu)
  return { cpuUs: (used.user + used.system) / ops, wallUs: ((performance.now() - wall) * 1000) / ops }
}

await measure(total / 5) // warm-up (JIT)
const runs = [await measure(total), await measure(total), await measure(total)].sort((a, b) => a.cpuUs - b.cpuUs)
const middle = runs[1] as { cpuUs: number; wallUs: number }
console.log(`queued push/poll/delete in process (${durable ? 'durable' : 'memory'}, ${shards} in-thread shards, ${inFlight} in flight, ${total} ops × 3): ` +
  `CPU ${middle.cpuUs.toFixed(2)} µs/op (runs ${runs.map((run) => run.cpuUs.toFixed(2)).join(', ')}), wall ${middle.wallUs.toFixed(2)} µs/op`)
await pool.stop()
if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true })
