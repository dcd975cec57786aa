/**
 * Transport-independent request dispatch: takes a decoded request (and its original JSON text),
 * answers front-only commands (AUTH, PING, unknown commands: all here, once), and routes the rest to
 * one shard, or fans it out and merges — as the command table (protocol/table.ts) says. TCP and the
 * HTTP routes both submit here.
 */
import type { Config } from '../base/config.ts'
import { timingSafeEqual } from 'node:crypto'
import type { Token } from '../engine/types.ts'
import { parseCommand } from '../protocol/commands.ts'
import { invalidToken } from '../protocol/errors.ts'
import { mergeReplies, fanOutRequest } from './merge.ts'
import { assemblePage, keysRequest, needsDeepPage, planPage } from './deep-page.ts'
import { customIdsOfPush, customIdsQuestion, CustomIdGate, foundElsewhere, planPush, type PushPlan } from './custom-ids.ts'
import { idShard, routeKindOf, shardOf, splitRequest, wholeRequestShard } from './route.ts'
import type { ReplyTarget, ShardPool } from './shard-pool.ts'
import { deliveriesOf } from './undelivered.ts'
import { AuthFailures, type AuthVerdict } from './auth-failures.ts'

/** Something that gets exactly one reply (JSON without reqId) and remembers its shard tokens. */
export interface Answerable extends ReplyTarget {
  tokens: Token[]
  /** The TCP connection it came on: its requests start in the order they came (custom-ids.ts). */
  readonly connection?: { readonly closed: boolean }
}

export class Front {
  private tokenBytes: Buffer[] = []
  readonly authFailures = new AuthFailures()

  constructor(
    private readonly pool: ShardPool,
    config: Config,
  ) {
    this.setTokens(config.authTokens)
  }

  /** Replaces the auth tokens (`POST /settings/auth`); an empty list turns auth off. */
  setTokens(tokens: readonly string[]): void {
    this.tokenBytes = tokens.filter((token) => token.length > 0).map((token) => Buffer.from(token))
  }

  get tokenCount(): number {
    return this.tokenBytes.length
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

  /** The token check of every transport, within the failure budget of the client's address. */
  authorize(token: unknown, address: string): AuthVerdict {
    if (!this.authRequired) return { ok: true }
    return this.authFailures.check(address, () => this.checkToken(token))
  }

  /**
   * Routes one request. `line` is its JSON text, forwarded as is when it goes to a single shard.
   * `internal` allows the internal commands of the command table (the HTTP routes send them);
   * `deferred` lets the pool batch this request with others of the same event-loop turn (HTTP).
   * `parsedFromLine` says `request` is exactly JSON.parse(line) (TCP JSON lines): an in-thread shard
   * host then uses it instead of parsing the line again.
   */
  submit(request: Record<string, unknown>, line: string, target: Answerable, internal = false, deferred = false, parsedFromLine = false): void {
    // Almost always empty: one size check per request, not a map lookup.
    const held = this.heldConnections.size === 0 || target.connection === undefined ? undefined : this.heldConnections.get(target.connection)
    if (held !== undefined) return this.holdBehind(held, request, line, target, internal, deferred, parsedFromLine)
    this.deferred = deferred
    try {
      this.route(request, line, target, internal, parsedFromLine)
    } finally {
      this.deferred = false
    }
  }

  /**
   * Submits the request once its connection is released. The closure is made here, not in submit:
   * a function that creates a closure allocates its scope on every call, also when it creates none.
   */
  private holdBehind(held: Array<() => void>, request: Record<string, unknown>, line: string, target: Answerable, internal: boolean, deferred: boolean, parsedFromLine: boolean): void {
    held.push(() => this.submit(request, line, target, internal, deferred, parsedFromLine))
  }

  /** Set while submitting a request whose transport prefers batching over the earliest flush (HTTP). */
  private deferred = false

  private route(request: Record<string, unknown>, line: string, target: Answerable, internal: boolean, parsedFromLine: boolean): void {
    const kind = routeKindOf(request, internal)
    if (kind === undefined && testHooksEnabled && request.cmd === '_CRASH') return this.toShard(0, line, target)
    if (kind === undefined && testHooksEnabled && request.cmd === '_GC') return this.toShard(Number(request.shard) % this.pool.shardCount || 0, line, target)
    if (kind === undefined || kind === 'front') return target.deliver(0, JSON.stringify(this.answerAtFront(request, internal)))
    if (this.pushDefaults !== null && isPush(request.cmd)) {
      request = this.withPushDefaults(request)
      line = JSON.stringify(request)
      parsedFromLine = false // the filled-in copy is not what parsing the new line gives (undefined, key order)
    }
    const parsed = parsedFromLine ? request : undefined
    const shardCount = this.pool.shardCount
    if (shardCount > 1 && isPush(request.cmd)) {
      const customIds = customIdsOfPush(request)
      if (customIds.length > 0) return this.pushWithCustomIds(request, customIds, target)
    }
    if (kind === 'all' && request.cmd === 'GETJOBS' && needsDeepPage(request)) return this.deepPage(request, target)
    if (kind === 'all') return this.fanOut(request, allShards(shardCount, request), target)
    if (kind === 'split') {
      const whole = wholeRequestShard(request, shardCount)
      if (whole !== null) return this.toShard(whole, line, target, false, parsed)
      return this.fanOut(request, splitRequest(request, shardCount) as Map<number, Record<string, unknown>>, target)
    }
    this.toShard(shardOf(kind, request, shardCount), line, target, request.cmd === 'PULL' || request.cmd === 'PULLB', parsed)
  }

  private toShard(shard: number, line: string, target: Answerable, pull = false, parsed?: unknown): void {
    target.tokens.push(this.pool.send(shard, line, target, pull, this.deferred, parsed))
  }

  /**
   * A PULL or PULLB reply that never reached its client (TCP connection gone, HTTP client gone):
   * its jobs go back to waiting, without counting an attempt (see undelivered.ts).
   */
  returnUndelivered(replyJson: string): void {
    const deliveries = deliveriesOf(replyJson)
    if (deliveries.length > 0) this.pool.requeue(deliveries)
  }

  /** AUTH over any transport: the reply, and whether the caller is now authenticated. */
  authenticate(request: Record<string, unknown>, address: string | null): { reply: object; authenticated: boolean } {
    const parsed = parseCommand(request)
    if (!parsed.ok) return { reply: { ok: false, error: parsed.error }, authenticated: false }
    const verdict = address === null ? { ok: this.checkToken(request.token), error: invalidToken } : this.authorize(request.token, address)
    return { reply: verdict.ok ? { ok: true } : { ok: false, error: verdict.error }, authenticated: verdict.ok }
  }

  /** Unknown commands and the front's own commands (route 'front' in the command table). */
  private answerAtFront(request: Record<string, unknown>, internal: boolean): object {
    const parsed = parseCommand(request, { internal }) // unknown commands get their `Invalid: …` here
    if (!parsed.ok) return { ok: false, error: parsed.error }
    const command = parsed.command
    switch (command.cmd) {
      case 'PING': return { ok: true, pong: true }
      case 'AUTH': return this.authenticate(request, null).reply // behind the HTTP token check already
      case '_SETTOKENS':
        this.setTokens(command.tokens)
        return { ok: true, count: this.tokenCount }
      default: return { ok: true } // SUBSCRIBE / UNSUBSCRIBE: events are served over SSE and WebSocket
    }
  }

  /**
   * Defaults for every queue (`POST /settings/queue-defaults` without a queue), kept in memory like
   * the reference's settings; per-queue defaults are durable in the shards (_QUEUEDEFAULTS).
   */
  pushDefaults: PushDefaults | null = null

  private withPushDefaults(request: Record<string, unknown>): Record<string, unknown> {
    const defaults = this.pushDefaults as PushDefaults
    const fill = (fields: Record<string, unknown>) => {
      const filled = { ...fields }
      for (const [field, value] of Object.entries(defaults)) if (filled[field] === undefined || filled[field] === null) filled[field] = value
      return filled
    }
    if (request.cmd !== 'PUSHB') return fill(request)
    if (!Array.isArray(request.jobs)) return request
    return { ...request, jobs: request.jobs.map((job) => (typeof job === 'object' && job !== null ? fill(job as Record<string, unknown>) : job)) }
  }

  /**
   * Sends one part per shard and merges the replies once all have arrived. Replies are kept in the
   * order of `parts` (shard index order for 'all'), which KVMGET's merge relies on.
   */
  private fanOut(request: Record<string, unknown>, parts: Map<number, Record<string, unknown>>, target: Answerable): void {
    const adjusted = new Map([...parts].map(([shard, part]) => [shard, fanOutRequest(part)]))
    this.gather(adjusted, target, (replies) => target.deliver(0, JSON.stringify(mergeReplies(request, replies, this.pool.shardCount))))
  }

  /** Sends each part to its shard; `done` gets the replies in the order of `parts` once all arrived. */
  private gather(parts: Map<number, Record<string, unknown>>, target: Answerable, done: (replies: Reply[]) => void): void {
    const shards = [...parts.keys()]
    const replies: Reply[] = new Array(shards.length)
    const slotOfToken = new Map<Token, number>()
    let waiting = shards.length
    const aggregator: ReplyTarget = {
      deliver: (token, replyJson) => {
        replies[slotOfToken.get(token) as number] = JSON.parse(replyJson) as Reply
        if (--waiting === 0) done(replies)
      },
    }
    shards.forEach((shard, slot) => {
      const token = this.pool.send(shard, JSON.stringify(parts.get(shard)), aggregator, false, this.deferred)
      slotOfToken.set(token, slot)
      target.tokens.push(token)
    })
  }

  /** A push carrying custom ids: the other shards are asked first (custom-ids.ts). */
  private pushWithCustomIds(request: Record<string, unknown>, customIds: readonly string[], target: Answerable): void {
    const home = shardOf('queue', request, this.pool.shardCount)
    const others = [...Array(this.pool.shardCount).keys()].filter((shard) => shard !== home)
    const question = customIdsQuestion(request.queue as string, customIds)
    const connection = target.connection
    // Later requests of this connection wait until the push is sent (a pipelined PULL must see it).
    if (connection !== undefined) this.heldConnections.set(connection, [])
    // The question is not cancelled with the request (its tokens stay out of target.tokens): the
    // gate and the connection are released only when its answers come.
    const questioner: Answerable = { tokens: [], deliver: () => {} }
    this.customIdGate.acquire(customIds, () => {
      this.gather(new Map(others.map((shard) => [shard, question])), questioner, (replies) => {
        this.sendPlanned(planPush(request, foundElsewhere(customIds, replies)), target)
        this.customIdGate.release(customIds)
        if (connection !== undefined) this.releaseConnection(connection)
      })
    })
  }

  private sendPlanned(plan: PushPlan, target: Answerable): void {
    if (plan.kind === 'answer') return target.deliver(0, JSON.stringify(plan.reply))
    if (plan.kind === 'existingJob') {
      const shard = idShard(plan.id, this.pool.shardCount)
      return this.gather(new Map([[shard, { cmd: 'GETJOB', id: plan.id }]]), target, ([reply]) =>
        target.deliver(0, JSON.stringify(reply?.ok ? { ok: true, id: plan.id, job: reply.job } : reply)))
    }
    const { request, merge } = plan
    const shard = shardOf('queue', request, this.pool.shardCount)
    if (merge === null) return this.toShard(shard, JSON.stringify(request), target)
    this.gather(new Map([[shard, request]]), target, ([reply]) => target.deliver(0, JSON.stringify(merge(reply as Reply))))
  }

  /** Submits what a connection sent while it was held, in order, until one of them holds it again. */
  private releaseConnection(connection: { readonly closed: boolean }): void {
    const held = this.heldConnections.get(connection) ?? []
    this.heldConnections.delete(connection)
    // A closed connection's replies are never written: a pull sent now would take jobs for nobody.
    if (connection.closed) return
    for (let index = 0; index < held.length; index++) {
      const again = this.heldConnections.get(connection)
      if (again !== undefined) return void again.push(...held.slice(index))
      ;(held[index] as () => void)()
    }
  }

  private readonly customIdGate = new CustomIdGate()
  /** TCP connections whose requests wait behind a push with custom ids, with what they sent since. */
  private readonly heldConnections = new Map<object, Array<() => void>>()

  /** GETJOBS over every shard deeper than one shard page: keys first, then the page (deep-page.ts). */
  private deepPage(request: Record<string, unknown>, target: Answerable): void {
    const keys = keysRequest(request)
    const shards = [...Array(this.pool.shardCount).keys()]
    this.gather(new Map(shards.map((shard) => [shard, keys])), target, (keyReplies) => {
      const plan = planPage(request, shards, keyReplies)
      if ('reply' in plan) return target.deliver(0, JSON.stringify(plan.reply))
      this.gather(plan.parts, target, (replies) => target.deliver(0, JSON.stringify(assemblePage(plan, replies))))
    })
  }
}

type Reply = { ok: boolean; error?: string; [field: string]: unknown }

export type PushDefaults = { timeout?: number; max_attempts?: number; backoff?: number; ttl?: number }

/**
 * FLASHQ_TEST_HOOKS=1: `_CRASH` goes to shard 0, whose host then dies; `_GC` to shard `shard`, whose
 * thread collects garbage and answers its heap statistics (shard/host.ts; test/bench/memory.ts).
 */
const testHooksEnabled = process.env.FLASHQ_TEST_HOOKS === '1'

const isPush = (cmd: unknown) => cmd === 'PUSH' || cmd === 'PUSHB' || cmd === '_PUSHJOB'

function allShards(shardCount: number, request: Record<string, unknown>): Map<number, Record<string, unknown>> {
  return new Map([...Array(shardCount).keys()].map((shard) => [shard, request]))
}
