/**
 * The only messages between the front (main thread) and a shard host (a Worker, or the main thread
 * itself with --workers 0). Hot traffic is plain strings, which postMessage moves on a fast path;
 * structured objects are only used for rare control messages.
 *
 * Request batch (front → host), one string per host per tick, records separated by LF:
 *     <token> TAB <shardIndex> TAB <request JSON line>
 * Reply batch (host → front), one string per host per flush, each line one of:
 *     <token> TAB <reply JSON without reqId>
 *     e TAB <JobEvent JSON>          (only when HostInit.eventsWanted)
 * Both leave only once the records that produced them are durable.
 * JSON lines never contain a raw LF (spec §1.3), so LF is a safe separator.
 *
 * An in-thread host (--workers 0, HostInit.replyPairs) sends the same reply batch as ReplyPairs
 * instead: no text to build and split again in the same thread.
 */
import type { Config } from '../base/config.ts'
import type { CrossShardMessage, Token } from '../engine/types.ts'
import type { RecoveryReport } from '../storage/types.ts'
import type { AdminOp, ShardAdminResult } from './storage-admin.ts'

export type HostInit = {
  k: 'init'
  config: Config
  shardCount: number
  shardIndexes: number[]
  /** Also send engine events (only when someone listens: SSE, WebSocket, webhooks). */
  eventsWanted: boolean
  /**
   * The start-up warm-up's throw-away host (server/warmup.ts): its logs go to a backend that keeps
   * nothing (io/discard.ts), never to the data directory.
   */
  scratch?: boolean
  /** Reply batches as ReplyPairs instead of text (an in-thread host: its sink is a function call). */
  replyPairs?: boolean
}

export type ToHost =
  | HostInit
  | { k: 'cancel'; tokens: Token[] }
  /** The front handled the reply batch before `moreReplies`: send the next part (cancelled ones dropped). */
  | { k: 'sendMoreReplies' }
  /** Their clients half-closed: pulls still waiting end now, answered empty. */
  | { k: 'endPullWaits'; tokens: Token[] }
  /** Jobs delivered but never written to their worker: back to waiting if still active from that delivery. */
  | { k: 'requeue'; deliveries: Array<[id: number, startedAtMs: number]> }
  | { k: 'cross'; items: CrossShardMessage[] }
  | { k: 'checkpoint' }
  /** Graceful shutdown has begun: hand out no more jobs (acks and everything else still work). */
  | { k: 'stopDelivery' }
  | { k: 'stop' }
  /** Turns engine events on or off (the front's event hub has subscribers, or none left). */
  | { k: 'eventsWanted'; on: boolean }
  /** Storage administration (/storage/*, queued_io_* metrics); answered with an `admin` reply. */
  | { k: 'admin'; id: number; op: AdminOp }

export type ShardReady = {
  shardIndex: number
  report: RecoveryReport | null
  diskBytes: number
}

export type FromHost =
  | { k: 'ready'; io: string; ioFallbackReason: string | null; shards: ShardReady[] }
  | { k: 'cross'; items: CrossShardMessage[] }
  | { k: 'fatal'; error: string }
  /** Replies past hostReplyBytesPerTurnMax are waiting: the front answers `sendMoreReplies` once it handled this batch. */
  | { k: 'moreReplies' }
  | { k: 'stopped' }
  | { k: 'admin'; id: number; shards: ShardAdminResult[] }

export const fieldSeparator = '\t'
export const recordSeparator = '\n'

/**
 * A reply batch, flat: a token then its reply JSON (without reqId), per reply, in order; an event is
 * eventToken then its JobEvent JSON. Flat, not a pair per reply: one array per batch.
 */
export type ReplyPairs = Array<Token | string>
export const eventToken = -1

/** The text form of a reply batch (see the header): what a Worker's host posts. */
export function replyBatchText(pairs: Readonly<ReplyPairs>): string {
  let text = ''
  for (let at = 0; at < pairs.length; at += 2) {
    const token = pairs[at] as Token
    text += `${at === 0 ? '' : recordSeparator}${token === eventToken ? 'e' : token}${fieldSeparator}${pairs[at + 1] as string}`
  }
  return text
}

/** Where a host sends things: postMessage in a Worker, a direct call with --workers 0. */
export type HostSink = (message: FromHost | string | ReplyPairs) => void

/**
 * Requests for an in-thread host (--workers 0), flat: directRequestSlots each, its token, its shard,
 * its JSON text and, when the front parsed it, that text parsed (else undefined). Flat, not a tuple
 * per request: one array per batch instead of one per request (test/bench/request-objects.ts).
 */
export type DirectRequests = unknown[]
export const directRequestSlots = 4
