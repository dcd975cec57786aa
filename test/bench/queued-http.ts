/**
 * The queued-compatible API under load: push / poll / delete over many keep-alive HTTP connections,
 * driven by Debian's `wrk` (a separate C process, so the client costs little) with queued.lua.
 * Queues are prefilled so polls find messages; the rates come from the server's own queued_*
 * counters (what it acknowledged), latency percentiles from wrk (every request).
 */
import { join } from 'node:path'
import type { Measured } from '../../src/bench/workloads.ts'

export type QueuedLoad = { connections: number; seconds: number; threads: number; queues: string[]; prefill: number }

/** One queue name per shard, in shard order (the Lua script maps a message id back to its queue). */
export function queuePerShard(shardCount: number, prefix: string, shardOf: (name: string) => number): string[] {
  const names: string[] = new Array(shardCount)
  let found = 0
  for (let i = 0; found < shardCount; i++) {
    const name = `${prefix}-${i}`
    const shard = shardOf(name)
    if (names[shard] === undefined) {
      names[shard] = name
      found++
    }
  }
  return names
}

async function counters(base: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics/prometheus`)).text()
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^(queued_\w+) (\d+)$/.exec(line)
    if (match) values.set(match[1] as string, Number(match[2]))
  }
  return values
}

async function prefill(base: string, queues: string[], messages: number): Promise<void> {
  const batch = Array.from({ length: 1000 }, () => ({ contents: 'x'.repeat(100) }))
  for (const queue of queues) {
    for (let done = 0; done < messages; done += batch.length) {
      const response = await fetch(`${base}/push?queue=${queue}`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ messages: batch }),
      })
      if (response.status !== 200) throw new Error(`prefill failed: ${response.status} ${await response.text()}`)
    }
  }
}

/** Parses wrk's latency distribution (`--latency`): `99%  1.23ms`. */
function percentileMs(output: string, percent: string): number | undefined {
  const match = new RegExp(`^\\s*${percent}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(output)
  if (!match) return undefined
  const value = Number(match[1])
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value
}

/**
 * What the run says beyond the rate: wrk's requests/s (empty polls count there, not in ops), wrk's
 * share of a core (it runs on the same 2 cores as the server), and the group commits of the measured
 * phase (queued_io_* counters): records and waiters per fdatasync, and the mean fdatasync.
 */
function runDetail(output: string, seconds: number, clientCpuSeconds: number, delta: (name: string) => number): string {
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0)
  const parts = [`${(requests / seconds / 1000).toFixed(1)}k req/s`, `wrk ${Math.round((clientCpuSeconds / seconds) * 100)}% of a core`]
  const commits = delta('queued_io_sync')
  if (commits > 0) {
    const perCommit = (name: string) => (delta(name) / commits).toFixed(1)
    parts.push(`${Math.round(commits / seconds)} commits/s: ${perCommit('queued_io_sync_records')} records, ${perCommit('queued_io_sync_delayed')} waiters, fdatasync ${(delta('queued_io_sync_us') / commits / 1000).toFixed(2)} ms each`)
  }
  return parts.join(' · ')
}

/** `clientCpuSeconds`: wrk's own CPU time (user + system), the client's share of the 2 cores. */
export async function queuedHttp(httpPort: number, load: QueuedLoad): Promise<Measured & { output: string; clientCpuSeconds: number; detail: string }> {
  const base = `http://127.0.0.1:${httpPort}`
  await prefill(base, load.queues, load.prefill)
  const before = await counters(base)
  const wrk = Bun.spawn(
    ['wrk', '-t', String(load.threads), '-c', String(load.connections), '-d', `${load.seconds}s`, '--latency', '-s', join(import.meta.dir, 'queued.lua'), base],
    { env: { ...process.env, QUEUES: load.queues.join(',') }, stdout: 'pipe', stderr: 'pipe' },
  )
  const [output, errors] = await Promise.all([new Response(wrk.stdout).text(), new Response(wrk.stderr).text(), wrk.exited])
  const usage = wrk.resourceUsage()
  const clientCpuSeconds = usage === undefined ? 0 : Number(usage.cpuTime.total) / 1e6
  const after = await counters(base)
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0)
  // Durable operations: accepted pushes, delivered messages (a lease each) and deletes.
  const ops = delta('queued_successful_push') + delta('queued_successful_poll') + delta('queued_successful_delete')
  const seconds = Number(/(\d+\.\d+)s,/.exec(output)?.[1] ?? load.seconds) || load.seconds
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0)
  const socketErrors = /Socket errors: (.*)/.exec(output)?.[1]
  return {
    rate: ops / seconds,
    seconds,
    jobs: ops,
    p50: percentileMs(output, '50'),
    p99: percentileMs(output, '99'),
    errors: non2xx + (socketErrors ? 1 : 0) + (errors.trim() ? 1 : 0),
    output: `${output}${errors}`,
    clientCpuSeconds,
    detail: runDetail(output, seconds, clientCpuSeconds, delta),
  }
}
