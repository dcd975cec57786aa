/**
 * Where a W4 job's server CPU goes, by `perf`: flashq against the Bun floor (src/bench/peers/floor.ts),
 * each started as bench:peers starts it and driven by the same SDK Queue and Worker (concurrency 10)
 * in W4's open loop at `--rate` jobs/s (a job: its push, its pull, its ack, and their replies).
 *
 *   bun test/bench/w4-perf.ts [--mode memory|durable] [--rate 1000] [--warmup-seconds 2] [--seconds 3]
 *     [--runs 2] [--top 0] [--by-js 0] [--systems flashq,floor]
 *
 * After `--warmup-seconds` of the loop on another queue, `perf record` samples the server's main
 * thread for `--seconds` while the loop runs on. Printed per system (medians of the runs): push→start
 * p99, main-thread µs per job (samples × period ÷ jobs started while sampled), and with `--top` /
 * `--by-js` the symbols and JavaScript functions that cost the most, µs per job, as w1-perf.ts prints
 * them (test/bench/perf-samples.ts). Needs perf and permission to sample another process.
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

type Options = { durable: boolean; rate: number; warmupSeconds: number; seconds: number; runs: number; top: number; byJs: number; systems: SystemName[] }
type Measured = { p99: number; mainMicrosPerJob: number; selfMicros: Map<string, number>; byJsMicros: Map<string, number> }

function parseArgs(args: string[]): Options {
  const flags = new BenchFlags(args)
  const seconds = (flag: string, fallback: number) => {
    const value = Number(flags.value(flag) ?? fallback)
    if (!(value > 0)) throw new Error(`${flag}: a positive number of seconds, not '${flags.value(flag)}'`)
    return value
  }
  const chosen = (flags.value('--systems') ?? systems.join(',')).split(',')
  for (const name of chosen) if (!(systems as readonly string[]).includes(name)) throw new Error(`--systems: ${systems.join(', ')}, not '${name}'`)
  return {
    durable: flags.choice('--mode', ['memory', 'durable'], 'memory') === 'durable',
    rate: flags.count('--rate', 1000),
    warmupSeconds: seconds('--warmup-seconds', 2),
    seconds: seconds('--seconds', 3),
    runs: flags.count('--runs', 2),
    top: flags.count('--top', 0, 0),
    byJs: flags.count('--by-js', 0, 0),
    systems: chosen as SystemName[],
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
    }
  } finally {
    await peer.stop()
    rmSync(`/tmp/perf-${peer.pid}.map`, { force: true })
    rmSync(dir, { recursive: true, force: true })
  }
}

const options = parseArgs(process.argv.slice(2))
const results = new Map<SystemName, Measured[]>(options.systems.map((system) => [system, []]))
for (let run = 0; run < options.runs; run++) {
  for (const system of options.systems) results.get(system)?.push(await measure(system, options, run))
}
const runsOf = (system: SystemName) => results.get(system) ?? []
const row = (label: string, value: (one: Measured) => number, digits: number) => `| ${label} | ${options.systems.map((system) => median(runsOf(system).map(value)).toFixed(digits)).join(' | ')} |`
console.log(`\nW4 ${options.durable ? 'durable' : 'memory'} at ${options.rate} jobs/s, server main thread (medians of ${options.runs}; perf at ${samplesPerSecond} Hz for ${options.seconds} s after ${options.warmupSeconds} s of the loop)`)
console.log(`| | ${options.systems.join(' | ')} |`)
console.log(`| --- |${' --- |'.repeat(options.systems.length)}`)
console.log(row('push→start p99, ms', (one) => one.p99, 2))
console.log(row('main thread µs per job', (one) => one.mainMicrosPerJob, 1))
for (const system of options.systems) printTop(`${system}: the ${options.top} symbols with the most own time, µs per job`, runsOf(system).map((one) => one.selfMicros), options.top)
for (const system of options.systems) printTop(`${system}: the ${options.byJs} JavaScript functions that cost the most with the native code they call, µs per job`, runsOf(system).map((one) => one.byJsMicros), options.byJs)
