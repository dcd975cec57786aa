/**
 * Transport-independent request dispatch: takes a decoded request (and its original JSON text),
 * answers front-only commands, and routes the rest to one shard, or fans it out and merges.
 * TCP uses it now; HTTP routes will use it the same way.
 */
import type { Config } from '../base/config.ts'
import { timingSafeEqual } from 'node:crypto'
import type { Token } from '../engine/types.ts'
import { parseCommand } from '../protocol/commands.ts'
import { mergeReplies, fanOutRequest } from './merge.ts'
import { routeKindOf, shardOf, splitRequest } from './route.ts'
import type { ReplyTarget, ShardPool } from './shard-pool.ts'
import { deliveriesOf } from './undelivered.ts'

/** Something that gets exactly one reply (JSON without reqId) and remembers its shard tokens. */
export interface Answerable extends ReplyTarget {
  tokens: Token[]
}

export class Front {
  private readonly tokenBytes: Buffer[]

  constructor(
    private readonly pool: ShardPool,
    config: Config,
  ) {
    this.tokenBytes = config.authTokens.map((token) => Buffer.from(token))
  }

  get authRequired(): boolean {
    return this.tokenBytes.length > 0
  }

  /** Constant-time comparison against every configured token. */
  checkToken(token: unknown): boolean {
    if (!this.authRequired) return true
    if (typeof token !== 'string') return false
    const given = Buffer.from(token)
    let match = false
    for (const expected of this.tokenBytes) {
      const same = expected.length === given.length && timingSafeEqual(expected, given)
      match = match || same
    }
    return match
  }

  /** Routes one request. `line` is its JSON text, forwarded as is when it goes to a single shard. */
  submit(request: Record<string, unknown>, line: string, target: Answerable): void {
    const kind = routeKindOf(request)
    if (kind === undefined || kind === 'front') {
      // Unknown commands go to a shard too: its validation produces the `Invalid: …` text.
      if (kind === undefined) return this.toShard(0, line, target, false)
      return target.deliver(0, JSON.stringify(this.answerAtFront(request)))
    }
    const shardCount = this.pool.shardCount
    if (kind === 'all') return this.fanOut(request, allShards(shardCount, request), target)
    if (kind === 'split') {
      const parts = splitRequest(request, shardCount)
      if (parts === null || parts.size === 1) {
        const [shard] = parts?.keys() ?? [0]
        return this.toShard(shard ?? 0, line, target, false)
      }
      return this.fanOut(request, parts, target)
    }
    const pull = request.cmd === 'PULL' || request.cmd === 'PULLB'
    this.toShard(shardOf(kind, request, shardCount), line, target, pull)
  }

  private toShard(shard: number, line: string, target: Answerable, pull: boolean): void {
    target.tokens.push(this.pool.send(shard, line, target, pull))
  }

  /**
   * A PULL or PULLB reply that never reached its client (TCP connection gone, HTTP client gone):
   * its jobs go back to waiting, without counting an attempt (see undelivered.ts).
   */
  returnUndelivered(replyJson: string): void {
    const deliveries = deliveriesOf(replyJson)
    if (deliveries.length > 0) this.pool.requeue(deliveries)
  }

  private answerAtFront(request: Record<string, unknown>): object {
    const parsed = parseCommand(request) // the same validation as every other command
    if (!parsed.ok) return { ok: false, error: parsed.error }
    switch (request.cmd) {
      case 'PING': return { ok: true, pong: true }
      case 'AUTH': return this.checkToken(request.token) ? { ok: true } : { ok: false, error: 'Invalid token' }
      default: return { ok: true } // SUBSCRIBE / UNSUBSCRIBE: events are served over SSE and WebSocket
    }
  }

  /**
   * Sends one part per shard and merges the replies once all have arrived. Replies are kept in the
   * order of `parts` (shard index order for 'all'), which KVMGET's merge relies on.
   */
  private fanOut(request: Record<string, unknown>, parts: Map<number, Record<string, unknown>>, target: Answerable): void {
    const shards = [...parts.keys()]
    const replies: Reply[] = new Array(shards.length)
    const slotOfToken = new Map<Token, number>()
    let waiting = shards.length
    const aggregator: ReplyTarget = {
      deliver: (token, replyJson) => {
        replies[slotOfToken.get(token) as number] = JSON.parse(replyJson) as Reply
        if (--waiting > 0) return
        target.deliver(0, JSON.stringify(mergeReplies(request, replies, this.pool.shardCount)))
      },
    }
    shards.forEach((shard, slot) => {
      const part = fanOutRequest(parts.get(shard) as Record<string, unknown>)
      const token = this.pool.send(shard, JSON.stringify(part), aggregator)
      slotOfToken.set(token, slot)
      target.tokens.push(token)
    })
  }
}

type Reply = { ok: boolean; error?: string; [field: string]: unknown }

function allShards(shardCount: number, request: Record<string, unknown>): Map<number, Record<string, unknown>> {
  return new Map([...Array(shardCount).keys()].map((shard) => [shard, request]))
}
