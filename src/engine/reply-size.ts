/**
 * How many bytes a job takes in a reply, cheaply: replies that list jobs (PULLB, DLQ, GETJOBS,
 * GETJOBSBATCH) must stay under replyBytesMax (protocol/reply-budget.ts).
 *
 * A job remembers the size of the request that created it (Job.request), an upper bound of
 * everything it got from that request (data, tags, keys…); the fields that change later are added
 * on top. Summing these bounds is free; only when the bounds of one reply pass the limit are its
 * jobs measured exactly (one JSON.stringify each), so big batches of small jobs never pay for it.
 */
import { jsonBytes, replyItemsBytesMax } from '../protocol/reply-budget.ts'
import { type Job, type RequestSize, jobToWire } from './job.ts'

/** The wire fields a request does not bound: keys, numbers, nulls (31 fields; measured ~600 bytes). */
const wireFixedBytes = 1024
/** A job id in children_ids, with its comma. */
const idBytesMax = 17

/** Wire bytes of the job beyond what its request bounds: fixed fields and the ones set later. */
function wireExtraBytes(job: Job): number {
  const progressBytes = job.progressMsg === null ? 0 : job.progressMsg.length * 3
  return progressBytes + job.childrenIds.length * idBytesMax + wireFixedBytes
}

/** The job's request size; a job without one is measured once (its whole wire form). */
function requestOf(job: Job): RequestSize {
  if (job.request === null) job.request = jobWireBytes(job)
  return job.request
}

/** The job's wire JSON size, exactly. */
export function jobWireBytes(job: Job): number {
  return jsonBytes(jobToWire(job))
}

/**
 * The jobs of one reply. `copies` is how often each job's wire form appears in it (2 for browser
 * items, which nest the job again). The jobs of one PUSHB share its request size, so together they
 * count it once: a PULLB of 1,000 jobs pushed by one PUSHB is bounded by that PUSHB's size.
 */
export class JobReplyBudget {
  readonly #jobs: Job[] = []
  /** The shared requests (PUSHB) counted so far. */
  readonly #requests = new Set<object>()
  #bytes = 0
  #exact = false

  constructor(
    readonly copies = 1,
    readonly bytesMax = replyItemsBytesMax,
  ) {}

  /** Counts `job`: false (not counted) when it would pass the limit, unless it is the first. */
  admit(job: Job): boolean {
    let bytes = this.copies * (this.#exact ? jobWireBytes(job) : this.#boundOf(job))
    if (this.#jobs.length > 0 && this.#bytes + bytes > this.bytesMax) {
      if (!this.#exact) this.#measureExactly()
      bytes = this.copies * jobWireBytes(job)
      if (this.#bytes + bytes > this.bytesMax) return false
    }
    this.#jobs.push(job)
    this.#bytes += bytes
    return true
  }

  #boundOf(job: Job): number {
    const request = requestOf(job)
    if (typeof request === 'number') return request + wireExtraBytes(job)
    if (this.#requests.has(request)) return wireExtraBytes(job)
    this.#requests.add(request)
    return request.bytes + wireExtraBytes(job)
  }

  /** The bounds passed the limit: measure what is counted so far, and every later job. */
  #measureExactly(): void {
    this.#exact = true
    this.#bytes = 0
    for (const job of this.#jobs) this.#bytes += this.copies * jobWireBytes(job)
  }
}
