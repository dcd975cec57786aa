/**
 * `flashq bench`: a load generator in the binary, in the spirit of redis-benchmark. It drives a
 * running server (`--port`, `--host`) or starts one of its own (this same executable, on a free port,
 * in memory or on a temporary data directory), runs the workloads of bench/workloads.ts with a live
 * progress line on a terminal, and prints a table. The same workloads back `bun run bench`.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { ioPreferences } from '../base/config.ts'
import { type BenchTarget, type Measured, prefill, processJobs, pushBatches, pushLatency, pushPipelined, queueNames } from '../bench/workloads.ts'
import { readStartupLine } from '../bench/startup-line.ts'
import { UsageError } from './args.ts'
import { currentExec } from './service.ts'

const testNames = ['push', 'pushb', 'process', 'latency'] as const
type TestName = (typeof testNames)[number]

type BenchOptions = {
  host: string
  port: number | null
  jobs: number
  connections: number
  tests: TestName[]
  durable: boolean
  io: string
}

export const benchUsage = `usage: flashq bench [options]
  --port <n> [--host <h>]  drive a running server (default: start one on a free port)
  -n, --jobs <n>           jobs per test (default 100000; rounded to whole batches of 1000)
  -c, --connections <n>    connections for pipelined PUSH (default 10)
  -t, --tests <list>       ${testNames.join(',')} (default: all)
  --durable                the server it starts writes to a temporary data directory (default: --memory)
  --io <backend>           io backend of the server it starts (with --durable)
  --compare [options]      flashq against BullMQ, beanstalkd and NATS (bun run bench:peers; from a checkout)`

export function parseBenchArgs(argv: string[]): BenchOptions {
  const options: BenchOptions = { host: '127.0.0.1', port: null, jobs: 100_000, connections: 10, tests: [...testNames], durable: false, io: 'auto' }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string
    const value = (): string => {
      const next = argv[++i]
      if (next === undefined) throw new UsageError(`bench: ${flag} needs a value`)
      return next
    }
    const count = (min: number, max: number): number => {
      const text = value()
      if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`bench: ${flag} must be an integer from ${min} to ${max}, got '${text}'`)
      return Number(text)
    }
    if (flag === '--port' || flag === '-p') options.port = count(1, 65535)
    else if (flag === '--host' || flag === '-h') options.host = value()
    else if (flag === '--jobs' || flag === '-n') options.jobs = count(1000, 100_000_000)
    else if (flag === '--connections' || flag === '-c') options.connections = count(1, 1000)
    else if (flag === '--durable') options.durable = true
    else if (flag === '--io') options.io = value()
    else if (flag === '--tests' || flag === '-t') {
      options.tests = value().split(',').map((name) => {
        if (!(testNames as readonly string[]).includes(name)) throw new UsageError(`bench: unknown test '${name}' (${testNames.join(', ')})`)
        return name as TestName
      })
    } else throw new UsageError(`bench: unknown argument '${flag}'\n${benchUsage}`)
  }
  if (!(ioPreferences as readonly string[]).includes(options.io)) throw new UsageError(`bench: --io must be one of ${ioPreferences.join(', ')}`)
  options.jobs = Math.ceil(options.jobs / 1000) * 1000
  return options
}

type Row = { name: string; measured: Measured }

/**
 * `flashq bench --compare`: the peer comparison of bench/peers. Loaded at run time (not bundled): it
 * needs the dev dependencies bullmq, ioredis and nats, so it runs from a source checkout only.
 */
async function runCompare(argv: string[]): Promise<void> {
  const path = join(import.meta.dir, '..', 'bench', 'peers', 'runner.ts')
  if (!existsSync(path)) throw new UsageError('bench --compare needs a source checkout with its dev dependencies: run `bun run bench:peers` there')
  const runner = (await import(path)) as { peersMain(argv: string[], command: string): Promise<void> }
  await runner.peersMain(argv, ['flashq bench --compare', ...argv].join(' '))
}

export async function runBench(argv: string[]): Promise<void> {
  if (argv.includes('--compare')) return runCompare(argv.filter((arg) => arg !== '--compare'))
  const options = parseBenchArgs(argv)
  const server = options.port === null ? await startOwnServer(options) : null
  const target: BenchTarget = server === null ? { host: options.host, port: options.port as number } : server.port
  const shards = server?.shards ?? 1
  process.stdout.write(`flashq bench: ${server === null ? `server at ${options.host}:${options.port}` : server.startupLine}\n`)
  process.stdout.write(`${options.jobs} jobs per test, ${options.connections} connections for PUSH\n\n`)
  const rows: Row[] = []
  try {
    for (const test of options.tests) rows.push(await runTest(test, target, shards, options))
  } finally {
    await server?.stop()
  }
  process.stdout.write(formatTable(rows))
  if (rows.some((row) => row.measured.errors > 0)) process.exitCode = 1
}

async function runTest(test: TestName, target: BenchTarget, shards: number, options: BenchOptions): Promise<Row> {
  const queues = queueNames(4, shards, `bench-${test}-${Date.now().toString(36)}`)
  const total = options.jobs
  switch (test) {
    case 'push': {
      const name = `PUSH pipelined (${options.connections} conns)`
      return { name, measured: await withProgress(name, total, (onProgress) => pushPipelined(target, { connections: options.connections, total, window: 256, queues, onProgress })) }
    }
    case 'pushb': {
      const name = 'PUSHB 1000 (4 conns)'
      return { name, measured: await withProgress(name, total, (onProgress) => pushBatches(target, { connections: 4, total, batchSize: 1000, window: 4, queues, onProgress })) }
    }
    case 'process': {
      const name = 'PULLB 100 + ACKB (4 workers)'
      await prefill(target, total, queues)
      return { name, measured: await withProgress(name, total, (onProgress) => processJobs(target, { workers: 4, count: 100, queues, expected: total, onProgress })) }
    }
    case 'latency': {
      const name = 'PUSH one at a time'
      const samples = Math.min(total, 20_000)
      return { name, measured: await withProgress(name, samples * 2, (onProgress) => pushLatency(target, { total: samples, warmup: samples, queues, onProgress })) }
    }
  }
}

/** Runs one workload with a live `\r` progress line on a terminal (nothing when stderr is not one). */
async function withProgress(name: string, total: number, run: (onProgress: (jobs: number) => void) => Promise<Measured>): Promise<Measured> {
  let done = 0
  const startMs = performance.now()
  const live = process.stderr.isTTY === true
  const draw = () => {
    const seconds = (performance.now() - startMs) / 1000
    const percent = Math.min(100, Math.floor((done / total) * 100))
    process.stderr.write(`\r${name}: ${percent}% ${done}/${total}  ${rate(done / Math.max(seconds, 0.001))} jobs/s   `)
  }
  const timer = live ? setInterval(draw, 250) : null
  try {
    return await run((jobs) => (done += jobs))
  } finally {
    if (timer !== null) clearInterval(timer)
    if (live) process.stderr.write('\r\x1b[K')
  }
}

function rate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`
  if (perSecond >= 1e4) return `${Math.round(perSecond / 1e3)}k`
  return perSecond.toFixed(0)
}

export function formatTable(rows: Row[]): string {
  const header = ['test', 'jobs', 'seconds', 'jobs/s', 'p50 ms', 'p99 ms', 'errors']
  const cells = rows.map(({ name, measured: m }) => [
    name, String(m.jobs), m.seconds.toFixed(2), rate(m.rate),
    m.p50 === undefined ? '-' : m.p50.toFixed(3), m.p99 === undefined ? '-' : m.p99.toFixed(3), String(m.errors),
  ])
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((row) => row[column]!.length)))
  const line = (row: string[]) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ')
  return `${[line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...cells.map(line)].join('\n')}\n`
}

type OwnServer = { port: number; shards: number; startupLine: string; stop(): Promise<void> }

/** This executable as a server on a free loopback port; in memory unless --durable. */
async function startOwnServer(options: BenchOptions): Promise<OwnServer> {
  const dataDir = options.durable ? mkdtempSync(join(tmpdir(), 'flashq-bench-')) : null
  const mode = dataDir === null ? ['--memory'] : ['--data-dir', dataDir, '--io', options.io]
  const child: Subprocess<'ignore', 'pipe', 'inherit'> = Bun.spawn(
    [...currentExec(), 'serve', '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--log-level', 'warn', ...mode],
    { stdin: 'ignore', stdout: 'pipe', stderr: 'inherit' },
  )
  const startupLine = await startupLineOf(child)
  const port = Number(/tcp=[^ ]*:(\d+)/.exec(startupLine)?.[1])
  const shards = Number(/shards=(\d+)/.exec(startupLine)?.[1] ?? 1)
  return {
    port,
    shards,
    startupLine: startupLine.slice(startupLine.indexOf('flashq ')),
    async stop() {
      child.kill('SIGTERM')
      await child.exited
      if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** The server's start-up line; an error naming its exit code and output if it never came. */
async function startupLineOf(child: Subprocess<'ignore', 'pipe', 'inherit'>): Promise<string> {
  const { line, seen } = await readStartupLine(child.stdout)
  if (line === null) throw new Error(`the server did not start (exit ${await child.exited}): ${seen.trim()}`)
  return line
}
