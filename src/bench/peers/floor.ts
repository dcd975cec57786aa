/**
 * The Bun floor: not a queue, a reference. The least a Bun server can do for a push — Bun.listen, split
 * the lines, JSON.parse each, (durable) write the read's lines into a pre-written file and fdatasync
 * once, answer an id per push and `ids` per PUSHB, echoing the reqId — driven by flashq's SDK
 * (`Queue.add` / `addBulk`), as the flashq columns are. Next to flashq it shows what the server's queue
 * work costs; next to beanstalkd, what any Bun server and the SDK cost on this machine (the targets of
 * issue #13 that compare with beanstalkd are measured against it in docs/storage.md). It keeps no jobs:
 * it runs the push workloads only (W1, W1c50, W2).
 *
 *   bun src/bench/peers/floor.ts --serve <port> [<data dir>]     the server alone (test/bench/w1-floor.ts)
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { Queue } from '../../client/index.ts'
import type { PeerJobData, PeerSystem } from '../workloads.ts'
import { freePort, spawnServer, tempDataDir } from './process.ts'
import type { PeerVariant, RunningPeer } from './types.ts'
import type { WorkloadId } from './workloads.ts'

/** Bytes of zeros the floor writes into its file before it listens: its records overwrite them, as flashq's log writes into space it zeroed ahead. */
const floorFileBytes = 64 << 20
/** The workloads a server that keeps no jobs can run. */
export const floorWorkloads: readonly WorkloadId[] = ['W1', 'W1c50', 'W2']

export function floorVariants(): PeerVariant[] {
  const label = 'Bun floor, no queue (SDK)'
  return [
    { id: 'floor-durable', system: 'floor', label: `${label}, durable`, durable: true, durability: 'a reference, not a queue: write + fdatasync of each read before its replies', workloads: floorWorkloads, start: () => startFloor(true) },
    { id: 'floor-memory', system: 'floor', label: `${label}, memory`, durable: false, durability: 'a reference, not a queue: replies only', workloads: floorWorkloads, start: () => startFloor(false) },
  ]
}

async function startFloor(durable: boolean): Promise<RunningPeer> {
  // Its own empty directory either way: the server runs in it, and stop() removes it.
  const dataDir = tempDataDir('floor')
  const port = freePort()
  const server = await spawnServer([process.execPath, import.meta.path, '--serve', String(port), ...(durable ? [dataDir] : [])], port, dataDir)
  return { system: sdkPushSystem(port), pid: server.pid, dataDir: durable ? dataDir : null, stop: server.stop }
}

/** Pushes through the SDK's Queue; the floor keeps no jobs, so there is nothing to work on. */
function sdkPushSystem(port: number): PeerSystem {
  return {
    async producer(name) {
      const queue = new Queue(name, { connection: { host: '127.0.0.1', port } })
      return {
        push: async (data: PeerJobData) => void (await queue.add('job', data)),
        pushBatch: async (data: PeerJobData[]) => void (await queue.addBulk(data.map((one) => ({ name: 'job', data: one })))),
        close: () => queue.close(),
      }
    },
    workers: async () => {
      throw new Error('the Bun floor keeps no jobs: push workloads only')
    },
  }
}

/** The floor server: one line in, (durable) one write + fdatasync per read, one reply line out per line. */
export function serveFloor(port: number, dataDir: string | null): void {
  const fd = dataDir === null ? -1 : openSync(join(dataDir, 'log'), 'w+')
  if (fd >= 0) {
    const zeros = new Uint8Array(1 << 20)
    for (let offset = 0; offset < floorFileBytes; offset += zeros.length) writeSync(fd, zeros, 0, zeros.length, offset)
    fdatasyncSync(fd)
  }
  let position = 0
  let nextId = 1
  const decoder = new TextDecoder()
  Bun.listen<{ pending: string }>({
    hostname: '127.0.0.1',
    port,
    socket: {
      open(socket) { socket.data = { pending: '' } },
      data(socket, chunk) {
        let text = socket.data.pending + decoder.decode(chunk)
        let reply = ''
        let newline = text.indexOf('\n')
        while (newline >= 0) {
          const line = text.slice(0, newline)
          text = text.slice(newline + 1)
          const command = JSON.parse(line) as { data?: unknown; jobs?: unknown[]; reqId?: string }
          if (command.data === undefined && command.jobs === undefined) throw new Error('floor: neither a push nor a PUSHB')
          if (fd >= 0) {
            const record = Buffer.from(line)
            writeSync(fd, record, 0, record.length, position)
            position = (position + record.length) % floorFileBytes
          }
          // The SDK matches replies by reqId.
          const echo = command.reqId === undefined ? '' : `,"reqId":${JSON.stringify(command.reqId)}`
          if (command.jobs === undefined) reply += `{"ok":true,"id":${nextId++}${echo}}\n`
          else {
            const ids = command.jobs.map(() => nextId++)
            reply += `{"ok":true,"ids":[${ids.join(',')}]${echo}}\n`
          }
          newline = text.indexOf('\n')
        }
        socket.data.pending = text
        if (fd >= 0 && reply.length > 0) fdatasyncSync(fd)
        if (reply.length > 0) socket.write(reply)
      },
    },
  })
  process.stdout.write(`floor listening on ${port}\n`)
  process.on('SIGTERM', () => {
    if (fd >= 0) closeSync(fd)
    process.exit(0)
  })
}

if (import.meta.main && process.argv[2] === '--serve') serveFloor(Number(process.argv[3]), process.argv[4] ?? null)
