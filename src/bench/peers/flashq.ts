/**
 * flashq as users meet it: this checkout's server (`bun src/main.ts`, durable by default or
 * `--memory`) driven through the SDK — `Queue.add` / `Queue.addBulk` to push, `Worker` to process.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { Queue, Worker } from '../../client/index.ts'
import type { PeerJobData, PeerJobHandlers, PeerProducer, PeerSystem, PeerWorkers } from '../workloads.ts'
import { readStartupLine } from '../startup-line.ts'
import { stopChild } from './process.ts'
import type { PeerVariant, RunningPeer } from './types.ts'

const mainPath = join(import.meta.dir, '..', '..', 'main.ts')

/**
 * A server shape to compare: extra server flags, and a name that tells its columns apart
 * (`--flashq-shape w0=--workers=0` adds the columns `flashq-durable@w0` and `flashq-memory@w0`).
 */
export type FlashqShape = { name: string; serverArgs: string[] }

/** The default shape (no name, with `--flashq-arg` flags), then one pair of columns per named shape. */
export function flashqVariants(serverArgs: string[] = [], shapes: FlashqShape[] = [], env?: Record<string, string | undefined>): PeerVariant[] {
  return [{ name: '', serverArgs }, ...shapes].flatMap(({ name, serverArgs: args }) => {
    const id = name === '' ? '' : `@${name}`
    const flags = args.length === 0 ? '' : ` (${args.join(' ')})`
    return [
      { id: `flashq-durable${id}`, system: 'flashq', label: `flashq durable${flags}`, durable: true, durability: 'fdatasync before every ack (group commit)', start: () => startFlashq(true, args, env) },
      { id: `flashq-memory${id}`, system: 'flashq', label: `flashq memory${flags}`, durable: false, durability: '--memory: no disk', start: () => startFlashq(false, args, env) },
    ] satisfies PeerVariant[]
  })
}

/** `name=flags…` (flags split on spaces), as `--flashq-shape` takes it. */
export function parseFlashqShape(text: string): FlashqShape {
  const match = /^([A-Za-z0-9_][A-Za-z0-9_-]*)=(.+)$/.exec(text)
  if (match === null) throw new Error(`bench:peers: --flashq-shape wants name=flags (like w0=--workers=0), got '${text}'`)
  return { name: match[1] as string, serverArgs: (match[2] as string).split(' ').filter((flag) => flag.length > 0) }
}

async function startFlashq(durable: boolean, serverArgs: string[], env: Record<string, string | undefined> | undefined): Promise<RunningPeer> {
  const dataDir = durable ? mkdtempSync(join(tmpdir(), 'flashq-peers-flashq-')) : null
  const mode = dataDir === null ? ['--memory'] : ['--data-dir', dataDir]
  const child: Subprocess<'ignore', 'pipe', 'pipe'> = Bun.spawn(
    [process.execPath, mainPath, '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--log-level', 'warn', ...mode, ...serverArgs],
    { env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
  )
  const line = await startupLine(child)
  const port = Number(/tcp=[^ ]*:(\d+)/.exec(line)?.[1])
  if (!(port > 0)) throw new Error(`flashq: no tcp port in the start-up line: ${line}`)
  return { system: sdkSystem(port), pid: child.pid, dataDir, stop: () => stopChild(child, dataDir) }
}

/** The SDK as bench:peers drives a server on `port`: `Queue.add` / `addBulk` to push, one `Worker` of `concurrency` to process (the Bun floor is driven the same way). */
export function sdkSystem(port: number): PeerSystem {
  const connection = { host: '127.0.0.1', port }
  return {
    async producer(queue) {
      return sdkProducer(new Queue(queue, { connection }))
    },
    async workers(queue, concurrency, handlers) {
      return sdkWorkers(new Worker(queue, processor(handlers), { connection, concurrency }), handlers)
    },
  }
}

function sdkProducer(queue: Queue): PeerProducer {
  return {
    push: async (data: PeerJobData) => void (await queue.add('job', data)),
    pushBatch: async (data: PeerJobData[]) => void (await queue.addBulk(data.map((one) => ({ name: 'job', data: one })))),
    close: () => queue.close(),
  }
}

function processor(handlers: PeerJobHandlers) {
  return async (job: { data: PeerJobData }) => {
    handlers.onStart(job.data)
  }
}

function sdkWorkers(worker: Worker, handlers: PeerJobHandlers): PeerWorkers {
  worker.on('completed', (job: { data: PeerJobData }) => handlers.onDone(job.data))
  worker.on('error', () => {})
  return {
    // 'completed' is emitted once the server confirmed the acknowledgement.
    settle: async () => {},
    close: () => worker.close(),
  }
}

/** Reads stdout up to the ' listening ' line, then keeps draining both pipes so the server never blocks. */
async function startupLine(child: Subprocess<'ignore', 'pipe', 'pipe'>): Promise<string> {
  const stderr = new Response(child.stderr).text().catch(() => '')
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  try {
    const { line, seen } = await readStartupLine(child.stdout)
    if (line !== null) return line
    throw new Error(`flashq did not start (exit ${await child.exited}): ${seen.trim()} ${(await stderr).trim()}`)
  } finally {
    clearTimeout(timer)
  }
}
