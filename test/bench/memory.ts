/**
 * W5: what 1M waiting jobs cost the server. Starts a server (production preset, FLASHQ_TEST_HOOKS=1
 * for the `_GC` command), pushes N jobs with a 100-byte JSON payload by PUSHB of 1000, waits for the
 * replies, makes every shard thread collect garbage (`_GC`, which also answers the shard's heap
 * statistics) and reads the process's VmRSS from /proc. Prints RSS and heap bytes per job.
 *
 *   FLASHQ_TEST_HOOKS=1 bun test/bench/memory.ts [--jobs 1000000] [--modes memory,liburing] [--runs 1]
 *                                                [--types] [--settle-ms 2000] [--binary path]...
 * Each --binary (an executable taking the server's flags, with the _GC hook) is measured too, after
 * this checkout in every run: before and after in one session.
 */
import { readFileSync } from 'node:fs'
import { BenchConnection, chunkHasError } from '../../src/bench/client.ts'
import { queueNames } from '../../src/bench/workloads.ts'
import { directorySize, startBenchServer, type Mode } from './server.ts'

/** The payload every job carries: exactly this many bytes of JSON. */
const payloadBytes = 100

/**
 * A `data` value whose JSON is payloadBytes long. The string starts with the job's number, so no two
 * jobs of a batch share it (JSON.parse would otherwise hand out one cached string for all of them).
 */
export function payloadOf(n: number): string {
  const head = `{"n":${n},"s":"${n}`
  return `${head}${'x'.repeat(payloadBytes - head.length - 2)}"}`
}

type Options = { jobs: number; modes: Mode[]; runs: number; types: boolean; settleMs: number; binaries: string[] }

function parseOptions(argv: string[]): Options {
  const options: Options = { jobs: 1_000_000, modes: ['memory', 'liburing'], runs: 1, types: false, settleMs: 2000, binaries: [] }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = () => argv[++i] ?? ''
    if (flag === '--jobs') options.jobs = Number(value())
    else if (flag === '--modes') options.modes = value().split(',') as Mode[]
    else if (flag === '--runs') options.runs = Number(value())
    else if (flag === '--types') options.types = true
    else if (flag === '--settle-ms') options.settleMs = Number(value())
    else if (flag === '--binary') options.binaries.push(value())
    else throw new Error(`unknown flag '${flag}' (--jobs N --modes memory,liburing --runs N --types --settle-ms N)`)
  }
  return options
}

/** The anonymous / file-backed split of the process's RSS (smaps_rollup), in MB, to tell heap from mapped files. */
function smapsRollup(pid: number): string {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1')
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024
  return `anon ${mb(field('Anonymous'))} MB, file ${mb(field('Rss') - field('Anonymous'))} MB`
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

type HeapReport = { heap_bytes: number; extra_bytes: number; objects: number; types: Record<string, number> }

/** `_GC` on every shard; their heap reports. */
async function collectGarbage(port: number, shardCount: number): Promise<HeapReport[]> {
  const connection = await BenchConnection.connect(port)
  const reports: HeapReport[] = []
  await new Promise<void>((resolve, reject) => {
    connection.onLine = (line) => {
      const report = JSON.parse(line) as HeapReport & { ok: boolean; error?: string }
      if (!report.ok) reject(new Error(`_GC: ${report.error}`))
      reports.push(report)
      if (reports.length === shardCount) resolve()
    }
    let text = ''
    for (let shard = 0; shard < shardCount; shard++) text += `{"cmd":"_GC","shard":${shard}}\n`
    connection.send(text)
  })
  connection.close()
  return reports
}

function pushbLine(queue: string, first: number): string {
  let jobs = ''
  for (let i = 0; i < 1000; i++) jobs += `${i === 0 ? '' : ','}{"data":${payloadOf(first + i)}}`
  return `{"cmd":"PUSHB","queue":"${queue}","jobs":[${jobs}]}`
}

/** PUSHB of 1000, one connection per queue, two batches in flight on each; returns the seconds taken. */
async function pushAll(port: number, queues: string[], jobs: number): Promise<{ seconds: number }> {
  const started = performance.now()
  const batches = jobs / 1000
  await Promise.all(queues.map(async (queue, q) => {
    const connection = await BenchConnection.connect(port)
    const text = `${pushbLine(queue, q * 1000)}\n`
    const mine = Math.floor(batches / queues.length) + (q < batches % queues.length ? 1 : 0)
    let sent = 0
    let received = 0
    await new Promise<void>((resolve, reject) => {
      connection.onCount = (lines, chunk) => {
        if (chunkHasError(chunk)) reject(new Error(`error reply: ${new TextDecoder().decode(chunk).slice(0, 300)}`))
        received += lines
        if (received >= mine) return resolve()
        for (; sent < Math.min(mine, received + 2); sent++) connection.send(text)
      }
      if (mine === 0) return resolve()
      for (; sent < Math.min(mine, 2); sent++) connection.send(text)
    })
    connection.close()
  }))
  return { seconds: (performance.now() - started) / 1000 }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1)

async function measure(mode: Mode, options: Options, binary?: string): Promise<void> {
  const server = await startBenchServer(mode, { binary })
  try {
    const shardCount = Number(/shards=(\d+)/.exec(server.startupLine)?.[1] ?? 2)
    const queues = queueNames(4, shardCount, 'mem')
    await collectGarbage(server.port, shardCount)
    await Bun.sleep(500)
    const before = rssBytes(server.pid)
    const beforeHeap = (await collectGarbage(server.port, shardCount)).reduce((sum, r) => sum + r.heap_bytes, 0)
    // The same batch text per queue (the numbers inside repeat), as the server parses each anyway.
    const pushed = await pushAll(server.port, queues, options.jobs)
    const afterPush = rssBytes(server.pid)
    // Durable: a checkpoint started by the pushes holds every job's record text until it is written.
    await Bun.sleep(options.settleMs)
    const settled = rssBytes(server.pid)
    const settledSmaps = smapsRollup(server.pid)
    const reports = await collectGarbage(server.port, shardCount)
    await Bun.sleep(2000)
    const afterGc = rssBytes(server.pid)
    const heap = reports.reduce((sum, r) => sum + r.heap_bytes + r.extra_bytes, 0)
    const disk = server.dataDir === null ? null : directorySize(server.dataDir)
    const perJob = (bytes: number) => (bytes / options.jobs).toFixed(0)
    process.stdout.write(
      `${binary ?? 'src'} ${mode}: ${options.jobs} jobs in ${pushed.seconds.toFixed(1)} s; RSS before ${mb(before)} MB, after push ${mb(afterPush)} MB, settled ${mb(settled)} MB (${settledSmaps}), after GC ${mb(afterGc)} MB ` +
        `→ ${perJob(afterGc - before)} B/job RSS, ${perJob(heap - beforeHeap)} B/job JS heap` +
        `${disk === null ? '' : `; disk ${mb(disk.allocated)} MB`}\n  after GC: ${smapsRollup(server.pid)}\n`,
    )
    if (options.types) for (const [shard, report] of reports.entries()) process.stdout.write(`  shard ${shard}: ${JSON.stringify(report.types)}\n`)
  } finally {
    await server.stop()
  }
}

if (import.meta.main) {
  // Bun.spawn takes the environment the process started with, so the hook must be set from outside.
  if (process.env.FLASHQ_TEST_HOOKS !== '1') throw new Error('run with FLASHQ_TEST_HOOKS=1 (the server needs the _GC hook)')
  const options = parseOptions(process.argv.slice(2))
  for (let run = 0; run < options.runs; run++) {
    for (const mode of options.modes) for (const binary of [undefined, ...options.binaries]) await measure(mode, options, binary)
  }
}
