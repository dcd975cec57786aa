/**
 * BullMQ on Redis: redis-server (Debian) on a free loopback port with an empty data directory, either
 * AOF with `appendfsync always` (fsync before each write is acknowledged) or no persistence at all,
 * driven by BullMQ's `Queue.add` / `Queue.addBulk` and `Worker` — how BullMQ users push and process.
 */
import { Queue, Worker } from 'bullmq'
import type { PeerJobData, PeerSystem } from '../workloads.ts'
import { findBinary, freePort, spawnServer, tempDataDir } from './process.ts'
import type { PeerVariant, RunningPeer } from './types.ts'

const binary = { name: 'redis-server', debianPackage: 'redis-server' }

export function bullmqVariants(): PeerVariant[] {
  return [
    { id: 'bullmq-aof', system: 'bullmq', label: 'BullMQ (Redis, AOF always)', durable: true, durability: 'appendonly yes, appendfsync always', binary, start: () => startRedis(true) },
    { id: 'bullmq-memory', system: 'bullmq', label: 'BullMQ (Redis, no persistence)', durable: false, durability: 'no AOF, no RDB', binary, start: () => startRedis(false) },
  ]
}

async function startRedis(aof: boolean): Promise<RunningPeer> {
  const path = findBinary(binary.name)
  if (path === null) throw new Error('redis-server is not installed')
  const port = freePort()
  const dataDir = tempDataDir('redis')
  const persistence = aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']
  const server = await spawnServer([path, '--port', String(port), '--bind', '127.0.0.1', '--dir', dataDir, '--save', '', '--daemonize', 'no', '--logfile', '', ...persistence], port, dataDir)
  const connection = { host: '127.0.0.1', port }
  const system: PeerSystem = {
    async producer(name) {
      const queue = new Queue(name, { connection })
      await queue.waitUntilReady()
      return {
        push: async (data: PeerJobData) => void (await queue.add('job', data)),
        pushBatch: async (data: PeerJobData[]) => void (await queue.addBulk(data.map((one) => ({ name: 'job', data: one })))),
        close: () => queue.close(),
      }
    },
    async workers(name, concurrency, handlers) {
      const worker = new Worker(name, async (job) => handlers.onStart(job.data as PeerJobData), { connection, concurrency })
      // 'completed' follows the moveToFinished script's reply.
      worker.on('completed', (job) => handlers.onDone(job.data as PeerJobData))
      worker.on('error', () => {})
      await worker.waitUntilReady()
      return { settle: async () => {}, close: () => worker.close() }
    },
  }
  return { system, pid: server.pid, dataDir: aof ? dataDir : null, stop: server.stop }
}
