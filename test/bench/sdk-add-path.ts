/**
 * The SDK's own CPU per sequential `Queue.add` (W1's client side), without the kernel and without a
 * server: the SDK runs over a fake `Bun.connect` whose socket answers each PUSH line in a later turn
 * of the event loop (setImmediate, as a socket read would come), `{"reqId":…,"ok":true,"id":N}` as
 * flashq answers it. `--client bare` runs w1-floor.ts's line client over the same fake socket instead:
 * what is left when the SDK's own work is taken away (the loop, the promises, the fake socket).
 *
 *   bun test/bench/sdk-add-path.ts [--client sdk|bare|both] [--warmup 20000] [--adds 20000] [--segments 5] [--runs 3] [--base <checkout>]
 *
 * Each run is a fresh process per (checkout, client), rotating which goes first. A run reports the
 * main thread's CPU (/proc/self/task/<tid>/schedstat) per add over each of `--segments` stretches of
 * `--adds` adds, after `--warmup` adds, and keeps the lowest: on a shared VM a stretch also counts the
 * time the host took the vCPU away (steal), which only ever adds. The output line gives the median
 * and the range of the runs' values. `--base /tmp/base` runs another checkout's SDK the same way (an A/B).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BenchFlags } from './flags.ts'

type Client = 'sdk' | 'bare'
type Options = { clients: Client[]; warmup: number; adds: number; segments: number; runs: number; base: string | null }

const thisCheckout = join(import.meta.dir, '..', '..')

function parseArgs(args: string[]): Options {
  const flags = new BenchFlags(args)
  const client = flags.choice('--client', ['sdk', 'bare', 'both'], 'sdk')
  return {
    clients: client === 'both' ? ['sdk', 'bare'] : [client],
    warmup: flags.count('--warmup', 20000), adds: flags.count('--adds', 20000), segments: flags.count('--segments', 5), runs: flags.count('--runs', 3), base: flags.value('--base'),
  }
}

function threadCpuNanoseconds(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0])
}

type FakeHandlers = { data(socket: unknown, chunk: Buffer): void }

/** Replaces Bun.connect with a socket that answers every PUSH line of a write in one later chunk. */
function installFakeConnect(): void {
  let nextId = 1
  const connect = async (options: { socket: FakeHandlers }) => {
    const handlers = options.socket
    const socket = {
      write(data: string | Uint8Array): number {
        const text = typeof data === 'string' ? data : Buffer.from(data).toString()
        let reply = ''
        for (let start = 0, end = text.indexOf('\n'); end >= 0; start = end + 1, end = text.indexOf('\n', start)) {
          const at = text.lastIndexOf(',"reqId":"', end)
          reply += at >= start ? `{"reqId":"${text.slice(at + 10, end - 2)}","ok":true,"id":${nextId++}}\n` : `{"ok":true,"id":${nextId++}}\n`
        }
        const chunk = Buffer.from(reply)
        setImmediate(() => handlers.data(socket, chunk))
        return Buffer.byteLength(text)
      },
      end() {},
      terminate() {},
      setNoDelay() {},
    }
    return socket
  }
  ;(Bun as unknown as { connect: typeof connect }).connect = connect
}

type Add = (data: unknown) => Promise<unknown>

/** w1-floor.ts's line client: a prefix kept per queue, replies taken in order. */
async function bareAdd(queue: string): Promise<Add> {
  const waiting: Array<() => void> = []
  let pending = ''
  const decoder = new TextDecoder()
  const connect = (Bun as unknown as { connect(options: { socket: FakeHandlers }): Promise<{ write(text: string): number }> }).connect
  const socket = await connect({
    socket: {
      data(_socket, chunk) {
        pending += decoder.decode(chunk)
        let newline = pending.indexOf('\n')
        while (newline >= 0) {
          pending = pending.slice(newline + 1)
          waiting.shift()?.()
          newline = pending.indexOf('\n')
        }
      },
    },
  })
  const prefix = `{"cmd":"PUSH","queue":${JSON.stringify(queue)},"data":`
  return (data) => new Promise<void>((resolve) => {
    waiting.push(resolve)
    socket.write(`${prefix}${JSON.stringify(data)}}\n`)
  })
}

/** One run in this process: the lowest main-thread µs per add over the segments. */
async function measureHere(checkout: string, client: Client, options: Options): Promise<number> {
  installFakeConnect()
  const { Queue } = (await import(join(checkout, 'src', 'client', 'index.ts'))) as typeof import('../../src/client/index.ts')
  const { peerJobData } = (await import(join(checkout, 'src', 'bench', 'workloads.ts'))) as typeof import('../../src/bench/workloads.ts')
  const queue = new Queue('w1-0', { connection: { host: '127.0.0.1', port: 1 } })
  const add: Add = client === 'sdk' ? (data) => queue.add('job', data) : await bareAdd('w1-0')
  for (let index = 0; index < options.warmup; index++) await add(peerJobData(performance.now()))
  let lowest = Number.POSITIVE_INFINITY
  for (let segment = 0; segment < options.segments; segment++) {
    const before = threadCpuNanoseconds()
    for (let index = 0; index < options.adds; index++) await add(peerJobData(performance.now()))
    lowest = Math.min(lowest, (threadCpuNanoseconds() - before) / 1000 / options.adds)
  }
  return lowest
}

async function measureIn(checkout: string, client: Client, options: Options): Promise<number> {
  const args = ['--child', checkout, client, String(options.warmup), String(options.adds), String(options.segments)]
  const child = Bun.spawn([process.execPath, import.meta.path, ...args], { stdout: 'pipe', stderr: 'inherit' })
  const out = await new Response(child.stdout).text()
  if ((await child.exited) !== 0) throw new Error(`sdk-add-path child failed: ${out}`)
  return Number(out.trim())
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const checkouts: Array<[string, string]> = [['this', thisCheckout], ...(options.base === null ? [] : [['base', options.base] as [string, string]])]
  const contenders = checkouts.flatMap(([name, checkout]) => options.clients.map((client) => ({ name: `${name} ${client}`, checkout, client })))
  const results = new Map<string, number[]>(contenders.map(({ name }) => [name, []]))
  for (let run = 0; run < options.runs; run++) {
    for (let k = 0; k < contenders.length; k++) {
      const { name, checkout, client } = contenders[(run + k) % contenders.length] as (typeof contenders)[number]
      results.get(name)?.push(await measureIn(checkout, client, options))
    }
  }
  for (const [name, values] of results) {
    const sorted = values.toSorted((a, b) => a - b)
    const median = sorted[Math.floor(sorted.length / 2)] as number
    console.log(`${name}: ${median.toFixed(2)} µs of main-thread CPU per add (${(sorted[0] as number).toFixed(2)}–${(sorted.at(-1) as number).toFixed(2)}; `
      + `${options.runs} runs, each the lowest of ${options.segments} × ${options.adds} after ${options.warmup})`)
  }
}

if (process.argv[2] === '--child') {
  const [, , , checkout, client, warmup, adds, segments] = process.argv
  const options: Options = { clients: [client as Client], warmup: Number(warmup), adds: Number(adds), segments: Number(segments), runs: 1, base: null }
  process.stdout.write(`${await measureHere(checkout as string, client as Client, options)}\n`)
  process.exit(0)
} else {
  await main()
}
