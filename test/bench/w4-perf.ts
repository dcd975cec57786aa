/**
 * Where a W4 job's server CPU goes, by `perf`: flashq against the Bun floor (src/bench/peers/floor.ts),
 * each started as bench:peers starts it and driven by the same SDK Queue and Worker (concurrency 10)
 * in W4's open loop at `--rate` jobs/s (a job: its push, its pull, its ack, and their replies).
 *
 *   bun test/bench/w4-perf.ts [--mode memory|durable] [--rate 1000] [--warmup-seconds 2] [--seconds 3]
 *     [--runs 2] [--top 0] [--by-js 0] [--systems flashq,floor] [--syscalls]
 *
 * After `--warmup-seconds` of the loop on another queue, `perf record` samples the server's main
 * thread for `--seconds` while the loop runs on. Printed per system (medians of the runs): push→start
 * p99, main-thread µs per job (samples × period ÷ jobs started while sampled), and with `--top` /
 * `--by-js` the symbols and JavaScript functions that cost the most, µs per job, as w1-perf.ts prints
 * them (test/bench/perf-samples.ts). Needs perf and permission to sample another process.
 * `--syscalls` traces the main thread's system calls instead (`strace -c`, which slows the thread:
 * its p99 and µs are then not the server's own) and prints them per job.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { flashqVariants } from '../../src/bench/peers/flashq.ts'
import { floorVariants } from '../../src/bench/peers/floor.ts'
import { peerOpenLoop } from '../../src/bench/workloads.ts'
import { BenchFlags } from './flags.ts'
import { byNearestJs, countSamples, jitDumpEnv, median, microsPerSample, nameJitCode, printTop, recordThread, samplesPerSecond, selfMicrosOf } from './perf-samples.ts'

/** Longest an open loop may take to finish its jobs before the run counts as overloaded. */
const loopTimeoutMs = 60_000
/** How long a server may take to exit after SIGTERM (and so write its JITDump) before it is killed. */
const exitWaitMs = 10_000
const systems = ['flashq', 'floor'] as const
type SystemName = (typeof systems)[number]

type Options = { durable: boolean; rate: number; warmupSeconds: number; seconds: number; runs: number; top: number; byJs: number; systems: SystemName[]; syscalls: boolean }
type Measured = { p99: number; mainMicrosPerJob: number; selfMicros: Map<string, number>; byJsMicros: Map<string, number>; syscallsPerJob: Map<string, number> }

function parseArgs(args: string[]): Options {
  const flags = new BenchFlags(args)
  const chosen = (flags.value('--systems') ?? systems.join(',')).split(',')
  for (const name of chosen) if (!(systems as readonly string[]).includes(name)) throw new Error(`--systems: ${systems.join(', ')}, not '${name}'`)
  return {
    durable: flags.choice('--mode', ['memory', 'durable'], 'memory') === 'durable',
    rate: flags.count('--rate', 1000),
    warmupSeconds: flags.seconds('--warmup-seconds', 2),
    seconds: flags.seconds('--seconds', 3),
    runs: flags.count('--runs', 2),
    top: flags.count('--top', 0, 0),
    byJs: flags.count('--by-js', 0, 0),
    systems: chosen as SystemName[],
    syscalls: flags.has('--syscalls'),
  }
}

/** Waits until `pid` has exited (gone, or a zombie), or `timeoutMs` passed. */
async function exitedWithin(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!existsSync(`/proc/${pid}/stat`)) return true
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return true
    await Bun.sleep(20)
  }
  return false
}

async function measure(system: SystemName, options: Options, run: number): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'flashq-w4-perf-'))
  // The server writes its JITDump into `dir`.
  const env = jitDumpEnv(dir)
  const variant = (system === 'flashq' ? flashqVariants([], [], env) : floorVariants(env)).find((candidate) => candidate.durable === options.durable)
  if (variant === undefined) throw new Error(`no ${options.durable ? 'durable' : 'memory'} variant of ${system}`)
  const peer = await variant.start()
  try {
    const loop = { ratePerSecond: options.rate, warmupSeconds: 0.001, concurrency: 10, timeoutMs: loopTimeoutMs }
    await peerOpenLoop(peer.system, { ...loop, queue: `w4p-warm-${run}`, seconds: options.warmupSeconds })
    const data = join(dir, 'perf.data')
    // The loop runs a little longer than perf samples, so every sampled moment has jobs flowing.
    const measured = peerOpenLoop(peer.system, { ...loop, queue: `w4p-${run}`, seconds: options.seconds + 1 })
    await Bun.sleep(250)
    if (options.syscalls) {
      const calls = await traceSyscalls(peer.pid, options.seconds)
      const result = await measured
      return { p99: result.p99 ?? Number.NaN, mainMicrosPerJob: Number.NaN, selfMicros: new Map(), byJsMicros: new Map(), syscallsPerJob: perJobOf(calls, options.rate * calls.seconds) }
    }
    const seconds = await recordThread(peer.pid, options.seconds, data)
    const result = await measured
    process.kill(peer.pid, 'SIGTERM')
    if (!(await exitedWithin(peer.pid, exitWaitMs))) throw new Error(`${system} did not exit within ${exitWaitMs} ms of SIGTERM`)
    nameJitCode(dir, peer.pid, data)
    const total = countSamples(data)
    if (total === 0) throw new Error(`perf recorded no samples of ${system}`)
    const jobsSampled = options.rate * seconds
    const perJob = microsPerSample / jobsSampled
    return {
      p99: result.p99 ?? Number.NaN,
      mainMicrosPerJob: total * perJob,
      selfMicros: options.top > 0 ? selfMicrosOf(data, perJob) : new Map(),
      byJsMicros: options.byJs > 0 ? byNearestJs(data, perJob) : new Map(),
      syscallsPerJob: new Map(),
    }
  } finally {
    await peer.stop()
    rmSync(`/tmp/perf-${peer.pid}.map`, { force: true })
    rmSync(dir, { recursive: true, force: true })
  }
}

/** System calls of thread `tid` by name over `seconds` (`strace -c`), and the seconds traced. */
async function traceSyscalls(tid: number, seconds: number): Promise<{ counts: Map<string, number>; seconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'flashq-w4-strace-'))
  try {
    const out = join(dir, 'strace.txt')
    const tracer = Bun.spawn(['strace', '-c', '-p', String(tid), '-o', out], { stdout: 'ignore', stderr: 'pipe' })
    const startedAt = performance.now()
    await Bun.sleep(seconds * 1000)
    // strace detaches on SIGINT and writes its table; its exit status then is not 0 but the signal's.
    tracer.kill('SIGINT')
    await tracer.exited
    if (!existsSync(out) || !readFileSync(out, 'utf8').includes(' total')) throw new Error(`strace wrote no table: ${await new Response(tracer.stderr).text()}`)
    const counts = new Map<string, number>()
    // strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall.
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      const match = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(line)
      if (match !== null && match[2] !== 'total') counts.set(match[2] as string, Number(match[1]))
    }
    return { counts, seconds: (performance.now() - startedAt) / 1000 }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function perJobOf(calls: { counts: Map<string, number> }, jobs: number): Map<string, number> {
  const perJob = new Map([...calls.counts].map(([name, count]) => [name, count / jobs] as const))
  perJob.set('(all)', [...calls.counts.values()].reduce((sum, count) => sum + count, 0) / jobs)
  return perJob
}

const options = parseArgs(process.argv.slice(2))
const results = new Map<SystemName, Measured[]>(options.systems.map((system) => [system, []]))
for (let run = 0; run < options.runs; run++) {
  for (const system of options.systems) results.get(system)?.push(await measure(system, options, run))
}
const runsOf = (system: SystemName) => results.get(system) ?? []
const row = (label: string, value: (one: Measured) => number, digits: number) => `| ${label} | ${options.systems.map((system) => median(runsOf(system).map(value)).toFixed(digits)).join(' | ')} |`
const how = options.syscalls ? 'strace -c' : `perf at ${samplesPerSecond} Hz`
console.log(`\nW4 ${options.durable ? 'durable' : 'memory'} at ${options.rate} jobs/s, server main thread (medians of ${options.runs}; ${how} for ${options.seconds} s after ${options.warmupSeconds} s of the loop)`)
console.log(`| | ${options.systems.join(' | ')} |`)
console.log(`| --- |${' --- |'.repeat(options.systems.length)}`)
console.log(row('push→start p99, ms', (one) => one.p99, 2))
if (options.syscalls) {
  console.log(row('system calls per job', (one) => one.syscallsPerJob.get('(all)') ?? 0, 2))
  const names = new Set(options.systems.flatMap((system) => runsOf(system).flatMap((one) => [...one.syscallsPerJob.keys()])))
  names.delete('(all)')
  const ranked = [...names].map((name) => [name, Math.max(...options.systems.map((system) => median(runsOf(system).map((one) => one.syscallsPerJob.get(name) ?? 0))))] as const)
  for (const [name] of ranked.filter(([, most]) => most >= 0.01).toSorted((a, b) => b[1] - a[1])) console.log(row(`  ${name}`, (one) => one.syscallsPerJob.get(name) ?? 0, 2))
} else {
  console.log(row('main thread µs per job', (one) => one.mainMicrosPerJob, 1))
}
for (const system of options.systems) printTop(`${system}: the ${options.top} symbols with the most own time, µs per job`, runsOf(system).map((one) => one.selfMicros), options.top)
for (const system of options.systems) printTop(`${system}: the ${options.byJs} JavaScript functions that cost the most with the native code they call, µs per job`, runsOf(system).map((one) => one.byJsMicros), options.byJs)
