/**
 * The SDK's own cost per job: client CPU µs and JS heap bytes allocated per job, for the two paths
 * users hit one job at a time — `Queue.add` awaited one at a time (W1's shape), and an open-loop
 * trickle (W4's shape: `Queue.add` at a fixed rate, a Worker of concurrency 10 with a 'completed'
 * listener, both in this process) — against an in-memory server of the same checkout.
 *
 *   bun test/bench/sdk-per-job.ts [--root DIR] [--shape add|trickle] [--jobs N] [--rate N] [--warmup N]
 *
 * `--root` measures another checkout's SDK and server (an A/B against main). Bytes come from JSC's
 * own GC log (BUN_JSC_logGC, in a child process): over the measured window, the sum of each
 * collection's heap size at its start minus the size the previous one left.
 */
import { join, resolve } from 'node:path'

const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? (args[at + 1] as string) : fallback
}
const root = resolve(option('root', join(import.meta.dir, '..', '..')))
const shape = option('shape', 'add')
const jobs = Number(option('jobs', shape === 'add' ? '20000' : '5000'))
const ratePerSecond = Number(option('rate', '1000'))
/** Untimed jobs first, so the measured ones run JIT-compiled code. */
const warmupJobs = Number(option('warmup', '3000'))
const markPrefix = '@@sdk-per-job '

if (process.env.SDK_PER_JOB_CHILD === '1') await child()
else await parent()

async function parent(): Promise<void> {
  const proc = Bun.spawn([process.execPath, import.meta.path, ...args], {
    env: { ...process.env, SDK_PER_JOB_CHILD: '1', BUN_JSC_logGC: '1' },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()])
  if ((await proc.exited) !== 0) throw new Error(`child failed:\n${out.slice(-2000)}\n${err.slice(-2000)}`)
  const lines = `${out}\n${err}`.split('\n')
  // Marks and GC lines share stderr, in order.
  const stderrLines = err.split('\n')
  const result = JSON.parse(lines.find((line) => line.startsWith(markPrefix))?.slice(markPrefix.length) ?? 'null') as { cpuUs: number; userUs: number; jobs: number; seconds: number } | null
  if (result === null) throw new Error(`no result:\n${out.slice(-2000)}`)
  let inside = false
  let lastAfterKb = Number.NaN
  let allocatedKb = 0
  let collections = 0
  for (const line of stderrLines) {
    if (line.includes('@@mark start')) inside = true
    if (line.includes('@@mark after')) inside = false
    const gc = /START \S+ (\d+)kb => \w+Collection.* => (\d+)kb/.exec(line)
    if (gc === null) continue
    const beforeKb = Number(gc[1])
    if (inside && !Number.isNaN(lastAfterKb)) {
      allocatedKb += beforeKb - lastAfterKb
      collections++
    }
    lastAfterKb = Number(gc[2])
  }
  const perJob = (value: number) => value / result.jobs
  console.log(`${shape} ${root}: ${result.jobs} jobs in ${result.seconds.toFixed(2)} s, client cpu ${perJob(result.cpuUs).toFixed(1)} µs/job (user ${perJob(result.userUs).toFixed(1)}), heap ${Math.round(perJob(allocatedKb * 1024))} B/job (${collections} collections)`)
}

async function child(): Promise<void> {
  const { startBenchServer } = (await import(join(root, 'test', 'bench', 'server.ts'))) as typeof import('./server.ts')
  const { Queue, Worker } = (await import(join(root, 'src', 'client', 'index.ts'))) as typeof import('../../src/client/index.ts')
  const { peerJobData } = (await import(join(root, 'src', 'bench', 'workloads.ts'))) as typeof import('../../src/bench/workloads.ts')
  const { fullGC, edenGC } = await import('bun:jsc')
  const server = await startBenchServer('memory')
  const connection = { host: '127.0.0.1', port: server.port }
  const mark = (what: string) => console.error(`@@mark ${what}`)
  try {
    const queue = new Queue('perjob', { connection })
    if (shape === 'add') {
      for (let i = 0; i < warmupJobs; i++) await queue.add('job', peerJobData(i))
      fullGC()
      mark('start')
      const cpu = process.cpuUsage()
      const started = performance.now()
      for (let i = 0; i < jobs; i++) await queue.add('job', peerJobData(i))
      const seconds = (performance.now() - started) / 1000
      const used = process.cpuUsage(cpu)
      mark('end')
      edenGC()
      mark('after')
      console.log(markPrefix + JSON.stringify({ cpuUs: used.user + used.system, userUs: used.user, jobs, seconds }))
    } else {
      let completed = 0
      let target = 0
      let reached: () => void = () => {}
      const worker = new Worker('perjob', async (job: { data: { t: number } }) => void job.data.t, { connection, concurrency: 10 })
      worker.on('completed', () => {
        if (++completed === target) reached()
      })
      const trickle = async (count: number) => {
        completed = 0
        target = count
        const done = new Promise<void>((resolve) => (reached = resolve))
        const startedAt = performance.now()
        const intervalMs = 1000 / ratePerSecond
        let sent = 0
        await new Promise<void>((resolve) => {
          const tick = () => {
            const now = performance.now()
            while (sent < count && startedAt + sent * intervalMs <= now) void queue.add('job', peerJobData(sent++))
            if (sent >= count) return resolve()
            setTimeout(tick, Math.max(0, Math.min(1, startedAt + sent * intervalMs - performance.now())))
          }
          tick()
        })
        await done
      }
      await trickle(warmupJobs)
      fullGC()
      mark('start')
      const cpu = process.cpuUsage()
      const started = performance.now()
      await trickle(jobs)
      const seconds = (performance.now() - started) / 1000
      const used = process.cpuUsage(cpu)
      mark('end')
      edenGC()
      mark('after')
      await worker.close()
      console.log(markPrefix + JSON.stringify({ cpuUs: used.user + used.system, userUs: used.user, jobs, seconds }))
    }
    await queue.close()
  } finally {
    await server.stop()
  }
}
