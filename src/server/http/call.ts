/**
 * One command from an HTTP request, through the same Front as TCP: same validation, same routing, same
 * durability (the reply to a change arrives only once it is on disk). Resolves with the TCP reply.
 *
 * A request whose client goes away is cancelled at the shards; a pull that leased a job just before
 * the cancel arrived has that job returned to waiting, without an attempt (server/undelivered.ts).
 */
import { httpRequestTimeoutMs } from '../../base/limits.ts'
import type { Token } from '../../engine/types.ts'
import type { Front } from '../front.ts'
import type { ShardPool } from '../shard-pool.ts'

export type Reply = { ok: boolean; error?: string; [field: string]: unknown }

export type CallOptions = {
  /** The HTTP request's signal: aborted when the client disconnects. */
  signal?: AbortSignal
  /** How long the command itself may block (a pull's timeout); the request deadline adds to it. */
  blockingMs?: number
  /** The request deadline beyond blockingMs (httpRequestTimeoutMs; tests shorten it). */
  deadlineMs?: number
  /** Sent at the end of this task, not batched with the turn's other requests (the caller merged them). */
  sendNow?: boolean
  /**
   * The request holds only JSON values (no undefined, no class instances), so JSON.parse of its text
   * gives it back: a shard host in this thread takes it as is instead of parsing the text again.
   */
  plainJson?: boolean
}

export const requestTimedOut = 'Request timed out: the shards did not answer in time'
export const clientGone = 'Client closed the request'

export function callCommand(front: Front, pool: ShardPool, request: Record<string, unknown>, options: CallOptions = {}): Promise<Reply> {
  const { promise, resolve } = Promise.withResolvers<Reply>()
  const tokens: Token[] = []
  let settled = false
  const settle = (reply: Reply) => {
    if (settled) return
    settled = true
    deadlines.remove(deadline)
    options.signal?.removeEventListener('abort', onAbort)
    resolve(reply)
  }
  const giveUp = (reason: string) => {
    if (settled) return
    pool.cancel(tokens)
    settle({ ok: false, error: reason })
  }
  const onAbort = () => giveUp(clientGone)
  const deadline = deadlines.add((options.blockingMs ?? 0) + (options.deadlineMs ?? httpRequestTimeoutMs), () => giveUp(requestTimedOut))
  options.signal?.addEventListener('abort', onAbort)
  // Routes build `cmd` themselves (never from a body), so internal commands are allowed here.
  front.submit(request, JSON.stringify(request), {
    tokens,
    deliver: (_token, replyJson) => {
      // The client left between the shard's answer and now: what a pull leased goes back.
      if (options.signal?.aborted && (request.cmd === 'PULL' || request.cmd === 'PULLB')) front.returnUndelivered(replyJson)
      settle(JSON.parse(replyJson) as Reply)
    },
  }, true, options.sendNow !== true, options.plainJson === true)
  if (options.signal?.aborted) onAbort()
  return promise
}

type Deadline = { atMs: number; expire: () => void; group: Set<Deadline> }

/**
 * Request deadlines without a timer each (a timer set and cleared per request was a visible share
 * of the fast path's cost): deadlines of the same length expire in the order they were set, so each
 * length keeps one ordered set and one timer, armed for its oldest entry.
 */
class Deadlines {
  private readonly groups = new Map<number, Set<Deadline>>()
  private readonly timers = new Map<number, Timer>()

  add(afterMs: number, expire: () => void): Deadline {
    let group = this.groups.get(afterMs)
    if (group === undefined) this.groups.set(afterMs, (group = new Set()))
    const deadline = { atMs: performance.now() + afterMs, expire, group }
    group.add(deadline)
    if (!this.timers.has(afterMs)) this.arm(afterMs, group, afterMs)
    return deadline
  }

  remove(deadline: Deadline): void {
    deadline.group.delete(deadline)
  }

  private arm(afterMs: number, group: Set<Deadline>, inMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(afterMs)
      const nowMs = performance.now()
      for (const deadline of group) {
        if (deadline.atMs > nowMs) return this.arm(afterMs, group, deadline.atMs - nowMs)
        group.delete(deadline)
        deadline.expire()
      }
      this.groups.delete(afterMs) // empty: a group of a one-off length does not stay
    }, Math.max(1, Math.ceil(inMs)))
    this.timers.set(afterMs, timer)
  }
}

const deadlines = new Deadlines()
