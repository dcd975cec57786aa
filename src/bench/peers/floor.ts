/**
 * The Bun floor: not a queue, a reference. The least a Bun server can do for flashq's SDK — Bun.listen,
 * split the lines, JSON.parse each, (durable) write the read's records into a pre-written file and
 * fdatasync once, then answer, echoing the reqId — driven by the SDK as the flashq columns are
 * (`Queue.add` / `addBulk` to push, one `Worker` to process: flashq.ts's sdkSystem). It answers only
 * what those send, and throws on anything else:
 *
 *   PUSH, PUSHB      the ids; the jobs join their queue's FIFO in memory
 *   PULLB            up to `count` jobs off the FIFO, in the sparse form the Worker asks for (id,
 *                    queue, data, times); with none waiting, parked until a push brings one or
 *                    `timeout` ms pass (then an empty list)
 *   ACK, ACKB        the active jobs are forgotten (ACKB answers how many were active)
 *   HEARTBEAT        ok for an active job
 *   MOVETODELAYED 0  the Worker's hand-back: the job waits again, first in line
 *
 * No priorities, delays, retries, stall detection, limits or recovery: the file is written, never
 * read, and a connection's active jobs die with it. Durable: a read's pushes and acks are written
 * (one write per line) and fdatasync'ed once before any reply that read causes, and its pushed jobs
 * join the FIFO only after that, so no pull hands out a job whose push is not on disk. The fdatasync
 * is synchronous on the main thread: while it runs the server reads nothing (the simplest correct
 * thing, not the fastest possible).
 *
 * Next to flashq it shows what the server's queue work costs; next to beanstalkd, what any Bun server
 * and the SDK cost on this machine (W1, W1c50, W2 in docs/storage.md; W4 in docs/architecture.md,
 * "W4 against a floor"). It runs every workload but W5, whose memory per waiting job would measure
 * this toy's job objects.
 *
 *   bun src/bench/peers/floor.ts --serve <port> [<data dir>]     the server alone (test/bench/w1-floor.ts)
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { Socket } from 'bun'
import { sdkSystem } from './flashq.ts'
import { freePort, spawnServer, tempDataDir } from './process.ts'
import type { PeerVariant, RunningPeer } from './types.ts'
import type { WorkloadId } from './workloads.ts'

/** Bytes of zeros the floor writes into its file before it listens: its records overwrite them, as flashq's log writes into space it zeroed ahead. */
const floorFileBytes = 64 << 20
/** The workloads the floor runs: all but W5. */
export const floorWorkloads: readonly WorkloadId[] = ['W1', 'W1c50', 'W2', 'W3c10', 'W3c100', 'W4@1k', 'W4@5k']

/** `env`: the server's environment (a profiler's settings), this process's when absent. */
export function floorVariants(env?: Record<string, string | undefined>): PeerVariant[] {
  const label = 'Bun floor, no queue (SDK)'
  return [
    { id: 'floor-durable', system: 'floor', label: `${label}, durable`, durable: true, durability: 'a reference, not a queue: write + fdatasync of each read\'s pushes and acks before its replies', workloads: floorWorkloads, start: () => startFloor(true, env) },
    { id: 'floor-memory', system: 'floor', label: `${label}, memory`, durable: false, durability: 'a reference, not a queue: replies only', workloads: floorWorkloads, start: () => startFloor(false, env) },
  ]
}

async function startFloor(durable: boolean, env: Record<string, string | undefined> | undefined): Promise<RunningPeer> {
  // Its own empty directory either way: the server runs in it, and stop() removes it.
  const dataDir = tempDataDir('floor')
  const port = freePort()
  const server = await spawnServer([process.execPath, import.meta.path, '--serve', String(port), ...(durable ? [dataDir] : [])], port, dataDir, { env })
  return { system: sdkSystem(port), pid: server.pid, dataDir: durable ? dataDir : null, stop: server.stop }
}

/** A job handed out and not acknowledged yet. */
type FloorJob = { id: number; queue: FloorQueue; data: unknown; createdMs: number }
/**
 * The jobs of one PUSH or PUSHB, ids `firstId…` in order, as the command parsed them (the PUSH command
 * itself, a PUSHB's `jobs`): no object per job until it is handed out, so a push costs what it did
 * before the floor kept jobs. `next` is the first not handed out yet.
 */
type PushedGroup = { queue: FloorQueue; firstId: number; items: ReadonlyArray<{ data?: unknown }>; next: number; createdMs: number }
type Connection = { pending: string; unsent: Uint8Array[] }
type FloorSocket = Socket<Connection>
/** A PULLB that found no job, waiting for one; `echo` is its reqId as the reply's last field. */
type ParkedPull = { socket: FloorSocket; echo: string; count: number; timer: ReturnType<typeof setTimeout> }
/** What one socket read did: its replies, and what it pushed (in the FIFO only once it is durable). */
type Read = { reply: string; pushed: PushedGroup[]; wrote: boolean }
type Command = { cmd?: string; queue?: string; data?: unknown; jobs?: Array<{ data?: unknown }>; count?: number; timeout?: number; id?: number; ids?: number[]; job_id?: number; delay?: number; reqId?: string }

class FloorQueue {
  /** Pushed groups, oldest first from `head`. */
  groups: PushedGroup[] = []
  head = 0
  waiting = 0
  readonly parked: ParkedPull[] = []
  /** The name as JSON, written into every job of a pull reply. */
  readonly quotedName: string
  constructor(name: string) {
    this.quotedName = JSON.stringify(name)
  }

  add(group: PushedGroup): void {
    this.groups.push(group)
    this.waiting += group.items.length - group.next
  }

  /** Up to `count` jobs, oldest first. */
  take(count: number): FloorJob[] {
    const taken: FloorJob[] = []
    while (taken.length < count && this.head < this.groups.length) {
      const group = this.groups[this.head] as PushedGroup
      while (taken.length < count && group.next < group.items.length) {
        const at = group.next++
        taken.push({ id: group.firstId + at, queue: this, data: group.items[at]?.data, createdMs: group.createdMs })
      }
      if (group.next === group.items.length) this.head++
    }
    this.waiting -= taken.length
    // Drop the emptied prefix once it is most of the array, so a long run does not keep every group.
    if (this.head >= 1024 && this.head * 2 >= this.groups.length) {
      this.groups = this.groups.slice(this.head)
      this.head = 0
    }
    return taken
  }

  /** A handed-back job goes first. */
  giveBack(job: FloorJob): void {
    const group = { queue: this, firstId: job.id, items: [{ data: job.data }], next: 0, createdMs: job.createdMs }
    if (this.head > 0) this.groups[--this.head] = group
    else this.groups.unshift(group)
    this.waiting++
  }
}

/** The floor server: queues by name, the active jobs by id, and (durable) the file the records go to. */
class FloorServer {
  readonly #queues = new Map<string, FloorQueue>()
  readonly #active = new Map<number, FloorJob>()
  readonly #fd: number
  #position = 0
  #nextId = 1

  constructor(dataDir: string | null) {
    this.#fd = dataDir === null ? -1 : openSync(join(dataDir, 'log'), 'w+')
    if (this.#fd < 0) return
    const zeros = new Uint8Array(1 << 20)
    for (let offset = 0; offset < floorFileBytes; offset += zeros.length) writeSync(this.#fd, zeros, 0, zeros.length, offset)
    fdatasyncSync(this.#fd)
  }

  /** One socket read: its commands in order, one fdatasync for its records, then the FIFO and the replies. */
  read(socket: FloorSocket, text: string): void {
    const read: Read = { reply: '', pushed: [], wrote: false }
    let newline = text.indexOf('\n')
    while (newline >= 0) {
      this.#command(socket, text.slice(0, newline), read)
      text = text.slice(newline + 1)
      newline = text.indexOf('\n')
    }
    socket.data.pending = text
    if (read.wrote) fdatasyncSync(this.#fd)
    for (const group of read.pushed) group.queue.add(group)
    // Parked pulls first: their jobs are what an open loop waits for.
    for (const group of read.pushed) this.#wake(group.queue)
    if (read.reply.length > 0) send(socket, read.reply)
  }

  #command(socket: FloorSocket, line: string, read: Read): void {
    const command = JSON.parse(line) as Command
    // The SDK matches replies by reqId.
    const echo = command.reqId === undefined ? '' : `,"reqId":${JSON.stringify(command.reqId)}`
    switch (command.cmd) {
      case 'PUSH': {
        const firstId = this.#push(command.queue, [command], read)
        this.#record(line, read)
        read.reply += `{"ok":true,"id":${firstId}${echo}}\n`
        return
      }
      case 'PUSHB': {
        const items = command.jobs ?? []
        const firstId = this.#push(command.queue, items, read)
        const ids = items.map((_, at) => firstId + at)
        this.#record(line, read)
        read.reply += `{"ok":true,"ids":[${ids.join(',')}]${echo}}\n`
        return
      }
      case 'PULLB': return this.#pull(socket, this.#queue(command.queue), command.count ?? 1, command.timeout ?? 0, echo, read)
      case 'ACK':
      case 'ACKB': {
        let count = 0
        for (const id of command.ids ?? [command.id]) if (this.#active.delete(id as number)) count++
        this.#record(line, read)
        read.reply += command.cmd === 'ACK' ? `{"ok":true${echo}}\n` : `{"ok":true,"count":${count}${echo}}\n`
        return
      }
      case 'HEARTBEAT':
        read.reply += this.#active.has(command.job_id as number) ? `{"ok":true${echo}}\n` : `{"ok":false,"error":"floor: job ${command.job_id} is not active"${echo}}\n`
        return
      case 'MOVETODELAYED': return this.#handBack(command, echo, read)
      default: throw new Error(`floor: the SDK's Worker and Queue.add send no '${command.cmd}' (floor.ts answers only what they send)`)
    }
  }

  #queue(name: string | undefined): FloorQueue {
    if (name === undefined) throw new Error('floor: a command without a queue')
    let queue = this.#queues.get(name)
    if (queue === undefined) this.#queues.set(name, (queue = new FloorQueue(name)))
    return queue
  }

  /** Ids for the items, in order; returns the first. */
  #push(queueName: string | undefined, items: ReadonlyArray<{ data?: unknown }>, read: Read): number {
    const firstId = this.#nextId
    this.#nextId += items.length
    read.pushed.push({ queue: this.#queue(queueName), firstId, items, next: 0, createdMs: Date.now() })
    return firstId
  }

  /** Durable only: the command's line goes to the file as it came. */
  #record(line: string, read: Read): void {
    if (this.#fd < 0) return
    const record = Buffer.from(line)
    writeSync(this.#fd, record, 0, record.length, this.#position)
    this.#position = (this.#position + record.length) % floorFileBytes
    read.wrote = true
  }

  #pull(socket: FloorSocket, queue: FloorQueue, count: number, timeoutMs: number, echo: string, read: Read): void {
    if (queue.waiting > 0 || timeoutMs <= 0) {
      read.reply += this.#handOut(queue, count, echo)
      return
    }
    const parked: ParkedPull = { socket, echo, count, timer: setTimeout(() => this.#expire(queue, parked), timeoutMs) }
    queue.parked.push(parked)
  }

  /** The reply of a pull: up to `count` waiting jobs, now active. */
  #handOut(queue: FloorQueue, count: number, echo: string): string {
    const startedMs = Date.now()
    let jobs = ''
    for (const job of queue.take(count)) {
      this.#active.set(job.id, job)
      jobs += `${jobs.length === 0 ? '' : ','}{"id":${job.id},"queue":${queue.quotedName},"data":${JSON.stringify(job.data)},"created_at":${job.createdMs},"run_at":${job.createdMs},"started_at":${startedMs}}`
    }
    return `{"ok":true,"jobs":[${jobs}]${echo}}\n`
  }

  /** Answers parked pulls, oldest first, while jobs wait. */
  #wake(queue: FloorQueue): void {
    while (queue.waiting > 0 && queue.parked.length > 0) {
      const parked = queue.parked.shift() as ParkedPull
      clearTimeout(parked.timer)
      send(parked.socket, this.#handOut(queue, parked.count, parked.echo))
    }
  }

  #expire(queue: FloorQueue, parked: ParkedPull): void {
    const at = queue.parked.indexOf(parked)
    if (at < 0) return
    queue.parked.splice(at, 1)
    send(parked.socket, `{"ok":true,"jobs":[]${parked.echo}}\n`)
  }

  /** The Worker hands a job back with MOVETODELAYED 0 (close(true), or a prefetched job that waited too long). */
  #handBack(command: Command, echo: string, read: Read): void {
    if (command.delay !== 0) throw new Error(`floor: MOVETODELAYED with a delay (${command.delay} ms) is not a hand-back; the floor has no delays`)
    const job = this.#active.get(command.id as number)
    if (job === undefined) {
      read.reply += `{"ok":false,"error":"floor: job ${command.id} is not active"${echo}}\n`
      return
    }
    this.#active.delete(job.id)
    job.queue.giveBack(job)
    this.#wake(job.queue)
    read.reply += `{"ok":true${echo}}\n`
  }

  /** A closed connection's parked pulls are dropped (its active jobs are not handed out again). */
  closed(socket: FloorSocket): void {
    for (const queue of this.#queues.values()) {
      for (const parked of queue.parked.filter((one) => one.socket === socket)) {
        clearTimeout(parked.timer)
        queue.parked.splice(queue.parked.indexOf(parked), 1)
      }
    }
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd)
  }
}

/** Writes `text`, keeping what the socket did not take until it drains (a PULLB reply of 1,000 jobs is ~130 KB). */
function send(socket: FloorSocket, text: string): void {
  const connection = socket.data
  if (connection.unsent.length > 0) return void connection.unsent.push(Buffer.from(text))
  const written = socket.write(text)
  if (written === text.length) return
  const bytes = Buffer.from(text)
  if (written >= 0 && written < bytes.length) connection.unsent.push(bytes.subarray(written))
}

function flush(socket: FloorSocket): void {
  const unsent = socket.data.unsent
  while (unsent.length > 0) {
    const bytes = unsent[0] as Uint8Array
    const written = socket.write(bytes)
    if (written < 0) return void (socket.data.unsent = [])
    if (written < bytes.length) return void (unsent[0] = bytes.subarray(written))
    unsent.shift()
  }
}

export function serveFloor(port: number, dataDir: string | null): void {
  const server = new FloorServer(dataDir)
  const decoder = new TextDecoder()
  Bun.listen<Connection>({
    hostname: '127.0.0.1',
    port,
    socket: {
      open(socket) { socket.data = { pending: '', unsent: [] } },
      data(socket, chunk) { server.read(socket, socket.data.pending + decoder.decode(chunk)) },
      drain(socket) { flush(socket) },
      close(socket) { server.closed(socket) },
    },
  })
  process.stdout.write(`floor listening on ${port}\n`)
  process.on('SIGTERM', () => {
    server.close()
    process.exit(0)
  })
}

if (import.meta.main && process.argv[2] === '--serve') serveFloor(Number(process.argv[3]), process.argv[4] ?? null)
