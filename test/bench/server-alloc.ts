/**
 * Garbage the server makes per request: a server of this checkout (`--workers 0`: stores in the
 * main thread, as on 1–2 cores) runs with BUN_JSC_logGC=1, and its collection log is read over a
 * window marked by two `_GC` requests (FLASHQ_TEST_HOOKS: a full collection each). Bytes allocated
 * in the window = Σ (START_i − END_{i−1}) over its collections, the last being the closing
 * marker's (so what the window left uncollected counts too): JSC logs its heap size when a
 * collection starts and after it ends. That is capacity against live bytes, an estimate: a
 * collection that runs before the heap's free space was used up (JSC's timer-driven Eden
 * collections, the markers) counts that space as allocated. The `quiet` shape shows that floor
 * (~2.5 MB per collection on a fresh server); good for before/after on one machine, not as bytes.
 * Most of a quiet or idle server's collections are Bun's GC timer's (about one a second while the
 * heap changes): `--no-bun-gc-timer` runs the server with BUN_GC_TIMER_DISABLE=1, which leaves the
 * collections JavaScriptCore starts itself (measured: quiet and idle then collect never, ~16 KB/s).
 *
 *   bun test/bench/server-alloc.ts [--durable] [--no-bun-gc-timer] [--runs 3] [--shapes w1,pull,w4,idle]
 *                                  [--requests 20000] [--jobs 5000] [--rate 1000] [--seconds 5]
 *
 * Shapes, each after a warm-up of its own on the same server, one server per run:
 *   w1    sequential PUSH, each awaited, over a bare JSON-lines client (`--requests`)
 *   pull  PULLB (timeout 1000) sent first, then PUSH, then ACKB of the pulled job (`--jobs`)
 *   w4    SDK Queue.add at `--rate` jobs/s for `--seconds`, an SDK Worker of concurrency 10
 *   idle  an SDK Worker connected and waiting, nothing pushed, for `--seconds`
 *   quiet nothing but the bench's own idle connection, for `--seconds` (not in the default shapes)
 * Prints medians of the runs (min–max): KB allocated per request (w1, pull: per job, 3 requests)
 * or per job (w4) and per second, then Eden and full collections in the window and their pauses
 * (the sum of a collection's `p=` increments).
 */
import { BenchConnection } from '../../src/bench/client.ts'
import { Queue, Worker } from '../../src/client/index.ts'
import { startBenchServer, type BenchServer } from './server.ts'

type Shape = 'w1' | 'pull' | 'w4' | 'idle' | 'quiet'
type Options = { durable: boolean; bunGcTimer: boolean; runs: number; shapes: Shape[]; requests: number; jobs: number; rate: number; seconds: number }

function parseOptions(argv: string[]): Options {
  const options: Options = { durable: false, bunGcTimer: true, runs: 3, shapes: ['w1', 'pull', 'w4', 'idle'], requests: 20_000, jobs: 5000, rate: 1000, seconds: 5 }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = () => argv[++i] ?? ''
    const positive = () => {
      const parsed = Number(value())
      if (!(parsed > 0)) throw new Error(`${flag}: a positive number`)
      return parsed
    }
    if (flag === '--durable') options.durable = true
    else if (flag === '--no-bun-gc-timer') options.bunGcTimer = false
    else if (flag === '--runs') options.runs = positive()
    else if (flag === '--shapes') options.shapes = value().split(',') as Shape[]
    else if (flag === '--requests') options.requests = positive()
    else if (flag === '--jobs') options.jobs = positive()
    else if (flag === '--rate') options.rate = positive()
    else if (flag === '--seconds') options.seconds = positive()
    else throw new Error(`unknown flag '${flag}'`)
  }
  for (const shape of options.shapes) if (!['w1', 'pull', 'w4', 'idle', 'quiet'].includes(shape)) throw new Error(`unknown shape '${shape}'`)
  return options
}

/** One collection from the log: heap KB at its start and after it, and its pauses. */
type Collection = { full: boolean; startKb: number; endKb: number | null; pauseMs: number; pauseMaxMs: number }

/**
 * Reads the log as it comes. `=> Nkb` after a START is the live size when the collection ends, or
 * the size after a full collection's sweep (logged after it): the last one is the next START's base.
 */
class GcLog {
  readonly collections: Collection[] = []
  /** The heap size each collection started from (the last `=> Nkb` before its START), by index. */
  readonly baseKb: number[] = []
  private tail = ''
  private lastEndKb = 0
  lastTextAtMs = performance.now()

  add(text: string): void {
    this.lastTextAtMs = performance.now()
    const lines = (this.tail + text).split('\n')
    this.tail = lines.pop() as string
    for (const line of lines) this.parseLine(line)
  }

  private parseLine(line: string): void {
    const tokens = /START \S+ (\d+)kb => (\w+)Collection|=> (\d+)kb, p=([\d.]+)ms|p=([\d.]+)ms|Full sweep: \d+kb => (\d+)kb/g
    for (const match of line.matchAll(tokens)) {
      const current = this.collections.at(-1)
      if (match[1] !== undefined) {
        this.baseKb.push(this.lastEndKb)
        this.collections.push({ full: match[2] === 'Full', startKb: Number(match[1]), endKb: null, pauseMs: 0, pauseMaxMs: 0 })
      } else if (current === undefined) {
        continue
      } else if (match[3] !== undefined) {
        current.endKb = this.lastEndKb = Number(match[3])
        addPause(current, Number(match[4]))
      } else if (match[5] !== undefined) {
        addPause(current, Number(match[5]))
      } else if (match[6] !== undefined) {
        this.lastEndKb = Number(match[6])
      }
    }
  }
}

function addPause(collection: Collection, ms: number): void {
  collection.pauseMs += ms
  collection.pauseMaxMs = Math.max(collection.pauseMaxMs, ms)
}

type Window = { allocatedKb: number; eden: Collection[]; full: Collection[]; seconds: number }

/** Waits until the server's log has been quiet for `quietMs` (what it wrote so far has been read). */
async function logQuiet(gcLog: GcLog, quietMs: number): Promise<void> {
  while (performance.now() - gcLog.lastTextAtMs < quietMs) await Bun.sleep(20)
}

/** Sends `_GC` and returns the index of the full collection it ran (the first one logged after the send). */
async function mark(connection: LineClient, gcLog: GcLog): Promise<number> {
  const from = gcLog.collections.length
  const reply = await connection.request('{"cmd":"_GC","shard":0}')
  if (!reply.includes('"heap_bytes"')) throw new Error(`_GC needs FLASHQ_TEST_HOOKS=1: ${reply}`)
  const deadline = performance.now() + 5000
  while (performance.now() < deadline) {
    const index = gcLog.collections.findIndex((collection, at) => at >= from && collection.full && collection.endKb !== null)
    if (index >= 0) return index
    await Bun.sleep(10)
  }
  throw new Error('the marker collection never showed up in the log (is BUN_JSC_logGC honoured?)')
}

/** Runs `work` between two markers; what it allocated and the collections it caused. */
async function measureWindow(connection: LineClient, gcLog: GcLog, work: () => Promise<void>): Promise<Window> {
  await logQuiet(gcLog, 300)
  const first = await mark(connection, gcLog)
  const startedMs = performance.now()
  await work()
  const seconds = (performance.now() - startedMs) / 1000
  const last = await mark(connection, gcLog)
  let allocatedKb = 0
  for (let index = first + 1; index <= last; index++) {
    allocatedKb += (gcLog.collections[index] as Collection).startKb - (gcLog.baseKb[index] as number)
  }
  const inside = gcLog.collections.slice(first + 1, last)
  return { allocatedKb, eden: inside.filter((collection) => !collection.full), full: inside.filter((collection) => collection.full), seconds }
}

/** A bare JSON-lines client: one request at a time, or several in flight answered in order. */
class LineClient {
  private readonly waiting: Array<(line: string) => void> = []

  private constructor(private readonly connection: BenchConnection) {
    connection.onLine = (line) => this.waiting.shift()?.(line)
  }

  static async connect(port: number): Promise<LineClient> {
    return new LineClient(await BenchConnection.connect(port))
  }

  request(line: string): Promise<string> {
    const { promise, resolve } = Promise.withResolvers<string>()
    this.waiting.push(resolve)
    this.connection.send(`${line}\n`)
    return promise
  }

  close(): void {
    this.connection.close()
  }
}

const pad = 'x'.repeat(80)
const pushLine = (queue: string, index: number) => `{"cmd":"PUSH","queue":"${queue}","data":{"n":${index},"pad":"${pad}"}}`

async function sequentialPushes(client: LineClient, count: number): Promise<void> {
  for (let index = 0; index < count; index++) await client.request(pushLine('alloc-w1', index))
}

async function pullLoop(client: LineClient, jobs: number): Promise<void> {
  for (let index = 0; index < jobs; index++) {
    const pulled = client.request('{"cmd":"PULLB","queue":"alloc-pull","count":1,"timeout":1000}')
    await client.request(pushLine('alloc-pull', index))
    const id = /"id":(\d+)/.exec(await pulled)?.[1]
    if (id === undefined) throw new Error('PULLB returned no job')
    await client.request(`{"cmd":"ACKB","ids":[${id}]}`)
  }
}

/** SDK producer at `rate` jobs/s (open loop) and a Worker of concurrency 10; resolves once all are done. */
async function sdkOpenLoop(port: number, rate: number, seconds: number, measure: (work: () => Promise<void>) => Promise<Window>): Promise<{ warm: Window; measured: Window; jobs: number }> {
  const connection = { host: '127.0.0.1', port }
  const queue = new Queue('alloc-w4', { connection })
  let completed = 0
  let onCompleted = () => {}
  const worker = new Worker('alloc-w4', async () => {}, { connection, concurrency: 10 })
  worker.on('completed', () => {
    completed++
    onCompleted()
  })
  const run = async (jobs: number) => {
    const done = new Promise<void>((resolve) => (onCompleted = () => completed >= jobs && resolve()))
    completed = 0
    const startedMs = performance.now()
    let sent = 0
    while (sent < jobs) {
      const dueMs = startedMs + (sent * 1000) / rate
      const waitMs = dueMs - performance.now()
      if (waitMs > 0) await Bun.sleep(Math.min(waitMs, 1))
      while (sent < jobs && startedMs + (sent * 1000) / rate <= performance.now()) void queue.add('job', { n: sent++, pad })
    }
    await done
  }
  const jobs = Math.round(rate * seconds)
  const warm = await measure(() => run(rate))
  const measured = await measure(() => run(jobs))
  await worker.close()
  await queue.close()
  return { warm, measured, jobs }
}

async function idleWorker(port: number, seconds: number, measure: (work: () => Promise<void>) => Promise<Window>): Promise<Window> {
  const connection = { host: '127.0.0.1', port }
  const worker = new Worker('alloc-idle', async () => {}, { connection, concurrency: 10 })
  await Bun.sleep(500)
  const measured = await measure(() => Bun.sleep(seconds * 1000))
  await worker.close()
  return measured
}

type Row = { perUnitKb: number; perSecondKb: number; eden: number; full: number; edenPauseMedianMs: number; pauseMaxMs: number; pauseMsPerSecond: number }

function rowOf(window: Window, units: number): Row {
  const all = [...window.eden, ...window.full]
  const pauses = window.eden.map((collection) => collection.pauseMs).sort((a, b) => a - b)
  return {
    perUnitKb: window.allocatedKb / units,
    perSecondKb: window.allocatedKb / window.seconds,
    eden: window.eden.length,
    full: window.full.length,
    edenPauseMedianMs: pauses.length === 0 ? 0 : pauses[Math.floor(pauses.length / 2)] as number, // all of its pauses
    pauseMaxMs: Math.max(0, ...all.map((collection) => collection.pauseMaxMs)),
    pauseMsPerSecond: all.reduce((sum, collection) => sum + collection.pauseMs, 0) / window.seconds,
  }
}

async function runOnce(options: Options): Promise<Map<string, Row>> {
  const gcLog = new GcLog()
  const server: BenchServer = await startBenchServer(options.durable ? 'uring' : 'memory', {
    extraArgs: ['--workers', '0', '--log-level', 'warn'],
    env: { BUN_JSC_logGC: '1', FLASHQ_TEST_HOOKS: '1', ...(options.bunGcTimer ? {} : { BUN_GC_TIMER_DISABLE: '1' }) },
    onStderr: (text) => gcLog.add(text),
  })
  const rows = new Map<string, Row>()
  const client = await LineClient.connect(server.port)
  const measure = (work: () => Promise<void>) => measureWindow(client, gcLog, work)
  try {
    for (const shape of options.shapes) {
      if (shape === 'w1') {
        await sequentialPushes(client, Math.min(options.requests, 5000))
        rows.set('w1 (KB per PUSH)', rowOf(await measure(() => sequentialPushes(client, options.requests)), options.requests))
      } else if (shape === 'pull') {
        await pullLoop(client, Math.min(options.jobs, 2000))
        rows.set('pull (KB per job: PULLB+PUSH+ACKB)', rowOf(await measure(() => pullLoop(client, options.jobs)), options.jobs))
      } else if (shape === 'w4') {
        const { measured, jobs } = await sdkOpenLoop(server.port, options.rate, options.seconds, measure)
        rows.set(`w4 ${options.rate}/s (KB per job)`, rowOf(measured, jobs))
      } else if (shape === 'quiet') {
        rows.set('quiet (KB per second)', rowOf(await measure(() => Bun.sleep(options.seconds * 1000)), options.seconds))
      } else {
        rows.set('idle Worker (KB per second)', rowOf(await idleWorker(server.port, options.seconds, measure), options.seconds))
      }
    }
  } finally {
    client.close()
    await server.stop()
  }
  return rows
}

function summary(values: number[], digits: number): string {
  const sorted = values.toSorted((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)] as number
  return sorted.length === 1 ? median.toFixed(digits) : `${median.toFixed(digits)} (${(sorted[0] as number).toFixed(digits)}–${(sorted.at(-1) as number).toFixed(digits)})`
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  const runs: Array<Map<string, Row>> = []
  for (let run = 0; run < options.runs; run++) runs.push(await runOnce(options))
  console.log(`server allocation, ${options.durable ? 'durable' : 'memory'}${options.bunGcTimer ? '' : ', no Bun GC timer'}: medians of ${options.runs} run(s) (min–max)`)
  for (const name of (runs[0] as Map<string, Row>).keys()) {
    const rows = runs.map((run) => run.get(name) as Row)
    const of = (field: keyof Row, digits: number) => summary(rows.map((row) => row[field]), digits)
    console.log(`${name}: ${of('perUnitKb', 2)} KB, ${of('perSecondKb', 0)} KB/s; eden ${of('eden', 0)}, full ${of('full', 0)}; `
      + `pause per eden median ${of('edenPauseMedianMs', 2)} ms, longest pause ${of('pauseMaxMs', 2)} ms, paused ${of('pauseMsPerSecond', 2)} ms/s`)
  }
}

await main()
