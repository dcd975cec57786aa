/**
 * Checkpoint stall benchmark (issue 7, "Pauses bounded"): `bun src/storage/checkpoint.bench.ts [jobs]`.
 * Builds an engine holding `jobs` waiting jobs (default 1M) in one shard, opens its log on a temporary
 * directory with the production preset and the IO backend a server would pick (io_uring when the
 * kernel allows it; FLASHQ_IO=pwrite etc. to choose, see io/pick.ts), then starts a checkpoint of the whole
 * state while a client keeps pushing: each push is executed by the engine, its records appended, and
 * the next one starts once they are durable (sequential durable PUSH, as a client waiting for acks).
 * The client is in-process: its next push starts the moment the last one is durable, so it never
 * arrives in the middle of a checkpoint turn as a request over TCP can (up to one turn later).
 * A 1 ms timer measures the shard thread's event-loop stalls. Reports the longest stall during the
 * checkpoint and during the 3 s of pushes before it (the baseline: the collector of a 1M-job heap
 * and the machine's load), the PUSH latency percentiles of both, and how long the checkpoint took.
 * A benchmark, not a test: numbers depend on the machine and its load. On a shared machine a stall
 * also counts the time the thread was not scheduled: `longestStallCpuMs` is the thread's own CPU
 * time within the longest-working gap (the work a turn did; GC on this thread included).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { presets } from '../base/config.ts'
import { Engine } from '../engine/engine.ts'
import { pickIo } from '../io/pick.ts'
import { parseCommand } from '../protocol/commands.ts'
import { openShardLog } from './log.ts'
import type { SegmentedLog } from './log.ts'
import type { CheckpointBody } from './checkpoint.ts'

const jobs = Number(process.argv[2] ?? 1_000_000)
const engine = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: true })
const nowMs = Date.now()
for (let i = 0; i < jobs; i += 1000) {
  const batch = Array.from({ length: Math.min(1000, jobs - i) }, (_, k) => ({ data: { n: i + k, pad: 'x'.repeat(40) } }))
  const parsed = parseCommand({ cmd: 'PUSHB', queue: `q${i % 7}`, jobs: batch })
  if (!parsed.ok) throw new Error(parsed.error)
  engine.execute(parsed.command, 1, nowMs, 100)
  engine.drainOutput()
}

const dir = mkdtempSync(join(tmpdir(), 'flashq-ckbench-'))
const io = pickIo('auto')
const { log } = await openShardLog({
  dir, io, fsync: { kind: 'always' }, repair: false, ...presets.production,
})
let durable = 0
const waiting: { lsn: number; resolve: () => void }[] = []
log.onDurable = (lsn) => {
  durable = lsn
  while (waiting.length > 0 && (waiting[0] as { lsn: number }).lsn <= lsn) waiting.shift()?.resolve()
}

async function push(n: number): Promise<number> {
  const started = performance.now()
  const parsed = parseCommand({ cmd: 'PUSH', queue: 'bench', data: { n } })
  if (!parsed.ok) throw new Error(parsed.error)
  engine.execute(parsed.command, 2, Date.now(), 50)
  for (const record of engine.drainOutput().records) log.append(JSON.stringify(record))
  const lsn = log.appendedLsn
  if (durable < lsn) await new Promise<void>((resolve) => waiting.push({ lsn, resolve }))
  return performance.now() - started
}

/** Event-loop gaps beyond the 1 ms timer period: [time the gap began, gap, thread CPU ms in it]. */
const gaps: [number, number, number][] = []
let last = performance.now()
let lastCpu = process.threadCpuUsage()
const ticker = setInterval(() => {
  const now = performance.now()
  const cpu = process.threadCpuUsage(lastCpu)
  gaps.push([last, now - last - 1, (cpu.user + cpu.system) / 1000])
  last = now
  lastCpu = process.threadCpuUsage()
}, 1)
// Warm up the push path, then measure it for 3 s without a checkpoint: the baseline that the
// machine's load and the collector of a 1M-job heap give (on a shared machine, far from idle).
for (let n = 0; n < 2000; n++) await push(n)
const baseline: number[] = []
const baselineStarted = performance.now()
for (const until = performance.now() + 3000; performance.now() < until;) baseline.push(await push(3000 + baseline.length))
/**
 * Wall time of each checkpoint turn's synchronous part (capturing and encoding its records, and
 * the write that may follow): from the turn's first pull to the end of that turn's synchronous work.
 */
const turnMs: number[] = []
function* timedTurns(bodies: Iterable<CheckpointBody>): Generator<CheckpointBody> {
  let turnOpen = false
  for (const body of bodies) {
    if (!turnOpen) {
      turnOpen = true
      const startedMs = performance.now()
      queueMicrotask(() => {
        turnMs.push(performance.now() - startedMs)
        turnOpen = false
      })
    }
    yield body
  }
}
const segmented = log as SegmentedLog
const started = performance.now()
log.checkpoint(timedTurns(engine.captureSnapshot()))
// What checkpoint() does at once (the capture's start), before the ticker can fire again.
const captureMs = performance.now() - started
const latencies: number[] = []
for (let n = 0; segmented.checkpointRunning; n++) {
  latencies.push(await push(10_000 + n))
}
const checkpointMs = performance.now() - started
if (segmented.lastCheckpointError !== null) throw segmented.lastCheckpointError
clearInterval(ticker)
latencies.sort((a, b) => a - b)
/** Gaps of the 3 s without a checkpoint (same length of time as a typical checkpoint here), and during it. */
const before = gaps.filter(([at]) => at >= baselineStarted && at < started)
const during = gaps.filter(([at]) => at >= started)
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}
const at = (q: number) => (latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number).toFixed(2)
process.stdout.write(
  `${JSON.stringify({
    jobs,
    io: io.name,
    checkpointMs: Math.round(checkpointMs),
    captureMs: Math.round(captureMs),
    longestStallMs: Math.round(Math.max(0, ...during.map(([, gap]) => gap))),
    longestStallAfterCaptureMs: Math.round(Math.max(0, ...during.filter(([at]) => at >= started + captureMs).map(([, gap]) => gap))),
    longestStallCpuMs: Math.round(Math.max(0, ...during.map(([, , cpu]) => cpu))),
    stallsOver5Ms: during.filter(([, gap]) => gap > 5).length,
    baselineLongestStallMs: Math.round(Math.max(0, ...before.map(([, gap]) => gap))),
    baselineStallsOver5Ms: before.filter(([, gap]) => gap > 5).length,
    turns: turnMs.length,
    turnP50Ms: quantile(turnMs, 0.5).toFixed(2),
    turnP99Ms: quantile(turnMs, 0.99).toFixed(2),
    turnMaxMs: quantile(turnMs, 1).toFixed(2),
    pushesDuringCheckpoint: latencies.length,
    pushP50Ms: at(0.5),
    pushP90Ms: at(0.9),
    pushP99Ms: at(0.99),
    baselinePushP50Ms: quantile(baseline, 0.5).toFixed(2),
    baselinePushP99Ms: quantile(baseline, 0.99).toFixed(2),
    pushMaxMs: at(1),
  })}\n`,
)
await log.close()
io.shutdown()
rmSync(dir, { recursive: true, force: true })
