/**
 * Job payloads as UTF-8 bytes in shared chunks, instead of one JS string per job: a 100-character
 * payload costs about 185 bytes of RSS as a string (a 16-byte cell, a malloc'd StringImpl and its
 * rounding) and its own bytes plus a share of a chunk here (test/bench/memory.ts).
 *
 * Each job table has one arena (job-table.ts moves a job's payload here at the end of the batch
 * that stored the job, and releases it when it drops the job). A job keeps its payload's place as
 * one number in Job.dataJson: the chunk's id, the offset and the length (no pointer to the chunk:
 * that field would cost a job 32 bytes, see Job). Chunks are found by id in one registry per
 * thread. Bytes are written once and never overwritten.
 *
 * DECISION — a chunk whose last job left is dropped from the registry at the end of the batch
 * (endBatch), not at once: the batch that deletes a job may still read it (its events and records
 * take the text), and nothing holds a job it deleted past its batch (replies, records and events
 * carry the text, not the job). A later read of such a job's payload throws (readPayload) rather
 * than reading other bytes: chunk ids are handed out in increasing order and only come round again
 * after chunkIdsMod chunks (2 TiB of payloads), skipping the ids still in use.
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
/**
 * A place packs chunkId × chunkSplit + offset × offsetSplit + byteLength: 12 bits of length (a
 * payload of arenaPayloadCharsMax UTF-16 units is at most 3072 bytes), 16 of offset (the chunk is
 * 64 KiB) and 25 of chunk id, within a double's 53 exact bits.
 */
const offsetSplit = 2 ** 12
const chunkSplit = 2 ** 28
/** place − chunkId × placeChunkSplit is the payload's place within its chunk (job-table.ts keeps it in 28 bits). */
export const placeChunkSplit = chunkSplit
const chunkIdsMod = 2 ** 25
/** The arena compacts once its chunks hold more than this many times its live bytes... */
const compactWhenChunksPerLive = 2
/** ...and at least this many chunks (a small arena is left alone). */
const compactChunksMin = 16


/** Every arena's chunks in this thread, by id (a thread may host several shards). */
const chunksById = new Map<number, Buffer>()
let lastChunkId = -1

function newChunkId(): number {
  do lastChunkId = (lastChunkId + 1) % chunkIdsMod
  while (chunksById.has(lastChunkId))
  return lastChunkId
}

/** Chunks registered in this thread, every arena's (tests: a disposed arena leaves none behind). */
export function registeredChunkCount(): number {
  return chunksById.size
}

/** The chunk id of a place (Job.dataJson as a number). */
export function chunkIdOf(at: number): number {
  return Math.floor(at / chunkSplit)
}

/** The byte length of the payload at a place. */
export function payloadBytesAt(at: number): number {
  return at % offsetSplit
}

/** The text of the payload at place `at` (Job.dataJson as a number). */
export function readPayload(at: number): string {
  const offset = offsetOf(at)
  return (chunkOf(at) as NativeBuffer).utf8Slice(offset, offset + (at % offsetSplit))
}

/** Copies the payload's UTF-8 bytes at place `at` into `target` at `targetStart` (no string made); returns their count. */
export function copyPayload(at: number, target: Uint8Array, targetStart: number): number {
  const offset = offsetOf(at)
  return chunkOf(at).copy(target, targetStart, offset, offset + (at % offsetSplit))
}

/**
 * Job.dataJson of a Job object whose job the table froze (job-table.ts): no chunk has a negative id,
 * so a read of it throws instead of returning another job's bytes.
 */
export const frozenAwayPlace = -chunkSplit

function chunkOf(at: number): Buffer {
  const chunk = chunksById.get(Math.floor(at / chunkSplit))
  if (chunk === undefined) {
    if (at < 0) throw new Error('payload read through a Job object held past its batch (the job table froze the job)')
    throw new Error('payload read after its job left the job table and its batch ended')
  }
  return chunk
}

function offsetOf(at: number): number {
  return Math.floor(at / offsetSplit) % (chunkSplit / offsetSplit)
}

export class PayloadArena {
  #chunk: Buffer | null = null
  #chunkId = -1
  #offset = 0
  /** Live bytes per chunk id the arena still counts (the current one included). */
  readonly #liveByChunk = new Map<number, number>()
  #liveBytes = 0
  /** Chunks whose last job left in this batch: dropped from the registry by endBatch. */
  #emptied: number[] = []

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
    job.dataJson = this.#chunkId * chunkSplit + this.#offset * offsetSplit + written
    this.#offset += written
    this.#count(this.#chunkId, written)
  }

  /** The job leaves the table: its bytes no longer count (the chunk goes once nothing in it does). */
  release(job: Job): void {
    const at = job.dataJson
    if (typeof at !== 'number') return
    const id = chunkIdOf(at)
    const live = this.#liveByChunk.get(id)
    if (live === undefined) return // a chunk a compaction emptied already
    const bytes = at % offsetSplit
    this.#liveBytes -= bytes
    if (live - bytes > 0 || id === this.#chunkId) this.#liveByChunk.set(id, live - bytes)
    else this.#drop(id)
  }

  /** Drops the chunks emptied during the batch (see the DECISION above). Called once per batch. */
  endBatch(): void {
    if (this.#emptied.length === 0) return
    for (const id of this.#emptied) chunksById.delete(id)
    this.#emptied = []
  }

  /**
   * Lets every chunk go: the arena's table is gone (its shard host stopped). Without it the current
   * chunk, and any a straggler still held, would stay in the thread's registry for good, 64 KiB each
   * (the start-up warm-up's scratch tables left ~0.4 MB per start). Payloads read afterwards throw.
   */
  dispose(): void {
    for (const id of this.#liveByChunk.keys()) chunksById.delete(id)
    for (const id of this.#emptied) chunksById.delete(id)
    this.#liveByChunk.clear()
    this.#emptied = []
    this.#liveBytes = 0
    this.#chunk = null
    this.#chunkId = -1
    this.#offset = 0
  }

  /** True when the chunks hold mostly bytes no job in the table uses. */
  needsCompaction(): boolean {
    const chunks = this.#liveByChunk.size
    return chunks >= compactChunksMin && chunks * payloadChunkBytes > compactWhenChunksPerLive * this.#liveBytes
  }

  /** The ids of the chunks the arena holds now: a compaction moves the jobs still in them (job-table.ts). */
  chunks(): Set<number> {
    return new Set(this.#liveByChunk.keys())
  }

  /**
   * Copies the job's payload into the current chunk, its old chunk no longer counting it. Compaction
   * moves the jobs of the old chunks a few thousand per batch (job-table.ts), never all at once: with
   * a million jobs a one-pass copy would stall the shard for ~100 ms.
   */
  move(job: Job): void {
    const at = job.dataJson
    if (typeof at !== 'number') return
    const from = chunksById.get(chunkIdOf(at)) as Buffer
    const bytes = at % offsetSplit
    const offset = Math.floor(at / offsetSplit) % (chunkSplit / offsetSplit)
    const chunk = this.#room(bytes)
    from.copy(chunk, this.#offset, offset, offset + bytes)
    // Released after the copy: it may empty the old chunk (dropped at the batch's end anyway).
    this.release(job)
    job.dataJson = this.#chunkId * chunkSplit + this.#offset * offsetSplit + bytes
    this.#offset += bytes
    this.#count(this.#chunkId, bytes)
  }

  /** The current chunk, or a new one when it has less than `bytes` left. */
  #room(bytes: number): Buffer {
    const current = this.#chunk
    if (current !== null && this.#offset + bytes <= payloadChunkBytes) return current
    if (current !== null && this.#liveByChunk.get(this.#chunkId) === 0) this.#drop(this.#chunkId)
    const chunk = Buffer.allocUnsafeSlow(payloadChunkBytes)
    this.#chunk = chunk
    this.#chunkId = newChunkId()
    chunksById.set(this.#chunkId, chunk)
    this.#offset = 0
    this.#liveByChunk.set(this.#chunkId, 0)
    return chunk
  }

  #drop(id: number): void {
    this.#liveByChunk.delete(id)
    this.#emptied.push(id)
  }

  #count(id: number, bytes: number): void {
    this.#liveByChunk.set(id, (this.#liveByChunk.get(id) as number) + bytes)
    this.#liveBytes += bytes
  }
}
