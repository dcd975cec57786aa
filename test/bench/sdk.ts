/**
 * SDK workloads for `bun run bench` (`--only sdk`, or standalone: `bun test/bench/sdk.ts [--runs N]
 * [--modes memory,uring] [--shapes addbulk,worker10,worker100] [--sides sdk,raw] [--quick]`): Queue.addBulk of 100k jobs, and a Worker with a no-op
 * processor draining 100k pre-filled jobs at concurrency 10 and 100. Each SDK number has the raw-wire
 * number for the same shape beside it (the lean bench client, no SDK), so the table shows what the
 * SDK costs. Client CPU is this process's CPU time per job.
 */
import { Queue, Worker } from '../../src/client/index.ts'
import { startBenchServer, type Mode } from './server.ts'
import { BenchConnection } from '../../src/bench/client.ts'
import { prefill, pushBatches, queueNames } from '../../src/bench/workloads.ts'

export type SdkOptions = { runs: number; modes: Mode[]; quick: boolean; serverArgs: string[]; binary?: string; shapes?: string[]; sides?: Array<'sdk' | 'raw'> }

type SdkSample = { rate: number; cpuUsPerJob: number }
type Shape = { name: string; label: string; target: string; sdk: (port: number, queue: string, jobs: number) => Promise<number>; raw: (port: number, queue: string, jobs: number) => Promise<number> }

const shapes: Shape[] = [
  {
    name: 'addbulk',
    label: 'Queue.addBulk 100k (100 PUSHB of 1000, pipelined, 1 conn)',
    target: 'durable ≥500k',
    sdk: addBulk,
    raw: async (port, queue, jobs) => (await measure(() => pushBatches(port, { connections: 1, total: jobs, batchSize: 1000, window: jobs / 1000, queues: [queue] }))).jobs,
  },
  {
    name: 'worker10',
    label: 'Worker no-op, concurrency 10, 100k pre-filled',
    target: 'durable ≥100k',
    sdk: (port, queue, jobs) => drain(port, queue, jobs, 10),
    raw: (port, queue, jobs) => rawDrain(port, queue, jobs, rawPullJobs),
  },
  {
    name: 'worker100',
    label: 'Worker no-op, concurrency 100, 100k pre-filled',
    target: 'durable ≥150k',
    sdk: (port, queue, jobs) => drain(port, queue, jobs, 100),
    raw: (port, queue, jobs) => rawDrain(port, queue, jobs, rawPullJobs),
  },
]

async function addBulk(port: number, queue: string, jobs: number): Promise<number> {
  const producer = new Queue(queue, { connection: { port } })
  await producer.waitUntilReady()
  const input = Array.from({ length: jobs }, (_, i) => ({ name: 'bench', data: { i } }))
  const added = await measure(() => producer.addBulk(input))
  await producer.close()
  return added.length
}

/**
 * From the Worker's construction to the last 'completed' (emitted once the server confirmed the ACKB),
 * as the peer comparison times W3; close() is not timed (it may wait for a long-polling pull).
 */
async function drain(port: number, queue: string, jobs: number, concurrency: number): Promise<number> {
  await prefill(port, jobs, [queue])
  let completed = 0
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => (finish = resolve))
  let worker: Worker | undefined
  await measure(async () => {
    worker = new Worker(queue, async () => {}, { connection: { port }, concurrency })
    worker.on('completed', () => {
      if (++completed === jobs) finish()
    })
    worker.on('error', (error) => process.stderr.write(`worker error: ${error.message}\n`))
    await done
  })
  await worker?.close()
  return completed
}

/**
 * Jobs per raw PULLB: about what a no-op Worker asks for once its prefetch has grown (its leases,
 * concurrency + prefetch, are asked for in pulls of half of them or more), whatever its concurrency.
 */
const rawPullJobs = 500
/** Raw PULLBs in flight, as the Worker's steady state (the next pull leaves while the last is processed). */
const rawPullsInFlight = 2

/**
 * The Worker's strategy on the raw wire, with the lean bench client: one connection, two PULLBs in
 * flight; each PULLB reply sends the ACKB of its jobs and the next PULLB of `count` in one write. Requests carry reqIds, so a
 * pull is answered without waiting for the acknowledgement before it (with no reqId the server answers
 * in order, and every pull would wait for the previous ACKB's flush). The clock stops at the last ACKB
 * reply.
 */
async function rawDrain(port: number, queue: string, jobs: number, count: number): Promise<number> {
  await prefill(port, jobs, [queue])
  const connection = await BenchConnection.connect(port)
  let acked = 0
  let pulls = 0
  const pull = () => `{"cmd":"PULLB","queue":"${queue}","count":${count},"timeout":0,"reqId":"p${++pulls}"}\n`
  await measure(() => new Promise<void>((resolve, reject) => {
    let drained = false
    connection.onLine = (line) => {
      if (line.includes('"ok":false')) return reject(new Error(`raw drain: ${line.slice(0, 200)}`))
      if (line.startsWith('{"reqId":"a')) {
        acked += Number(/"count":(\d+)/.exec(line)?.[1] ?? 0)
        if (drained && acked >= jobs) resolve()
        return
      }
      const ids: string[] = []
      jobIdPattern.lastIndex = 0
      for (let match = jobIdPattern.exec(line); match !== null; match = jobIdPattern.exec(line)) ids.push(match[1] as string)
      if (ids.length === 0) {
        drained = true
        if (acked >= jobs) resolve()
        return
      }
      connection.send(`{"cmd":"ACKB","ids":[${ids.join(',')}],"reqId":"a${pulls}"}\n${pull()}`)
    }
    for (let i = 0; i < rawPullsInFlight; i++) connection.send(pull())
  }))
  connection.close()
  return acked
}

/** A job object in a PULLB reply starts with its id (spec §4.1 field order). */
const jobIdPattern = /\{"id":(\d+),/g

// The timed section of the current sample (prefill is not timed).
let timed = { seconds: 0, cpuSeconds: 0 }

async function measure<T>(run: () => Promise<T>): Promise<T> {
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const value = await run()
  const cpu = process.cpuUsage(cpuBefore)
  timed = { seconds: (performance.now() - started) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 }
  return value
}

async function sample(mode: Mode, options: SdkOptions, run: (port: number, queue: string, jobs: number) => Promise<number>, jobs: number): Promise<SdkSample> {
  const server = await startBenchServer(mode, { binary: options.binary, extraArgs: options.serverArgs })
  try {
    const shardCount = Number(/shards=(\d+)/.exec(server.startupLine)?.[1] ?? 2)
    const [warmQueue, queue] = queueNames(2, shardCount, 'sdk') as [string, string]
    await run(server.port, warmQueue, Math.min(jobs, 10_000)) // JIT warm-up of client and server
    const done = await run(server.port, queue, jobs)
    if (done !== jobs) throw new Error(`${done} of ${jobs} jobs done`)
    return { rate: jobs / timed.seconds, cpuUsPerJob: (timed.cpuSeconds * 1e6) / jobs }
  } finally {
    await server.stop()
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] as number
const fmtRate = (rate: number) => (rate >= 1e6 ? `${(rate / 1e6).toFixed(2)}M` : `${(rate / 1e3).toFixed(0)}k`)

export async function sdkBench(options: SdkOptions): Promise<void> {
  const jobs = options.quick ? 10_000 : 100_000
  const modes = options.modes.filter((mode) => mode !== 'pwrite')
  console.log(`\n## SDK (src/client) vs raw wire, ${jobs / 1000}k jobs, medians of ${options.runs}\n`)
  console.log(`"raw" is the same shape with the lean bench client (addBulk: PUSHB of 1000, pipelined; worker: PULLBs of ${rawPullJobs}, ${rawPullsInFlight} in flight, as a no-op Worker's prefetch settles to, each reply's ACKB and the next PULLB in one write, with reqIds). cpu = client CPU µs per job.\n`)
  console.log(`| workload | target | ${modes.map((mode) => `${mode} SDK | ${mode} raw`).join(' | ')} |`)
  console.log(`|---|---|${modes.map(() => '---|---|').join('')}`)
  for (const shape of shapes) {
    if (options.shapes !== undefined && !options.shapes.includes(shape.name)) continue
    const cells: string[] = []
    for (const mode of modes) {
      for (const side of ['sdk', 'raw'] as const) {
        if (options.sides !== undefined && !options.sides.includes(side)) {
          cells.push('–')
          continue
        }
        const samples: SdkSample[] = []
        for (let r = 0; r < options.runs; r++) {
          const s = await sample(mode, options, shape[side], jobs)
          samples.push(s)
          process.stderr.write(`  ${mode} ${shape.name} ${side} run ${r + 1}: ${fmtRate(s.rate)} jobs/s, ${s.cpuUsPerJob.toFixed(1)} µs cpu/job\n`)
        }
        const rates = samples.map((s) => s.rate)
        cells.push(`${fmtRate(median(rates))} (${fmtRate(Math.min(...rates))}–${fmtRate(Math.max(...rates))}) · ${median(samples.map((s) => s.cpuUsPerJob)).toFixed(1)} µs`)
      }
    }
    console.log(`| ${shape.label} | ${shape.target} | ${cells.join(' | ')} |`)
  }
}

if (import.meta.main) {
  const argv = process.argv.slice(2)
  const valueOf = (flag: string) => {
    const index = argv.indexOf(flag)
    return index >= 0 ? argv[index + 1] : undefined
  }
  const quick = argv.includes('--quick')
  await sdkBench({
    runs: Number(valueOf('--runs') ?? (quick ? 1 : 3)),
    modes: (valueOf('--modes')?.split(',') as Mode[] | undefined) ?? ['memory', 'uring'],
    quick,
    serverArgs: [],
    shapes: valueOf('--shapes')?.split(','),
    sides: valueOf('--sides')?.split(',') as Array<'sdk' | 'raw'> | undefined,
  })
}
