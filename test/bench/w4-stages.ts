/**
 * W4 split into stages (a diagnostic; issue #13): the open loop of src/bench/workloads.ts
 * (peerOpenLoop: producer on its own connection, a Worker of concurrency 10, 1 s warm-up, then the
 * measured seconds) with a CLOCK_MONOTONIC stamp per job at each hop:
 *
 *   sent (client) → server read the PUSH → server wrote the PULLB reply → client read it → processor started
 *
 * The server and client stamps come from test/bench/w4-stages.patch (`git apply` it first; it adds
 * src/base/x-trace.ts and a few lines in src/server/tcp.ts and src/client/connection.ts, all
 * inactive unless FLASHQ_X_W4 is set). Prints per-stage percentiles and, for the jobs over
 * `--slow-ms`, which stage held them longest. `--sched` also records the kernel's sched_switch /
 * sched_wakeup events (tracefs, trace clock `mono`) for the measured window and says, for each slow
 * stage, what ran on the CPUs meanwhile (how long the waiting thread was runnable but not running).
 *
 *   git apply test/bench/w4-stages.patch; mkdir -p /tmp/w4m/x
 *   FLASHQ_X_W4=/tmp/w4m/x/t flock /tmp/flashq-bench.lock bun test/bench/w4-stages.ts --rate 1000 [--durable] [--sched] [--runs 2]
 *     [--slow-ms 1.5] [--show 25] [--slice-us 100 --slice-for server|client|both] [--main <other checkout>/src/main.ts]
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Queue, Worker } from '../../src/client/index.ts'
import { peerJobData } from '../../src/bench/workloads.ts'
import { readStartupLine } from '../../src/bench/startup-line.ts'
import { dlopen, FFIType, ptr } from 'bun:ffi'

const args = process.argv.slice(2)
const flag = (name: string) => args.includes(name)
const value = (name: string, fallback: string) => {
  const index = args.indexOf(name)
  return index >= 0 ? (args[index + 1] as string) : fallback
}
const rate = Number(value('--rate', '1000'))
const seconds = Number(value('--seconds', '2'))
const warmupSeconds = Number(value('--warmup-seconds', '1'))
const runs = Number(value('--runs', '1'))
const slowMs = Number(value('--slow-ms', '1.5'))
const durable = flag('--durable')
const sched = flag('--sched')
const serverMain = value('--main', join(import.meta.dir, '..', '..', 'src', 'main.ts'))
const serverArgs = value('--server-args', '').split(' ').filter((arg) => arg.length > 0)
/** `--slice-us N`: an EEVDF custom slice (sched_setattr, Linux ≥ 6.12) for the main threads named by `--slice-for` (server, client or both). */
const sliceUs = Number(value('--slice-us', '0'))
const sliceFor = value('--slice-for', 'both')
const reportJit = flag('--report-jit')
const tracePrefix = process.env.FLASHQ_X_W4
if (tracePrefix === undefined) throw new Error('set FLASHQ_X_W4=<path prefix> (and apply test/bench/w4-stages.patch)')
const traceDir = join(tracePrefix, '..')

const libc = dlopen('libc.so.6', {
  syscall: { args: [FFIType.i64, FFIType.i64, FFIType.ptr, FFIType.i64, FFIType.i64], returns: FFIType.i64 },
  clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
})
const clockSpec = new BigInt64Array(2)
const clockSpecPtr = ptr(clockSpec)
/** CLOCK_MONOTONIC in ms, as the patch's xMono (src/base/x-trace.ts) stamps in the server. */
function xMono(): number {
  libc.symbols.clock_gettime(1, clockSpecPtr)
  return Number(clockSpec[0]) * 1000 + Number(clockSpec[1]) / 1e6
}

type Job = { t: number; sent: number; acked: number; data: number; started: number }

async function startServer(): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const dataDir = durable ? mkdtempSync(join(tmpdir(), 'w4-stages-')) : null
  const mode = dataDir === null ? ['--memory'] : ['--data-dir', dataDir]
  const child = Bun.spawn([process.execPath, serverMain, '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--log-level', 'warn', ...mode, ...serverArgs], {
    stdin: 'ignore', stdout: 'pipe', stderr: 'inherit',
    // `--report-jit`: the server (only) prints each DFG/FTL compilation, and the loop marks on stderr when the measured part starts.
    env: { ...process.env, ...(reportJit ? { BUN_JSC_reportDFGCompileTimes: '1', BUN_JSC_reportFTLCompileTimes: '1' } : {}) },
  })
  process.on("exit", () => child.kill("SIGKILL"))
  const { line } = await readStartupLine(child.stdout)
  const port = Number(/tcp=[^ ]*:(\d+)/.exec(line ?? '')?.[1])
  if (!(port > 0)) throw new Error(`no port in ${line}`)
  return {
    port, pid: child.pid,
    stop: async () => {
      child.kill('SIGTERM')
      await child.exited
      if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

async function openLoop(port: number): Promise<{ jobs: Job[]; from: number; to: number }> {
  const connection = { host: '127.0.0.1', port }
  const total = Math.round(rate * (seconds + warmupSeconds))
  const byT = new Map<number, Job>()
  let startedCount = 0
  let allStarted: () => void = () => {}
  const done = new Promise<void>((resolve) => (allStarted = resolve))
  const worker = new Worker('w4', async (job: { data: { t: number } }) => {
    const now = xMono()
    const entry = byT.get(job.data.t)
    if (entry !== undefined && entry.started === 0) {
      entry.started = now
      entry.data = (globalThis as { xDataAt?: number }).xDataAt ?? 0
      if (++startedCount === total) allStarted()
    }
  }, { connection, concurrency: 10 })
  worker.on('error', () => {})
  await worker.waitUntilReady()
  const queue = new Queue('w4', { connection })
  await queue.waitUntilReady?.()
  const startedAt = performance.now()
  const intervalMs = 1000 / rate
  let sent = 0
  let marked = false
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now()
      while (sent < total && startedAt + sent * intervalMs <= now) {
        const t = startedAt + sent * intervalMs
        const entry: Job = { t, sent: xMono(), acked: 0, data: 0, started: 0 }
        byT.set(t, entry)
        queue.add('job', peerJobData(t)).then(() => (entry.acked = xMono()), () => {})
        sent++
      }
      if (sent >= total) return resolve()
      if (reportJit && !marked && performance.now() >= startedAt + warmupSeconds * 1000) {
        marked = true
        process.stderr.write('w4-stages: measured part starts\n')
      }
      setTimeout(tick, Math.max(0, Math.min(1, startedAt + sent * intervalMs - performance.now())))
    }
    tick()
  })
  await Promise.race([done, Bun.sleep(10_000)])
  await worker.close()
  await queue.close()
  const measuredFrom = startedAt + warmupSeconds * 1000
  const jobs = [...byT.values()].filter((job) => job.t >= measuredFrom - 0.001)
  return { jobs, from: jobs[0]?.sent ?? 0, to: jobs[jobs.length - 1]?.sent ?? 0 }
}

function quantile(sorted: number[], fraction: number): number {
  return sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] as number)
}

function line(name: string, values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b)
  const f = (x: number) => x.toFixed(3)
  return `${name.padEnd(26)} p50 ${f(quantile(sorted, 0.5))} p90 ${f(quantile(sorted, 0.9))} p99 ${f(quantile(sorted, 0.99))} p99.9 ${f(quantile(sorted, 0.999))} max ${f(quantile(sorted, 1))}`
}

const stageNames = ['send→server read', 'server read→pull reply', 'reply→client read', 'client read→start'] as const

function report(jobs: Job[], server: { recv: Map<number, number>; write: Map<number, number> }, schedule: SchedTrace | null, pids: { server: number; client: number }): void {
  const stages: number[][] = [[], [], [], []]
  const total: number[] = []
  const slow: Array<{ job: Job; parts: number[] }> = []
  let unmatched = 0
  for (const job of jobs) {
    const recv = server.recv.get(job.t)
    const write = server.write.get(job.t)
    if (recv === undefined || write === undefined || job.started === 0) {
      unmatched++
      continue
    }
    const parts = [recv - job.sent, write - recv, job.data - write, job.started - job.data]
    parts.forEach((part, index) => stages[index]?.push(part))
    const latency = job.started - job.sent
    total.push(latency)
    if (latency > slowMs) slow.push({ job, parts })
  }
  console.log(line('send→start', total))
  stageNames.forEach((name, index) => console.log(line(name, stages[index] as number[])))
  const blame = [0, 0, 0, 0]
  for (const { parts } of slow) {
    const longest = parts.indexOf(Math.max(...parts))
    blame[longest] = (blame[longest] ?? 0) + 1
  }
  console.log(`${slow.length} jobs over ${slowMs} ms (${unmatched} unmatched); longest stage: ${stageNames.map((name, index) => `${name} ${blame[index]}`).join(', ')}`)
  if (schedule !== null) {
    attributeSlow(slow, schedule, pids)
    windowCpu(schedule, jobs[0]?.sent ?? 0, jobs[jobs.length - 1]?.sent ?? 0, pids)
  }
}

/** CPU time per thread over the whole measured window (ms), to set the slow stages' shares against. */
function windowCpu(schedule: SchedTrace, from: number, to: number, pids: { server: number; client: number }): void {
  const totals = new Map<string, number>()
  const current: Array<{ pid: number; comm: string; since: number }> = [{ pid: 0, comm: 'idle', since: from }, { pid: 0, comm: 'idle', since: from }]
  const add = (cpuNow: { pid: number; comm: string; since: number }, until: number) => {
    const span = Math.min(until, to) - Math.max(cpuNow.since, from)
    const name = who(cpuNow.pid, cpuNow.comm, pids)
    if (span > 0) totals.set(name, (totals.get(name) ?? 0) + span)
  }
  for (const event of schedule.events) {
    if (event.kind !== 'switch') continue
    add(current[event.cpu] as { pid: number; comm: string; since: number }, event.at)
    current[event.cpu] = { pid: event.nextPid, comm: event.next, since: event.at }
  }
  for (const cpuNow of current) add(cpuNow, to)
  console.log(`whole window (${(to - from).toFixed(0)} ms × 2 CPUs): ${[...totals].sort((a, b) => b[1] - a[1]).slice(0, 14).map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join(', ')}`)
}

// ---- kernel scheduler trace ----

const tracing = '/sys/kernel/tracing'
type SchedEvent = { at: number; cpu: number; kind: 'switch' | 'wakeup'; prev: string; prevPid: number; prevState: string; next: string; nextPid: number }
type SchedTrace = { events: SchedEvent[] }

function tracefs(file: string, text: string): void {
  writeFileSync(join(tracing, file), text)
}

function startSched(): void {
  tracefs('tracing_on', '0')
  tracefs('trace_clock', 'mono')
  tracefs('buffer_size_kb', '16384')
  tracefs('trace', '')
  tracefs('events/sched/sched_switch/enable', '1')
  tracefs('events/sched/sched_wakeup/enable', '1')
  tracefs('tracing_on', '1')
}

function stopSched(): SchedTrace {
  tracefs('tracing_on', '0')
  const text = readFileSync(join(tracing, 'trace'), 'utf8')
  tracefs('events/sched/sched_switch/enable', '0')
  tracefs('events/sched/sched_wakeup/enable', '0')
  tracefs('trace', '')
  tracefs('trace_clock', 'local')
  tracefs('buffer_size_kb', '1408')
  const events: SchedEvent[] = []
  const switchPattern = /\[(\d+)\].*? (\d+\.\d+): sched_switch: prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)/
  const wakePattern = /\[(\d+)\].*? (\d+\.\d+): sched_wakeup: comm=(.*?) pid=(\d+) prio=\d+ target_cpu=(\d+)/
  for (const row of text.split('\n')) {
    let match = switchPattern.exec(row)
    if (match !== null) {
      events.push({ at: Number(match[2]) * 1000, cpu: Number(match[1]), kind: 'switch', prev: match[3] as string, prevPid: Number(match[4]), prevState: match[5] as string, next: match[6] as string, nextPid: Number(match[7]) })
      continue
    }
    match = wakePattern.exec(row)
    if (match !== null) events.push({ at: Number(match[2]) * 1000, cpu: Number(match[5]), kind: 'wakeup', prev: '', prevPid: 0, prevState: '', next: match[3] as string, nextPid: Number(match[4]) })
  }
  return { events }
}

/** The length of the union of `spans` that lies within any of `within` (both small lists). */
function overlapMs(within: Array<[number, number]>, spans: Array<[number, number]>): number {
  let total = 0
  for (const [start, end] of within) {
    const cuts = spans.map(([a, b]) => [Math.max(a, start), Math.min(b, end)] as [number, number]).filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0])
    let reach = start
    for (const [a, b] of cuts) {
      if (b <= reach) continue
      total += b - Math.max(a, reach)
      reach = b
    }
  }
  return total
}

/** Names a thread: its process (server/client/other) and comm. */
function who(pid: number, comm: string, pids: { server: number; client: number }): string {
  const owner = (tid: number) => {
    try {
      const status = readFileSync(`/proc/${tid}/status`, 'utf8')
      return Number(/Tgid:\s+(\d+)/.exec(status)?.[1])
    } catch {
      return -1
    }
  }
  const tgid = threadOwner.get(pid) ?? owner(pid)
  threadOwner.set(pid, tgid)
  const side = tgid === pids.server ? 'server' : tgid === pids.client ? 'client' : 'other'
  return `${side}:${comm}${pid === pids.server || pid === pids.client ? '(main)' : ''}`
}
const threadOwner = new Map<number, number>()

/**
 * For each slow job, in its longest stage's interval: how long the thread that had to act (server
 * main for the first two stages, client main for the others) was runnable without running, and who
 * ran on the CPUs meanwhile (ms per thread).
 */
function attributeSlow(slow: Array<{ job: Job; parts: number[] }>, schedule: SchedTrace, pids: { server: number; client: number }): void {
  const totals = new Map<string, number>()
  let waitTotal = 0
  let waitIdleTotal = 0
  let stageTotal = 0
  const rows: string[] = []
  for (const { job, parts } of slow) {
    const index = parts.indexOf(Math.max(...parts))
    const bounds = [job.sent, job.sent + (parts[0] as number), job.sent + (parts[0] as number) + (parts[1] as number), job.data, job.started]
    const from = bounds[index] as number
    const to = bounds[index + 1] as number
    const actor = index <= 1 ? pids.server : pids.client
    const running = new Map<string, number>()
    let actorRunnableSince: number | null = null
    let actorRunning = false
    let actorWait = 0
    let wokenOn = -1
    /** The actor's waits for a CPU and each CPU's idle spans within [from, to], intersected at the end. */
    const waits: Array<[number, number]> = []
    const idleSpans: Array<[number, number]> = []
    const idleSince: Array<number | null> = [null, null]
    const current: Array<{ pid: number; comm: string; since: number }> = [{ pid: 0, comm: 'idle', since: from }, { pid: 0, comm: 'idle', since: from }]
    for (const event of schedule.events) {
      if (event.at > to) break
      if (event.kind === 'wakeup') {
        if (event.nextPid === actor && !actorRunning) {
          actorRunnableSince = Math.max(event.at, from)
          wokenOn = event.cpu
        }
        continue
      }
      const cpuNow = current[event.cpu] ?? { pid: 0, comm: 'idle', since: from }
      if (event.at >= from) {
        const span = event.at - Math.max(cpuNow.since, from)
        const name = `${event.cpu}:${who(cpuNow.pid, cpuNow.comm, pids)}`
        if (span > 0) running.set(name, (running.get(name) ?? 0) + span)
      }
      const idleFrom = idleSince[event.cpu]
      if (idleFrom !== null && idleFrom !== undefined && event.nextPid !== 0) idleSpans.push([idleFrom, event.at])
      if (event.nextPid === 0) idleSince[event.cpu] ??= event.at
      else idleSince[event.cpu] = null
      current[event.cpu] = { pid: event.nextPid, comm: event.next, since: event.at }
      if (event.prevPid === actor) {
        actorRunning = false
        // Preempted (R) stays runnable; a sleep ends the wait.
        actorRunnableSince = event.prevState.startsWith('R') ? Math.max(event.at, from) : null
      }
      if (event.nextPid === actor) {
        if (actorRunnableSince !== null && event.at >= from) {
          actorWait += event.at - actorRunnableSince
          waits.push([actorRunnableSince, event.at])
        }
        actorRunnableSince = null
        actorRunning = true
      }
    }
    current.forEach((cpuNow, cpu) => {
      const span = to - Math.max(cpuNow.since, from)
      const name = `${cpu}:${who(cpuNow.pid, cpuNow.comm, pids)}`
      if (span > 0) running.set(name, (running.get(name) ?? 0) + span)
    })
    if (actorRunnableSince !== null) {
      actorWait += to - actorRunnableSince
      waits.push([actorRunnableSince, to])
    }
    for (const idleFrom of idleSince) if (idleFrom !== null && idleFrom !== undefined) idleSpans.push([idleFrom, to])
    const waitIdleCpu = overlapMs(waits, idleSpans)
    waitTotal += actorWait
    waitIdleTotal += waitIdleCpu
    stageTotal += to - from
    for (const [name, ms] of running) totals.set(name.slice(name.indexOf(':') + 1), (totals.get(name.slice(name.indexOf(':') + 1)) ?? 0) + ms)
    const top = [...running].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(', ')
    rows.push(`  ${(job.started - job.sent).toFixed(2)} ms, ${stageNames[index]} ${(to - from).toFixed(2)}: ${index <= 1 ? 'server' : 'client'} main runnable-not-running ${actorWait.toFixed(2)} (${waitIdleCpu.toFixed(2)} of it with a CPU idle; woken on cpu ${wokenOn}); ran: ${top}`)
  }
  for (const row of rows.slice(0, Number(value('--show', '25')))) console.log(row)
  console.log(`slow stages: ${stageTotal.toFixed(1)} ms in all, the acting main thread waited for a CPU ${waitTotal.toFixed(1)} ms of it (${waitIdleTotal.toFixed(1)} ms while the other CPU was idle)`)
  console.log(`CPU time within them: ${[...totals].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([name, ms]) => `${name} ${ms.toFixed(1)}`).join(', ')}`)
}

function loadServerTrace(pid: number): { recv: Map<number, number>; write: Map<number, number> } {
  const file = readdirSync(traceDir).find((name) => name.endsWith(`.${pid}.json`))
  if (file === undefined) throw new Error(`no server trace for pid ${pid} in ${traceDir}`)
  const raw = JSON.parse(readFileSync(join(traceDir, file), 'utf8')) as { recv: number[]; write: number[] }
  const pairs = (list: number[]) => {
    const map = new Map<number, number>()
    for (let i = 0; i < list.length; i += 2) if (!map.has(list[i] as number)) map.set(list[i] as number, list[i + 1] as number)
    return map
  }
  return { recv: pairs(raw.recv), write: pairs(raw.write) }
}

/** sched_setattr(tid, {SCHED_OTHER, sched_runtime = slice}); the kernel default here is 1.4 ms. */
function setSlice(tid: number, us: number): void {
  const attr = new Uint8Array(56)
  const view = new DataView(attr.buffer)
  view.setUint32(0, 56, true)
  view.setBigUint64(24, BigInt(us * 1000), true)
  const result = Number(libc.symbols.syscall(314, tid, ptr(attr), 0, 0))
  if (result !== 0) throw new Error(`sched_setattr(${tid}) failed`)
}

for (let run = 0; run < runs; run++) {
  const server = await startServer()
  if (sliceUs > 0 && sliceFor !== 'client') setSlice(server.pid, sliceUs)
  if (sliceUs > 0 && sliceFor !== 'server') setSlice(0, sliceUs)
  if (sched) startSched()
  let result: Awaited<ReturnType<typeof openLoop>>
  let schedule: SchedTrace | null = null
  try {
    result = await openLoop(server.port)
  } finally {
    if (sched) schedule = stopSched()
    for (const pid of [server.pid, process.pid]) for (const tid of readdirSync(`/proc/${pid}/task`)) threadOwner.set(Number(tid), pid)
    await server.stop()
  }
  console.log(`run ${run + 1}: ${durable ? 'durable' : 'memory'} ${rate}/s, ${result.jobs.length} jobs measured${sliceUs > 0 ? `, slice ${sliceUs} µs for ${sliceFor}` : ''}`)
  if (schedule !== null) schedule.events = schedule.events.filter((event) => event.at >= result.from - 20 && event.at <= result.to + 50)
  report(result.jobs, loadServerTrace(server.pid), schedule, { server: server.pid, client: process.pid })
}
