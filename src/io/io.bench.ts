/**
 * IO backend micro-benchmark: `bun src/io/io.bench.ts [rounds]`.
 *
 * Each backend does `rounds` writeDurable calls of one 51,200-byte batch (256 records × 200 bytes),
 * one flush in flight at a time, walking through a 16 MiB file that was preallocated and written
 * with zeros first (overwrite, the fast case in DESIGN.md §5). Pass 1 runs the flushes alone and
 * reports flushes/s, MB/s and records/s. Pass 2 repeats them next to a busy ticker and reports how
 * free the JS thread stayed. "Free" is measured with a busy ticker: setImmediate callbacks that each
 * do a fixed slice of arithmetic. Its rate alone (baseline) versus its rate during the flushes gives
 * the fraction of wall time JS could have spent on other work. A backend that blocks in the flush
 * (pwrite) starves the ticker; one that waits in the kernel (io_uring) leaves it running, minus the
 * cost of its own CQ polling.
 *
 * FLASHQ_BENCH_DIR chooses the directory (default: the OS temp dir; make sure it is a real disk).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IoBackend } from './backend.ts'
import { PwriteBackend } from './pwrite.ts'
import { probeKernelRing, probeUring } from './pick.ts'

const recordBytes = 200
const recordsPerFlush = 256
const flushBytes = recordBytes * recordsPerFlush
const regionBytes = 16 * 1024 * 1024
const roundsDefault = 2000
/** Arithmetic per ticker callback; small enough that the ticker yields often. */
const tickWorkIterations = 2000

class Ticker {
  units = 0
  #running = false
  #sink = 0
  start(): void {
    this.units = 0
    this.#running = true
    setImmediate(this.#tick)
  }
  stop(): number {
    this.#running = false
    return this.units
  }
  #tick = (): void => {
    if (!this.#running) return
    let x = this.#sink
    for (let i = 0; i < tickWorkIterations; i++) x = (x * 31 + i) | 0
    this.#sink = x
    this.units += 1
    setImmediate(this.#tick)
  }
}

/** The ticker alone, measured right before each pass 2 because other load on the machine drifts. */
async function baselineUnitsPerSecond(): Promise<number> {
  const ticker = new Ticker()
  const started = performance.now()
  ticker.start()
  await Bun.sleep(500)
  const units = ticker.stop()
  return units / ((performance.now() - started) / 1000)
}

type Result = {
  name: string
  flushesPerSecond: number
  megabytesPerSecond: number
  recordsPerSecond: number
  /** Flush rate in pass 2, while the ticker competes for the thread. */
  busyFlushesPerSecond: number
  free: number
}

async function run(io: IoBackend, dir: string, rounds: number): Promise<Result> {
  const fd = io.open(join(dir, `bench-${io.name.split(' ')[0]}`), true)
  io.allocate(fd, 0, regionBytes)
  const zeros = new Uint8Array(1024 * 1024)
  for (let offset = 0; offset < regionBytes; offset += zeros.length) {
    await io.writeDurable(fd, zeros, offset)
  }
  const batch = new Uint8Array(flushBytes).map((_, i) => i & 0xff)
  const slots = Math.floor(regionBytes / flushBytes)
  // Pass 1, nothing else on the thread: raw flush throughput.
  const quietStarted = performance.now()
  for (let i = 0; i < rounds; i++) await io.writeDurable(fd, batch, (i % slots) * flushBytes)
  const quietSeconds = (performance.now() - quietStarted) / 1000
  // Pass 2, with the busy ticker: how much of the wall time JS could use for other work.
  const baseline = await baselineUnitsPerSecond()
  const ticker = new Ticker()
  const started = performance.now()
  ticker.start()
  for (let i = 0; i < rounds; i++) await io.writeDurable(fd, batch, (i % slots) * flushBytes)
  const units = ticker.stop()
  const seconds = (performance.now() - started) / 1000
  io.close(fd)
  return {
    name: io.name,
    flushesPerSecond: rounds / quietSeconds,
    megabytesPerSecond: (rounds * flushBytes) / quietSeconds / 1e6,
    recordsPerSecond: (rounds * recordsPerFlush) / quietSeconds,
    busyFlushesPerSecond: rounds / seconds,
    free: units / seconds / baseline,
  }
}

const rounds = Number(process.argv[2] ?? roundsDefault)
const repeats = Number(process.argv[3] ?? 3)
const dir = mkdtempSync(join(process.env.FLASHQ_BENCH_DIR ?? tmpdir(), 'flashq-io-bench-'))
try {
  console.log(`rounds=${rounds} repeats=${repeats} batch=${recordsPerFlush}x${recordBytes}B=${flushBytes}B`)
  console.log(`dir=${dir}`)
  for (let repeat = 0; repeat < repeats; repeat++) {
    const backends: IoBackend[] = [new PwriteBackend(null)]
    for (const [label, uring] of [['liburing', probeUring()], ['raw io_uring', probeKernelRing()]] as const) {
      if (typeof uring === 'string') console.log(`${label} skipped: ${uring}`)
      else backends.push(uring)
    }
    for (const io of backends) {
      const r = await run(io, dir, rounds)
      io.shutdown()
      console.log(
        `${r.name.padEnd(32)} ${r.flushesPerSecond.toFixed(0).padStart(6)} flushes/s  ` +
          `${r.megabytesPerSecond.toFixed(1).padStart(6)} MB/s  ` +
          `${(r.recordsPerSecond / 1e6).toFixed(2)}M records/s  ` +
          `| with ticker: ${r.busyFlushesPerSecond.toFixed(0)} flushes/s, ` +
          `JS thread free ${(r.free * 100).toFixed(0)}%`,
      )
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
