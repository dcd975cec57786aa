/**
 * Storage administration inside a shard host: statistics for /storage/stats and the queued_io_*
 * metrics, and forced checkpoints (POST /storage/checkpoint, GET /storage/backup). The front asks
 * with an `admin` message and gets one result per shard of the host.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs'
import { basename, join } from 'node:path'
import { msPerSecond, usPerMs } from '../base/units.ts'
import { PwriteBackend } from '../io/pwrite.ts'
import { type RestoreReport, backupArchive, restoreArchive } from '../storage/backup.ts'
import { listDirectory } from '../storage/directory.ts'
import { histogramCopy } from '../storage/histogram.ts'
import { manifestFileName } from '../storage/manifest.ts'
import type { LogStats, ShardLog } from '../storage/types.ts'

export { BackupError } from '../storage/backup.ts'
export { type Histogram, histogramAdd, histogramCount, newHistogram } from '../storage/histogram.ts'

/**
 * Backups and restores run on the front, outside any shard host: the plain synchronous backend
 * serves them (reads, and a restore's writes with their fsyncs), whatever the hosts run on.
 */
const adminIo = new PwriteBackend(null)

/** Unpacks the backup file `archivePath` into the new or empty `dataDir` (storage/backup.ts). */
export async function restoreFromFile(archivePath: string, dataDir: string): Promise<RestoreReport> {
  const fd = openSync(archivePath, 'r')
  try {
    return await restoreArchive(adminIo, (target, offset) => readSync(fd, target, 0, target.length, offset), dataDir)
  } finally {
    closeSync(fd)
  }
}

export type AdminOp = { op: 'stats' } | { op: 'checkpoint' }

/** Requests that waited for durability (the host's held replies), per shard. */
export type WaitStats = {
  /** Replies released by commits, each counted once. */
  released: number
  /** Commits that released at least one reply. */
  releasingCommits: number
  /** Summed over those commits: how long the oldest / newest released reply waited before its commit started. */
  longestDelayUs: number
  shortestDelayUs: number
  /** Batches of records appended to the log's pending buffer, and the µs spent appending them. */
  appendBatches: number
  appendUs: number
  /** Each released reply's wait from being held until durable: counts per commitLatencyBucketsSeconds bucket (+Inf last), and the sum. */
  latencyBuckets: number[]
  latencySumSeconds: number
}

/** Upper bounds of the commit-latency histogram (queued_io_commit_latency_seconds). */
export const commitLatencyBucketsSeconds = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

export type ShardAdminResult = {
  shardIndex: number
  /** null in --memory mode. */
  log: null | {
    stats: LogStats
    wait: WaitStats
    appendedLsn: number
    durableLsn: number
    checkpointLsn: number
    diskBytes: number
    /** The last checkpoint's size plus the log appended since: what the live state costs on disk. */
    liveBytes: number
    diskFull: boolean
    lastCheckpointError: string | null
  }
}

type AdminShard = { index: number; log: ShardLog | null; waitStats: WaitStats; dead: string | null }

export function newWaitStats(): WaitStats {
  return {
    released: 0, releasingCommits: 0, longestDelayUs: 0, shortestDelayUs: 0, appendBatches: 0, appendUs: 0,
    latencyBuckets: new Array(commitLatencyBucketsSeconds.length + 1).fill(0), latencySumSeconds: 0,
  }
}

/** The directory of one shard's log inside the data directory. */
export function shardDirectory(dataDir: string, shardIndex: number): string {
  return join(dataDir, `shard-${String(shardIndex).padStart(2, '0')}`)
}

/** The backup archive of a data directory with `shardCount` shards (storage/backup.ts), as chunks. */
export function backupOf(dataDir: string, shardCount: number): AsyncGenerator<Uint8Array> {
  const shardDirs = [...Array(shardCount).keys()].map((shard) => basename(shardDirectory(dataDir, shard)))
  return backupArchive(adminIo, dataDir, shardDirs)
}

/** Segment files of one shard (0 when its directory does not exist yet). */
export function segmentCount(dataDir: string, shardIndex: number): number {
  try {
    return listDirectory(adminIo, shardDirectory(dataDir, shardIndex)).segments.length
  } catch {
    return 0
  }
}

/** The shard count written in a data directory's manifest (undefined when unreadable). */
export function manifestShardCount(dataDir: string): unknown {
  try {
    return (JSON.parse(readFileSync(join(dataDir, manifestFileName), 'utf8')) as { shardCount?: unknown }).shardCount
  } catch {
    return undefined
  }
}

/** Counts the first `released` held reply groups, which the commit that started at `flushStartedAtMs` made durable. */
export function noteReleased(
  stats: WaitStats, held: ReadonlyArray<{ count: number; heldAtMs: number }>, released: number, flushStartedAtMs: number,
): void {
  let count = 0
  const nowMs = performance.now()
  for (let i = 0; i < released; i++) {
    const group = held[i] as { count: number; heldAtMs: number }
    count += group.count
    const waitedSeconds = Math.max(0, nowMs - group.heldAtMs) / msPerSecond
    // A loop, not findIndex with a closure: this runs for every durable flush.
    let bucket = 0
    while (bucket < commitLatencyBucketsSeconds.length && !(waitedSeconds <= (commitLatencyBucketsSeconds[bucket] as number))) bucket++
    stats.latencyBuckets[bucket] = (stats.latencyBuckets[bucket] as number) + group.count
    stats.latencySumSeconds += waitedSeconds * group.count
  }
  const oldest = held[0] as { heldAtMs: number }
  const newest = held[released - 1] as { heldAtMs: number }
  stats.released += count
  stats.releasingCommits++
  stats.longestDelayUs += Math.max(0, Math.round((flushStartedAtMs - oldest.heldAtMs) * usPerMs))
  stats.shortestDelayUs += Math.max(0, Math.round((flushStartedAtMs - newest.heldAtMs) * usPerMs))
}

export async function runAdmin(
  op: AdminOp, shards: AdminShard[], checkpoint: (shard: AdminShard) => void,
): Promise<ShardAdminResult[]> {
  if (op.op === 'checkpoint') {
    // Wait out a checkpoint already running (it holds an older state), then write a fresh one.
    await Promise.all(shards.map(async (shard) => {
      if (shard.log === null || shard.dead !== null) return
      await shard.log.checkpointSettled()
      checkpoint(shard)
      await shard.log.checkpointSettled()
    }))
  }
  return shards.map((shard) => ({ shardIndex: shard.index, log: shard.log === null ? null : logFigures(shard.log, shard.waitStats) }))
}

function logFigures(log: ShardLog, wait: WaitStats): NonNullable<ShardAdminResult['log']> {
  return {
    stats: { ...log.stats, flushSeconds: histogramCopy(log.stats.flushSeconds), flushRecords: histogramCopy(log.stats.flushRecords) },
    wait: { ...wait, latencyBuckets: [...wait.latencyBuckets] },
    appendedLsn: log.appendedLsn,
    durableLsn: log.durableLsn,
    checkpointLsn: log.checkpointLsn,
    diskBytes: log.diskBytes(),
    liveBytes: log.liveBytes,
    diskFull: log.diskFull,
    lastCheckpointError: log.lastCheckpointError?.message ?? null,
  }
}
