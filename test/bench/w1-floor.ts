/**
 * W1's floor: how fast can *any* Bun server answer one push awaited at a time, on this machine?
 *
 * Issue #13 asks flashq's W1 (one PUSH awaited at a time, through the SDK) to reach beanstalkd's jobs/s
 * durable and 1/1.5 of it in memory. This separates the three things in that round trip:
 * - the platform: `floor` (src/bench/peers/floor.ts), the least a Bun server can do per push — Bun.listen, split the line,
 *   JSON.parse it, (durable) write it to a pre-written file and fdatasync on the thread, reply an id;
 * - our server: flashq driven by the same bare line client (`flashq-bare`);
 * - our client: flashq driven by the SDK's `Queue.add`, as bench:peers drives it (`flashq-sdk`);
 * against beanstalkd through bench:peers' own adapter. Every system runs in its own fresh process on
 * 127.0.0.1; the systems are interleaved within each run; the same W1 loop (src/bench/workloads.ts:
 * 300 warm-up pushes, then 2000 timed) measures all of them. `floor (Bun), SDK` drives the floor with
 * the SDK's `Queue.add`: what the SDK alone costs a round trip, with no server work to speak of.
 *
 * `--workload w2` measures W2 instead, as bench:peers runs it: 300 warm-up jobs, then `--pushes`
 * (default 10000) in PUSHB batches of 1000, one in flight (the SDK's `addBulk`; the bare client
 * sends one prepared PUSHB line; the floor writes and syncs the line, and answers its ids). Per
 * push then reads per job.
 *
 *   bun test/bench/w1-floor.ts [--runs 5] [--mode memory|durable|both] [--workload w1|w2] [--pin <cpu list>] [--pushes 2000] [--warmup 300]
 *     [--only <name part,…>] [--base <flashq checkout>]
 *
 * Besides jobs/s and latency it reports each server's CPU time per timed push (all its threads, and
 * its main thread alone, from /proc: the kernel's share of the socket and the sync included), and
 * the client's: this process's main thread (schedstat), where the SDK or the line client runs, and
 * all its threads (process.cpuUsage, which adds JSC's GC and compiler threads).
 * beanstalkd is left out when it is not installed (`apt-get install beanstalkd`).
 *
 * `--warmup 20000` measures a steady state (the warm-up pushes are not capped in time, the timed ones
 * at 2 s). `--base /tmp/base` adds `flashq (base), bare client` and `flashq (base), SDK`: the server,
 * and the SDK, of another checkout (its src/client imported into this process), interleaved with
 * this one in every run (an A/B of both sides); `--only bare` keeps the contenders whose name
 * contains one of the given parts.
 *
 * `--pin 0` runs every process (client, servers, their threads) on CPU 0 with taskset, which takes
 * the scheduler's placement out of the comparison (see docs/storage.md, "Placement decides more than code").
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BenchFlags } from './flags.ts'
import type { Socket, Subprocess } from 'bun'
import { Queue as ThisQueue } from '../../src/client/index.ts'
import { beanstalkdVariants } from '../../src/bench/peers/beanstalkd.ts'
import { readStartupLine } from '../../src/bench/startup-line.ts'
import { findBinary, freePort, spawnServer } from '../../src/bench/peers/process.ts'
import { type PeerJobData, type PeerMeasured, type PeerProducer, type PeerSystem, peerBatchPush, peerSequentialPush } from '../../src/bench/workloads.ts'

const maxSeconds = 2
const warmupSecondsMax = 120
/** W2's batch size, as bench:peers pushes it. */
const w2BatchJobs = 1000

/** A line client: sends `{"cmd":"PUSH",…}` and resolves on the next reply line (replies come in order). */
async function bareProducer(port: number, queue: string): Promise<PeerProducer> {
  const waiting: Array<{ resolve: () => void; reject: (error: Error) => void }> = []
  let pending = ''
  const decoder = new TextDecoder()
  const socket: Socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data(_socket, chunk) {
        pending += decoder.decode(chunk)
        let newline = pending.indexOf('\n')
        while (newline >= 0) {
          const line = pending.slice(0, newline)
          pending = pending.slice(newline + 1)
          const waiter = waiting.shift()
          if (line.startsWith('{"ok":true')) waiter?.resolve()
          else waiter?.reject(new Error(`push refused: ${line}`))
          newline = pending.indexOf('\n')
        }
      },
      close() { for (const waiter of waiting.splice(0)) waiter.reject(new Error('connection closed')) },
    },
  })
  const prefix = `{"cmd":"PUSH","queue":${JSON.stringify(queue)},"data":`
  const batchPrefix = `{"cmd":"PUSHB","queue":${JSON.stringify(queue)},"jobs":`
  const send = (line: string) => new Promise<void>((resolve, reject) => {
    waiting.push({ resolve, reject })
    socket.write(line)
  })
  return {
    push: (data) => send(`${prefix}${JSON.stringify(data)}}\n`),
    pushBatch: (data) => send(`${batchPrefix}${JSON.stringify(data.map((one) => ({ data: one })))}}\n`),
    close: async () => void socket.end(),
  }
}

type Started = { system: PeerSystem; pid: number; stop(): Promise<void> }

const thisCheckout = join(import.meta.dir, '..', '..')
/** The floor server's one home (bench:peers runs it as the `floor` system). */
const floorServerPath = join(thisCheckout, 'src', 'bench', 'peers', 'floor.ts')

type SdkQueue = { add(name: string, data: PeerJobData): Promise<unknown>; addBulk(jobs: Array<{ name: string; data: PeerJobData }>): Promise<unknown>; close(): Promise<void> }
type SdkQueueClass = new (name: string, options: { connection: { host: string; port: number } }) => SdkQueue

/** The SDK's Queue of `checkout`: this checkout's, or another's imported into this process (--base). */
async function sdkQueueOf(checkout: string): Promise<SdkQueueClass> {
  if (checkout === thisCheckout) return ThisQueue
  return ((await import(join(checkout, 'src', 'client', 'index.ts'))) as { Queue: SdkQueueClass }).Queue
}

async function startFlashq(durable: boolean, client: 'sdk' | 'bare', checkout = thisCheckout): Promise<Started> {
  const Queue = client === 'sdk' ? await sdkQueueOf(checkout) : null
  const dataDir = durable ? mkdtempSync(join(tmpdir(), 'flashq-floor-')) : null
  const child: Subprocess<'ignore', 'pipe', 'pipe'> = Bun.spawn(
    [process.execPath, join(checkout, 'src', 'main.ts'), '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--log-level', 'warn', ...(dataDir === null ? ['--memory'] : ['--data-dir', dataDir])],
    { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
  )
  const { line, seen } = await readStartupLine(child.stdout)
  const port = Number(/tcp=[^ ]*:(\d+)/.exec(line ?? '')?.[1])
  if (!(port > 0)) throw new Error(`flashq did not start: ${seen}`)
  return { system: pushSystem(port, Queue), pid: child.pid, stop: () => kill(child, dataDir) }
}

/** Pushes only (W1, W2), through the SDK's Queue when given one, else the bare line client. */
function pushSystem(port: number, Queue: SdkQueueClass | null): PeerSystem {
  return {
    producer: async (queue) => {
      if (Queue === null) return bareProducer(port, queue)
      const sdk = new Queue(queue, { connection: { host: '127.0.0.1', port } })
      return {
        push: async (data) => void (await sdk.add('job', data)),
        pushBatch: async (data) => void (await sdk.addBulk(data.map((one) => ({ name: 'job', data: one })))),
        close: () => sdk.close(),
      }
    },
    workers: async () => { throw new Error('pushes only') },
  }
}

async function startFloor(durable: boolean, client: 'sdk' | 'bare'): Promise<Started> {
  // Its own empty directory either way: the server runs in it, and stop() removes it.
  const dataDir = mkdtempSync(join(tmpdir(), 'flashq-floor-'))
  const port = freePort()
  const server = await spawnServer([process.execPath, floorServerPath, '--serve', String(port), ...(durable ? [dataDir] : [])], port, dataDir)
  return {
    system: pushSystem(port, client === 'sdk' ? ThisQueue : null),
    pid: server.pid,
    stop: () => server.stop(),
  }
}

async function kill(child: Subprocess<'ignore', 'pipe', 'pipe'>, dataDir: string | null): Promise<void> {
  child.kill('SIGKILL')
  await child.exited
  if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true })
}

async function startBeanstalkd(durable: boolean): Promise<Started> {
  const variant = beanstalkdVariants().find((candidate) => candidate.durable === durable)
  if (variant === undefined) throw new Error('no beanstalkd variant')
  const running = await variant.start()
  return { system: running.system, pid: running.pid, stop: running.stop }
}

type Contender = { name: string; start(durable: boolean): Promise<Started> }

function contendersOf(options: Options): Contender[] {
  const base = options.base
  const all: Contender[] = [
    { name: 'floor (Bun)', start: (durable) => startFloor(durable, 'bare') },
    { name: 'floor (Bun), SDK', start: (durable) => startFloor(durable, 'sdk') },
    { name: 'flashq, bare client', start: (durable) => startFlashq(durable, 'bare') },
    ...(base === null ? [] : [{ name: 'flashq (base), bare client', start: (durable: boolean) => startFlashq(durable, 'bare', base) }]),
    { name: 'flashq, SDK', start: (durable) => startFlashq(durable, 'sdk') },
    ...(base === null ? [] : [{ name: 'flashq (base), SDK', start: (durable: boolean) => startFlashq(durable, 'sdk', base) }]),
    ...(findBinary('beanstalkd') === null ? [] : [{ name: 'beanstalkd', start: startBeanstalkd }]),
  ]
  const only = options.only
  return only === null ? all : all.filter((contender) => only.some((part) => contender.name.includes(part)))
}

type Options = { runs: number; modes: boolean[]; workload: 'w1' | 'w2'; pin: string | null; pushes: number; warmup: number; only: string[] | null; base: string | null }
type Result = PeerMeasured & { serverCpuMicrosPerPush: number; mainThreadCpuMicrosPerPush: number; clientMainThreadCpuMicrosPerPush: number; clientCpuMicrosPerPush: number }

function parseArgs(): Options {
  const flags = new BenchFlags(process.argv.slice(2))
  const mode = flags.choice('--mode', ['memory', 'durable', 'both'], 'both')
  const workload = flags.choice('--workload', ['w1', 'w2'], 'w1')
  return {
    runs: flags.count('--runs', 5), workload, pushes: flags.count('--pushes', workload === 'w1' ? 2000 : 10_000), warmup: flags.count('--warmup', 300, 0),
    modes: mode === 'both' ? [false, true] : [mode === 'durable'], pin: flags.value('--pin'),
    only: flags.value('--only')?.split(',') ?? null, base: flags.value('--base'),
  }
}

/**
 * W1 (or W2) as bench:peers runs it, the server's and the client's CPU time counted over the timed
 * pushes only (the client's includes the loop's own bookkeeping, the same for every contender, and its connect).
 */
async function measure(started: Started, queue: string, options: Options): Promise<Result> {
  const run = (total: number, maxSeconds: number) => options.workload === 'w1'
    ? peerSequentialPush(started.system, { queue, total, warmup: 0, maxSeconds })
    : peerBatchPush(started.system, { queue, total, batchSize: w2BatchJobs, window: 1, maxSeconds })
  if (options.warmup > 0) await run(options.warmup, warmupSecondsMax)
  const cpuBefore = cpuNanoseconds(started.pid)
  const mainBefore = threadCpuNanoseconds(started.pid, started.pid)
  const clientMainBefore = threadCpuNanoseconds(process.pid, process.pid)
  const clientBefore = process.cpuUsage()
  const measured = await run(options.pushes, maxSeconds)
  const client = process.cpuUsage(clientBefore)
  const clientMain = threadCpuNanoseconds(process.pid, process.pid) - clientMainBefore
  const perPush = (nanoseconds: number) => nanoseconds / 1000 / Math.max(1, measured.jobs)
  return {
    ...measured,
    serverCpuMicrosPerPush: perPush(cpuNanoseconds(started.pid) - cpuBefore),
    mainThreadCpuMicrosPerPush: perPush(threadCpuNanoseconds(started.pid, started.pid) - mainBefore),
    clientMainThreadCpuMicrosPerPush: perPush(clientMain),
    clientCpuMicrosPerPush: perPush((client.user + client.system) * 1000),
  }
}

/** CPU time of every thread of `pid` in ns (/proc/<pid>/task/<tid>/schedstat; /proc/<pid>/stat counts 10 ms ticks). */
function cpuNanoseconds(pid: number): number {
  let total = 0
  for (const task of readdirSync(`/proc/${pid}/task`)) total += threadCpuNanoseconds(pid, Number(task))
  return total
}

function threadCpuNanoseconds(pid: number, tid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
  } catch {
    return 0 // the thread ended between the listing and the read: its time is gone from both readings
  }
}

async function main(): Promise<void> {
  const options = parseArgs()
  const { runs, modes, pin } = options
  const contenders = contendersOf(options)
  if (pin !== null) {
    // Re-run this script under taskset: every process it starts inherits the CPU list.
    const args = process.argv.slice(2).filter((arg, at, all) => arg !== '--pin' && all[at - 1] !== '--pin')
    const result = spawnSync('taskset', ['-c', pin, process.execPath, import.meta.path, ...args], { stdio: 'inherit' })
    process.exit(result.status ?? 1)
  }
  for (const durable of modes) {
    const results = new Map<string, Result[]>(contenders.map((contender) => [contender.name, []]))
    for (let run = 0; run < runs; run++) {
      // Interleaved, each run starting one further along the list, as bench:peers does.
      for (let k = 0; k < contenders.length; k++) {
        const contender = contenders[(run + k) % contenders.length] as Contender
        const started = await contender.start(durable)
        try {
          results.get(contender.name)?.push(await measure(started, `${options.workload}-${run}`, options))
        } finally {
          await started.stop()
        }
      }
    }
    report(options.workload, durable, results)
  }
}

function report(workload: 'w1' | 'w2', durable: boolean, results: Map<string, Result[]>): void {
  const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
  const spread = (values: number[]) => `${median(values).toFixed(1)} (${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)})`
  const beanstalkd = results.has('beanstalkd') ? median((results.get('beanstalkd') ?? []).map((one) => one.rate)) : null
  const runs = [...results.values()][0]?.length ?? 0
  console.log(`\n${workload.toUpperCase()} ${durable ? 'durable' : 'memory'}: medians of ${runs} run${runs === 1 ? '' : 's'} (min–max)`)
  console.log('| server, client | jobs/s | p50 ms | p99 ms | server CPU µs/push | server main thread µs/push | client main thread µs/push | client CPU µs/push | ÷ beanstalkd |')
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const [name, measured] of results) {
    const rates = measured.map((one) => one.rate)
    const errors = measured.reduce((sum, one) => sum + one.errors, 0)
    const ratio = beanstalkd === null ? '—' : (median(rates) / beanstalkd).toFixed(2)
    console.log(`| ${name} | ${Math.round(median(rates))} (${Math.round(Math.min(...rates))}–${Math.round(Math.max(...rates))}) `
      + `| ${median(measured.map((one) => one.p50 ?? 0)).toFixed(3)} | ${median(measured.map((one) => one.p99 ?? 0)).toFixed(3)} `
      + `| ${median(measured.map((one) => one.serverCpuMicrosPerPush)).toFixed(1)} `
      + `| ${spread(measured.map((one) => one.mainThreadCpuMicrosPerPush))} | ${spread(measured.map((one) => one.clientMainThreadCpuMicrosPerPush))} `
      + `| ${spread(measured.map((one) => one.clientCpuMicrosPerPush))} | ${ratio}${errors > 0 ? ` (${errors} errors)` : ''} |`)
  }
}

await main()
