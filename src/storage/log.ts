/**
 * The shard log: append-only segments written with group commit, recovery at open, checkpoints that
 * let old segments be deleted. Owns: the pending buffers, the segment files and their spare, the one
 * flush in flight, durableLsn, and the checkpoint files. Does not own what records mean (the engine)
 * or how bytes reach the disk (io/). Byte layouts: frame.ts, checkpoint.ts; naming: directory.ts;
 * damage rules: recovery.ts; the whole story: docs/storage.md.
 */
import { assert } from '../base/assert.ts'
import type { NativeBuffer } from '../base/native-buffer.ts'
import { KiB, MiB, msPerSecond, usPerMs } from '../base/units.ts'
import { IoError } from '../io/backend.ts'
import { zeroChunkBytes } from '../io/allocate.ts'
import type { IoBackend } from '../io/backend.ts'
import { type CheckpointBody, CheckpointEncoder } from './checkpoint.ts'
import {
  checkpointFileName, fileBytes, join, listDirectory, makeDurableDirectory, segmentFileName, writeFileAtomic,
} from './directory.ts'
import { frameBodyBytesMax, frameHeaderBytes, sealFrame } from './frame.ts'
import { DiskSpaceError } from './errors.ts'
import { observe } from './histogram.ts'
import { encodeLogState, logStateFileName } from './log-state.ts'
import { recoverDirectory } from './recovery.ts'
import { fitSegmentBytes } from './space.ts'
import type { RecoveredLog } from './recovery.ts'
import type { FsyncMode, LogStats, OpenedLog, RecoveryReport, ShardLog, ShardLogOptions } from './types.ts'
import { newLogStats } from './types.ts'

/** Smallest segment: a few frames plus the reserve must fit. */
export const segmentBytesMin = 4 * KiB
/**
 * The last eighth of every segment is kept for records appended while the disk is full (acks,
 * fails, …): normal appends rotate to the next segment before reaching it.
 */
export const reserveFraction = 1 / 8
/** Segments of log appended since the last checkpoint below which no checkpoint is asked for. */
export const checkpointFloorSegments = 2
/**
 * A small durable flush that reaches never-written space of its segment writes zeros up to the next
 * boundary of this many bytes (see #zeroAhead): one extent conversion per zone instead of one per
 * 4 KiB block. A zone is ~300 sequential pushes; its zeros cost that one flush a 64 KiB write.
 */
export const zeroAheadBytes = 64 * KiB
/** Flushes larger than this convert many blocks in one commit anyway: they write only their records. */
const zeroAheadFlushBytesMax = 16 * KiB
/** Pending buffers kept for reuse. */
const pooledBuffersMax = 4
const initialBufferBytes = 64 * KiB
/** Checkpoint bytes written at a time (one write each). */
const checkpointPieceBytesMax = 64 * KiB
/**
 * Longest a checkpoint works in one event-loop turn (capturing and encoding records): ~200 jobs at
 * ~0.45 µs each. A request that arrives during a turn waits for its end, so the turn is short:
 * sequential durable PUSH over TCP during a 1M-job checkpoint (test/bench/checkpoint-tcp.ts) had a
 * p50 of 0.47 ms and a p99 of 1.2–4.1 ms with 0.5 ms turns, 0.31 ms and 0.74–1.6 ms with 0.1 ms
 * (docs/storage.md, sixth round). The price is more turns: the checkpoint takes ~1.3× as long.
 * Shorter still (0.05 ms) spent more CPU on turns than it saved the pushes.
 */
const checkpointTurnMsMax = 0.1
/**
 * The checkpoint file is handed to writeback (io.startWriteback) every this many bytes while it is
 * written, and synced once at its end. Without it a large one stays in the page cache until the
 * final sync, which then writes it all at once (~80 ms for 130 MB) and the log's fdatasyncs wait
 * behind that burst. It used to be an fdatasync every 64 KiB (push p99 during a 1M-job checkpoint,
 * checkpoint.bench.ts: 1.55 ms at 1 MiB, 1.22 at 64 KiB, against 0.7 with no checkpoint), but each
 * of those ~2,000 syncs also wrote the file's inode and flushed the device cache, and the log's
 * fdatasync queued behind them: writeback alone keeps the dirty pages just as few without either.
 */
export const checkpointWritebackBytes = 64 * KiB
/**
 * The checkpoint file is preallocated this far ahead of its writes (capped at one segment, so a small
 * preset's disk is not asked for more than its segments use), and cut to its length before the final
 * sync. Allocating each 64 KiB piece as it was written was ~2,000 fallocate calls on the shard's
 * thread for a 1M-job checkpoint, each a journal handle that waits while ext4 commits a log
 * fdatasync: p99 of sequential durable pushes during it 1.45/1.51/5.1 → 1.12/0.89/1.43 ms (3
 * interleaved pairs, test/bench/checkpoint-tcp.ts), the checkpoint ~10% shorter. Costs at most this
 * much disk beyond the file while it is written, and a nearly full disk fails the checkpoint up to
 * this much sooner (it is retried after another segment of log, like every failed checkpoint).
 */
export const checkpointAllocateAheadBytes = 4 * MiB
/** The reserve file grows and shrinks in steps of this (capped at one segment for small presets). */
export const reserveChunkBytesMax = 1024 * KiB
/** Name of the file that keeps disk space behind the reservation (see setReservation). */
export const reserveFileName = 'reserve.space'

type Segment = {
  firstLsn: number
  /** Last LSN placed in it (appended; not necessarily durable yet). */
  lastLsn: number
  path: string
  /** Open descriptor, or -1 once the segment is complete and closed. */
  fd: number
  /** Bytes allocated (the file size). */
  fileBytes: number
  /** Temporary name of the spare it was made from, until the first flush renames it into place. */
  sparePath: string | null
  /** The spare's size sync, awaited before the rename (null once named). */
  sized: Promise<Error | null> | null
  /** interval mode: bytes written to it, and bytes known synced (frames carry the latter, frame.ts). */
  writtenBytes: number
  syncedBytes: number
  /** always mode: bytes from the start already written once (records or zeros ahead, see #zeroAhead). */
  writtenOnceBytes: number
}

/** `sized` settles once the preallocated size is durable (an error if that sync failed). */
type Spare = { path: string; fd: number; fileBytes: number; sized: Promise<Error | null> }

/** A run of encoded frames bound for one segment, written by one flush. */
type Chunk = {
  /** A Buffer for its utf8Write: no view and no result object per record, unlike TextEncoder.encodeInto. */
  buffer: NativeBuffer
  view: DataView
  used: number
  lastLsn: number
  segment: Segment
  fileOffset: number
}

type DurableWaiter = { lsn: number; resolve: () => void }

export async function openShardLog(options: ShardLogOptions): Promise<OpenedLog> {
  assert(options.segmentBytes >= segmentBytesMin, `segmentBytes must be at least ${segmentBytesMin}`)
  assert(options.flushBytesMax >= KiB, 'flushBytesMax must be at least 1 KiB')
  makeDurableDirectory(options.io, options.dir)
  const notes: string[] = []
  const space = options.io.filesystemSpace(options.dir)
  const fit = fitSegmentBytes(space, options.segmentBytes, options.shardsOnFilesystem ?? 1, segmentBytesMin)
  if ('refused' in fit) throw new DiskSpaceError(`${options.dir}: ${fit.refused}`)
  if (fit.note !== null) notes.push(fit.note)
  const recovered = recoverDirectory(options.io, options.dir, options.repair)
  const log = new SegmentedLog({ ...options, segmentBytes: fit.segmentBytes })
  await log.start(recovered)
  const report: RecoveryReport = {
    checkpointLsn: recovered.checkpointLsn,
    recordsReplayed: recovered.tailBodies.length,
    lastLsn: recovered.lastLsn,
    truncatedTail: recovered.truncatedTail,
    repaired: recovered.repaired,
    notes,
  }
  const bodies = concatIterables(recovered.checkpointBodies, recovered.tailBodies)
  return { log, bodies, report }
}

function* concatIterables(first: Uint8Array[], second: Uint8Array[]): Iterable<Uint8Array> {
  yield* first
  yield* second
}

export class SegmentedLog implements ShardLog {
  onDurable: (durableLsn: number) => void = () => {}
  #onFatal: (error: Error) => void = () => {}

  /**
   * A failure that happened before the host set its handler (during start, say) is reported as soon
   * as the handler is set, on a microtask: the host always learns of it, never silence.
   */
  get onFatal(): (error: Error) => void {
    return this.#onFatal
  }
  set onFatal(handler: (error: Error) => void) {
    this.#onFatal = handler
    this.#onFatalSet = true
    const failure = this.#fatalError
    if (failure !== null && !this.#fatalReported) {
      this.#fatalReported = true
      queueMicrotask(() => handler(failure))
    }
  }
  #fatalReported = false
  #onFatalSet = false

  readonly #io: IoBackend
  /** io.writeDurableNow, read once: io may be a Proxy (io/slow-io.ts), whose every read runs a trap. */
  readonly #writeDurableNow: ((fd: number, bytes: Uint8Array, offset: number) => boolean) | null
  readonly #dir: string
  readonly #fsync: FsyncMode
  readonly #segmentBytes: number
  readonly #reserveBytes: number
  readonly #flushBytesMax: number

  #appendedLsn = 0
  #durableLsn = 0
  #diskFull = false
  #fatalError: Error | null = null
  #closed = false

  /** Segments on disk (or about to be), ascending; the last is where appends go. */
  #segments: Segment[] = []
  /** Byte offset in the last segment where the next frame goes. */
  #appendOffset = 0
  #spare: Spare | null = null
  #spareCounter = 0
  /** The segment the flushes currently write to (older ones are complete and closed). */
  #writingSegment: Segment | null = null
  #rotateBeforeNextAppend = false

  #current: Chunk | null = null
  #ready: Chunk[] = []
  /** Chunks done with (their buffers and views), reused by #newChunk: one chunk per flush otherwise. */
  #pool: Chunk[] = []
  #flushing = false
  #flushScheduled = false
  /** The scheduled flush follows a finished one: requests that piled up meanwhile go first (see #scheduleFlush). */
  #flushScheduledAfterFlush = false
  #waiters: DurableWaiter[] = []

  /** interval mode: segments written since their last sync. */
  #dirty = new Set<Segment>()
  #syncTimer: ReturnType<typeof setTimeout> | null = null
  #syncing: Promise<void> | null = null

  #checkpointLsn = 0
  #checkpointFiles = new Map<number, number>()
  #bytesSinceCheckpoint = 0
  #lastCheckpointBytes = 0
  #checkpointRunning: Promise<void> | null = null
  #checkpointRetryBytes = 0

  /** Bytes the host asked to keep reserved (setReservation), and the reserve file that holds them. */
  #reservationBytes = 0
  #reserveFd = -1
  #reserveFileBytes = 0
  readonly #reserveChunkBytes: number

  constructor(options: ShardLogOptions) {
    this.#io = options.io
    const writeNow = options.io.writeDurableNow
    this.#writeDurableNow = writeNow === undefined ? null : writeNow.bind(options.io)
    this.#dir = options.dir
    this.#fsync = options.fsync
    this.#segmentBytes = options.segmentBytes
    this.#reserveBytes = Math.floor(options.segmentBytes * reserveFraction)
    this.#flushBytesMax = options.flushBytesMax
    this.#reserveChunkBytes = Math.min(reserveChunkBytesMax, options.segmentBytes)
  }

  get appendedLsn(): number {
    return this.#appendedLsn
  }
  get durableLsn(): number {
    return this.#durableLsn
  }
  /** No spare segment could be preallocated, or the reserve file is smaller than the reservation. */
  get diskFull(): boolean {
    return this.#diskFull || this.#reserveFileBytes < this.#reservationBytes
  }

  /** Bytes the reserve file holds now (for tests and diagnostics). */
  get reserveFileBytes(): number {
    return this.#reserveFileBytes
  }

  /**
   * Keeps at least `bytes` of disk reserved for records the host must still be able to write on a
   * full disk (completion records of accepted jobs, STYLE habit 12). The space is a real file,
   * grown with io.allocate in chunks; when it cannot grow, diskFull is true (the host refuses
   * pushes). While the disk is full, the log takes segments out of this file.
   */
  setReservation(bytes: number): void {
    // Runs after every push: the message is built only on failure.
    if (!(Number.isSafeInteger(bytes) && bytes >= 0)) assert(false, `reservation of ${bytes} bytes`)
    this.#reservationBytes = bytes
    if (this.#fatalError !== null || this.#closed || this.#reserveFd < 0) return
    if (this.#reserveFileBytes < bytes) this.#growReserve()
    else if (this.#reserveFileBytes > this.#reserveTarget() + this.#reserveChunkBytes) {
      // More than the level needs: give it back (on a full disk, to a spare segment first).
      this.#truncateReserve(this.#reserveTarget())
      if (this.diskFull) this.#retrySpace()
    }
  }

  /** Applies what recovery decided, opens the active segment and preallocates a spare. */
  async start(recovered: RecoveredLog): Promise<void> {
    for (const file of recovered.removeFiles) this.#io.remove(file)
    this.#appendedLsn = recovered.lastLsn
    this.#durableLsn = recovered.lastLsn
    this.#checkpointLsn = recovered.checkpointLsn
    this.#lastCheckpointBytes = recovered.checkpointFileBytes
    for (const lsn of listDirectory(this.#io, this.#dir).checkpoints) {
      this.#checkpointFiles.set(lsn, fileBytes(this.#io, join(this.#dir, checkpointFileName(lsn))))
    }
    for (const body of recovered.tailBodies) this.#bytesSinceCheckpoint += frameHeaderBytes + body.length
    for (const kept of recovered.segments) {
      const path = join(this.#dir, segmentFileName(kept.firstLsn))
      this.#segments.push({ ...kept, path, fd: -1, sparePath: null, sized: null, writtenBytes: 0, syncedBytes: 0, writtenOnceBytes: 0 })
    }
    for (const range of recovered.zeroRanges) await this.#zeroRange(range.firstLsn, range.start, range.end)
    if (recovered.active !== null) {
      const active = this.#segments[this.#segments.length - 1] as Segment
      active.fd = this.#io.open(active.path, false)
      this.#appendOffset = recovered.active.writeOffset
      active.writtenBytes = active.syncedBytes = active.writtenOnceBytes = this.#appendOffset
    } else {
      await this.#createFirstSegment(recovered.lastLsn + 1)
    }
    this.#writingSegment = this.#activeSegment()
    this.#current = this.#newChunk(this.#activeSegment(), this.#appendOffset, initialBufferBytes)
    // The reserve file survives restarts (it is not a .tmp), so space reserved before a crash stays ours.
    this.#reserveFd = this.#io.open(join(this.#dir, reserveFileName), true)
    this.#reserveFileBytes = this.#io.fileSize(this.#reserveFd)
    // One directory fsync makes every name change above durable (deleted temporaries, a new first
    // segment, the reserve file) before anything is appended, let alone acknowledged.
    this.#io.syncDirectory(this.#dir)
    await this.#saveState()
    this.#allocateSpare()
  }

  append(body: string): number {
    const lsn = this.#appendedLsn + 1
    if (this.#fatalError !== null || this.#closed) {
      this.#appendedLsn = lsn
      return lsn
    }
    let chunk = this.#current as Chunk
    const room = frameHeaderBytes + body.length * 3
    if (chunk.used + room > chunk.buffer.length) chunk = this.#growCurrent(room)
    const written = chunk.buffer.utf8Write(body, chunk.used + frameHeaderBytes)
    // Checked before the LSN is taken, so a refused record leaves no gap.
    if (!(written > 0 && written <= frameBodyBytesMax)) assert(false, `record body of ${written} bytes`) // message built only on failure
    this.#appendedLsn = lsn
    const bytes = frameHeaderBytes + written
    if (this.#rotateBeforeNextAppend || this.#appendOffset + bytes > this.#appendLimit()) {
      chunk = this.#moveToNewSegment(chunk, bytes)
      if (this.#fatalError !== null) return lsn
    } else if (chunk.used > 0 && chunk.used + bytes > this.#flushBytesMax) {
      chunk = this.#moveToNewChunk(chunk, bytes, this.#activeSegment())
    }
    // Everything before the chunk is durable when it is written (one flush in flight); in interval
    // mode only what the last sync covered. Recovery tells a torn last flush by it (frame.ts).
    const syncedBelow = this.#fsync.kind === 'always' ? chunk.fileOffset : chunk.segment.syncedBytes
    sealFrame(chunk.buffer, chunk.view, chunk.used, lsn, written, syncedBelow)
    chunk.used += bytes
    chunk.lastLsn = lsn
    this.#activeSegment().lastLsn = lsn
    this.#appendOffset += bytes
    this.#bytesSinceCheckpoint += bytes
    if (!this.#flushing && !this.#flushScheduled) this.#scheduleFlush()
    return lsn
  }

  needsCheckpoint(): boolean {
    if (this.#checkpointRunning !== null || this.#fatalError !== null || this.#closed) return false
    const floor = checkpointFloorSegments * this.#segmentBytes
    const retry = this.#checkpointRetryBytes // after a failure: one more segment of log first
    return this.#bytesSinceCheckpoint > Math.max(floor, 2 * this.#lastCheckpointBytes, retry)
  }

  checkpoint(bodies: Iterable<CheckpointBody>): void {
    const iterator = bodies[Symbol.iterator]()
    if (this.#checkpointRunning !== null || this.#fatalError !== null || this.#closed) {
      iterator.return?.()
      return
    }
    const lsn = this.#appendedLsn
    // The bodies are the state as of `lsn` however late they are pulled (an array, or the engine's
    // copy-on-write capture): they are pulled piece by piece across event-loop turns, with the
    // encoding and the writes, so no turn handles the whole state.
    const countedBytes = this.#bytesSinceCheckpoint
    this.#bytesSinceCheckpoint = 0
    // Records after the checkpoint go to a fresh segment, so every older one becomes deletable.
    if (this.#appendOffset > 0) this.#rotateBeforeNextAppend = true
    this.#checkpointRunning = this.#writeCheckpoint(lsn, iterator)
      .catch((error: unknown) => {
        iterator.return?.() // a capture that is not pulled to its end must be told to stop
        // The log itself is intact: keep the old checkpoint and segments, and ask again later.
        this.#bytesSinceCheckpoint += countedBytes
        this.#checkpointRetryBytes = this.#bytesSinceCheckpoint + this.#segmentBytes
        this.lastCheckpointError = error as Error
      })
      .finally(() => {
        this.#checkpointRunning = null
      })
  }

  /** True while a checkpoint is being written (for benchmarks and diagnostics). */
  get checkpointRunning(): boolean {
    return this.#checkpointRunning !== null
  }

  /** Why the last checkpoint attempt failed (it is retried when needsCheckpoint() says so), or null. */
  lastCheckpointError: Error | null = null

  readonly stats: LogStats = newLogStats()

  async checkpointSettled(): Promise<void> {
    while (this.#checkpointRunning !== null) await this.#checkpointRunning
  }

  get liveBytes(): number {
    return this.#lastCheckpointBytes + this.#bytesSinceCheckpoint
  }

  get checkpointLsn(): number {
    return this.#checkpointLsn
  }

  diskBytes(): number {
    let total = (this.#spare?.fileBytes ?? 0) + this.#reserveFileBytes
    for (const segment of this.#segments) total += segment.fileBytes
    for (const bytes of this.#checkpointFiles.values()) total += bytes
    return total
  }

  async close(): Promise<void> {
    if (this.#closed) return
    await this.#waitDurable(this.#appendedLsn)
    await this.#checkpointRunning
    await this.#removals
    await this.#stateWrites
    this.#closed = true
    if (this.#syncTimer !== null) clearTimeout(this.#syncTimer)
    this.#syncTimer = null
    if (this.#fatalError === null) await this.#syncDirty().catch((error: unknown) => this.#fail(error))
    for (const segment of this.#segments) this.#closeSegment(segment)
    if (this.#spare !== null) {
      this.#io.close(this.#spare.fd)
      this.#io.remove(this.#spare.path)
      this.#spare = null
    }
    if (this.#reserveFd >= 0) this.#io.close(this.#reserveFd)
    this.#reserveFd = -1
  }

  /** Resolves once `lsn` is durable, or the log has failed. */
  #waitDurable(lsn: number): Promise<void> {
    if (this.#durableLsn >= lsn || this.#fatalError !== null) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ lsn, resolve }))
  }

  // ── placement ──────────────────────────────────────────────────────────────────────────────────

  #activeSegment(): Segment {
    return this.#segments[this.#segments.length - 1] as Segment
  }

  /** Where normal appends stop in the active segment; the reserve beyond it is for a full disk. */
  #appendLimit(): number {
    const fileBytes = this.#activeSegment().fileBytes
    return this.diskFull ? fileBytes : fileBytes - this.#reserveBytes
  }

  /** The frame just encoded at chunk.used does not fit (or a checkpoint asked for a new segment). */
  #moveToNewSegment(chunk: Chunk, bytes: number): Chunk {
    const forced = this.#rotateBeforeNextAppend
    this.#rotateBeforeNextAppend = false
    if (this.#spare === null && !this.diskFull) this.#allocateSpare()
    let spare = this.#spare
    if (spare === null) {
      if (forced && this.#appendOffset + bytes <= this.#appendLimit()) return chunk
      if (this.#appendOffset + bytes <= this.#activeSegment().fileBytes) return chunk
      // Full disk: the reserve file gives up the space of one segment (STYLE habit 12).
      spare = this.#spareFromReserve(bytes)
      if (spare === null) {
        this.#fail(new IoError('ENOSPC', `log segment full and no disk for a new one in ${this.#dir}`))
        return chunk
      }
    }
    this.#spare = null
    const firstLsn = this.#appendedLsn
    const segment: Segment = {
      firstLsn,
      lastLsn: firstLsn - 1,
      path: join(this.#dir, segmentFileName(firstLsn)),
      fd: spare.fd,
      fileBytes: spare.fileBytes,
      sparePath: spare.path,
      sized: spare.sized,
      writtenBytes: 0,
      syncedBytes: 0,
      writtenOnceBytes: 0,
    }
    const needed = bytes + (this.diskFull ? 0 : this.#reserveBytes)
    if (needed > segment.fileBytes) {
      // A record larger than a segment gets a segment of its own size (records never span segments).
      try {
        this.#io.allocate(segment.fd, segment.fileBytes, needed - segment.fileBytes)
        segment.fileBytes = needed
        segment.sized = this.#syncSize(segment.fd)
      } catch (error) {
        this.#segments.push(segment)
        this.#fail(error)
        return chunk
      }
    }
    this.#segments.push(segment)
    this.#appendOffset = 0
    const moved = this.#moveToNewChunk(chunk, bytes, segment)
    this.#retrySpace()
    return moved
  }

  /** Closes `chunk` for appends and copies the frame being built at its end into a new chunk. */
  #moveToNewChunk(chunk: Chunk, bytes: number, segment: Segment): Chunk {
    const next = this.#newChunk(segment, this.#appendOffset, Math.max(initialBufferBytes, bytes))
    next.buffer.set(chunk.buffer.subarray(chunk.used, chunk.used + bytes), 0)
    if (chunk.used > 0) this.#ready.push(chunk)
    else this.#recycle(chunk)
    this.#current = next
    return next
  }

  #newChunk(segment: Segment, fileOffset: number, bytesMin: number): Chunk {
    let pooled: Chunk | undefined
    while ((pooled = this.#pool.pop()) !== undefined && pooled.buffer.length < bytesMin) {}
    if (pooled !== undefined) {
      pooled.used = 0
      pooled.lastLsn = 0
      pooled.segment = segment
      pooled.fileOffset = fileOffset
      return pooled
    }
    const buffer = Buffer.alloc(Math.max(bytesMin, initialBufferBytes)) as NativeBuffer
    return { buffer, view: new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength), used: 0, lastLsn: 0, segment, fileOffset }
  }

  #growCurrent(room: number): Chunk {
    const chunk = this.#current as Chunk
    const bigger = Buffer.alloc(Math.max(chunk.buffer.length * 2, chunk.used + room)) as NativeBuffer
    bigger.set(chunk.buffer.subarray(0, chunk.used))
    chunk.buffer = bigger
    chunk.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength)
    return chunk
  }

  /**
   * Lets the pooled write buffers go, and the current one if it grew and holds nothing: kept for the
   * next burst of appends, they are up to 2 × flushBytesMax each (the host calls this when the thread
   * goes quiet after a burst: W5 durable held ~3.5 MB in them).
   */
  releaseSpareBuffers(): void {
    this.#pool.length = 0
    const current = this.#current
    if (current !== null && current.used === 0 && current.buffer.length > initialBufferBytes) {
      this.#current = this.#newChunk(current.segment, current.fileOffset, initialBufferBytes)
    }
  }

  /** Bytes of the pooled write buffers and the current one (tests). */
  get writeBufferBytes(): number {
    let bytes = this.#current?.buffer.length ?? 0
    for (const chunk of this.#pool) bytes += chunk.buffer.length
    return bytes
  }

  #recycle(chunk: Chunk): void {
    if (this.#pool.length < pooledBuffersMax && chunk.buffer.length <= 2 * this.#flushBytesMax) {
      this.#pool.push(chunk)
    }
  }

  // ── files ──────────────────────────────────────────────────────────────────────────────────────

  /**
   * Born as a spare like every segment: preallocated, its size synced, then renamed into place (the
   * caller syncs the directory). log.state may then record its size (log-state.ts).
   */
  async #createFirstSegment(firstLsn: number): Promise<void> {
    const path = join(this.#dir, segmentFileName(firstLsn))
    const sparePath = this.#nextSparePath()
    const fd = this.#io.open(sparePath, true)
    const segment: Segment = {
      firstLsn, lastLsn: firstLsn - 1, path, fd, fileBytes: 0, sparePath: null, sized: null, writtenBytes: 0,
      syncedBytes: 0, writtenOnceBytes: 0,
    }
    this.#segments.push(segment)
    this.#appendOffset = 0
    try {
      this.#io.allocate(fd, 0, this.#segmentBytes)
      segment.fileBytes = this.#segmentBytes
    } catch (error) {
      if (!isNoSpace(error)) throw error
      this.#diskFull = true
    }
    await this.#io.sync(fd)
    this.#io.rename(sparePath, path)
  }

  /**
   * Spare names are unique per opening of the log (a random prefix), so a file left behind by an
   * earlier life of this directory can never be confused with ours. Recovery deletes all of them.
   */
  #nextSparePath(): string {
    return join(this.#dir, `spare-${this.#spareNamePrefix}-${++this.#spareCounter}.tmp`)
  }
  readonly #spareNamePrefix = Math.floor(Math.random() * 2 ** 32).toString(36)

  /** Preallocates the next segment under a temporary name; on ENOSPC the disk is full. */
  #allocateSpare(): void {
    if (this.#spare !== null || this.#fatalError !== null || this.#closed) return
    const path = this.#nextSparePath()
    let fd = -1
    try {
      fd = this.#io.open(path, true)
      this.#io.allocate(fd, 0, this.#segmentBytes)
      this.#spare = { path, fd, fileBytes: this.#segmentBytes, sized: this.#syncSize(fd) }
      this.#diskFull = false
    } catch (error) {
      if (fd >= 0) this.#io.close(fd)
      this.#io.remove(path)
      if (isNoSpace(error)) this.#diskFull = true
      else this.#fail(error)
    }
  }

  /** The reserve file size the current reservation asks for: whole chunks, at least the reservation. */
  #reserveTarget(): number {
    const chunk = this.#reserveChunkBytes
    return Math.ceil(this.#reservationBytes / chunk) * chunk
  }

  /** Grows the reserve file to the target; on ENOSPC tries the exact reservation, else stays short. */
  #growReserve(): void {
    for (const target of [this.#reserveTarget(), this.#reservationBytes]) {
      if (target <= this.#reserveFileBytes) return
      try {
        this.#io.allocate(this.#reserveFd, this.#reserveFileBytes, target - this.#reserveFileBytes)
        this.#reserveFileBytes = target
        return
      } catch (error) {
        // A failed fallocate may still have changed the size: believe the file, not the request.
        this.#reserveFileBytes = this.#io.fileSize(this.#reserveFd)
        if (!isNoSpace(error)) return this.#fail(error)
      }
    }
  }

  #truncateReserve(bytes: number): void {
    this.#io.truncate(this.#reserveFd, bytes)
    this.#reserveFileBytes = bytes
  }

  /**
   * Full disk, active segment full, no spare: shrinks the reserve file by up to one segment and
   * preallocates a segment in the space that freed. Null when even that is impossible.
   */
  #spareFromReserve(bytes: number): Spare | null {
    if (this.#reserveFd < 0 || this.#reserveFileBytes === 0) return null
    const give = Math.min(this.#reserveFileBytes, Math.max(this.#segmentBytes, bytes))
    this.#truncateReserve(this.#reserveFileBytes - give)
    const path = this.#nextSparePath()
    let fd = -1
    try {
      fd = this.#io.open(path, true)
      const size = Math.max(give, bytes)
      this.#io.allocate(fd, 0, size)
      return { path, fd, fileBytes: size, sized: this.#syncSize(fd) }
    } catch (error) {
      if (fd >= 0) this.#io.close(fd)
      this.#io.remove(path)
      if (!isNoSpace(error)) this.#fail(error)
      return null
    }
  }

  /**
   * After space may have come back (a flush, a checkpoint): the reserve is refilled first, then a
   * spare is preallocated, so the space of accepted jobs' completions is never given to new pushes.
   */
  #retrySpace(): void {
    if (this.#fatalError !== null || this.#closed) return
    if (this.#reserveFd >= 0 && this.#reserveFileBytes < this.#reservationBytes) this.#growReserve()
    if (this.#spare === null && this.#reserveFileBytes >= this.#reservationBytes) this.#allocateSpare()
  }

  #closeSegment(segment: Segment): void {
    if (segment.fd < 0) return
    this.#io.close(segment.fd)
    segment.fd = -1
  }

  async #zeroRange(firstLsn: number, start: number, end: number): Promise<void> {
    const path = join(this.#dir, segmentFileName(firstLsn))
    const fd = this.#io.open(path, false)
    try {
      const zeros = new Uint8Array(Math.min(zeroChunkBytes, end - start))
      for (let offset = start; offset < end; offset += zeros.length) {
        await this.#io.writeDurable(fd, zeros.subarray(0, Math.min(zeros.length, end - offset)), offset)
      }
    } finally {
      this.#io.close(fd)
    }
  }

  // ── group commit ───────────────────────────────────────────────────────────────────────────────

  #takeChunk(): Chunk | null {
    const ready = this.#ready.shift()
    if (ready !== undefined) return ready
    const current = this.#current as Chunk
    if (current.used === 0) return null
    this.#current = this.#newChunk(current.segment, this.#appendOffset, initialBufferBytes)
    return current
  }

  /**
   * Group commit: a flush takes everything appended before it starts, and it starts from
   * setImmediate, after the request messages already queued for this thread have been handled. While
   * a flush is in flight the thread blocks (pwrite) or sleeps in the kernel for the completion
   * (io_uring), so requests pile up as separate messages; starting the flush from a microtask gave
   * each of them its own fdatasync (measured: 2 replies per flush instead of ~128). An idle server
   * still flushes at once: setImmediate is one event-loop turn, not a timer.
   */
  #scheduleFlush(afterFlush = false): void {
    this.#flushScheduled = true
    this.#flushScheduledAfterFlush = afterFlush
    // One immediate serves every schedule made before it runs: they all mean the same next turn (an
    // idle log's push scheduled one at its append and another when its flush was done, each with a
    // closure).
    if (this.#immediatePending) return
    this.#immediatePending = true
    setImmediate(this.#onImmediate)
  }

  #immediatePending = false
  readonly #onImmediate = () => {
    this.#immediatePending = false
    if (this.#flushScheduled) this.#startFlush()
  }

  /**
   * An idle log need not wait that turn when its host knows the batch that appended is complete: the
   * flush starts now. After a flush the scheduled turn stays, so what piled up meanwhile shares the
   * next flush.
   */
  flushIfIdle(): void {
    if (!this.#flushScheduled || this.#flushScheduledAfterFlush || this.#flushing) return
    this.#startFlush()
  }

  #startFlush(): void {
    // Nothing piled up behind the last flush: the log was idle, and this flush's requests wait for it
    // alone (io may then write on this thread, IoBackend.writeDurable). Under load it stays async.
    const waitingIdle = !this.#flushScheduledAfterFlush
    this.#flushScheduled = false
    this.stats.flushLoops++
    if (this.#flushing || this.#fatalError !== null) return
    const chunk = this.#takeChunk()
    if (chunk === null) return
    this.#flushing = true
    this.stats.lastFlushStartedAtMs = performance.now()
    // Cut by the byte cap when more is already waiting behind this chunk.
    if (this.#ready.length > 0 || (this.#current as Chunk).used > 0) this.stats.flushesCutByBytes++
    if (waitingIdle && this.#flushNow(chunk)) return
    this.#flushChunk(chunk, waitingIdle).then(
      () => this.#flushDone(chunk),
      (error: unknown) => this.#fail(error),
    )
  }

  /**
   * An idle log's flush that the backend writes and syncs on this thread at once
   * (IoBackend.writeDurableNow) is finished here: durable and reported before this returns, without
   * #flushChunk's promises and the microtask hops between the sync and the replies. False when the
   * flush must go the asynchronous way (a new segment to enter, interval mode, the backend declines).
   */
  #flushNow(chunk: Chunk): boolean {
    const segment = chunk.segment
    const writeNow = this.#writeDurableNow
    if (writeNow === null || this.#fsync.kind !== 'always' || segment !== this.#writingSegment) return false
    const startedMs = performance.now()
    const bytes = chunk.buffer.subarray(0, this.#zeroAhead(chunk))
    try {
      if (!writeNow(segment.fd, bytes, chunk.fileOffset)) return false
    } catch (error) {
      this.#fail(error)
      return true
    }
    segment.writtenOnceBytes = Math.max(segment.writtenOnceBytes, chunk.fileOffset + bytes.length)
    this.#noteFlush(chunk, startedMs)
    this.#flushDone(chunk)
    return true
  }

  async #flushChunk(chunk: Chunk, waitingIdle: boolean): Promise<void> {
    const segment = chunk.segment
    if (segment !== this.#writingSegment) await this.#enterSegment(segment)
    const startedMs = performance.now()
    if (this.#fsync.kind === 'always') {
      const bytes = chunk.buffer.subarray(0, this.#zeroAhead(chunk))
      await this.#io.writeDurable(segment.fd, bytes, chunk.fileOffset, waitingIdle)
      segment.writtenOnceBytes = Math.max(segment.writtenOnceBytes, chunk.fileOffset + bytes.length)
    } else {
      await this.#io.write(segment.fd, chunk.buffer.subarray(0, chunk.used), chunk.fileOffset)
      segment.writtenBytes = chunk.fileOffset + chunk.used
      this.#markDirty(segment)
    }
    this.#noteFlush(chunk, startedMs)
  }

  #noteFlush(chunk: Chunk, startedMs: number): void {
    const tookUs = Math.round((performance.now() - startedMs) * 1000)
    const stats = this.stats
    stats.writes++
    stats.writeBytes += chunk.used
    stats.writeUs += tookUs
    stats.records += chunk.lastLsn - this.#durableLsn
    observe(stats.flushSeconds, tookUs / usPerMs / msPerSecond)
    observe(stats.flushRecords, chunk.lastLsn - this.#durableLsn)
    if (this.#fsync.kind === 'always') {
      // One durable write is the write and its barrier at once.
      stats.syncs++
      stats.syncUs += tookUs
    }
  }

  /**
   * How many bytes of `chunk.buffer` a durable flush writes: its records, and for a small flush that
   * reaches into never-written space, zeros up to the next zeroAheadBytes boundary of the file.
   * Segments are preallocated (fallocate), and ext4 keeps such blocks "unwritten": the first write
   * into one converts its extent, a metadata change, so that flush's fdatasync waits for a journal
   * commit (which also writes out other files' data, data=ordered) instead of one device flush. With
   * ~200-byte records every ~20th sequential push paid it: a flush that starts a new 4 KiB block took
   * p50 ~250 µs instead of ~150. The zeros convert a zone at once; the next flushes overwrite them
   * with records (recovery reads zeros past the last record either way, as in a preallocated file).
   */
  #zeroAhead(chunk: Chunk): number {
    const end = chunk.fileOffset + chunk.used
    if (chunk.used > zeroAheadFlushBytesMax || end <= chunk.segment.writtenOnceBytes) return chunk.used
    const zoneEnd = Math.ceil(end / zeroAheadBytes) * zeroAheadBytes
    const writeEnd = Math.min(zoneEnd, chunk.segment.fileBytes, chunk.fileOffset + chunk.buffer.length)
    if (writeEnd <= end) return chunk.used
    chunk.buffer.fill(0, chunk.used, writeEnd - chunk.fileOffset) // pooled buffers hold old bytes
    return writeEnd - chunk.fileOffset
  }

  /**
   * First write to a new segment: the previous one is complete (all its flushes are done), so it is
   * synced (interval mode) and closed; then the spare is renamed into place and the directory synced.
   * A segment name therefore exists on disk only once every older record is on disk.
   */
  async #enterSegment(segment: Segment): Promise<void> {
    const previous = this.#writingSegment
    if (previous !== null && previous.fd >= 0) {
      if (this.#dirty.has(previous)) {
        this.#dirty.delete(previous)
        await this.#io.sync(previous.fd)
      }
      this.#closeSegment(previous)
    }
    if (segment.sparePath !== null) {
      // Its preallocated size is durable before its name, so log.state can record both.
      const failed = await segment.sized
      if (failed !== null) throw failed
      segment.sized = null
      this.#io.rename(segment.sparePath, segment.path)
      segment.sparePath = null
      this.#io.syncDirectory(this.#dir)
      void this.#saveState() // a lower bound: it may lag behind the log, never run ahead of it
    }
    this.#writingSegment = segment
  }

  /**
   * Syncs a new spare's preallocation in the background, right away, so that entering the segment
   * later rarely waits for it.
   */
  #syncSize(fd: number): Promise<Error | null> {
    return this.#io.sync(fd).then(
      () => null,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    )
  }

  /** Why the last log.state write failed (it is a safety net: the log goes on), or null. */
  lastStateError: Error | null = null
  #stateWrites: Promise<void> = Promise.resolve()

  /** Rewrites log.state with today's facts; writes run one after another. */
  #saveState(): Promise<void> {
    this.#stateWrites = this.#stateWrites
      .then(() => this.#writeState())
      .catch((error: unknown) => {
        this.lastStateError = error as Error
      })
    return this.#stateWrites
  }

  async #writeState(): Promise<void> {
    if (this.#fatalError !== null) return
    const named = this.#segments.filter((segment) => segment.sparePath === null)
    const newest = named[named.length - 1]
    if (newest === undefined) return
    const state = { newestSegment: newest.firstLsn, newestSegmentBytes: newest.fileBytes, checkpointLsn: this.#checkpointLsn }
    await writeFileAtomic(this.#io, join(this.#dir, logStateFileName), encodeLogState(state))
  }

  #flushDone(chunk: Chunk): void {
    this.#flushing = false
    if (this.#flushWaiters.length > 0) this.#releaseFlushWaiters()
    if (this.#fatalError !== null) return
    this.#durableLsn = chunk.lastLsn
    this.#recycle(chunk)
    if (this.diskFull) this.#retrySpace()
    if (!this.#flushScheduled) this.#scheduleFlush(true)
    if (this.#waiters.length > 0) this.#resolveWaiters()
    this.onDurable(this.#durableLsn)
  }

  #resolveWaiters(): void {
    const durable = this.#durableLsn
    const failed = this.#fatalError !== null
    const waiting: DurableWaiter[] = []
    for (const waiter of this.#waiters) {
      if (failed || waiter.lsn <= durable) waiter.resolve()
      else waiting.push(waiter)
    }
    this.#waiters = waiting
  }

  #fail(error: unknown): void {
    if (this.#fatalError !== null) return
    const failure = error instanceof Error ? error : new Error(String(error))
    this.#fatalError = failure
    this.#flushing = false
    this.#releaseFlushWaiters()
    this.#ready = []
    this.#resolveWaiters()
    if (!this.#onFatalSet) return // reported when the host sets onFatal
    this.#fatalReported = true
    this.#onFatal(failure)
  }

  // ── interval fsync ─────────────────────────────────────────────────────────────────────────────

  #markDirty(segment: Segment): void {
    this.#dirty.add(segment)
    if (this.#syncTimer !== null || this.#fsync.kind !== 'interval') return
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = null
      this.#syncDirty().catch((error: unknown) => this.#fail(error))
    }, this.#fsync.intervalMs)
  }

  async #syncDirty(): Promise<void> {
    if (this.#syncing !== null) await this.#syncing
    const segments = [...this.#dirty]
    this.#dirty.clear()
    const run = (async () => {
      for (const segment of segments) {
        if (segment.fd < 0) continue
        const written = segment.writtenBytes
        const startedMs = performance.now()
        await this.#io.sync(segment.fd)
        segment.syncedBytes = Math.max(segment.syncedBytes, written)
        this.stats.syncs++
        this.stats.syncUs += Math.round((performance.now() - startedMs) * 1000)
      }
    })()
    this.#syncing = run
    try {
      await run
    } finally {
      this.#syncing = null
    }
  }

  // ── checkpoint ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Writes the checkpoint under a temporary name in chunks, syncs it, waits until every record up to
   * `lsn` is durable in the segments, renames it into place, syncs the directory, and only then
   * deletes what it replaces. A crash at any point leaves either the old or the new checkpoint valid.
   */
  async #writeCheckpoint(lsn: number, bodies: Iterator<CheckpointBody>): Promise<void> {
    const path = join(this.#dir, checkpointFileName(lsn))
    const temporary = `${path}.tmp`
    const startedMs = performance.now()
    // The capture began in the caller's turn; creating the file (a synchronous open) gets its own.
    await nextTurn()
    const fd = this.#io.open(temporary, true)
    const encoder = new CheckpointEncoder(lsn)
    const pieceBytes = Math.min(this.#flushBytesMax, checkpointPieceBytesMax)
    const file: CheckpointFile = { fd, bytes: 0, allocatedBytes: 0, allocateStepBytes: Math.min(checkpointAllocateAheadBytes, this.#segmentBytes) }
    /** The writeback of the file from #writtenBackBytes on, while it runs (one at a time). */
    let writingBack: Promise<void> | null = null
    let writtenBackBytes = 0
    try {
      for (let done = false; !done;) {
        // One slice of work per event-loop turn: requests keep being served while a large state is written.
        await nextTurn()
        // The log first: a flush waiting for its turn starts now, and a completion of one ends this
        // turn early, so the appenders waiting for it need not wait for the checkpoint's turn too.
        if (this.#flushScheduled && !this.#flushing) this.#startFlush()
        done = encoder.fill(bodies, pieceBytes, performance.now() + checkpointTurnMsMax, this.#completionReady)
        if (!done && encoder.pendingBytes < pieceBytes) continue
        await this.#writeCheckpointPiece(file, () => encoder.take())
        if (file.bytes - writtenBackBytes >= checkpointWritebackBytes) {
          await writingBack
          await this.#noFlushInFlight()
          writingBack = this.#io.startWriteback(fd, writtenBackBytes, file.bytes - writtenBackBytes)
          writingBack.catch(() => {}) // handled: awaited before the next one, the final sync or the close
          writtenBackBytes = file.bytes
        }
      }
      await this.#writeCheckpointPiece(file, () => encoder.trailer())
      await writingBack
      writingBack = null
      await this.#noFlushInFlight()
      // The space allocated ahead and not written: the file must end with its trailer.
      if (file.allocatedBytes > file.bytes) this.#io.truncate(fd, file.bytes)
      await this.#io.sync(fd)
    } catch (error) {
      await writingBack?.catch(() => {}) // its failure is reported by the error at hand
      this.#io.close(fd)
      this.#io.remove(temporary)
      throw error
    }
    this.#io.close(fd)
    await this.#waitDurable(lsn)
    if (this.#fsync.kind === 'interval') await this.#syncDirty()
    if (this.#fatalError !== null) {
      this.#io.remove(temporary)
      throw this.#fatalError
    }
    this.#io.rename(temporary, path)
    this.#io.syncDirectory(this.#dir)
    this.#checkpointLsn = lsn
    this.stats.checkpoints++
    this.stats.lastCheckpointAtMs = Date.now()
    this.stats.lastCheckpointUs = Math.round((performance.now() - startedMs) * 1000)
    this.stats.checkpointUs += this.stats.lastCheckpointUs
    this.#lastCheckpointBytes = file.bytes
    this.#checkpointRetryBytes = 0
    this.#checkpointFiles.set(lsn, file.bytes)
    await this.#saveState()
    this.#deleteCovered(lsn)
  }

  readonly #completionReady = (): boolean => this.#io.completionReady?.() === true

  /**
   * Appends the bytes `take` gives (taken only then) to the file, once no log flush is in flight.
   * Preallocated first (checkpointAllocateAheadBytes at a time): on a full disk the checkpoint fails
   * there, before writing the piece, and no write of it can take space that the reserve just gave to
   * a segment.
   */
  async #writeCheckpointPiece(file: CheckpointFile, take: () => Uint8Array): Promise<void> {
    await this.#noFlushInFlight()
    const bytes = take()
    const offset = file.bytes
    if (offset + bytes.length > file.allocatedBytes) {
      const allocateBytes = Math.max(bytes.length, file.allocateStepBytes)
      this.#io.allocate(file.fd, offset, allocateBytes)
      file.allocatedBytes = offset + allocateBytes
    }
    await this.#io.write(file.fd, bytes, offset)
    file.bytes = offset + bytes.length
  }

  /**
   * Resolves once no flush of the log is in flight (at once when none is). The checkpoint issues
   * each write, writeback and sync of its own only then, so a durable push's fdatasync never starts
   * behind checkpoint IO issued during it; the checkpoint takes a little longer instead.
   */
  #noFlushInFlight(): Promise<void> {
    if (!this.#flushing) return settled
    return new Promise((resolve) => this.#flushWaiters.push(resolve))
  }
  #flushWaiters: (() => void)[] = []

  #releaseFlushWaiters(): void {
    for (const resolve of this.#flushWaiters.splice(0)) resolve()
  }

  /**
   * Deletes older checkpoints and every segment whose records are all ≤ lsn (never the active one).
   * The bookkeeping is done at once; the unlinks run on another thread (removeInBackground), one
   * deletion after the other (#removals, awaited by close). A file whose unlink fails is tried again
   * at the next checkpoint (after a restart, recovery lists it among the segments again).
   */
  #deleteCovered(lsn: number): void {
    const paths: string[] = this.#removeFailed.splice(0)
    for (const old of [...this.#checkpointFiles.keys()]) {
      if (old === lsn) continue
      paths.push(join(this.#dir, checkpointFileName(old)))
      this.#checkpointFiles.delete(old)
    }
    const active = this.#activeSegment()
    const kept: Segment[] = []
    for (const segment of this.#segments) {
      const writing = segment === this.#writingSegment && this.#flushing
      if (segment === active || segment.lastLsn > lsn || segment.sparePath !== null || writing) {
        kept.push(segment)
        continue
      }
      if (segment === this.#writingSegment) this.#writingSegment = null
      this.#dirty.delete(segment)
      this.#closeSegment(segment)
      paths.push(segment.path)
    }
    this.#segments = kept
    this.#removals = this.#removals.then(() => this.#removeFiles(paths))
  }

  #removals: Promise<void> = Promise.resolve()
  /** Covered files whose unlink failed, for the next checkpoint to try again. */
  readonly #removeFailed: string[] = []

  async #removeFiles(paths: string[]): Promise<void> {
    for (const path of paths) {
      await this.#io.removeInBackground(path).catch((error: unknown) => {
        this.lastCheckpointError = error as Error
        this.#removeFailed.push(path)
      })
    }
    try {
      this.#io.syncDirectory(this.#dir)
    } catch (error) {
      this.lastCheckpointError = error as Error
    }
    if (this.diskFull && !this.#closed) this.#retrySpace()
  }
}

const settled = Promise.resolve()

/** A checkpoint file being written: its length so far and how far it is preallocated. */
type CheckpointFile = { fd: number; bytes: number; allocatedBytes: number; allocateStepBytes: number }

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

function isNoSpace(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ENOSPC'
}
