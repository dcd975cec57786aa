/**
 * A job's `j` record written straight into a checkpoint's byte buffer: the UTF-8 bytes of
 * stringifyJson(encodeJob(job)), without the record object, the payload's string, the RawJson and
 * the JSON text (and its splices) that way makes per job. A checkpoint of a million jobs made
 * ~0.6 KB of garbage per job that way, which ran the collector dozens of times while the shard
 * kept serving (issue 7, "Pauses bounded").
 *
 * The bytes written here are the bytes encodeJob gives: job-record-bytes.test.ts compares the two
 * for every field, tricky strings and numbers included. Only the fields most jobs have take the
 * direct way (numbers, flags, the queue, the payload, copied from the payload arena as they are);
 * a job with a string or list field among the rare ones (unique key, tags, dependencies, …) is
 * written from encodeJob's text, so every string is escaped by JSON.stringify alone (lone
 * surrogates as \udXXX, like the log's records).
 *
 * Owns: the byte form of a `j` record. Does not own: the record's fields (encodeJob, records.ts).
 */
import type { NativeBuffer } from '../base/native-buffer.ts'
import { stringifyJson } from '../protocol/raw-json.ts'
import { type Job, LOC_ACTIVE, LOC_COMPLETED, LOC_DELAYED, LOC_GONE, LOC_GROUP_WAIT, LOC_READY } from './job.ts'
import { copyPayload, payloadBytesAt } from './payload-arena.ts'
import { encodeJob } from './records.ts'

/**
 * Bytes of a directly written record beyond its queue and payload: every key and number it may
 * have (about 30 fields of at most 6 + 24 bytes; a number is at most 24 characters of JSON).
 */
const directFixedBytesMax = 1024
/** UTF-8 bytes per UTF-16 unit, at most. */
const utf8BytesPerUnitMax = 3
const minus = 45
const digitZero = 48
const closeBrace = 125

/**
 * Writes `j` records into a buffer. One per checkpoint capture, reused for every job: set(job),
 * then bytesMax() and writeTo() before the next set (the capture hands out this object itself).
 */
export class JobRecordWriter {
  #job: Job | null = null
  /** encodeJob's text for a job with a rare string or list field (null for the direct way). */
  #text: string | null = null
  /** The queue names' JSON bytes (a capture meets each queue many times). */
  readonly #queueJson = new Map<string, Buffer>()

  /** The job the next bytesMax() and writeTo() are about. */
  set(job: Job): this {
    this.#job = job
    this.#text = hasRareFields(job) ? stringifyJson(encodeJob(job)) : null
    return this
  }

  /** At least the bytes writeTo() writes. */
  bytesMax(): number {
    if (this.#text !== null) return this.#text.length * utf8BytesPerUnitMax
    const job = this.#job as Job
    const data = job.dataJson
    const dataBytes = typeof data === 'number' ? payloadBytesAt(data) : data === undefined ? 0 : data.length * utf8BytesPerUnitMax
    return directFixedBytesMax + this.#queueBytes(job.queue).length + dataBytes
  }

  /** Writes the record at `at` (bytesMax() bytes must be free there); returns the bytes written. */
  writeTo(out: Buffer, at: number): number {
    if (this.#text !== null) return (out as NativeBuffer).utf8Write(this.#text, at)
    const job = this.#job as Job
    let end = writeAscii(out, at, '{"t":"j","i":')
    end = writeNumber(out, end, job.id)
    end = writeAscii(out, end, ',"q":')
    const queue = this.#queueBytes(job.queue)
    end += queue.copy(out, end)
    const data = job.dataJson
    if (data !== undefined) {
      end = writeAscii(out, end, ',"d":')
      end += typeof data === 'number' ? copyPayload(data, out, end) : (out as NativeBuffer).utf8Write(data, end)
    }
    end = writeField(out, end, ',"c":', job.createdAt)
    if (job.runAt !== job.createdAt) end = writeField(out, end, ',"r":', job.runAt)
    if (job.priority !== 0) end = writeField(out, end, ',"p":', job.priority)
    if (job.attempts !== 0) end = writeField(out, end, ',"a":', job.attempts)
    if (job.maxAttempts !== 0) end = writeField(out, end, ',"ma":', job.maxAttempts)
    if (job.backoff !== 0) end = writeField(out, end, ',"b":', job.backoff)
    if (job.ttl !== 0) end = writeField(out, end, ',"ttl":', job.ttl)
    if (job.timeout !== 0) end = writeField(out, end, ',"to":', job.timeout)
    if (job.holdsKey) end = writeAscii(out, end, ',"hk":1')
    if (job.progress !== 0) end = writeField(out, end, ',"pg":', job.progress)
    if (job.lifo) end = writeAscii(out, end, ',"lf":1')
    if (job.removeOnComplete) end = writeAscii(out, end, ',"rc":1')
    if (job.removeOnFail) end = writeAscii(out, end, ',"rf":1')
    if (job.lastHeartbeat !== 0) end = writeField(out, end, ',"hb":', job.lastHeartbeat)
    if (job.stallTimeout !== 0) end = writeField(out, end, ',"sto":', job.stallTimeout)
    if (job.stallCount !== 0) end = writeField(out, end, ',"sc":', job.stallCount)
    const parentId = job.parentId
    if (parentId !== null) end = writeField(out, end, ',"par":', parentId)
    if (job.childrenCompleted !== 0) end = writeField(out, end, ',"cc":', job.childrenCompleted)
    if (job.keepCompletedAge !== 0) end = writeField(out, end, ',"kca":', job.keepCompletedAge)
    if (job.keepCompletedCount !== 0) end = writeField(out, end, ',"kcc":', job.keepCompletedCount)
    if (job.completedAt !== 0) end = writeField(out, end, ',"ca":', job.completedAt)
    if (job.pollCount >= 0) end = writeField(out, end, ',"qn":', job.pollCount)
    // As encodeJob: active jobs come back as waiting (pulls are not recorded).
    const loc = job.loc
    const placed = loc === LOC_ACTIVE || loc === LOC_DELAYED || loc === LOC_GROUP_WAIT || loc === LOC_GONE ? LOC_READY : loc
    if (placed !== LOC_READY) end = writeField(out, end, ',"l":', placed)
    if (placed === LOC_COMPLETED && !job.inHistory) end = writeAscii(out, end, ',"nh":1')
    out[end] = closeBrace
    return end + 1 - at
  }

  /** The record's bytes in a buffer of their own (tests and tools). */
  bytes(): Buffer {
    const out = Buffer.alloc(this.bytesMax())
    return out.subarray(0, this.writeTo(out, 0))
  }

  /** The record's text (tests and tools). */
  text(): string {
    return this.bytes().toString()
  }

  #queueBytes(queue: string): Buffer {
    let bytes = this.#queueJson.get(queue)
    if (bytes === undefined) {
      bytes = Buffer.from(JSON.stringify(queue))
      this.#queueJson.set(queue, bytes)
    }
    return bytes
  }
}

/** A string or list field other than the queue and the payload (encodeJob's text writes those). */
function hasRareFields(job: Job): boolean {
  return job.uniqueKey !== null || job.dependsOn.length > 0 || job.pendingDeps.length > 0 || job.progressMsg !== null ||
    job.tags.length > 0 || job.childrenIds.length > 0 || job.customId !== null || job.groupId !== null ||
    job.failReason !== null || job.pollTag !== null
}

function writeField(out: Buffer, at: number, key: string, value: number): number {
  return writeNumber(out, writeAscii(out, at, key), value)
}

/** `text` is ASCII (a key and its punctuation). */
function writeAscii(out: Buffer, at: number, text: string): number {
  for (let k = 0; k < text.length; k++) out[at + k] = text.charCodeAt(k)
  return at + text.length
}

/** A number as JSON.stringify writes it: digits for an integer, its own text for anything else. */
function writeNumber(out: Buffer, at: number, value: number): number {
  if (!Number.isSafeInteger(value)) return at + (out as NativeBuffer).utf8Write(JSON.stringify(value), at)
  let rest = value
  let end = at
  if (rest < 0) {
    out[end++] = minus
    rest = -rest
  }
  let digits = 1
  for (let left = rest; left >= 10; left = Math.floor(left / 10)) digits++
  end += digits
  for (let k = end - 1; k >= end - digits; k--) {
    const tens = Math.floor(rest / 10)
    out[k] = digitZero + (rest - tens * 10)
    rest = tens
  }
  return end
}
