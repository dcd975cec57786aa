/**
 * The front's side of the shard hosts: spawns the Workers (or one in-thread host with --workers 0),
 * batches requests into one message per host per tick, and hands each reply to whoever waits for its
 * token. Detects dead workers and answers their pending requests with an error instead of hanging.
 */
import type { Config } from '../base/config.ts'
import { shardOfJobId } from '../base/ids.ts'
import { workersMax } from '../base/limits.ts'
import { log } from '../base/log.ts'
import type { CrossShardMessage, JobEvent, Token } from '../engine/types.ts'
import { ShardHost } from '../shard/host.ts'
import { eventToken, type DirectRequests, type FromHost, type HostInit, type ReplyPairs, type ShardReady, type ToHost } from '../shard/messages.ts'
import { clientErrorText } from '../protocol/errors.ts'
import { deliveriesOf, type Delivery } from './undelivered.ts'
import type { AdminOp, ShardAdminResult } from '../shard/storage-admin.ts'

/** Whoever waits for a reply: a TCP request, an HTTP request, or a fan-out aggregator. */
export interface ReplyTarget {
  deliver(token: Token, replyJson: string): void
}

/** First character of an event line in a reply batch (shard/messages.ts). */
const eventLineMark = 'e'.charCodeAt(0)
const reopeningError = 'Server is restoring a backup: retry in a moment'

/** Upper bound on hosts, for the token encoding (workersMax hosts at most). */
const hostSlots = workersMax
/**
 * How long a cancelled pull's token is remembered: its reply may still come (held for a flush, at
 * most an fsync interval) and then carries jobs to give back.
 */
const cancelledPullMemoryMs = 120_000

export type PoolReady = { io: string; ioFallbackReason: string | null; shards: ShardReady[] }

type HostHandle = {
  index: number
  shardIndexes: number[]
  post: (message: ToHost | string) => void
  batch: string[]
  /** In-thread host (--workers 0): requests go to it as they are, not as one text to parse again. */
  direct: ((requests: DirectRequests) => void) | null
  directBatch: DirectRequests
  /** The empty array that becomes directBatch at the next flush; null while a flush runs a batch. */
  spareDirectBatch: DirectRequests | null
  dead: string | null
  /** Stopped on purpose by reopen(): its late events must not touch the hosts that replaced it. */
  retired: boolean
  stopped: Promise<void>
  onStopped: () => void
  terminate: () => void
}

export class ShardPool {
  private readonly hosts: HostHandle[] = []
  private readonly hostOfShard: HostHandle[] = []
  private readonly pending = new Map<Token, ReplyTarget>()
  /** Pulls in flight, and cancelled pulls (with the time of the cancel) whose reply may still come. */
  private readonly pullTokens = new Set<Token>()
  private readonly cancelledPulls = new Map<Token, number>()
  /** Tokens encode their host (token = sequence × hostSlots + host): no second map on the hot path. */
  private nextSequence = 1
  private flushScheduled = false
  /** Called after each reply batch, so the transports can coalesce their writes. */
  afterReplies: () => void = () => {}
  /** Engine events, in the order of the replies they came with (only sent while events are wanted). */
  onEvents: (events: JobEvent[]) => void = () => {}
  onFatal: (message: string) => void = () => {}

  constructor(
    private readonly config: Config,
    readonly shardCount: number,
    private readonly workerCount: number,
    private readonly workerUrl: string,
    /** The warm-up's throw-away pool: its hosts write nowhere (HostInit.scratch). */
    private readonly scratch = false,
  ) {}

  async start(eventsWanted: boolean): Promise<PoolReady> {
    this.startedWithEvents = eventsWanted
    const hostCount = Math.max(1, this.workerCount)
    const readies: Promise<FromHost & { k: 'ready' }>[] = []
    for (let index = 0; index < hostCount; index++) {
      const shardIndexes = [...Array(this.shardCount).keys()].filter((shard) => shard % hostCount === index)
      const init: HostInit = { k: 'init', config: this.config, shardCount: this.shardCount, shardIndexes, eventsWanted, ...(this.scratch ? { scratch: true } : {}) }
      readies.push(this.workerCount === 0 ? this.startInThread(index, init) : this.startWorker(index, init))
    }
    const ready = await Promise.all(readies)
    this.started = true
    return {
      io: ready[0]?.io ?? 'none',
      ioFallbackReason: ready[0]?.ioFallbackReason ?? null,
      shards: ready.flatMap((host) => host.shards).sort((a, b) => a.shardIndex - b.shardIndex),
    }
  }

  private register(index: number, shardIndexes: number[], post: HostHandle['post'], terminate: () => void, direct: HostHandle['direct'] = null): HostHandle {
    let onStopped = () => {}
    const stopped = new Promise<void>((resolve) => (onStopped = resolve))
    const handle: HostHandle = { index, shardIndexes, post, batch: [], direct, directBatch: [], spareDirectBatch: [], dead: null, retired: false, stopped, onStopped, terminate }
    this.hosts.push(handle)
    for (const shard of shardIndexes) this.hostOfShard[shard] = handle
    return handle
  }

  private startWorker(index: number, init: HostInit): Promise<FromHost & { k: 'ready' }> {
    const worker = new Worker(this.workerUrl)
    const handle = this.register(index, init.shardIndexes, (message) => worker.postMessage(message), () => worker.terminate())
    return new Promise((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<FromHost | string>) => {
        const message = event.data
        if (typeof message !== 'string' && message.k === 'ready') return resolve(message)
        this.receive(handle, message, reject)
      }
      worker.onerror = (event) => this.hostDied(handle, `shard worker ${index} crashed: ${clientErrorText(event.message)}`, reject)
      worker.addEventListener('close', () => this.hostDied(handle, `shard worker ${index} exited`, reject))
      worker.postMessage(init)
    })
  }

  private startInThread(index: number, init: HostInit): Promise<FromHost & { k: 'ready' }> {
    return new Promise((resolve, reject) => {
      // Deliver asynchronously, as postMessage would, so re-entrancy never differs between modes: a
      // microtask per message, in order, all running one function (a closure per message cost two
      // allocations per request batch, test/bench/request-objects.ts).
      const inbox: Array<FromHost | string | ReplyPairs> = []
      let inboxHead = 0
      const deliverNext = () => {
        const message = inbox[inboxHead++] as FromHost | string | ReplyPairs
        if (inboxHead === inbox.length) {
          inbox.length = 0
          inboxHead = 0
        }
        if (Array.isArray(message)) return this.deliverPairs(message)
        if (typeof message !== 'string' && message.k === 'ready') return resolve(message)
        this.receive(handle, message, reject)
      }
      // Except the replies of a request batch handed over by flush() when nothing else waits in the
      // inbox: they are delivered once handleRequests has returned (the host is then out of the
      // stack, as when a microtask delivers them), still inside flush(), so a socket read's replies
      // are written in the read's own turn, without a microtask and its turn of the event loop.
      let runningBatch = false
      let batchReplies: ReplyPairs | null = null
      const host = new ShardHost({ ...init, replyPairs: true }, (message) => {
        if (runningBatch && batchReplies === null && inbox.length === 0 && Array.isArray(message)) {
          batchReplies = message
          return
        }
        inbox.push(message)
        queueMicrotask(deliverNext)
      })
      const runBatch = (requests: DirectRequests) => {
        runningBatch = true
        try {
          host.handleRequests(requests)
        } finally {
          runningBatch = false
          const replies = batchReplies
          batchReplies = null
          if (replies !== null) this.deliverPairs(replies)
        }
      }
      const handle = this.register(index, init.shardIndexes, (message) => {
        if (typeof message === 'string') host.handleBatch(message)
        else host.handle(message)
      }, () => {}, runBatch)
      host.start().catch(reject)
    })
  }

  private receive(handle: HostHandle, message: FromHost | string, reject: (error: Error) => void): void {
    if (typeof message === 'string') return this.deliverBatch(message)
    switch (message.k) {
      case 'cross': return this.routeCross(message.items)
      case 'fatal': return this.hostFatal(handle, message.error, reject)
      case 'stopped': return handle.onStopped()
      case 'admin': return this.adminReplies.get(message.id)?.(message.shards)
      // After the batch before it: its replies are delivered and any cancels they caused are posted.
      case 'moreReplies': return handle.post({ k: 'sendMoreReplies' })
    }
  }

  private deliverBatch(text: string): void {
    let events: JobEvent[] | undefined
    let start = 0
    while (start < text.length) {
      let end = text.indexOf('\n', start)
      if (end < 0) end = text.length
      const tab = text.indexOf('\t', start)
      if (text.charCodeAt(start) === eventLineMark) {
        if (events === undefined) events = []
        events.push(JSON.parse(text.slice(tab + 1, end)) as JobEvent)
        start = end + 1
        continue
      }
      this.deliverReply(Number(text.slice(start, tab)), text.slice(tab + 1, end))
      start = end + 1
    }
    this.afterReplies()
    if (events !== undefined) this.onEvents(events)
  }

  /** deliverBatch for an in-thread host: the same batch, as (token, reply JSON) pairs (messages.ts). */
  private deliverPairs(pairs: ReplyPairs): void {
    let events: JobEvent[] | undefined
    for (let at = 0; at < pairs.length; at += 2) {
      const token = pairs[at] as Token
      const json = pairs[at + 1] as string
      if (token !== eventToken) this.deliverReply(token, json)
      else (events ??= []).push(JSON.parse(json) as JobEvent)
    }
    this.afterReplies()
    if (events !== undefined) this.onEvents(events)
  }

  private deliverReply(token: Token, replyJson: string): void {
    const target = this.pending.get(token)
    if (target !== undefined) {
      this.pending.delete(token)
      if (this.pullTokens.size > 0) this.pullTokens.delete(token)
      target.deliver(token, replyJson)
    } else if (this.cancelledPulls.delete(token)) {
      this.requeue(deliveriesOf(replyJson))
    }
  }

  private routeCross(items: CrossShardMessage[]): void {
    const byHost = new Map<HostHandle, CrossShardMessage[]>()
    for (const item of items) {
      const host = this.hostOfShard[item.shardIndex]
      if (host === undefined) continue
      addTo(byHost, host, item)
    }
    for (const [host, hostItems] of byHost) host.post({ k: 'cross', items: hostItems })
  }

  /**
   * Queues one request line for a shard; returns its token. `pull` marks a PULL / PULLB, whose
   * reply, when it arrives after a cancel, gives its jobs back to waiting. `deferred` (HTTP: one
   * request per event-loop task) flushes after the loop's pending IO instead of at the end of this
   * task, so requests that arrived together share one message per host. `parsed` is `line` already
   * parsed (JSON.parse, nothing else): an in-thread host then skips parsing it again.
   */
  send(shardIndex: number, line: string, target: ReplyTarget, pull = false, deferred = false, parsed?: unknown): Token {
    const host = this.hostOfShard[shardIndex] as HostHandle | undefined
    const token = this.nextSequence++ * hostSlots + (host?.index ?? 0)
    // While a backup is being restored (reopen) there are no hosts: refuse, retryably.
    const refusal = host === undefined || this.reopening ? reopeningError : host.dead
    if (host === undefined || refusal !== null) {
      this.refuseLater(token, target, refusal)
      return token
    }
    this.pending.set(token, target)
    if (pull) this.pullTokens.add(token)
    if (host.direct !== null) host.directBatch.push(token, shardIndex, line, parsed)
    else host.batch.push(`${token}\t${shardIndex}\t${line}`)
    if (deferred) this.scheduleDeferredFlush()
    else this.scheduleFlush()
    return token
  }

  /**
   * Answers a refused request in a later microtask. Its closure is made here, not in send: a
   * function that creates a closure allocates its scope on every call, also when it creates none.
   */
  private refuseLater(token: Token, target: ReplyTarget, refusal: string | null): void {
    queueMicrotask(() => {
      target.deliver(token, JSON.stringify({ ok: false, error: refusal }))
      this.afterReplies() // nothing else will flush this reply to its socket
    })
  }

  /** Forgets requests whose connection closed; blocking waiters for them are dropped by the engine. */
  cancel(tokens: Iterable<Token>): void {
    const byHost = new Map<HostHandle, Token[]>()
    const nowMs = Date.now()
    for (const token of tokens) {
      const host = this.hosts[token % hostSlots]
      this.pending.delete(token)
      if (this.pullTokens.delete(token)) this.cancelledPulls.set(token, nowMs)
      if (host !== undefined) addTo(byHost, host, token)
    }
    for (const [host, hostTokens] of byHost) if (host.dead === null) host.post({ k: 'cancel', tokens: hostTokens })
    // Forget cancelled pulls whose reply never came (their waiter was dropped): oldest first.
    for (const [token, cancelledAtMs] of this.cancelledPulls) {
      if (nowMs - cancelledAtMs < cancelledPullMemoryMs) break
      this.cancelledPulls.delete(token)
    }
  }

  /** Ends the waits of these pulls now (answered empty) if they still wait: their clients half-closed. */
  endPullWaits(tokens: Token[]): void {
    const byHost = new Map<HostHandle, Token[]>()
    for (const token of tokens) {
      const host = this.hosts[token % hostSlots]
      if (host !== undefined && host.dead === null) addTo(byHost, host, token)
    }
    for (const [host, hostTokens] of byHost) host.post({ k: 'endPullWaits', tokens: hostTokens })
  }

  /** Gives delivered-but-unsent jobs back to waiting, on the shards that own them (undelivered.ts). */
  requeue(deliveries: Delivery[]): void {
    const byHost = new Map<HostHandle, Delivery[]>()
    for (const delivery of deliveries) {
      const host = this.hostOfShard[shardOfJobId(delivery[0], this.shardCount)]
      if (host === undefined || host.dead !== null) continue
      addTo(byHost, host, delivery)
    }
    for (const [host, hostDeliveries] of byHost) host.post({ k: 'requeue', deliveries: hostDeliveries })
  }

  private deferredFlushScheduled = false

  private scheduleDeferredFlush(): void {
    if (this.deferredFlushScheduled || this.flushScheduled) return
    this.deferredFlushScheduled = true
    setImmediate(() => {
      this.deferredFlushScheduled = false
      this.flush()
    })
  }

  /**
   * The caller flushes before its task ends, whatever happens (the TCP data handler, in a finally):
   * the requests it sends until then schedule no flush of their own (a microtask per socket read).
   */
  holdFlush(): void {
    this.flushScheduled = true
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    queueMicrotask(this.flushLater)
  }

  /** One closure for every scheduled flush, not one per request. */
  private readonly flushLater = () => this.flush()

  /** One message per host: every request queued since the last flush. */
  flush(): void {
    this.flushScheduled = false
    for (const host of this.hosts) {
      if (host.direct !== null && host.directBatch.length > 0) {
        // The host runs the batch before returning and keeps none of it: two arrays take turns. The
        // spare is taken while the batch runs, so a flush re-entered from inside it gets a new array
        // instead of the one this flush is running.
        const requests = host.directBatch
        host.directBatch = host.spareDirectBatch ?? []
        host.spareDirectBatch = null
        try {
          host.direct(requests)
        } finally {
          requests.length = 0
          host.spareDirectBatch = requests
        }
      }
      if (host.batch.length === 0) continue
      const text = host.batch.join('\n')
      host.batch = []
      host.post(text)
    }
  }

  /** A shard's storage failed (its host answers that shard's requests with the error from now on). */
  private hostFatal(handle: HostHandle, error: string, reject: (error: Error) => void): void {
    // Before start() resolved, the error fails the start and the CLI reports it once.
    if (this.started) log.error('storage', `host ${handle.index}: ${error}`, { host: handle.index })
    this.onFatal(error)
    reject(new Error(error)) // fails start() when recovery itself failed; a no-op afterwards
  }

  /** A worker that dies takes its in-memory state with it: answer its requests, refuse new ones. */
  private hostDied(handle: HostHandle, reason: string, reject: (error: Error) => void): void {
    if (handle.retired || handle.dead !== null || this.stopping) return handle.onStopped()
    handle.dead = `${reason}; restart the server to recover its shards from the log`
    log.error('worker-crash', handle.dead, { host: handle.index, shards: handle.shardIndexes.join(',') })
    for (const [token, target] of this.pending) {
      if (token % hostSlots !== handle.index) continue
      this.pending.delete(token)
      this.pullTokens.delete(token)
      target.deliver(token, JSON.stringify({ ok: false, error: handle.dead }))
    }
    this.afterReplies()
    this.onFatal(handle.dead)
    reject(new Error(handle.dead))
    handle.onStopped()
  }

  private readonly adminReplies = new Map<number, (shards: ShardAdminResult[]) => void>()
  private nextAdminId = 1

  /** Storage administration on every live host; resolves with one result per shard, by shard index. */
  async admin(op: AdminOp): Promise<ShardAdminResult[]> {
    const hosts = this.hosts.filter((host) => host.dead === null)
    const parts = await Promise.all(hosts.map((host) => {
      const id = this.nextAdminId++
      const { promise, resolve } = Promise.withResolvers<ShardAdminResult[]>()
      this.adminReplies.set(id, (shards) => {
        this.adminReplies.delete(id)
        resolve(shards)
      })
      host.post({ k: 'admin', id, op })
      // A host that dies meanwhile answers nothing: its shards are left out.
      void host.stopped.then(() => this.adminReplies.get(id)?.([]))
      return promise
    }))
    return parts.flat().sort((a, b) => a.shardIndex - b.shardIndex)
  }

  private reopening = false
  /** Whether hosts send engine events; hosts started by reopen() begin with it. */
  private startedWithEvents = false

  /**
   * Stops every host (their logs are flushed and closed), runs `between` while nothing has the data
   * directory open, then starts fresh hosts, which recover from it (POST /storage/restore). Requests
   * meanwhile are refused with a retryable error; requests in flight get it too.
   */
  async reopen(between: () => Promise<void>): Promise<PoolReady> {
    this.reopening = true
    this.flush()
    const old = [...this.hosts]
    for (const host of old) host.retired = true
    for (const host of old) if (host.dead === null) host.post({ k: 'stop' })
    await Promise.race([Promise.all(old.map((host) => host.stopped)), Bun.sleep(10_000)])
    for (const host of old) host.terminate()
    for (const [token, target] of this.pending) target.deliver(token, JSON.stringify({ ok: false, error: reopeningError }))
    this.pending.clear()
    this.pullTokens.clear()
    this.afterReplies()
    this.hosts.length = 0
    this.hostOfShard.length = 0
    try {
      await between()
    } finally {
      try {
        return await this.start(this.startedWithEvents)
      } finally {
        this.reopening = false
      }
    }
  }

  deadHosts(): string[] {
    return this.hosts.flatMap((host) => (host.dead === null ? [] : [host.dead]))
  }

  private stopping = false
  private started = false

  /** Graceful shutdown begins: queued requests go first, then no host hands out another job. */
  stopDelivery(): void {
    this.flush()
    for (const host of this.hosts) if (host.dead === null) host.post({ k: 'stopDelivery' })
  }

  /** Engine events cost a message per batch, so hosts send them only while someone listens. */
  setEventsWanted(on: boolean): void {
    this.startedWithEvents = on // hosts started later (reopen) begin with the current choice
    for (const host of this.hosts) if (host.dead === null) host.post({ k: 'eventsWanted', on })
  }

  /** Flushes and closes every log, then ends the workers. */
  async stop(): Promise<void> {
    this.flush()
    this.stopping = true
    for (const host of this.hosts) if (host.dead === null) host.post({ k: 'stop' })
    await Promise.race([Promise.all(this.hosts.map((host) => host.stopped)), Bun.sleep(10_000)])
    for (const host of this.hosts) host.terminate()
  }
}

/**
 * Appends to the group of `key`, in place: copying the group per item was quadratic, and a FLOW
 * with 40 000 children in other shards' queues (one cross-shard message each) stalled the server.
 */
function addTo<K, V>(groups: Map<K, V[]>, key: K, item: V): void {
  const group = groups.get(key)
  if (group === undefined) groups.set(key, [item])
  else group.push(item)
}
