/**
 * Whose CPU a W4 open loop costs the server, thread by thread, and whether JSC is still compiling:
 * flashq (or the Bun floor) started as bench:peers starts it, driven by the same SDK Queue and Worker
 * (concurrency 10) at `--rate` jobs/s.
 *
 *   bun test/bench/w4-threads.ts [--system flashq|floor] [--mode memory|durable] [--rate 1000]
 *     [--warmup-seconds 1] [--seconds 3] [--window-seconds 3] [--runs 2] [--jit-policy none|idle|nice19[,…]]
 *     [--server-args '<flashq flags>'] [--server-env K=V[,K=V…]]
 *
 * Per run: push→start p50 / p99 / max over the measured seconds (after `--warmup-seconds` of the same
 * loop on another queue), the server's CPU per job by thread name (/proc/<pid>/task/<tid>/stat:
 * `bun.exe` is the main thread, `JITWorker` JSC's compiler threads, `HeapHelper` its GC markers,
 * `mi-scavenger` mimalloc's purger), and the compiler threads' CPU in each `--window-seconds` window
 * (/proc/<pid>/task/<tid>/schedstat): a compile that is still going on shows there.
 * `--jit-policy` sets the compiler threads' scheduling from outside before the loop: `idle` is
 * SCHED_IDLE (`chrt -i`), `nice19` is nice 19 (`renice`); several, comma-separated, alternate run by
 * run. flashq now sets nice 19 itself (`--compiler-nice`); `--server-args '--compiler-nice 0'` starts
 * it without, for the comparison of docs/architecture.md "JSC's compiler threads during W4".
 * `--server-env` adds variables to the server's environment (JSC's own options, `BUN_JSC_*`, are read
 * only at start), e.g. `BUN_JSC_useFTLJIT=0` for a server whose JIT stops at DFG.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { flashqVariants } from '../../src/bench/peers/flashq.ts'
import { floorVariants } from '../../src/bench/peers/floor.ts'
import { peerOpenLoop } from '../../src/bench/workloads.ts'
import { compilerThreadName } from '../../src/server/compiler-threads.ts'
import { BenchFlags } from './flags.ts'

const jitPolicies = ['none', 'idle', 'nice19'] as const
type JitPolicy = (typeof jitPolicies)[number]
/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const ticksPerSecond = 100
/** Longest an open loop may take to finish its jobs before the run counts as overloaded. */
const loopTimeoutMs = 60_000

type Options = {
  system: 'flashq' | 'floor'
  durable: boolean
  rate: number
  warmupSeconds: number
  seconds: number
  windowSeconds: number
  runs: number
  policies: JitPolicy[]
  serverArgs: string[]
  /** Variables added to the server's environment (`--server-env K=V[,K=V…]`). */
  serverEnv: Record<string, string>
}

function parseArgs(args: string[]): Options {
  const flags = new BenchFlags(args)
  const policies = (flags.value('--jit-policy') ?? 'none').split(',')
  for (const policy of policies) if (!(jitPolicies as readonly string[]).includes(policy)) throw new Error(`--jit-policy: ${jitPolicies.join(', ')}, not '${policy}'`)
  return {
    system: flags.choice('--system', ['flashq', 'floor'], 'flashq'),
    durable: flags.choice('--mode', ['memory', 'durable'], 'memory') === 'durable',
    rate: flags.count('--rate', 1000),
    warmupSeconds: flags.seconds('--warmup-seconds', 1),
    seconds: flags.seconds('--seconds', 3),
    windowSeconds: flags.seconds('--window-seconds', 3),
    runs: flags.count('--runs', 2),
    policies: policies as JitPolicy[],
    serverArgs: (flags.value('--server-args') ?? '').split(' ').filter((arg) => arg !== ''),
    serverEnv: parseEnv(flags.value('--server-env') ?? ''),
  }
}

function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const pair of text.split(',').filter((item) => item !== '')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(pair)
    if (match === null) throw new Error(`--server-env: K=V[,K=V…], not '${pair}'`)
    env[match[1] as string] = match[2] as string
  }
  return env
}

/** The threads of `pid` by name (trailing digits dropped), each thread's name read with `read`. */
function eachThread(pid: number, read: (path: string, name: string) => void): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const path = `/proc/${pid}/task/${tid}`
    try {
      read(path, readFileSync(`${path}/comm`, 'utf8').trim().replace(/\d+$/, ''))
    } catch {
      // The thread ended between the listing and the read.
    }
  }
}

/** CPU seconds (user + system) of each thread name of `pid`. */
function cpuSecondsByThread(pid: number): Map<string, number> {
  const seconds = new Map<string, number>()
  eachThread(pid, (path, name) => {
    const stat = readFileSync(`${path}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    seconds.set(name, (seconds.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / ticksPerSecond)
  })
  return seconds
}

/** CPU ms of the compiler threads of `pid` (schedstat: ns on the CPU). */
function compilerCpuMs(pid: number): number {
  let ns = 0
  eachThread(pid, (path, name) => {
    if (name === compilerThreadName) ns += Number(readFileSync(`${path}/schedstat`, 'utf8').split(' ')[0])
  })
  return ns / 1e6
}

function applyJitPolicy(pid: number, policy: JitPolicy): void {
  if (policy === 'none') return
  eachThread(pid, (path, name) => {
    if (name !== compilerThreadName) return
    const tid = path.slice(path.lastIndexOf('/') + 1)
    const command = policy === 'idle' ? ['chrt', '-i', '-p', '0', tid] : ['renice', '-n', '19', '-p', tid]
    const ran = Bun.spawnSync(command, { stdout: 'ignore', stderr: 'pipe' })
    if (ran.exitCode !== 0) throw new Error(`${command.join(' ')}: ${ran.stderr.toString().trim()}`)
  })
}

async function measureRun(options: Options, policy: JitPolicy, run: number): Promise<string> {
  const env = { ...process.env, ...options.serverEnv }
  const variants = options.system === 'flashq' ? flashqVariants(options.serverArgs, [], env) : floorVariants(env)
  const variant = variants.find((candidate) => candidate.durable === options.durable)
  if (variant === undefined) throw new Error(`no ${options.durable ? 'durable' : 'memory'} variant of ${options.system}`)
  const peer = await variant.start()
  try {
    applyJitPolicy(peer.pid, policy)
    const loop = { ratePerSecond: options.rate, warmupSeconds: 0.001, concurrency: 10, timeoutMs: loopTimeoutMs }
    await peerOpenLoop(peer.system, { ...loop, queue: `w4t-warm-${run}`, seconds: options.warmupSeconds })
    const before = cpuSecondsByThread(peer.pid)
    const windows: number[] = []
    let lastMs = compilerCpuMs(peer.pid)
    const sampler = setInterval(() => {
      const nowMs = compilerCpuMs(peer.pid)
      windows.push(nowMs - lastMs)
      lastMs = nowMs
    }, options.windowSeconds * 1000)
    const measured = await peerOpenLoop(peer.system, { ...loop, queue: `w4t-${run}`, seconds: options.seconds })
    clearInterval(sampler)
    const after = cpuSecondsByThread(peer.pid)
    const perJob = [...after]
      .map(([name, total]) => [name, ((total - (before.get(name) ?? 0)) * 1e6) / measured.jobs] as const)
      .filter(([, micros]) => micros >= 1)
      .toSorted((a, b) => b[1] - a[1])
    const ms = (value: number | undefined) => (value ?? Number.NaN).toFixed(2)
    return `${options.system} ${options.durable ? 'durable' : 'memory'} ${options.rate}/s jit=${policy}: `
      + `p50 ${ms(measured.p50)} p99 ${ms(measured.p99)} max ${ms(measured.max)} ms; `
      + `server µs/job ${perJob.map(([name, micros]) => `${name} ${micros.toFixed(0)}`).join(', ')}; `
      + `compiler ms per ${options.windowSeconds} s: ${windows.map((value) => value.toFixed(0)).join(' ') || '-'}`
  } finally {
    await peer.stop()
  }
}

const options = parseArgs(process.argv.slice(2))
for (let run = 0; run < options.runs; run++) {
  for (const policy of options.policies) console.log(await measureRun(options, policy, run))
}
