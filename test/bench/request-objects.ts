/**
 * The JavaScript objects the server allocates per request, by type, counted exactly: a pool with its
 * stores in this thread, a Front and a TcpServer (as request-path.ts builds them), driven through the
 * TCP data handler by a fake socket, each reply run to its write by draining the microtasks. After a
 * full collection, `heapStats()` counts every cell allocated since (dead or alive) until the next
 * collection, so a window short enough to see none gives the objects of the window by type.
 *
 *   bun test/bench/request-objects.ts [--shape push|pull|sdk] [--requests 500] [--base <checkout>]
 *
 * push: sequential PUSH. pull: PUSH, then PULLB (timeout 0) of it, then ACKB of its id. sdk: as the
 * SDK's Worker and Queue.add send them at a low rate, with reqIds: a blocking PULLB (count 10,
 * timeout 1000, sparse), the PUSH that serves it, then the ACKB. Prints the
 * types of at least 0.05 objects per step (a pull step is three requests), most first.
 * `--base /tmp/base` runs the same on another checkout's code (in a child process) and prints it beside.
 * Memory mode only: a durable reply waits for its write's completion, which draining the microtasks
 * does not run (test/bench/server-alloc.ts measures durable servers).
 */
import { join } from 'node:path'
import { BenchFlags } from './flags.ts'
import { drainMicrotasks, heapStats } from 'bun:jsc'
import type { Config } from '../../src/base/config.ts'

type Options = { shape: 'push' | 'pull' | 'sdk'; requests: number; base: string | null }

const thisCheckout = join(import.meta.dir, '..', '..')

function parseArgs(args: string[]): Options {
  const value = (flag: string) => new BenchFlags(args).value(flag)
  const shape = value('--shape') ?? 'push'
  const requests = Number(value('--requests') ?? 500)
  if (shape !== 'push' && shape !== 'pull' && shape !== 'sdk') throw new Error(`--shape: push, pull or sdk, not '${shape}'`)
  if (!Number.isInteger(requests) || requests < 1) throw new Error('--requests: a positive integer')
  return { shape, requests, base: value('--base') }
}

type FakeSocket = { data: unknown; remoteAddress: string; write(output: string | Uint8Array): number; setNoDelay(): void; pause(): void; resume(): void; end(): void; terminate(): void }

/** Objects per step by type, on the code of `checkout`. */
async function countHere(checkout: string, options: Options): Promise<Record<string, number>> {
  const { ShardPool } = await import(join(checkout, 'src/server/shard-pool.ts'))
  const { Front } = await import(join(checkout, 'src/server/front.ts'))
  const { TcpServer } = await import(join(checkout, 'src/server/tcp.ts'))
  const config: Config = {
    host: '127.0.0.1', tcpPort: 0, httpPort: null, unixSocketPath: null, dataDir: '/nonexistent/flashq-request-objects',
    memory: true, fsync: { kind: 'always' }, shards: 2, workers: 0, io: 'auto', repair: false, authTokens: [],
    shutdownGraceMs: 0, preset: 'production', logFormat: 'text', logLevel: 'error', warmup: false, compilerNice: 0,
  }
  const pool = new ShardPool(config, 2, 0, join(checkout, 'src/shard/worker.ts'), true)
  await pool.start(false)
  const server = new TcpServer(new Front(pool, config), pool) as unknown as { open(socket: FakeSocket): void; data(socket: FakeSocket, chunk: Buffer): void }
  let reply = ''
  const socket: FakeSocket = {
    data: undefined, remoteAddress: '127.0.0.1',
    write: (output) => {
      reply = typeof output === 'string' ? output : ''
      return typeof output === 'string' ? Buffer.byteLength(output) : output.byteLength
    },
    setNoDelay: () => {}, pause: () => {}, resume: () => {}, end: () => {}, terminate: () => {},
  }
  server.open(socket)
  // Every request's bytes are made before the window: the counts are the server's alone.
  const pad = 'x'.repeat(80)
  const pushes = Array.from({ length: 64 }, (_, index) => Buffer.from(`{"cmd":"PUSH","queue":"objects","data":{"t":${index},"pad":"${pad}"}}\n`))
  const sdk = options.shape === 'sdk'
  const pull = Buffer.from(sdk ? '{"cmd":"PULLB","queue":"objects","count":10,"timeout":1000,"sparse":true,"reqId":"p"}\n' : '{"cmd":"PULLB","queue":"objects","count":1,"timeout":0}\n')
  if (sdk) for (const [index, push] of pushes.entries()) pushes[index] = Buffer.from(`${push.toString().slice(0, -2)},"max_attempts":1,"reqId":"a${index}"}\n`)
  const ackLine = (id: number) => Buffer.from(`{"cmd":"ACKB","ids":[${id}]${sdk ? ',"reqId":"k"' : ''}}\n`)
  const request = (chunk: Buffer) => {
    server.data(socket, chunk)
    drainMicrotasks()
    return reply
  }
  // A shard's ids are consecutive steps of the shard count (base/ids.ts): the measured ACKBs are
  // made ahead from the warm-up's last id, and checked against the pulls' replies after the window.
  const idStride = pool.shardCount as number
  let lastId = 0
  const run = (steps: number, acks: Buffer[] | null): string[] => {
    const pulled: string[] = []
    for (let step = 0; step < steps; step++) {
      // sdk: the pull waits, and the push's write carries both replies.
      const waited = sdk ? request(pull) : ''
      const pushed = request(pushes[step % pushes.length] as Buffer)
      if (options.shape === 'push') continue
      pulled.push(sdk ? waited + pushed : request(pull))
      if (acks !== null) request(acks[step] as Buffer)
      else {
        lastId = Number(/"id":(\d+)/.exec(pushed)?.[1])
        request(ackLine(lastId))
      }
    }
    return pulled
  }
  run(5000, null)
  const acks = Array.from({ length: options.requests }, (_, step) => ackLine(lastId + (step + 1) * idStride))
  Bun.gc(true)
  const before = heapStats()
  const pulled = run(options.requests, acks)
  const after = heapStats()
  for (let step = 0; step < pulled.length; step++) {
    const id = /"jobs":\[\{"id":(\d+)/.exec(pulled[step] as string)?.[1]
    if (!(acks[step] as Buffer).toString().includes(`[${id}]`)) throw new Error(`step ${step}: pulled ${id}, acked ${acks[step]}`)
  }
  await pool.stop()
  if (after.heapSize < before.heapSize) throw new Error('a collection ran in the window: use fewer --requests')
  const perStep: Record<string, number> = {}
  for (const [type, count] of Object.entries(after.objectTypeCounts)) {
    const delta = (count - (before.objectTypeCounts[type] ?? 0)) / options.requests
    if (delta >= 0.05) perStep[type] = delta
  }
  return perStep
}

async function countIn(checkout: string, options: Options): Promise<Record<string, number>> {
  const child = Bun.spawn([process.execPath, import.meta.path, '--child', checkout, JSON.stringify(options)], { stdout: 'pipe', stderr: 'inherit' })
  const out = await new Response(child.stdout).text()
  if ((await child.exited) !== 0) throw new Error(`request-objects child failed: ${out}`)
  return JSON.parse(out) as Record<string, number>
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const mine = await countIn(thisCheckout, options)
  const base = options.base === null ? null : await countIn(options.base, options)
  const types = [...new Set([...Object.keys(mine), ...Object.keys(base ?? {})])]
  types.sort((a, b) => (mine[b] ?? 0) - (mine[a] ?? 0))
  const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, count) => sum + count, 0)
  console.log(`memory ${options.shape}: objects per ${options.shape === 'push' ? 'PUSH' : 'PUSH+PULLB+ACKB'} over ${options.requests} steps`
    + `, this ${total(mine).toFixed(2)}${base === null ? '' : `, base ${total(base).toFixed(2)}`}`)
  for (const type of types) {
    console.log(`  ${type.padEnd(24)} ${(mine[type] ?? 0).toFixed(2).padStart(7)}${base === null ? '' : (base[type] ?? 0).toFixed(2).padStart(8)}`)
  }
}

if (process.argv[2] === '--child') {
  const [, , , checkout, options] = process.argv
  process.stdout.write(JSON.stringify(await countHere(checkout as string, JSON.parse(options as string) as Options)))
  process.exit(0)
} else {
  await main()
}
