/**
 * How many bytes a job takes in a reply, cheaply: replies that list jobs (PULLB, DLQ, GETJOBS,
 * GETJOBSBATCH) must stay under replyBytesMax (protocol/reply-budget.ts).
 *
 * A job's bound is read off the job without serializing it: its payload's byte length (the arena
 * knows it; a string's UTF-16 length × 3 bounds it), the strings it carries × 6 (the longest JSON
 * escape, \u001f), and a fixed allowance for the keys and numbers. Summing these bounds is cheap;
 * only when the bounds of one reply pass the limit are its jobs measured exactly (one JSON.stringify
 * each), so big batches of small jobs never pay for it.
 */
import { jsonBytes, replyItemsBytesMax } from '../protocol/reply-budget.ts'
import { type Job, jobToWire } from './job.ts'
import { payloadBytesAt } from './payload-arena.ts'

/** The 31 wire keys, numbers, booleans and nulls (measured ~600 bytes). */
const wireFixedBytes = 1024
/** A job id in depends_on or children_ids, with its comma. */
const idBytesMax = 17
/** UTF-8 bytes of one UTF-16 unit of a string in JSON, at most (an escape like \u001f). */
const jsonBytesPerCharMax = 6

function stringBytesMax(text: string | null): number {
  return text === null ? 0 : text.length * jsonBytesPerCharMax
}

/** An upper bound of the job's wire JSON size (payload text is canonical JSON: stringified once, by Job.data). */
function boundOf(job: Job): number {
  const at = job.dataJson
  const dataBytes = typeof at === 'number' ? payloadBytesAt(at) : at === undefined ? 0 : at.length * 3
  let bytes = wireFixedBytes + dataBytes + stringBytesMax(job.queue)
  // The fields below default to null or empty: a job without JobExtras pays nothing for them.
  bytes += stringBytesMax(job.uniqueKey) + stringBytesMax(job.progressMsg) + stringBytesMax(job.customId) + stringBytesMax(job.groupId)
  for (const tag of job.tags) bytes += stringBytesMax(tag) + 3
  return bytes + (job.dependsOn.length + job.childrenIds.length) * idBytesMax
}

/** An upper bound of what a job takes in a listed CLEAN reply: its id, and its custom id by id when it has one. */
export function listedIdBytesMax(job: Job): number {
  // `"id":"custom id",` in custom_ids: the id, its quotes, a colon and the string's quotes.
  return job.customId === null ? idBytesMax : 2 * idBytesMax + 5 + stringBytesMax(job.customId)
}

/** The job's wire JSON size, exactly. */
export function jobWireBytes(job: Job): number {
  return jsonBytes(jobToWire(job))
}

/**
 * The jobs of one reply. `copies` is how often each job's wire form appears in it (2 for browser
 * items, which nest the job again).
 */
export class JobReplyBudget {
  readonly #jobs: Job[] = []
  #bytes = 0
  #exact = false

  constructor(
    readonly copies = 1,
    readonly bytesMax = replyItemsBytesMax,
  ) {}

  /** Counts `job`: false (not counted) when it would pass the limit, unless it is the first. */
  admit(job: Job): boolean {
    let bytes = this.copies * (this.#exact ? jobWireBytes(job) : boundOf(job))
    if (this.#jobs.length > 0 && this.#bytes + bytes > this.bytesMax) {
      if (!this.#exact) this.#measureExactly()
      bytes = this.copies * jobWireBytes(job)
      if (this.#bytes + bytes > this.bytesMax) return false
    }
    this.#jobs.push(job)
    this.#bytes += bytes
    return true
  }

  /** The bounds passed the limit: measure what is counted so far, and every later job. */
  #measureExactly(): void {
    this.#exact = true
    this.#bytes = 0
    for (const job of this.#jobs) this.#bytes += this.copies * jobWireBytes(job)
  }
}
