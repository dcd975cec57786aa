/**
 * What the shard host sees of its log. One log per shard: an append-only segmented file set plus
 * checkpoints, written with group commit through an IoBackend.
 */
import type { IoBackend } from '../io/backend.ts'
import type { CheckpointBody } from './checkpoint.ts'
import { type Histogram, flushRecordsBounds, flushSecondsBounds, newHistogram } from './histogram.ts'

export type FsyncMode = { kind: 'always' } | { kind: 'interval'; intervalMs: number }

export type ShardLogOptions = {
  /** Directory of this shard's segments and checkpoints (created if missing). */
  dir: string
  io: IoBackend
  fsync: FsyncMode
  /** Size of each preallocated segment file. */
  segmentBytes: number
  /** Most bytes one flush writes, to bound latency (DESIGN §5: a few MiB). */
  flushBytesMax: number
  /** Start with a corrupt log anyway, dropping what is invalid (and saying what was dropped). */
  repair: boolean
  /** Shards whose logs share this filesystem (segments are sized to fit it, space.ts). Default 1. */
  shardsOnFilesystem?: number
}

export type RecoveryReport = {
  checkpointLsn: number
  recordsReplayed: number
  lastLsn: number
  /** Torn tail truncated at recovery (normal after a crash), as `file@offset`, or null. */
  truncatedTail: string | null
  /** What --repair dropped, one line each. */
  repaired: string[]
  /** Other things the operator should know, one line each (segments sized down to the filesystem). */
  notes: string[]
}

export type OpenedLog = {
  log: ShardLog
  /** Every record body to replay, in order: the checkpoint's, then the log tail's. */
  bodies: Iterable<Uint8Array>
  report: RecoveryReport
}

export interface ShardLog {
  /** Appends one record body (UTF-8 JSON from the host); returns its LSN. Never blocks. */
  append(body: string): number
  /**
   * Starts the flush of what was appended now, instead of one event-loop turn later, when the log was
   * idle (no flush in flight, none just finished with more piled up). The host calls it once a
   * request batch is handled: nothing else of that batch can join the flush any more.
   */
  flushIfIdle(): void
  /** Highest LSN appended, and highest known durable (written and synced, or written in interval mode). */
  readonly appendedLsn: number
  readonly durableLsn: number
  /** Called (by the log) each time durableLsn advances. Set by the host. */
  onDurable: (durableLsn: number) => void
  /** Called when a flush fails for a reason other than a full disk (the host then stops the shard). */
  onFatal: (error: Error) => void
  /**
   * True while the disk cannot take a new segment or the reservation cannot be backed by disk: the
   * host refuses pushes, acks still work.
   */
  readonly diskFull: boolean
  /**
   * Keeps `bytes` of disk reserved for records that must get through on a full disk: the completion
   * records of accepted jobs (DESIGN §4, STYLE habit 12). A level, not an increment: the host passes
   * its current need each time it may have changed. Never blocks; when the space cannot be had,
   * diskFull becomes true. While the disk is full, appends draw on this space. Default 0 (a host
   * that never calls it gets only the in-segment slack, see docs/storage.md).
   */
  setReservation(bytes: number): void
  /** True when enough log has accumulated since the last checkpoint that one should be written. */
  needsCheckpoint(): boolean
  /**
   * Writes a checkpoint of the state as of appendedLsn (the records that recreate it), then deletes
   * segments that only hold records at or below that LSN. Runs in the background; appends continue.
   * `bodies` is pulled piece by piece across event-loop turns, so it must yield the state as of the
   * call however late it is pulled (an array, or the engine's copy-on-write capture). Its iterator's
   * return() is called when it will not be pulled to the end (a refused or failed checkpoint).
   */
  checkpoint(bodies: Iterable<CheckpointBody>): void
  /** Bytes on disk for this shard (segments + checkpoints), for /health and the space benchmark. */
  diskBytes(): number
  /** Flushes what is pending and closes the files. */
  close(): Promise<void>
  /** Counters for /metrics (queued_io_*) and /storage/stats. */
  readonly stats: LogStats
  /** Why the last checkpoint attempt failed, or null. */
  readonly lastCheckpointError: Error | null
  /** Size of the last checkpoint plus the bytes appended since. */
  readonly liveBytes: number
  /** LSN of the newest complete checkpoint (0 = none). */
  readonly checkpointLsn: number
  /** Resolves once no checkpoint is being written (the newest one, if any, is in place). */
  checkpointSettled(): Promise<void>
  /** Lets the write buffers kept for the next burst go (the host calls it when the thread goes quiet). */
  releaseSpareBuffers(): void
}

/** Counters since the log was opened. A commit is one write of pending records plus its barrier. */
export type LogStats = {
  /** Write submissions, and their bytes and µs (submission to completion, summed). */
  writes: number
  writeBytes: number
  writeUs: number
  /** Durability barriers completed (a DSYNC write in mode always, an fdatasync in interval mode). */
  syncs: number
  syncUs: number
  /** Records made durable. */
  records: number
  /** Flushes cut because the pending batch reached flushBytesMax; every other one started when idle. */
  flushesCutByBytes: number
  /** Times the flush loop ran, including turns that found nothing to write. */
  flushLoops: number
  checkpoints: number
  /** Wall-clock time of the last completed checkpoint (0 = none since start). */
  lastCheckpointAtMs: number
  /** performance.now() when the newest flush started (for the waiter-delay metrics). */
  lastFlushStartedAtMs: number
  /** Per flush: seconds of its write (and barrier, in fsync mode always), and the records it made durable. */
  flushSeconds: Histogram
  flushRecords: Histogram
  /** Duration of the last completed checkpoint and of all of them, in µs (start of writing to files in place). */
  lastCheckpointUs: number
  checkpointUs: number
}

export function newLogStats(): LogStats {
  return {
    writes: 0, writeBytes: 0, writeUs: 0, syncs: 0, syncUs: 0, records: 0, flushesCutByBytes: 0, flushLoops: 0,
    checkpoints: 0, lastCheckpointAtMs: 0, lastFlushStartedAtMs: 0,
    flushSeconds: newHistogram(flushSecondsBounds), flushRecords: newHistogram(flushRecordsBounds), lastCheckpointUs: 0, checkpointUs: 0,
  }
}
