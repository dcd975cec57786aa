/**
 * NATS JetStream (Debian's nats-server) on a free loopback port with an empty store directory: a
 * work-queue stream per queue, on file or in memory storage, driven by the official `nats` client —
 * `js.publish` (awaiting the stream's PubAck) to push, a pull consumer with `consume()` and
 * `max_ack_pending` = concurrency to process. Acks are fire-and-forget in NATS, so a drain is timed
 * to a flush of the worker connection after the last ack.
 *
 * nats-server 2.9 (Debian 12) has no per-message fsync: the file store writes before it acknowledges
 * and syncs every 2 minutes (`sync_interval: always` came in 2.10), so "file" is durable against a
 * process crash, not a power loss.
 */
import { AckPolicy, connect, type JetStreamManager, type NatsConnection, RetentionPolicy, StorageType } from 'nats'
import type { PeerJobData, PeerSystem } from '../workloads.ts'
import { findBinary, freePort, spawnServer, tempDataDir } from './process.ts'
import type { PeerVariant, RunningPeer } from './types.ts'

const binary = { name: 'nats-server', debianPackage: 'nats-server' }
const encoder = new TextEncoder()

export function natsVariants(): PeerVariant[] {
  return [
    { id: 'nats-file', system: 'nats', label: 'NATS JetStream (file)', durable: true, durability: 'file store, written before the PubAck; nats-server 2.9 fsyncs every 2 min', binary, start: () => startNats(StorageType.File) },
    { id: 'nats-memory', system: 'nats', label: 'NATS JetStream (memory)', durable: false, durability: 'memory store', binary, start: () => startNats(StorageType.Memory) },
  ]
}

async function startNats(storage: StorageType): Promise<RunningPeer> {
  const path = findBinary(binary.name)
  if (path === null) throw new Error('nats-server is not installed')
  const port = freePort()
  const dataDir = tempDataDir('nats')
  const server = await spawnServer([path, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dataDir], port, dataDir)
  const servers = `127.0.0.1:${port}`
  const streams = new Map<string, Promise<void>>()
  const ensureStream = (jsm: JetStreamManager, name: string): Promise<void> => {
    let created = streams.get(name)
    if (created === undefined) {
      created = jsm.streams.add({ name, subjects: [name], storage, retention: RetentionPolicy.Workqueue }).then(() => {})
      streams.set(name, created)
    }
    return created
  }
  const system: PeerSystem = {
    async producer(name) {
      const nc = await connect({ servers })
      await ensureStream(await nc.jetstreamManager(), name)
      const js = nc.jetstream()
      const publish = (data: PeerJobData) => js.publish(name, encoder.encode(JSON.stringify(data)))
      return {
        push: async (data) => void (await publish(data)),
        // No batch publish in JetStream: the publishes are pipelined and their PubAcks awaited together.
        pushBatch: async (data) => void (await Promise.all(data.map(publish))),
        close: () => nc.close(),
      }
    },
    async workers(name, concurrency, handlers) {
      const nc: NatsConnection = await connect({ servers })
      const jsm = await nc.jetstreamManager()
      await ensureStream(jsm, name)
      const durable = `workers-${concurrency}`
      await jsm.consumers.add(name, { durable_name: durable, ack_policy: AckPolicy.Explicit, max_ack_pending: concurrency })
      const consumer = await nc.jetstream().consumers.get(name, durable)
      const messages = await consumer.consume({ max_messages: concurrency })
      const loop = (async () => {
        for await (const message of messages) {
          // Not awaited: up to max_ack_pending jobs are in process at once.
          void (async () => {
            const data = message.json<PeerJobData>()
            handlers.onStart(data)
            await Promise.resolve() // the job's (no-op) processing
            message.ack()
            handlers.onDone(data)
          })()
        }
      })()
      return {
        settle: () => nc.flush(),
        close: async () => {
          await messages.close()
          await loop.catch(() => {})
          await nc.close()
        },
      }
    },
  }
  return { system, pid: server.pid, dataDir: storage === StorageType.File ? dataDir : null, stop: server.stop }
}
