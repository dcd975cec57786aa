/**
 * One client connection's bookkeeping, independent of the socket API: requests in flight, the order
 * in which replies may be written, the outbound buffer and the read/pause decision.
 *
 * Ordering (spec §1.7): a reply to a request WITH reqId is written as soon as it exists; a request
 * WITHOUT reqId is answered only after every earlier request, and later replies wait behind it. So
 * while such a request is unanswered, every reply goes through an in-order FIFO. (We do not delay the
 * start of later requests behind a blocking request without reqId; only their answers wait.)
 */
import { clearArray } from '../base/arrays.ts'
import type { Token } from '../engine/types.ts'
import type { ReplyTarget } from './shard-pool.ts'

/** One request in flight; it is also the reply target handed to the shard pool. */
export class Request implements ReplyTarget {
  /** The reply text, set when it arrived while it still had to wait for its turn. */
  reply: string | null = null
  /** Shard tokens of this request (several when fanned out), cancelled if the connection closes. */
  tokens: Token[] = []
  /** A PULL or PULLB: its reply, if never written, gives its jobs back to waiting. */
  pull: 'PULL' | 'PULLB' | null = null
  /** A pull that may wait (timeout > 0): cancelled when the client half-closes (set by markBlocking). */
  blocking = false

  constructor(
    readonly connection: ConnectionState,
    readonly sequence: number,
    readonly reqId: string | number | undefined,
    /** Part of the in-order FIFO (see above). */
    readonly ordered: boolean,
  ) {}

  deliver(_token: Token, replyJson: string): void {
    this.connection.answer(this, replyJson)
  }
}

export class ConnectionState {
  readonly requests = new Map<number, Request>()
  private nextSequence = 1
  private readonly fifo: Request[] = []
  private fifoHead = 0
  /** Unanswered requests outside the FIFO; all of them are older than every FIFO entry. */
  private directInFlight = 0
  /** Unanswered blocking pulls (bounded by the shards' waiter limit, not by the in-flight pause). */
  private blockingInFlight = 0
  authenticated = false
  closed = false

  constructor(
    readonly id: number,
    /** Receives each reply text in the order it may go out. */
    private readonly emit: (text: string, request: Request) => void,
  ) {}

  get inFlight(): number {
    return this.requests.size
  }

  /**
   * Requests in flight that finish by themselves: blocking pulls wait for jobs, so counting them
   * could pause reading for good, and a paused socket never sees the client's FIN that would cancel
   * them (a job then went to a closed connection).
   */
  get inFlightNonBlocking(): number {
    return this.requests.size - this.blockingInFlight
  }

  markBlocking(request: Request): void {
    request.blocking = true
    this.blockingInFlight++
  }

  open(reqId: Request['reqId']): Request {
    const ordered = reqId === undefined || this.fifoHead < this.fifo.length
    const request = new Request(this, this.nextSequence++, reqId, ordered)
    this.requests.set(request.sequence, request)
    if (ordered) this.fifo.push(request)
    else this.directInFlight++
    return request
  }

  /** A reply (JSON without reqId) arrived for `request`. */
  answer(request: Request, replyJson: string): void {
    if (this.closed || !this.requests.delete(request.sequence)) return
    if (request.blocking) this.blockingInFlight--
    const text = withRequestId(request.reqId, replyJson)
    if (!request.ordered) {
      this.directInFlight--
      this.emit(text, request)
    } else {
      request.reply = text
    }
    this.drainFifo()
  }

  private drainFifo(): void {
    if (this.directInFlight > 0) return
    while (this.fifoHead < this.fifo.length) {
      const head = this.fifo[this.fifoHead] as Request
      if (head.reply === null) return
      this.emit(head.reply, head)
      head.reply = null
      this.fifoHead++
    }
    clearArray(this.fifo) // empty already whenever every request in flight has a reqId
    this.fifoHead = 0
  }

  /**
   * Shard tokens still waiting for a reply, for cancelling at close, and the pull replies that
   * arrived but were still waiting for their turn (never written: their jobs go back to waiting).
   */
  close(): { tokens: Token[]; unsentPullReplies: string[] } {
    this.closed = true
    const tokens: Token[] = []
    for (const request of this.requests.values()) tokens.push(...request.tokens)
    this.requests.clear()
    const unsentPullReplies: string[] = []
    for (let index = this.fifoHead; index < this.fifo.length; index++) {
      const request = this.fifo[index] as Request
      if (request.pull !== null && request.reply !== null) unsentPullReplies.push(request.reply)
    }
    return { tokens, unsentPullReplies }
  }

  /** Blocking pulls still in flight (cancelled when the client half-closes). */
  blockingPulls(): Request[] {
    const pulls: Request[] = []
    for (const request of this.requests.values()) if (request.blocking) pulls.push(request)
    return pulls
  }
}

/** Puts reqId first, as the spec's envelope order asks, without re-serialising the reply. */
export function withRequestId(reqId: Request['reqId'], replyJson: string): string {
  if (reqId === undefined) return replyJson
  const rest = replyJson.length > 2 ? `,${replyJson.slice(1)}` : '}'
  return `{"reqId":${JSON.stringify(reqId)}${rest}`
}
