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

/*
 * Workloads over any queue system (bench/peers adapters: flashq through its SDK, BullMQ on Redis,
 * beanstalkd, NATS JetStream). Every system is driven through the same three calls, so the harness —
 * payloads, windows, clocks, percentiles — is the same for all of them; only the client differs.
 */

/** A job's data: `t` is the producer's clock when the push was due (ms, performance.now()). */
export type PeerJobData = { t: number; pad: string }

/** One producer connection. */
export type PeerProducer = {
  push(data: PeerJobData): Promise<void>
  /** Pushes all in one request where the system has one (else pipelined on the connection). */
  pushBatch(data: PeerJobData[]): Promise<void>
  close(): Promise<void>
}

/** Told when a job starts (its data) and when the system confirmed its completion. */
export type PeerJobHandlers = { onStart(data: PeerJobData): void; onDone(data: PeerJobData): void }

export type PeerWorkers = {
  /** Resolves once the server has every completion sent so far (NATS acks are fire-and-forget). */
  settle(): Promise<void>
  close(): Promise<void>
}

/** A started system: producers and workers on a queue (tube, stream) by name. */
export type PeerSystem = {
  producer(queue: string): Promise<PeerProducer>
  /** Workers with `concurrency` jobs in process at once in total, each job a no-op. */
  workers(queue: string, concurrency: number, handlers: PeerJobHandlers): Promise<PeerWorkers>
}

export type PeerMeasured = {
  jobs: number
  seconds: number
  rate: number
  /** Latency percentiles in ms (per push for W1, push→start for W4). */
  p50?: number
  p99?: number
  max?: number
  /** Jobs the workload meant to complete, when fewer may (an open loop that ran out of time). */
  expected?: number
  /** Jobs delivered and completed a second time (at-least-once delivery under load). */
  duplicates?: number
  errors: number
}

/** Padding strings by length, shared: the harness should cost the client as little as it can. */
const pads: string[] = []
/** `{"t":,"pad":""}`: the characters of a payload besides t and the padding. */
const payloadFrameChars = 15

/** JSON payloads of exactly `bytes` bytes once serialized: {"t":…,"pad":"xxx…"}. */
export function peerJobData(t: number, bytes = 100): PeerJobData {
  const padChars = Math.max(0, bytes - payloadFrameChars - JSON.stringify(t).length)
  return { t, pad: (pads[padChars] ??= 'x'.repeat(padChars)) }
}

/** p50, p99 and max in ms; none when nothing was sampled (an open loop whose jobs never started in time). */
function percentiles(samples: Float64Array): { p50?: number; p99?: number; max?: number } {
  if (samples.length === 0) return {}
  samples.sort()
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0
  return { p50: at(0.5), p99: at(0.99), max: samples[samples.length - 1] ?? 0 }
}

/**
 * Every timed push or drain phase stops at its job count or after `maxSeconds`, whichever comes
 * first (a slow system is measured over fewer jobs rather than for minutes); rates are of the jobs done.
 */
type TimeCap = { maxSeconds: number }

/** W1: one push awaited at a time, after `warmup` untimed pushes; latency of each. */
export async function peerSequentialPush(system: PeerSystem, options: { queue: string; total: number; warmup: number } & TimeCap): Promise<PeerMeasured> {
  const producer = await system.producer(options.queue)
  let errors = 0
  for (let i = 0; i < options.warmup; i++) await producer.push(peerJobData(performance.now())).catch(() => errors++)
  const samples = new Float64Array(options.total)
  const started = performance.now()
  const deadline = started + options.maxSeconds * 1000
  let pushed = 0
  while (pushed < options.total && (pushed === 0 || performance.now() < deadline)) {
    const sentAt = performance.now()
    await producer.push(peerJobData(sentAt)).catch(() => errors++)
    samples[pushed++] = performance.now() - sentAt
  }
  const seconds = (performance.now() - started) / 1000
  await producer.close()
  return { jobs: pushed, seconds, rate: pushed / seconds, ...percentiles(samples.subarray(0, pushed)), errors }
}

/** W1c50: `window` pushes in flight on one connection; a new one goes out as each is answered. */
export async function peerWindowedPush(system: PeerSystem, options: { queue: string; total: number; window: number } & TimeCap): Promise<PeerMeasured> {
  const producer = await system.producer(options.queue)
  let errors = 0
  let next = 0
  let pushed = 0
  const started = performance.now()
  const deadline = started + options.maxSeconds * 1000
  const lane = async () => {
    while (next < options.total && performance.now() < deadline) {
      next++
      await producer.push(peerJobData(performance.now())).catch(() => errors++)
      pushed++
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.window, options.total) }, lane))
  const seconds = (performance.now() - started) / 1000
  await producer.close()
  return { jobs: pushed, seconds, rate: pushed / seconds, errors }
}

/**
 * W2 (and prefill): batches of `batchSize`, `window` batches in flight (1 for W2), after `warmup`
 * untimed jobs in batches of the same size.
 */
export async function peerBatchPush(system: PeerSystem, options: { queue: string; total: number; batchSize: number; window: number; warmup?: number; producer?: PeerProducer } & TimeCap): Promise<PeerMeasured> {
  const producer = options.producer ?? (await system.producer(options.queue))
  const batches = Math.ceil(options.total / options.batchSize)
  let errors = 0
  for (let warmed = 0; warmed < (options.warmup ?? 0); warmed += options.batchSize) {
    const t = performance.now()
    await producer.pushBatch(Array.from({ length: Math.min(options.batchSize, (options.warmup ?? 0) - warmed) }, () => peerJobData(t))).catch(() => errors++)
  }
  let next = 0
  let pushed = 0
  const started = performance.now()
  const deadline = started + options.maxSeconds * 1000
  const lane = async () => {
    while (next < batches && performance.now() < deadline) {
      const size = Math.min(options.batchSize, options.total - next * options.batchSize)
      next++
      const t = performance.now()
      await producer.pushBatch(Array.from({ length: size }, () => peerJobData(t))).then(() => (pushed += size), () => errors++)
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.window, batches) }, lane))
  const seconds = (performance.now() - started) / 1000
  if (options.producer === undefined) await producer.close()
  return { jobs: pushed, seconds, rate: pushed / seconds, errors }
}

/**
 * W3: pre-fills up to `total` jobs (untimed, same time cap), then times workers of `concurrency`
 * draining them, from their start to the last completion the server confirmed. The time cap counts
 * from the first completion, so a worker client that is slow to start is measured with its start-up
 * included, not cut off before it did anything.
 */
export async function peerDrain(system: PeerSystem, options: { queue: string; total: number; concurrency: number } & TimeCap): Promise<PeerMeasured> {
  const filled = await peerBatchPush(system, { queue: options.queue, total: options.total, batchSize: 1000, window: 2, maxSeconds: options.maxSeconds })
  let done = 0
  let allDone: () => void = () => {}
  const finished = new Promise<void>((resolve) => (allDone = resolve))
  let firstDone: () => void = () => {}
  const first = new Promise<void>((resolve) => (firstDone = resolve))
  const startedAt = performance.now()
  const workers = await system.workers(options.queue, options.concurrency, {
    onStart: () => {},
    onDone: () => {
      if (++done === 1) firstDone()
      if (done === filled.jobs) allDone()
    },
  })
  const neverStarted = await raceTimeout(first, workerStartTimeoutMs)
  const capped = neverStarted || (await raceTimeout(finished, options.maxSeconds * 1000))
  await workers.settle()
  const seconds = (performance.now() - startedAt) / 1000
  const counted = done
  await workers.close()
  // Completing more jobs than were pushed would be a harness (or server) bug.
  const errors = filled.errors + (neverStarted ? 1 : 0) + (counted > filled.jobs ? 1 : 0) + (!capped && counted !== filled.jobs ? 1 : 0)
  return { jobs: counted, seconds, rate: counted / seconds, errors }
}

/**
 * W4: an open-loop producer pushes at `ratePerSecond` (on schedule, whether or not earlier pushes were
 * answered) while workers of `concurrency` process; latency is from when each push was sent to when its
 * job started (a producer that falls behind sends its overdue pushes at once, so the burst still
 * reaches the system under test). Jobs due
 * in the first `warmupSeconds` are processed but not sampled.
 */
export async function peerOpenLoop(system: PeerSystem, options: { queue: string; ratePerSecond: number; seconds: number; warmupSeconds: number; concurrency: number; timeoutMs: number }): Promise<PeerMeasured> {
  const total = Math.round(options.ratePerSecond * (options.seconds + options.warmupSeconds))
  const warmupJobs = Math.round(options.ratePerSecond * options.warmupSeconds)
  // By due time: a job delivered twice (at-least-once) is sampled at its first start.
  const samples = new Map<number, number>()
  // Latency counts from the send, not the due time: the producer's own timer lateness (setTimeout
  // fires up to ~1-2 ms late on this 2-core machine, the same for every system) is the client's.
  // The schedule stays open-loop: overdue pushes all go out at once, whatever is unanswered.
  const sentAt = new Map<number, number>()
  const completed = new Set<number>()
  let duplicates = 0
  let errors = 0
  let allDone: () => void = () => {}
  const finished = new Promise<void>((resolve) => (allDone = resolve))
  let measureFrom = Number.POSITIVE_INFINITY
  const workers = await system.workers(options.queue, options.concurrency, {
    onStart: (data) => {
      if (data.t >= measureFrom && !samples.has(data.t)) samples.set(data.t, performance.now() - (sentAt.get(data.t) ?? data.t))
    },
    onDone: (data) => {
      if (completed.has(data.t)) return void duplicates++
      completed.add(data.t)
      if (completed.size === total) allDone()
    },
  })
  const producer = await system.producer(options.queue)
  const startedAt = performance.now()
  measureFrom = startedAt + options.warmupSeconds * 1000 - 0.001
  const intervalMs = 1000 / options.ratePerSecond
  let sent = 0
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now()
      while (sent < total && startedAt + sent * intervalMs <= now) {
        const dueAt = startedAt + sent * intervalMs
        sentAt.set(dueAt, performance.now())
        producer.push(peerJobData(dueAt)).catch(() => errors++)
        sent++
      }
      if (sent >= total) return resolve()
      setTimeout(tick, Math.max(0, Math.min(1, startedAt + sent * intervalMs - performance.now())))
    }
    tick()
  })
  const timedOut = await raceTimeout(finished, options.timeoutMs)
  const seconds = (performance.now() - startedAt) / 1000
  await workers.close()
  await producer.close()
  const measured = total - warmupJobs
  // Timing out is overload (reported through `expected`), not an error; a wrong count is.
  if (!timedOut && samples.size !== measured) errors++
  const done = completed.size
  return { jobs: done, seconds, rate: done / seconds, ...percentiles(Float64Array.from(samples.values())), expected: total, duplicates, errors }
}

/** Longest workers may take to complete their first job before a drain counts as failed. */
const workerStartTimeoutMs = 30_000

/** True when `promise` did not settle within `ms`. */
async function raceTimeout(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)))
  const result = await Promise.race([promise.then(() => false), timeout])
  clearTimeout(timer)
  return result
}
