/**
 * The comparison's workloads, named as in the report, each one run of one system: W1 … W5 over the
 * shared library (bench/workloads.ts). W5 reads the server's RSS and data-directory size once N jobs
 * wait in it.
 */
import { peerBatchPush, peerDrain, peerOpenLoop, peerSequentialPush, peerWindowedPush, type PeerMeasured } from '../workloads.ts'
import { diskBytes, rssBytes } from './process.ts'
import type { RunningPeer } from './types.ts'

export const workloadIds = ['W1', 'W1c50', 'W2', 'W3c10', 'W3c100', 'W4@1k', 'W4@5k', 'W5'] as const
export type WorkloadId = (typeof workloadIds)[number]

export const workloadTitles: Record<WorkloadId, string> = {
  W1: 'W1 sequential push, one awaited at a time: jobs/s (p99)',
  W1c50: 'W1c50: 50 pushes in flight on one connection: jobs/s',
  W2: 'W2: batch push of 1000, one batch in flight: jobs/s',
  W3c10: 'W3c10: drain pre-filled jobs, worker concurrency 10: jobs/s',
  W3c100: 'W3c100: drain pre-filled jobs, worker concurrency 100: jobs/s',
  'W4@1k': 'W4: open loop at 1,000 jobs/s, workers c10: push→start p50 / p99 / max',
  'W4@5k': 'W4: open loop at 5,000 jobs/s, workers c10: push→start p50 / p99 / max',
  W5: 'W5: server RSS / disk with N waiting 100-byte jobs',
}

export type Sizes = {
  /** Jobs for W1c50, W2 and W3; W1 times n/5 pushes. */
  n: number
  /** Untimed jobs first, through the same producer: W1's pushes, W2's batch (a cold server's JIT is not what W2 measures). */
  warmupJobs: number
  /** Seconds of W4 measured, after `w4WarmupSeconds` at the same rate. */
  w4Seconds: number
  w4WarmupSeconds: number
  w5Jobs: number
  /** Longest each timed push or drain phase runs (it stops earlier at its job count). */
  maxSeconds: number
  /** Longest W5 pushes (the report scales what it pushed to 1M). */
  w5MaxSeconds: number
}

export type MemoryMeasured = { jobs: number; rssBytes: number; baselineRssBytes: number; diskBytes: number; baselineDiskBytes: number; seconds: number; errors: number }

export type WorkloadResult = { kind: 'rate'; measured: PeerMeasured } | { kind: 'memory'; memory: MemoryMeasured }

/**
 * How long an open loop waits for its last jobs once all were pushed: a system that cannot keep up
 * is reported as overloaded with what it handled, rather than drained for minutes.
 */
const openLoopTimeoutMs = (sizes: Sizes) => Math.max(3000, (sizes.w4Seconds + sizes.w4WarmupSeconds) * 1000)

export async function runWorkload(id: WorkloadId, peer: RunningPeer, sizes: Sizes): Promise<WorkloadResult> {
  const system = peer.system
  const queue = `${id.replace('@', '-')}-${Date.now().toString(36)}`
  const rate = (measured: PeerMeasured): WorkloadResult => ({ kind: 'rate', measured })
  const { maxSeconds } = sizes
  switch (id) {
    case 'W1': return rate(await peerSequentialPush(system, { queue, total: Math.max(10, Math.floor(sizes.n / 5)), warmup: sizes.warmupJobs, maxSeconds }))
    case 'W1c50': return rate(await peerWindowedPush(system, { queue, total: sizes.n, window: 50, maxSeconds }))
    case 'W2': return rate(await peerBatchPush(system, { queue, total: sizes.n, batchSize: 1000, window: 1, warmup: sizes.warmupJobs, maxSeconds }))
    case 'W3c10': return rate(await peerDrain(system, { queue, total: sizes.n, concurrency: 10, maxSeconds }))
    case 'W3c100': return rate(await peerDrain(system, { queue, total: sizes.n, concurrency: 100, maxSeconds }))
    case 'W4@1k': return rate(await peerOpenLoop(system, { queue, ratePerSecond: 1000, seconds: sizes.w4Seconds, warmupSeconds: sizes.w4WarmupSeconds, concurrency: 10, timeoutMs: openLoopTimeoutMs(sizes) }))
    case 'W4@5k': return rate(await peerOpenLoop(system, { queue, ratePerSecond: 5000, seconds: sizes.w4Seconds, warmupSeconds: sizes.w4WarmupSeconds, concurrency: 10, timeoutMs: openLoopTimeoutMs(sizes) }))
    case 'W5': return { kind: 'memory', memory: await waitingJobsMemory(peer, queue, sizes.w5Jobs, sizes.w5MaxSeconds) }
  }
}

/** Pushes up to `jobs` jobs that stay waiting (batches of 1000, 4 in flight), then reads RSS and disk. */
async function waitingJobsMemory(peer: RunningPeer, queue: string, jobs: number, maxSeconds: number): Promise<MemoryMeasured> {
  // The baseline includes an idle producer connection, like the measurement.
  const producer = await peer.system.producer(queue)
  await Bun.sleep(200)
  const baselineRssBytes = rssBytes(peer.pid)
  // Data directories may start with preallocated files: what the jobs add is measured from here.
  const baselineDiskBytes = diskBytes(peer.dataDir)
  const pushed = await peerBatchPush(peer.system, { queue, total: jobs, batchSize: 1000, window: 4, producer, maxSeconds })
  await producer.close()
  // Let deferred work (log flushes, allocator returns) settle before reading.
  await Bun.sleep(1000)
  return { jobs: pushed.jobs, rssBytes: rssBytes(peer.pid), baselineRssBytes, diskBytes: diskBytes(peer.dataDir), baselineDiskBytes, seconds: pushed.seconds, errors: pushed.errors }
}
