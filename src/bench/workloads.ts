/**
 * The benchmark workloads, shared by `bun run bench` (test/bench/run.ts) and `flashq bench`
 * (cli/bench.ts). Each takes a running server's port and returns what it measured; the runner owns
 * server start/stop, repetitions and the table. `onProgress(jobs)` is told of every read's worth of
 * finished jobs, for a live progress line.
 */
import { shardOfName } from '../base/hash.ts'
import { BenchConnection, chunkHasError } from './client.ts'

export type Measured = {
  /** Throughput in jobs/s (0 for the latency workload). */
  rate: number
  seconds: number
  jobs: number
  p50?: number
  p99?: number
  errors: number
}

/** Queue names spread evenly over the shards (queue → shard is a hash, so pick names per shard). */
export function queueNames(count: number, shardCount: number, prefix = 'bench'): string[] {
  const byShard: string[][] = Array.from({ length: shardCount }, () => [])
  for (let i = 0; byShard.some((names) => names.length < Math.ceil(count / shardCount)); i++) {
    const name = `${prefix}-${i}`
    const shard = shardOfName(name, shardCount)
    if ((byShard[shard] as string[]).length < Math.ceil(count / shardCount)) (byShard[shard] as string[]).push(name)
  }
  const names: string[] = []
  for (let i = 0; names.length < count; i++) names.push((byShard[i % shardCount] as string[])[Math.floor(i / shardCount)] as string)
  return names
}

/** Told how many more jobs finished (for a live progress line). */
export type Progress = (jobs: number) => void

const pushLine = (queue: string, n: number) => `{"cmd":"PUSH","queue":"${queue}","data":{"i":${n}},"reqId":"${n}"}\n`

function pushbLine(queue: string, size: number, first: number, reqId: number): string {
  let jobs = ''
  for (let i = 0; i < size; i++) jobs += `${i === 0 ? '' : ','}{"data":{"i":${first + i}}}`
  return `{"cmd":"PUSHB","queue":"${queue}","jobs":[${jobs}],"reqId":"b${reqId}"}\n`
}

/** A server to drive: a port on 127.0.0.1, or a host and port. */
export type BenchTarget = number | { host: string; port: number }

async function connectAll(target: BenchTarget, count: number): Promise<BenchConnection[]> {
  const { host, port } = typeof target === 'number' ? { host: '127.0.0.1', port: target } : target
  return Promise.all(Array.from({ length: count }, () => BenchConnection.connect(port, host)))
}

/**
 * Pipelined single PUSH: each connection keeps `window` requests in flight; every read that returns k
 * replies is answered by one write of k new requests. Connection c pushes to queues[c % queues.length]
 * … rotating per request over all queues, so a single connection still spreads over the shards.
 */
export async function pushPipelined(port: BenchTarget, options: { connections: number; total: number; window: number; queues: string[]; onProgress?: Progress }): Promise<Measured> {
  const connections = await connectAll(port, options.connections)
  const perConnection = Math.floor(options.total / options.connections)
  let errors = 0
  const started = performance.now()
  await Promise.all(connections.map((connection, c) => new Promise<void>((resolve) => {
    let sent = 0
    let received = 0
    const base = c * perConnection
    const queues = options.queues
    const batch = (count: number) => {
      let text = ''
      for (let i = 0; i < count; i++, sent++) text += pushLine(queues[(sent + c) % queues.length] as string, base + sent)
      return text
    }
    connection.onCount = (lines, chunk) => {
      received += lines
      options.onProgress?.(lines)
      if (chunkHasError(chunk)) errors++
      if (received >= perConnection) return resolve()
      const more = Math.min(lines, perConnection - sent)
      if (more > 0) connection.send(batch(more))
    }
    connection.send(batch(Math.min(options.window, perConnection)))
  })))
  const seconds = (performance.now() - started) / 1000
  for (const connection of connections) connection.close()
  const jobs = perConnection * options.connections
  return { rate: jobs / seconds, seconds, jobs, errors }
}

/** PUSHB of `batchSize` jobs; each connection keeps `window` batches in flight. */
export async function pushBatches(port: BenchTarget, options: { connections: number; total: number; batchSize: number; window: number; queues: string[]; onProgress?: Progress }): Promise<Measured> {
  const connections = await connectAll(port, options.connections)
  const totalBatches = Math.floor(options.total / options.batchSize)
  const batchesOf = (c: number) => Math.floor(totalBatches / options.connections) + (c < totalBatches % options.connections ? 1 : 0)
  let errors = 0
  // Build the request texts up front (the client must not be the bottleneck): one per queue, the
  // payload numbers repeat, which the server does not care about.
  const texts = options.queues.map((queue, q) => pushbLine(queue, options.batchSize, q * options.batchSize, q))
  const started = performance.now()
  await Promise.all(connections.map((connection, c) => new Promise<void>((resolve) => {
    const batchesPerConnection = batchesOf(c)
    if (batchesPerConnection === 0) return resolve()
    let sent = 0
    let received = 0
    const send = (count: number) => {
      let text = ''
      for (let i = 0; i < count; i++, sent++) text += texts[(sent + c) % texts.length]
      connection.send(text)
    }
    connection.onCount = (lines, chunk) => {
      received += lines
      options.onProgress?.(lines * options.batchSize)
      if (chunkHasError(chunk)) errors++
      if (received >= batchesPerConnection) return resolve()
      const more = Math.min(lines, batchesPerConnection - sent)
      if (more > 0) send(more)
    }
    send(Math.min(options.window, batchesPerConnection))
  })))
  const seconds = (performance.now() - started) / 1000
  for (const connection of connections) connection.close()
  const jobs = totalBatches * options.batchSize
  return { rate: jobs / seconds, seconds, jobs, errors }
}

/** Pre-pushes `total` jobs with PUSHB 1000 (untimed), spread over `queues`. */
export async function prefill(port: BenchTarget, total: number, queues: string[]): Promise<void> {
  if (total % 1000 !== 0) throw new Error(`prefill: ${total} is not a multiple of 1000`)
  const result = await pushBatches(port, { connections: Math.min(4, queues.length), total, batchSize: 1000, window: 4, queues })
  if (result.errors > 0) throw new Error(`prefill: ${result.errors} error replies`)
}

const idPattern = /\{"id":(\d+),/g

/**
 * `workers` connections, each looping PULLB count=`count` on its queue and ACKB of the ids. The ACKB
 * of one batch and the next PULLB go out in one write (a worker does not need the ack's reply before
 * pulling again); replies come in order (no reqId). A worker stops at its first empty PULLB (non-blocking,
 * timeout 0) once the queue is drained; the clock stops at the last ACKB reply.
 */
export async function processJobs(port: BenchTarget, options: { workers: number; count: number; queues: string[]; expected: number; onProgress?: Progress }): Promise<Measured> {
  const connections = await connectAll(port, options.workers)
  let acked = 0
  let errors = 0
  let checkedParse = false
  const started = performance.now()
  await Promise.all(connections.map((connection, w) => new Promise<void>((resolve) => {
    const queue = options.queues[w % options.queues.length] as string
    const pull = `{"cmd":"PULLB","queue":"${queue}","count":${options.count},"timeout":0}\n`
    connection.onLine = (line) => {
      if (line.startsWith('{"ok":false')) {
        errors++
        return resolve()
      }
      if (line.startsWith('{"ok":true,"ids"')) {
        // ACKB reply: {"ok":true,"ids":[n],"count":n}
        const count = Number(/"count":(\d+)/.exec(line)?.[1] ?? 0)
        acked += count
        options.onProgress?.(count)
        return
      }
      // PULLB reply
      const ids: string[] = []
      idPattern.lastIndex = 0
      for (let match = idPattern.exec(line); match !== null; match = idPattern.exec(line)) ids.push(match[1] as string)
      if (!checkedParse) {
        checkedParse = true
        const parsed = JSON.parse(line) as { jobs: Array<{ id: number }> }
        if (parsed.jobs.length !== ids.length) throw new Error(`PULLB id scan found ${ids.length} ids, JSON has ${parsed.jobs.length}`)
      }
      // In-order replies: the ACKB sent before this PULLB has already been answered.
      if (ids.length === 0) return resolve()
      connection.send(`{"cmd":"ACKB","ids":[${ids.join(',')}]}\n${pull}`)
    }
    connection.send(pull)
  })))
  const seconds = (performance.now() - started) / 1000
  for (const connection of connections) connection.close()
  if (acked !== options.expected) errors++
  return { rate: acked / seconds, seconds, jobs: acked, errors }
}

/** One PUSH at a time; latency of each round trip. */
export async function pushLatency(port: BenchTarget, options: { total: number; warmup: number; queues: string[]; onProgress?: Progress }): Promise<Measured> {
  const [connection] = await connectAll(port, 1)
  const conn = connection as BenchConnection
  const samples = new Float64Array(options.total)
  let errors = 0
  let n = 0
  let sentAt = 0
  const started = performance.now()
  await new Promise<void>((resolve) => {
    const next = () => {
      sentAt = performance.now()
      conn.send(pushLine(options.queues[n % options.queues.length] as string, n))
    }
    conn.onCount = (lines, chunk) => {
      if (lines === 0) return
      const elapsed = performance.now() - sentAt
      if (chunkHasError(chunk)) errors++
      if (n >= options.warmup) samples[n - options.warmup] = elapsed
      n++
      options.onProgress?.(1)
      if (n >= options.total + options.warmup) return resolve()
      next()
    }
    next()
  })
  const seconds = (performance.now() - started) / 1000
  conn.close()
  samples.sort()
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] as number
  return { rate: options.total / seconds, seconds, jobs: options.total, p50: at(0.5), p99: at(0.99), errors }
}
