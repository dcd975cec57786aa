/**
 * Job payloads as UTF-8 bytes in shared chunks, instead of one JS string per job: a 100-character
 * payload costs about 185 bytes of RSS as a string (a 16-byte cell, a malloc'd StringImpl and its
 * rounding) and its own bytes plus a share of a chunk here (test/bench/memory.ts).
 *
 * Each job table has one arena (job-table.ts moves a job's payload here at the end of the batch
 * that stored the job, and releases it when it drops the job). A job points at its chunk
 * (Job.dataChunk) and keeps the position in Job.dataJson, so a chunk lives while a job object
 * refers to it, whatever the arena's bookkeeping says: the bookkeeping only decides when to drop a
 * chunk from the arena and when to compact, never whether bytes can be read. Bytes are written once and never overwritten.
 *
 * Jobs mostly leave in the order they came (a chunk is released whole once its last job leaves);
 * the stragglers of many chunks are gathered by a compaction once the arena's chunks are more than
 * twice the live bytes: job-table.ts moves the jobs of the chunks held then, a bounded number per
 * batch, into fresh chunks.
 *
 * Owns: the chunks and the live-byte counts. Does not own: the jobs (job-table.ts).
 */
import type { NativeBuffer } from '../base/native-buffer.ts'
import type { Job } from './job.ts'

/** Chunk size: a straggler holds at most this much until the next compaction. */
export const payloadChunkBytes = 64 * 1024
/** Payloads longer than this stay strings: few per chunk, and little to save on each. */
export const arenaPayloadCharsMax = 1024
/** Positions pack the offset above the length: offset × positionSplit + byteLength. */
const positionSplit = 2 ** 16
/** The arena compacts once its chunks hold more than this many times its live bytes... */
const compactWhenChunksPerLive = 2
/** ...and at least this many chunks (a small arena is left alone). */
const compactChunksMin = 16


/** The text of a payload at `at` in `chunk` (Job.dataJson as a number). */
export function readPayload(chunk: Buffer, at: number): string {
  const offset = Math.floor(at / positionSplit)
  return (chunk as NativeBuffer).utf8Slice(offset, offset + (at % positionSplit))
}

export class PayloadArena {
  #chunk: Buffer | null = null
  #offset = 0
  /** Live bytes per chunk the arena still counts (the current one included). */
  readonly #liveByChunk = new Map<Buffer, number>()
  #liveBytes = 0

  /** Bytes of the chunks the arena holds (tests, diagnostics). */
  get chunkBytes(): number {
    return this.#liveByChunk.size * payloadChunkBytes
  }

  get liveBytes(): number {
    return this.#liveBytes
  }

  /** Moves the job's payload text into a chunk (a no-op for a payload already there, absent or long). */
  store(job: Job): void {
    const text = job.dataJson
    if (typeof text !== 'string' || text === 'null' || text.length > arenaPayloadCharsMax) return
    // A UTF-16 unit is at most 3 UTF-8 bytes.
    const chunk = this.#room(text.length * 3)
    const written = (chunk as NativeBuffer).utf8Write(text, this.#offset)
    job.dataJson = this.#offset * positionSplit + written
    job.dataChunk = chunk
    this.#offset += written
    this.#count(chunk, written)
  }

  /** The job leaves the table: its bytes no longer count (the chunk goes once nothing in it does). */
  release(job: Job): void {
    const chunk = job.dataChunk
    if (chunk === null || typeof job.dataJson !== 'number') return
    const live = this.#liveByChunk.get(chunk)
    if (live === undefined) return // a chunk dropped by a compaction: the job kept it alive itself
    const bytes = job.dataJson % positionSplit
    this.#liveBytes -= bytes
    if (live - bytes > 0 || chunk === this.#chunk) this.#liveByChunk.set(chunk, live - bytes)
    else this.#liveByChunk.delete(chunk)
  }

  /** True when the chunks hold mostly bytes no job in the table uses. */
  needsCompaction(): boolean {
    const chunks = this.#liveByChunk.size
    return chunks >= compactChunksMin && chunks * payloadChunkBytes > compactWhenChunksPerLive * this.#liveBytes
  }

  /** The chunks the arena holds now: a compaction moves the jobs still in them (job-table.ts). */
  chunks(): Set<Buffer> {
    return new Set(this.#liveByChunk.keys())
  }

  /**
   * Copies the job's payload into the current chunk, its old chunk no longer counting it. Compaction
   * moves the jobs of the old chunks a few thousand per batch (job-table.ts), never all at once: with
   * a million jobs a one-pass copy would stall the shard for ~100 ms. Until moved, a job reads its
   * bytes from its old chunk, which it keeps alive itself.
   */
  move(job: Job): void {
    const at = job.dataJson
    const from = job.dataChunk
    if (typeof at !== 'number' || from === null) return
    const bytes = at % positionSplit
    const offset = Math.floor(at / positionSplit)
    this.release(job)
    const chunk = this.#room(bytes)
    from.copy(chunk, this.#offset, offset, offset + bytes)
    job.dataJson = this.#offset * positionSplit + bytes
    job.dataChunk = chunk
    this.#offset += bytes
    this.#count(chunk, bytes)
  }

  /** The current chunk, or a new one when it has less than `bytes` left. */
  #room(bytes: number): Buffer {
    const current = this.#chunk
    if (current !== null && this.#offset + bytes <= payloadChunkBytes) return current
    if (current !== null && this.#liveByChunk.get(current) === 0) this.#liveByChunk.delete(current)
    const chunk = Buffer.allocUnsafeSlow(payloadChunkBytes)
    this.#chunk = chunk
    this.#offset = 0
    this.#liveByChunk.set(chunk, 0)
    return chunk
  }

  #count(chunk: Buffer, bytes: number): void {
    this.#liveByChunk.set(chunk, (this.#liveByChunk.get(chunk) as number) + bytes)
    this.#liveBytes += bytes
  }
}
