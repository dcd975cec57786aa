/**
 * How many bytes a job takes in a reply, cheaply: replies that list jobs (PULLB, DLQ, GETJOBS,
 * GETJOBSBATCH) must stay under replyBytesMax (protocol/reply-budget.ts).
 *
 * A job remembers the size of the request that created it (Job.requestBytes), an upper bound of
 * everything it got from that request (data, tags, keys…); the fields that change later are added
 * on top. Summing these bounds is free; only when the bounds of one reply pass the limit are its
 * jobs measured exactly (one JSON.stringify each), so big batches of small jobs never pay for it.
 */
import { jsonBytes, replyItemsBytesMax } from '../protocol/reply-budget.ts'
import { type Job, jobToWire } from './job.ts'

/** The wire fields a request does not bound: keys, numbers, nulls (31 fields; measured ~600 bytes). */
const wireFixedBytes = 1024
/** A job id in children_ids, with its comma. */
const idBytesMax = 17

/** An upper bound of the job's wire JSON in bytes. Measures (once) a job whose request size is unknown. */
export function jobWireBytesBound(job: Job): number {
  if (job.requestBytes < 0) job.requestBytes = jobWireBytes(job)
  const progressBytes = job.progressMsg === null ? 0 : job.progressMsg.length * 3
  return job.requestBytes + progressBytes + job.childrenIds.length * idBytesMax + wireFixedBytes
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
    let bytes = this.copies * (this.#exact ? jobWireBytes(job) : jobWireBytesBound(job))
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
