/**
 * Reads the per-record trace that test/bench/w4-log-trace.patch makes the log write (a diagnostic,
 * not shipped: `git apply test/bench/w4-log-trace.patch`, then run the server with
 * FLASHQ_X_TRACE=/tmp/w4x/t, e.g. `FLASHQ_X_TRACE=/tmp/w4x/t bun run bench:peers --only W4 --systems
 * flashq-durable --runs 2 --out -`; the servers inherit the variable), and prints, for the last 2 s
 * of each server (the measured part of W4): each record's append → durable time, and the flushes
 * split by how they were written (on the thread or through the ring; small or writing zeros ahead).
 * The trace is module-wide, so run one busy log (W4 uses one queue).
 *
 *   bun test/bench/w4-log-trace.ts /tmp/w4x
 */
import { readdirSync, readFileSync } from 'node:fs'

/** Fields per flush in the trace: done at, duration, records, oldest record's wait, gap since the last one, on the thread, bytes. */
const flushFields = 7
const windowMs = 2000
/** A flush over this many bytes wrote zeros ahead (storage/log.ts, zeroAheadBytes). */
const zeroAheadFlushBytesMin = 16 * 1024

type Trace = { lat: number[]; flush: number[] }

function quantile(values: number[], fraction: number): string {
  if (values.length === 0) return '-'
  const sorted = [...values].sort((a, b) => a - b)
  return (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0).toFixed(2)
}

function summary(values: number[], slowMs: number): string {
  const slow = values.filter((value) => value > slowMs).length
  return `${values.length}: p50 ${quantile(values, 0.5)} p99 ${quantile(values, 0.99)} p99.9 ${quantile(values, 0.999)} max ${quantile(values, 1)} ms, >${slowMs} ms ${slow}`
}

const dir = process.argv[2] ?? '/tmp/w4x'
for (const file of readdirSync(dir).filter((name) => name.endsWith('.json')).sort()) {
  const trace = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as Trace
  const endMs = trace.lat[trace.lat.length - 2] ?? 0
  const records: number[] = []
  for (let i = 0; i < trace.lat.length; i += 2) if ((trace.lat[i] ?? 0) > endMs - windowMs) records.push(trace.lat[i + 1] ?? 0)
  const onThread: number[] = [], ring: number[] = [], zeroAhead: number[] = [], oldestWait: number[] = []
  let recordsFlushed = 0
  for (let i = 0; i < trace.flush.length; i += flushFields) {
    const [doneMs = 0, durationMs = 0, count = 0, waitMs = 0, , inline = 0, bytes = 0] = trace.flush.slice(i, i + flushFields)
    if (doneMs <= endMs - windowMs) continue
    recordsFlushed += count
    oldestWait.push(waitMs)
    if (bytes > zeroAheadFlushBytesMin) zeroAhead.push(durationMs)
    else (inline === 1 ? onThread : ring).push(durationMs)
  }
  const flushes = onThread.length + ring.length + zeroAhead.length
  console.log(`${file}: records append→durable ${summary(records, 2)}`)
  console.log(`  flushes ${flushes} (${(recordsFlushed / flushes).toFixed(1)} records each), oldest record's wait for its flush to start p50 ${quantile(oldestWait, 0.5)} p99 ${quantile(oldestWait, 0.99)} ms`)
  console.log(`  on the thread ${summary(onThread, 1)}`)
  console.log(`  through the ring ${summary(ring, 1)}`)
  console.log(`  writing zeros ahead ${summary(zeroAhead, 1)}`)
}
