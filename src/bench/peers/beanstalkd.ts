/**
 * beanstalkd (Debian) on a free loopback port: with a binlog fsynced on every write (`-b dir -f0`) or
 * in memory only. It has no official JavaScript client, so the adapter speaks its text protocol
 * itself (put / reserve-with-timeout / delete, replies in order). A worker of concurrency C is C
 * connections, each reserving one job at a time — beanstalkd's model; the delete of one job and the
 * next reserve go out in one write.
 */
import type { Socket } from 'bun'
import type { PeerJobData, PeerJobHandlers, PeerSystem } from '../workloads.ts'
import { findBinary, freePort, spawnServer, tempDataDir } from './process.ts'
import type { PeerVariant, RunningPeer } from './types.ts'

const binary = { name: 'beanstalkd', debianPackage: 'beanstalkd' }
/** Seconds a reserved job may run before beanstalkd hands it out again. */
const timeToRunSeconds = 60
/** Seconds one reserve waits on an empty tube before the worker asks again (or notices it was closed). */
const reserveWaitSeconds = 1

export function beanstalkdVariants(): PeerVariant[] {
  return [
    { id: 'beanstalkd-fsync', system: 'beanstalkd', label: 'beanstalkd (fsync each put)', durable: true, durability: 'binlog, -f0: fsync on every write', binary, start: () => startBeanstalkd(true) },
    { id: 'beanstalkd-memory', system: 'beanstalkd', label: 'beanstalkd (memory)', durable: false, durability: 'no binlog', binary, start: () => startBeanstalkd(false) },
  ]
}

async function startBeanstalkd(binlog: boolean): Promise<RunningPeer> {
  const path = findBinary(binary.name)
  if (path === null) throw new Error('beanstalkd is not installed')
  const port = freePort()
  const dataDir = tempDataDir('beanstalkd')
  const server = await spawnServer([path, '-l', '127.0.0.1', '-p', String(port), ...(binlog ? ['-b', dataDir, '-f0'] : [])], port, dataDir)
  const system: PeerSystem = {
    async producer(tube) {
      const connection = await BeanstalkConnection.connect(port)
      await connection.request(`use ${tube}`)
      return {
        push: async (data: PeerJobData) => void (await connection.put(JSON.stringify(data))),
        // No batch command: the puts are pipelined in one write and awaited together.
        pushBatch: async (data: PeerJobData[]) => void (await Promise.all(data.map((one) => connection.put(JSON.stringify(one))))),
        close: async () => connection.close(),
      }
    },
    async workers(tube, concurrency, handlers) {
      const connections = await Promise.all(Array.from({ length: concurrency }, () => BeanstalkConnection.connect(port)))
      let closing = false
      await Promise.all(connections.map(async (connection) => {
        await connection.request(`watch ${tube}`)
        await connection.request('ignore default')
      }))
      const loops = connections.map((connection) => workLoop(connection, handlers, () => closing))
      return {
        settle: async () => {},
        close: async () => {
          closing = true
          for (const connection of connections) connection.close()
          await Promise.allSettled(loops)
        },
      }
    },
  }
  return { system, pid: server.pid, dataDir: binlog ? dataDir : null, stop: server.stop }
}

async function workLoop(connection: BeanstalkConnection, handlers: PeerJobHandlers, closing: () => boolean): Promise<void> {
  let reserved = connection.request(`reserve-with-timeout ${reserveWaitSeconds}`)
  while (!closing()) {
    const reply = await reserved.catch(() => null)
    if (reply === null) return
    if (reply.line === 'TIMED_OUT') {
      reserved = connection.request(`reserve-with-timeout ${reserveWaitSeconds}`)
      continue
    }
    const [status, id] = reply.line.split(' ')
    if (status !== 'RESERVED' || reply.body === null) throw new Error(`beanstalkd: unexpected reply to reserve: ${reply.line}`)
    const data = JSON.parse(reply.body) as PeerJobData
    handlers.onStart(data)
    await Promise.resolve() // the job's (no-op) processing
    const deleted = connection.request(`delete ${id}`)
    reserved = connection.request(`reserve-with-timeout ${reserveWaitSeconds}`)
    void deleted.then((answer) => answer.line === 'DELETED' && handlers.onDone(data), () => {})
  }
}

type Reply = { line: string; body: string | null }
type Pending = { resolve(reply: Reply): void; reject(error: Error): void }

/** One beanstalkd connection: requests written in order (coalesced per tick), replies matched in order. */
export class BeanstalkConnection {
  private socket!: Socket<undefined>
  private readonly pending: Pending[] = []
  private buffer = ''
  private outbound = ''
  private unsent: Uint8Array | null = null
  private flushScheduled = false
  private readonly encoder = new TextEncoder()
  private readonly decoder = new TextDecoder()

  static async connect(port: number): Promise<BeanstalkConnection> {
    const connection = new BeanstalkConnection()
    connection.socket = await Bun.connect({
      hostname: '127.0.0.1',
      port,
      socket: {
        data: (_socket, chunk) => connection.onData(chunk),
        drain: () => connection.writeUnsent(),
        close: () => connection.failAll(new Error('beanstalkd: connection closed')),
        error: (_socket, error) => connection.failAll(error),
      },
    })
    connection.socket.setNoDelay(true)
    return connection
  }

  /** `put` with priority 0, no delay; resolves to the job id. */
  async put(body: string): Promise<number> {
    const reply = await this.request(`put 0 0 ${timeToRunSeconds} ${Buffer.byteLength(body)}\r\n${body}`)
    if (!reply.line.startsWith('INSERTED ')) throw new Error(`beanstalkd: put failed: ${reply.line}`)
    return Number(reply.line.slice(9))
  }

  request(command: string): Promise<Reply> {
    this.outbound += `${command}\r\n`
    if (!this.flushScheduled) {
      this.flushScheduled = true
      queueMicrotask(() => this.flush())
    }
    return new Promise<Reply>((resolve, reject) => this.pending.push({ resolve, reject }))
  }

  close(): void {
    this.socket.end()
  }

  private flush(): void {
    this.flushScheduled = false
    const bytes = this.encoder.encode(this.outbound)
    this.outbound = ''
    if (this.unsent !== null) {
      const joined = new Uint8Array(this.unsent.byteLength + bytes.byteLength)
      joined.set(this.unsent, 0)
      joined.set(bytes, this.unsent.byteLength)
      this.unsent = joined
      return
    }
    const written = this.socket.write(bytes)
    if (written < bytes.byteLength) this.unsent = bytes.subarray(Math.max(0, written))
  }

  private writeUnsent(): void {
    if (this.unsent === null) return
    const written = this.socket.write(this.unsent)
    this.unsent = written >= this.unsent.byteLength ? null : this.unsent.subarray(Math.max(0, written))
  }

  private onData(chunk: Uint8Array): void {
    // Job bodies here are ASCII JSON, so string lengths equal byte lengths.
    this.buffer += this.decoder.decode(chunk, { stream: true })
    for (;;) {
      const end = this.buffer.indexOf('\r\n')
      if (end < 0) return
      const line = this.buffer.slice(0, end)
      let body: string | null = null
      let consumed = end + 2
      if (line.startsWith('RESERVED ')) {
        const bytes = Number(line.slice(line.lastIndexOf(' ') + 1))
        if (this.buffer.length < consumed + bytes + 2) return
        body = this.buffer.slice(consumed, consumed + bytes)
        consumed += bytes + 2
      }
      this.buffer = this.buffer.slice(consumed)
      this.pending.shift()?.resolve({ line, body })
    }
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.splice(0)) waiter.reject(error)
  }
}
