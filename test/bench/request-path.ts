/**
 * The server's own CPU per sequential PUSH (W1), without the kernel: a pool with its stores in this
 * thread, a Front and a TcpServer, as the server builds them on a 2-core machine, driven through the
 * TCP data handler by a fake socket (no syscalls), one PUSH awaited at a time. Durable runs the real
 * log code on io/discard.ts (every write dropped, completing at once): the log's append, flush,
 * durability hops and held replies, without the disk.
 *
 *   bun test/bench/request-path.ts [--mode memory|durable|both] [--shape bare|sdk|both] [--warmup 20000] [--requests 20000] [--runs 3] [--base <checkout>]
 *
 * Reports the main thread's CPU time per request (/proc/self/task/<tid>/schedstat) at steady state
 * (after `--warmup` requests): the median and the minimum of the runs. On a shared VM the thread's
 * run time also counts the time its vCPU was taken away by the host (steal), so busy periods give
 * whole runs ~1.5–2× slower: compare minima, or medians of many interleaved runs. `--base /tmp/base` runs the same in a child process on another
 * checkout's code, alternating with this one run by run (an A/B on one machine at one time).
 * `--shape` is the PUSH line: `bare` (default) as a line client sends it, `{"cmd":"PUSH","queue":…,
 * "data":{…}}`; `sdk` as the SDK's `Queue.add(name, data)` sends it, the job name inside `data`, and
 * `max_attempts` and a `reqId` after it (so the server echoes the reqId in its reply).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BenchFlags } from './flags.ts'
import type { Config } from '../../src/base/config.ts'

type Shape = 'bare' | 'sdk'
type Options = { modes: Array<'memory' | 'durable'>; shapes: Shape[]; warmup: number; requests: number; runs: number; base: string | null }

const thisCheckout = join(import.meta.dir, '..', '..')

function parseArgs(args: string[]): Options {
  const flags = new BenchFlags(args)
  const mode = flags.choice('--mode', ['memory', 'durable', 'both'], 'both')
  const shape = flags.choice('--shape', ['bare', 'sdk', 'both'], 'bare')
  return {
    modes: mode === 'both' ? ['memory', 'durable'] : [mode],
    shapes: shape === 'both' ? ['bare', 'sdk'] : [shape],
    warmup: flags.count('--warmup', 20000), requests: flags.count('--requests', 20000), runs: flags.count('--runs', 3), base: flags.value('--base'),
  }
}

/** Main-thread CPU time in ns. */
function threadCpuNanoseconds(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0])
}

type FakeSocket = { data: unknown; remoteAddress: string; write(output: string | Uint8Array): number; setNoDelay(): void; pause(): void; resume(): void; end(): void; terminate(): void }

/** One measurement in this process on the code of `checkout`: µs of main-thread CPU per PUSH. */
async function measureHere(checkout: string, mode: 'memory' | 'durable', shape: Shape, warmup: number, requests: number): Promise<number> {
  const { ShardPool } = await import(join(checkout, 'src/server/shard-pool.ts'))
  const { Front } = await import(join(checkout, 'src/server/front.ts'))
  const { TcpServer } = await import(join(checkout, 'src/server/tcp.ts'))
  const config: Config = {
    host: '127.0.0.1', tcpPort: 0, httpPort: null, unixSocketPath: null, dataDir: '/nonexistent/flashq-request-path',
    memory: mode === 'memory', fsync: { kind: 'always' }, shards: 2, workers: 0, io: 'auto', repair: false, authTokens: [],
    shutdownGraceMs: 0, preset: 'production', logFormat: 'text', logLevel: 'error', warmup: false, compilerNice: 0,
  }
  // scratch: the hosts write nowhere (io/discard.ts).
  const pool = new ShardPool(config, 2, 0, join(checkout, 'src/shard/worker.ts'), true)
  await pool.start(false)
  const tcp = new TcpServer(new Front(pool, config), pool)
  const server = tcp as unknown as { open(socket: FakeSocket): void; data(socket: FakeSocket, chunk: Buffer): void }
  let replied: () => void = () => {}
  const socket: FakeSocket = {
    data: undefined, remoteAddress: '127.0.0.1',
    write: (output) => {
      replied()
      return typeof output === 'string' ? Buffer.byteLength(output) : output.byteLength
    },
    setNoDelay: () => {}, pause: () => {}, resume: () => {}, end: () => {}, terminate: () => {},
  }
  server.open(socket)
  const pad = 'x'.repeat(80)
  const lines = Array.from({ length: 64 }, (_, index) => Buffer.from(pushLine(shape, index, pad)))
  // Each request in an event-loop turn of its own, as a socket read is: what the server leaves for
  // a later turn (setImmediate) runs between requests, as it does in a real server.
  const push = (index: number) => new Promise<void>((resolve) => {
    replied = () => setImmediate(resolve)
    server.data(socket, lines[index % lines.length] as Buffer)
  })
  for (let index = 0; index < warmup; index++) await push(index)
  const before = threadCpuNanoseconds()
  for (let index = 0; index < requests; index++) await push(index)
  const micros = (threadCpuNanoseconds() - before) / 1000 / requests
  await pool.stop()
  return micros
}

/** A PUSH line as a bare line client sends it, or as the SDK's Queue.add does (connection.ts's reqId form). */
function pushLine(shape: Shape, index: number, pad: string): string {
  const t = 1000 + index * 7.25
  if (shape === 'bare') return `{"cmd":"PUSH","queue":"w1-0","data":{"t":${t},"pad":"${pad}"}}\n`
  return `{"cmd":"PUSH","queue":"w1-0","data":{"name":"job","t":${t},"pad":"${pad}"},"max_attempts":1,"reqId":"mih3k2x1-a7q0-${index + 1}"}\n`
}

async function measureIn(checkout: string, mode: 'memory' | 'durable', shape: Shape, options: Options): Promise<number> {
  const child = Bun.spawn([process.execPath, import.meta.path, '--child', checkout, mode, shape, String(options.warmup), String(options.requests)], { stdout: 'pipe', stderr: 'inherit' })
  const out = await new Response(child.stdout).text()
  if ((await child.exited) !== 0) throw new Error(`request-path child failed: ${out}`)
  return Number(out.trim())
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const checkouts: Array<[string, string]> = [['this', thisCheckout], ...(options.base === null ? [] : [['base', options.base] as [string, string]])]
  // Every (checkout, shape) pair is a contender; the default shape keeps the older output's names.
  const contenders = checkouts.flatMap(([name, checkout]) => options.shapes.map((shape) => ({ name: options.shapes.length === 1 && shape === 'bare' ? name : `${name} ${shape}`, checkout, shape })))
  for (const mode of options.modes) {
    const results = new Map<string, number[]>(contenders.map(({ name }) => [name, []]))
    for (let run = 0; run < options.runs; run++) {
      // Each in a fresh process, rotating which goes first.
      for (let k = 0; k < contenders.length; k++) {
        const { name, checkout, shape } = contenders[(run + k) % contenders.length] as (typeof contenders)[number]
        results.get(name)?.push(await measureIn(checkout, mode, shape, options))
      }
    }
    for (const [name, values] of results) {
      const sorted = values.toSorted((a, b) => a - b)
      const median = sorted[Math.floor(sorted.length / 2)] as number
      console.log(`${mode} ${name}: ${median.toFixed(2)} µs of main-thread CPU per PUSH, min ${(sorted[0] as number).toFixed(2)} `
        + `(${values.map((value) => value.toFixed(2)).join(', ')}; `
        + `${options.requests} after ${options.warmup})`)
    }
  }
}

if (process.argv[2] === '--child') {
  const [, , , checkout, mode, shape, warmup, requests] = process.argv
  const micros = await measureHere(checkout as string, mode as 'memory' | 'durable', shape as Shape, Number(warmup), Number(requests))
  process.stdout.write(`${micros}\n`)
  process.exit(0)
} else {
  await main()
}
