/**
 * `bun run bench`: starts flashq servers (in-memory; durable on io_uring through liburing, on
 * io_uring through raw syscalls, and on pwrite) and measures them
 * over loopback with a lean pipelining client, printing a Markdown table.
 *
 *   bun test/bench/run.ts [--quick] [--runs N] [--only push1,push10,pushb,process,latency,queued,sdk]
 *                         [--modes memory,liburing,uring-raw,pwrite] [--binary <path>] [--consumers N]
 *                         [--queues N] [--server-arg <flag>]... [--space]
 *                         [--http [--http-connections 64,256]]   (HTTP push with wrk, see http.ts)
 *
 * Every (mode, workload, run) gets a fresh server and, for durable modes, a fresh temporary data
 * directory (deleted afterwards). Each workload runs `--runs` times (default 3); the table shows the
 * median and min–max. Server CPU per thread comes from /proc/<pid>/task/<tid>/stat; client CPU from
 * process.cpuUsage(). The client shares the machine's cores with the server.
 */
import { availableParallelism, cpus } from 'node:os'
import { type CpuShares, cpuDelta, directorySize, startBenchServer, threadCpu, type BenchServer, type Mode } from './server.ts'
import { httpRun } from './http.ts'
import { sdkBench } from './sdk.ts'
import { type Measured, prefill, processJobs, pushBatches, pushLatency, pushPipelined, queueNames } from '../../src/bench/workloads.ts'
import { queuePerShard, queuedHttp } from './queued-http.ts'
import { shardOfName } from '../../src/base/hash.ts'

type WorkloadName = 'push1' | 'push10' | 'pushb' | 'process' | 'latency' | 'queued' | 'sdk'
const allWorkloads: WorkloadName[] = ['push1', 'push10', 'pushb', 'process', 'latency', 'queued', 'sdk']
const allModes: Mode[] = ['memory', 'uring', 'liburing', 'uring-raw', 'pwrite']
/** The default run: in memory, then each durable backend (io_uring set up both ways, and pwrite). */
const defaultModes: Mode[] = ['memory', 'liburing', 'uring-raw', 'pwrite']

type Options = {
  quick: boolean
  runs: number
  only: WorkloadName[]
  modes: Mode[]
  binary?: string
  consumers: number
  queues: number
  serverArgs: string[]
  space: boolean
  spaceJobs: number
  /** --http: the HTTP workload (wrk) instead of the TCP ones; --http-connections 64,256 */
  http: boolean
  httpConnections: number[]
}

function parseOptions(argv: string[]): Options {
  const options: Options = { quick: false, runs: 3, only: allWorkloads, modes: defaultModes, consumers: 4, queues: 4, serverArgs: [], space: false, spaceJobs: 1_000_000, http: false, httpConnections: [256] }
  let runsGiven = false
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string
    const value = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${flag} needs a value`)
      return v
    }
    if (flag === '--quick') options.quick = true
    else if (flag === '--runs') { options.runs = Number(value()); runsGiven = true }
    else if (flag === '--only') options.only = value().split(',').map((w) => {
      if (!allWorkloads.includes(w as WorkloadName)) throw new Error(`unknown workload '${w}' (${allWorkloads.join(', ')})`)
      return w as WorkloadName
    })
    else if (flag === '--modes') options.modes = value().split(',').map((m) => {
      if (!allModes.includes(m as Mode)) throw new Error(`unknown mode '${m}' (${allModes.join(', ')})`)
      return m as Mode
    })
    else if (flag === '--binary') options.binary = value()
    else if (flag === '--consumers') options.consumers = Number(value())
    else if (flag === '--queues') options.queues = Number(value())
    else if (flag === '--server-arg') options.serverArgs.push(value())
    else if (flag === '--space') options.space = true
    else if (flag === '--space-jobs') options.spaceJobs = Number(value())
    else if (flag === '--http') options.http = true
    else if (flag === '--http-connections') options.httpConnections = value().split(',').map(Number)
    else if (flag === '--help' || flag === '-h') {
      console.log('usage: bun test/bench/run.ts [--quick] [--runs N] [--only push1,push10,pushb,process,latency,queued,sdk] [--modes memory,liburing,uring-raw,pwrite] [--binary path] [--consumers N] [--queues N] [--server-arg flag]... [--space [--space-jobs N]] [--http [--http-connections 64,256]]')
      process.exit(0)
    } else throw new Error(`unknown flag '${flag}'`)
  }
  if (options.quick && !runsGiven) options.runs = 1
  if (options.quick && options.spaceJobs === 1_000_000) options.spaceJobs = 100_000
  return options
}

type Sample = Measured & { clientCpu: number; cpu: CpuShares }

const scale = (options: Options, n: number) => (options.quick ? Math.max(1, Math.round(n / 10)) : n)

function shardCountOf(server: BenchServer): number {
  return Number(/shards=(\d+)/.exec(server.startupLine)?.[1] ?? 2)
}

async function runOnce(workload: WorkloadName, mode: Mode, options: Options): Promise<{ sample: Sample; startupLine: string }> {
  const server = await startBenchServer(mode, { binary: options.binary, extraArgs: options.serverArgs })
  try {
    const queues = queueNames(options.queues, shardCountOf(server), `bench-${workload}`)
    const warmQueues = queueNames(options.queues, shardCountOf(server), `warm-${workload}`)
    let run: () => Promise<Measured>
    switch (workload) {
      case 'push1':
        await pushPipelined(server.port, { connections: 1, total: scale(options, 20_000), window: 512, queues: warmQueues })
        run = () => pushPipelined(server.port, { connections: 1, total: scale(options, 200_000), window: 512, queues })
        break
      case 'push10':
        await pushPipelined(server.port, { connections: 10, total: scale(options, 30_000), window: 256, queues: warmQueues })
        run = () => pushPipelined(server.port, { connections: 10, total: scale(options, 300_000), window: 256, queues })
        break
      case 'pushb':
        await pushBatches(server.port, { connections: 4, total: scale(options, 100_000), batchSize: 1000, window: 4, queues: warmQueues })
        run = () => pushBatches(server.port, { connections: 4, total: scale(options, 1_000_000), batchSize: 1000, window: 4, queues })
        break
      case 'process': {
        const warm = scale(options, 10_000)
        await prefill(server.port, warm, warmQueues)
        await processJobs(server.port, { workers: options.consumers, count: 100, queues: warmQueues, expected: warm })
        const total = scale(options, 100_000)
        await prefill(server.port, total, queues)
        run = () => processJobs(server.port, { workers: options.consumers, count: 100, queues, expected: total })
        break
      }
      case 'sdk':
        throw new Error('the SDK workloads run in their own table (sdk.ts)')
      case 'latency':
        run = () => pushLatency(server.port, { total: scale(options, 20_000), warmup: scale(options, 20_000), queues })
        break
      case 'queued': {
        // HTTP: wrk with 256 keep-alive connections cycling push → poll → delete (queued-http.ts).
        const shards = shardCountOf(server)
        const byShard = (prefix: string) => queuePerShard(shards, prefix, (name) => shardOfName(name, shards))
        const load = { connections: 256, threads: 2, prefill: 20_000 }
        await queuedHttp(server.httpPort, { ...load, seconds: options.quick ? 2 : 3, queues: byShard('warm-queued') })
        run = () => queuedHttp(server.httpPort, { ...load, seconds: options.quick ? 3 : 10, queues: byShard('bench-queued') })
        break
      }
    }
    const cpuBefore = threadCpu(server.pid)
    const clientBefore = process.cpuUsage()
    const wallStart = performance.now()
    const measured = await run()
    const wall = (performance.now() - wallStart) / 1000
    const clientUsed = process.cpuUsage(clientBefore)
    const cpu = cpuDelta(server.pid, cpuBefore, threadCpu(server.pid), wall)
    return {
      startupLine: server.startupLine,
      sample: {
        ...measured,
        // Plus wrk's CPU for the HTTP workload (a child process the cli runs).
        clientCpu: ((clientUsed.user + clientUsed.system) / 1e6 + (('clientCpuSeconds' in measured ? Number(measured.clientCpuSeconds) : 0))) / wall,
        cpu,
      },
    }
  } finally {
    await server.stop()
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)] as number
}

function fmtRate(rate: number): string {
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)}M`
  if (rate >= 1e3) return `${(rate / 1e3).toFixed(0)}k`
  return rate.toFixed(0)
}

const fmtMs = (ms: number) => (ms < 10 ? ms.toFixed(3) : ms.toFixed(1))
const pct = (share: number) => `${Math.round(share * 100)}%`

const workloadLabel: Record<WorkloadName, string> = {
  push1: 'PUSH pipelined, 1 conn, window 512 (jobs/s)',
  push10: 'PUSH pipelined, 10 conns × window 256 (jobs/s)',
  pushb: 'PUSHB 1000 jobs, 4 conns × 4 batches in flight (jobs/s)',
  process: 'process 100k: PULLB 100 + ACKB (jobs/s)',
  latency: 'sequential PUSH latency p50 / p99 (ms), 20k pushes after 20k warm-up',
  queued: 'queued API push/poll/delete over HTTP, wrk 256 conns (acknowledged ops/s, p99)',
  sdk: 'SDK workloads (own table)',
}

const targets: Record<WorkloadName, string> = {
  push1: 'mem ≥200k',
  push10: 'mem ≥200k',
  pushb: 'mem ≥800k, durable ≥500k',
  process: 'mem ≥250k, durable ≥150k',
  latency: 'durable p99 < 1 ms',
  queued: 'durable ≥50k, p99 < 5 ms',
  sdk: 'see the SDK table',
}

const batched = new Set<WorkloadName>(['pushb', 'process'])

async function stamp(): Promise<string> {
  const git = Bun.spawnSync(['git', 'rev-parse', '--short', 'HEAD'], { cwd: import.meta.dir }).stdout.toString().trim()
  const dirty = Bun.spawnSync(['git', 'status', '--porcelain', '--', 'src'], { cwd: import.meta.dir }).stdout.toString().trim() ? ' (src modified)' : ''
  const nproc = Bun.spawnSync(['nproc']).stdout.toString().trim()
  return `${new Date().toISOString()} · commit ${git}${dirty} · nproc ${nproc} (${availableParallelism()} available) · ${cpus()[0]?.model ?? '?'} · bun ${Bun.version}`
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  if (options.only.includes('queued') && Bun.which('wrk') === null) {
    process.stderr.write('skipping the queued workload: it needs wrk (apt install wrk)\n')
    options.only = options.only.filter((workload) => workload !== 'queued')
  }
  console.log(`# flashq bench\n\n${await stamp()}`)
  console.log(`runs=${options.runs}${options.quick ? ' (quick: counts ÷10)' : ''} · server: ${options.binary ?? 'bun src/main.ts'} ${options.serverArgs.join(' ')} · queues=${options.queues} (spread over shards) · consumers=${options.consumers}`)
  console.log('client and server share the same cores over loopback: client CPU is shown below; a client near 100% means the number is client-bound.\n')
  if (options.space) return await spaceRun(options)
  if (options.http) {
    const modes = options.modes.filter((mode) => mode !== 'pwrite' || options.modes.length === 1)
    return await httpRun({ runs: options.runs, modes, seconds: options.quick ? 2 : 5, connections: options.httpConnections, serverArgs: options.serverArgs, binary: options.binary })
  }

  const results = new Map<string, Sample[]>()
  const startupLines = new Map<Mode, string>()
  const runSdk = options.only.includes('sdk')
  options.only = options.only.filter((workload) => workload !== 'sdk')
  const sdkOptions = { runs: options.runs, modes: options.modes, quick: options.quick, serverArgs: options.serverArgs, binary: options.binary }
  if (options.only.length === 0) return await sdkBench(sdkOptions)
  // Modes interleave within each run, so a noisy moment on a shared machine hits every mode alike
  // instead of sinking whichever mode happened to run then.
  for (let r = 0; r < options.runs; r++) {
    for (const workload of options.only) {
      for (const mode of options.modes) {
        const { sample, startupLine } = await runOnce(workload, mode, options)
        startupLines.set(mode, startupLine)
        const samples = results.get(`${mode}/${workload}`) ?? []
        samples.push(sample)
        results.set(`${mode}/${workload}`, samples)
        const shown = workload === 'latency' ? `p50 ${fmtMs(sample.p50 as number)} ms p99 ${fmtMs(sample.p99 as number)} ms`
          : workload === 'queued' ? `${fmtRate(sample.rate)} ops/s p50 ${fmtMs(sample.p50 ?? NaN)} ms p99 ${fmtMs(sample.p99 ?? NaN)} ms`
          : `${fmtRate(sample.rate)} jobs/s`
        const detail = 'detail' in sample ? ` · ${String(sample.detail)}` : ''
        process.stderr.write(`  ${mode} ${workload} run ${r + 1}: ${shown} (${sample.seconds.toFixed(2)} s${sample.errors ? `, ${sample.errors} ERRORS` : ''})${detail}\n`)
      }
    }
  }

  for (const [mode, line] of startupLines) console.log(`- ${mode}: \`${line.trim()}\``)
  console.log()
  const durableModes = options.modes.filter((m) => m !== 'memory')
  const ratioColumns = options.modes.includes('memory') ? durableModes : []
  console.log(`| workload | target | ${options.modes.join(' | ')} |${ratioColumns.map((m) => ` ${m}/mem |`).join('')}`)
  console.log(`|---|---|${options.modes.map(() => '---|').join('')}${ratioColumns.map(() => '---|').join('')}`)
  for (const workload of options.only) {
    const cells: string[] = []
    const medians = new Map<Mode, number>()
    for (const mode of options.modes) {
      const samples = results.get(`${mode}/${workload}`) as Sample[]
      const errs = samples.reduce((sum, s) => sum + s.errors, 0)
      const errText = errs > 0 ? ` ⚠${errs} err` : ''
      if (workload === 'latency') {
        const p50 = samples.map((s) => s.p50 as number)
        const p99 = samples.map((s) => s.p99 as number)
        cells.push(`${fmtMs(median(p50))} / ${fmtMs(median(p99))} (p99 ${fmtMs(Math.min(...p99))}–${fmtMs(Math.max(...p99))})${errText}`)
      } else {
        const rates = samples.map((s) => s.rate)
        medians.set(mode, median(rates))
        const p99 = workload === 'queued' ? `, p99 ${fmtMs(median(samples.map((s) => s.p99 ?? NaN)))} ms` : ''
        cells.push(`${fmtRate(median(rates))} (${fmtRate(Math.min(...rates))}–${fmtRate(Math.max(...rates))})${p99}${errText}`)
      }
    }
    const ratios = ratioColumns.map((m) => {
      if (!batched.has(workload) && workload === 'latency') return ' |'
      const base = medians.get('memory')
      const value = medians.get(m)
      if (base === undefined || value === undefined) return ' |'
      const ratio = value / base
      return ` ${Math.round(ratio * 100)}%${batched.has(workload) ? (ratio >= 0.6 ? ' ✓' : ' ✗ (<60%)') : ''} |`
    })
    console.log(`| ${workloadLabel[workload]} | ${targets[workload]} | ${cells.join(' | ')} |${ratios.join('')}`)
  }

  console.log('\nCPU during the measured phase of the median run (share of one core; 2 cores = 200%): cli = this client process (plus wrk for queued); server threads: front = main thread, wrk = each shard Worker thread, io = io_uring io-wq (iou-wrk) + Bun pool threads, gc = collector/scavenger, jit = JIT compiler threads, srv = server total. /proc ticks are 10 ms, so short (--quick) runs are coarse\n')
  console.log(`| workload | ${options.modes.join(' | ')} |`)
  console.log(`|---|${options.modes.map(() => '---|').join('')}`)
  for (const workload of options.only) {
    const cells = options.modes.map((mode) => {
      const samples = results.get(`${mode}/${workload}`) as Sample[]
      const key = workload === 'latency' ? (s: Sample) => s.p99 as number : (s: Sample) => s.rate
      const sorted = [...samples].sort((a, b) => key(a) - key(b))
      const s = sorted[Math.floor((sorted.length - 1) / 2)] as Sample
      const c = s.cpu
      return `cli ${pct(s.clientCpu)} · front ${pct(c.front)} · wrk ${c.workers.map(pct).join('+')} · io ${pct(c.io)} · gc ${pct(c.gc)} · jit ${pct(c.jit)} · srv ${pct(c.total)}`
    })
    console.log(`| ${workload} | ${cells.join(' | ')} |`)
  }
  if (options.only.includes('queued')) {
    // The queued workload's load generator is wrk (in cli above), on the same 2 cores as the server.
    console.log('\nqueued, median run per mode:\n')
    for (const mode of options.modes) {
      const samples = [...(results.get(`${mode}/queued`) as Sample[])].sort((a, b) => a.rate - b.rate)
      const s = samples[Math.floor((samples.length - 1) / 2)] as Sample
      if ('detail' in s) console.log(`- ${mode}: ${String(s.detail)}`)
    }
  }
  if (runSdk) await sdkBench(sdkOptions)
  if (options.modes.includes('liburing') && options.modes.includes('uring-raw')) compareRings(options, results)
}

/** The raw-syscall ring must be no slower than liburing's: medians side by side, per workload. */
function compareRings(options: Options, results: Map<string, Sample[]>): void {
  console.log('\nio_uring without liburing (uring-raw) against liburing, medians:\n')
  for (const workload of options.only) {
    const of = (mode: Mode) => results.get(`${mode}/${workload}`) as Sample[]
    if (workload === 'latency') {
      const [lib, raw] = [of('liburing'), of('uring-raw')].map((s) => median(s.map((x) => x.p99 as number))) as [number, number]
      console.log(`- ${workload}: p99 ${fmtMs(raw)} ms raw vs ${fmtMs(lib)} ms liburing (${raw <= lib ? 'raw no slower' : `raw ${Math.round((raw / lib - 1) * 100)}% slower`})`)
    } else {
      const [lib, raw] = [of('liburing'), of('uring-raw')].map((s) => median(s.map((x) => x.rate))) as [number, number]
      console.log(`- ${workload}: ${fmtRate(raw)} jobs/s raw vs ${fmtRate(lib)} liburing (${raw >= lib ? 'raw no slower' : `raw ${Math.round((1 - raw / lib) * 100)}% slower`})`)
    }
  }
}

/** --space: push + ack many jobs through a durable server and watch the data directory size. */
async function spaceRun(options: Options): Promise<void> {
  const mode = options.modes.find((m) => m !== 'memory') ?? 'uring'
  const server = await startBenchServer(mode, { binary: options.binary, extraArgs: options.serverArgs })
  const dataDir = server.dataDir as string
  console.log(`- ${mode}: \`${server.startupLine.trim()}\`\n`)
  try {
    const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`
    const before = directorySize(dataDir)
    let peak = before
    const sampler = setInterval(() => {
      const now = directorySize(dataDir)
      if (now.allocated > peak.allocated) peak = now
    }, 200)
    const queues = queueNames(options.queues, shardCountOf(server), 'space')
    const round = Math.min(100_000, options.spaceJobs)
    const rounds = Math.ceil(options.spaceJobs / round)
    console.log(`| after round | jobs pushed+acked | allocated | apparent | files |`)
    console.log(`|---|---|---|---|---|`)
    console.log(`| start | 0 | ${mib(before.allocated)} | ${mib(before.apparent)} | ${before.files} |`)
    const started = performance.now()
    let done = 0
    for (let r = 0; r < rounds; r++) {
      await prefill(server.port, round, queues)
      const processed = await processJobs(server.port, { workers: options.consumers, count: 100, queues, expected: round })
      if (processed.errors > 0) console.log(`round ${r + 1}: processed ${processed.jobs} of ${round}`)
      done += processed.jobs
      const now = directorySize(dataDir)
      if (now.allocated > peak.allocated) peak = now
      console.log(`| ${r + 1} | ${done} | ${mib(now.allocated)} | ${mib(now.apparent)} | ${now.files} |`)
    }
    const seconds = (performance.now() - started) / 1000
    clearInterval(sampler)
    const idleSeconds = options.quick ? 3 : 5
    await Bun.sleep(idleSeconds * 1000)
    const after = directorySize(dataDir)
    console.log(`\n| | allocated | apparent | files |`)
    console.log(`|---|---|---|---|`)
    console.log(`| before | ${mib(before.allocated)} | ${mib(before.apparent)} | ${before.files} |`)
    console.log(`| peak (sampled every 200 ms) | ${mib(peak.allocated)} | ${mib(peak.apparent)} | ${peak.files} |`)
    console.log(`| after ${idleSeconds} s idle (0 live jobs) | ${mib(after.allocated)} | ${mib(after.apparent)} | ${after.files} |`)
    console.log(`\n${done} jobs pushed (PUSHB 1000) and processed (PULLB 100 + ACKB) in ${seconds.toFixed(1)} s (${fmtRate(done / seconds)} jobs/s end to end, push and process phases alternating).`)
    console.log(`\`du -sh\`: ${Bun.spawnSync(['du', '-sh', dataDir]).stdout.toString().trim()}`)
    console.log(`\n\`\`\`\n${Bun.spawnSync(['ls', '-lsR', dataDir]).stdout.toString().trim()}\n\`\`\``)
  } finally {
    await server.stop()
  }
}

await main()
