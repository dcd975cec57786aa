/**
 * W2 of bench:peers (batches of 1000 100-byte jobs through the SDK's addBulk, one in flight) with
 * the costs split: jobs/s, and per batch the server's CPU (user and system, all its threads, read
 * from /proc) and this client's CPU. A fresh server per repetition, as bench:peers does; medians.
 *
 *   bun test/bench/w2-batch.ts [--batches 10] [--reps 7] [--memory] [--server /path/to/checkout]
 *
 * `--server` runs another checkout's server and SDK (an A/B against main, say). Linux only (/proc).
 * CPU times come in clock ticks (10 ms): over 10 batches read them as a rough split; more batches
 * (--batches 200) give the warm per-batch cost.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    batches: { type: 'string', default: '10' },
    reps: { type: 'string', default: '7' },
    memory: { type: 'boolean', default: false },
    server: { type: 'string', default: join(import.meta.dir, '..', '..') },
  },
})
const root = values.server
const batches = Number(values.batches)
const reps = Number(values.reps)
const jobsPerBatch = 1000
const warmupJobs = 300

const { Queue } = await import(join(root, 'src/client/index.ts'))
const { peerJobData } = await import(join(root, 'src/bench/workloads.ts'))
const { readStartupLine } = await import(join(root, 'src/bench/startup-line.ts'))

/** [user, system] CPU in ms of a process (all its threads). */
function cpuMs(pid: number | 'self'): [number, number] {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] as string).split(' ')
  const msPerTick = 1000 / 100
  return [Number(fields[11]) * msPerTick, Number(fields[12]) * msPerTick]
}

type Rep = { rate: number; serverUser: number; serverSystem: number; client: number }

async function rep(): Promise<Rep> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flashq-w2-'))
  const mode = values.memory ? ['--memory'] : ['--data-dir', dataDir]
  const server = Bun.spawn([process.execPath, join(root, 'src/main.ts'), '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--log-level', 'warn', ...mode], { stdout: 'pipe', stderr: 'inherit' })
  try {
    const { line } = await readStartupLine(server.stdout)
    const port = Number(/tcp=[^ ]*:(\d+)/.exec(line ?? '')?.[1])
    if (!(port > 0)) throw new Error(`no tcp port in the start-up line: ${line}`)
    const queue = new Queue('w2', { connection: { host: '127.0.0.1', port } })
    const push = (count: number) => {
      const t = performance.now()
      return queue.addBulk(Array.from({ length: count }, () => ({ name: 'job', data: peerJobData(t) })))
    }
    await push(warmupJobs)
    const [user0, system0] = cpuMs(server.pid)
    const client0 = cpuMs('self')
    const started = performance.now()
    for (let batch = 0; batch < batches; batch++) await push(jobsPerBatch)
    const seconds = (performance.now() - started) / 1000
    const [user1, system1] = cpuMs(server.pid)
    const client1 = cpuMs('self')
    await queue.close()
    return {
      rate: (batches * jobsPerBatch) / seconds,
      serverUser: (user1 - user0) / batches,
      serverSystem: (system1 - system0) / batches,
      client: (client1[0] + client1[1] - client0[0] - client0[1]) / batches,
    }
  } finally {
    server.kill('SIGINT')
    await server.exited
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const results: Rep[] = []
for (let index = 0; index < reps; index++) results.push(await rep())
const median = (pick: (one: Rep) => number) => {
  const sorted = results.map(pick).sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}
const rates = results.map((one) => `${Math.round(one.rate / 1000)}k`).join(' ')
console.log(`${values.memory ? 'memory' : 'durable'}, ${batches} batches × ${reps}: ${Math.round(median((one) => one.rate) / 1000)}k jobs/s (${rates}); `
  + `per batch: server CPU ${median((one) => one.serverUser).toFixed(2)} ms user + ${median((one) => one.serverSystem).toFixed(2)} ms system, `
  + `client CPU ${median((one) => one.client).toFixed(2)} ms`)
