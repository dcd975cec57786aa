/**
 * A conformance re-implementation of the flashQ TypeScript client's TCP wire behaviour (spec §7), so
 * tests can drive the server exactly the way that client does without depending on it:
 *
 * - requests are `JSON.stringify({...command, reqId}) + "\n"` (undefined properties omitted), or, with
 *   `useBinary`, a msgpack map behind a 4-byte big-endian length where undefined properties become nil;
 * - `reqId` is `<base36 time>-<4 random chars>-<counter>`;
 * - input is split on LF, blank lines skipped; a reply is accepted only when its `reqId` matches a
 *   pending request, anything else is dropped with a counted warning;
 * - `ok === false` with an `error` rejects, anything else resolves with the whole object;
 * - per-request timeout 5000 ms, blocking calls get their server timeout + 5 s;
 * - AUTH right after connect when a token is given.
 *
 * Plus the BullMQ-style `Queue` and `Worker` wrappers of §7.5. Self-contained: only node:net and msgpackr.
 */
import * as net from 'node:net'
import { Packr, Unpackr } from 'msgpackr'

// biome-ignore lint: replies are loosely typed, as in the real client
export type Reply = { ok?: boolean; error?: string; reqId?: string; [field: string]: any }
// biome-ignore lint: job objects are loosely typed here
export type Job = { id: number; queue: string; data: any; [field: string]: any }

export type ClientOptions = {
  host?: string
  port?: number
  timeout?: number
  token?: string
  useBinary?: boolean
}

export type PushOptions = {
  priority?: number
  delay?: number
  ttl?: number
  timeout?: number
  max_attempts?: number
  backoff?: number
  unique_key?: string
  depends_on?: number[]
  tags?: string[]
  lifo?: boolean
  remove_on_complete?: boolean
  remove_on_fail?: boolean
  stall_timeout?: number
  debounce_id?: string
  debounce_ttl?: number
  jobId?: string
  keep_completed_age?: number
  keep_completed_count?: number
  group_id?: string
}

/** Replies dropped because no pending request matched their reqId (the client's "warning"), process-wide. */
export const warnings = { unmatchedReplies: 0, messages: [] as string[] }

// The encoder the client uses for `useBinary`: absent optionals must reach the wire as nil (0xc0), not as
// msgpackr's default undefined extension (d4 00 00).
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

export function encodeBinaryRequest(command: Record<string, unknown>): Buffer {
  const body = packr.pack(command)
  const frame = Buffer.allocUnsafe(4 + body.length)
  frame.writeUInt32BE(body.length, 0)
  body.copy(frame, 4)
  return frame
}

type Pending = { resolve: (reply: Reply) => void; reject: (error: Error) => void; timer: ReturnType<typeof setTimeout> }

export class FlashQ {
  readonly options: Required<Omit<ClientOptions, 'token'>> & { token: string }
  private socket: net.Socket | null = null
  private connecting: Promise<void> | null = null
  private readonly pending = new Map<string, Pending>()
  private requestIdCounter = 0
  private textBuffer = ''
  private binaryBuffer: Buffer = Buffer.alloc(0)
  private readonly decoder = new TextDecoder()
  /** Replies dropped by this connection (also counted in `warnings`). */
  unmatchedReplies = 0
  /** Requests written, for tests that inspect the wire. */
  readonly sent: Array<string | Buffer> = []
  recordSent = false

  constructor(options: ClientOptions = {}) {
    this.options = {
      host: options.host ?? 'localhost',
      port: options.port ?? 6789,
      timeout: options.timeout ?? 5000,
      token: options.token ?? '',
      useBinary: options.useBinary ?? false,
    }
  }

  get connected(): boolean {
    return this.socket !== null && !this.socket.destroyed
  }

  async connect(): Promise<void> {
    if (this.connected) return
    if (this.connecting) return this.connecting
    this.connecting = new Promise<void>((resolve, reject) => {
      const socket = net.createConnection({ host: this.options.host, port: this.options.port })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error('Connection timeout'))
      }, this.options.timeout)
      socket.setNoDelay(true)
      socket.once('connect', () => {
        clearTimeout(timer)
        this.socket = socket
        resolve()
      })
      socket.on('data', (chunk: Buffer) => this.onData(chunk))
      socket.on('error', (error) => {
        clearTimeout(timer)
        reject(error)
        this.failAll(error)
      })
      socket.on('close', () => {
        this.socket = null
        this.failAll(new Error('Connection closed'))
      })
    })
    try {
      await this.connecting
    } finally {
      this.connecting = null
    }
    if (this.options.token) await this.auth(this.options.token)
  }

  async close(): Promise<void> {
    const socket = this.socket
    if (socket === null) return
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve())
      socket.end()
      setTimeout(() => {
        socket.destroy()
        resolve()
      }, 1000)
    })
    this.socket = null
  }

  private generateReqId(): string {
    return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6).padEnd(4, '0')}-${++this.requestIdCounter}`
  }

  /** Sends one command and resolves with the whole reply object (rejects on `ok:false` + `error`). */
  async send<T extends Reply = Reply>(command: Record<string, unknown>, customTimeout?: number): Promise<T> {
    if (!this.connected) await this.connect()
    const socket = this.socket as net.Socket
    const reqId = this.generateReqId()
    const timeoutMs = customTimeout ?? this.options.timeout
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(reqId)
        reject(new Error(`Request timeout (${String(command.cmd)})`))
      }, timeoutMs)
      this.pending.set(reqId, { resolve: resolve as (reply: Reply) => void, reject, timer })
      const payload = { ...command, reqId }
      if (this.options.useBinary) {
        const frame = encodeBinaryRequest(payload)
        if (this.recordSent) this.sent.push(frame)
        socket.write(frame)
      } else {
        const line = `${JSON.stringify(payload)}\n`
        if (this.recordSent) this.sent.push(line)
        socket.write(line)
      }
    })
  }

  private onData(chunk: Buffer): void {
    if (this.options.useBinary) {
      this.binaryBuffer = this.binaryBuffer.length === 0 ? chunk : Buffer.concat([this.binaryBuffer, chunk])
      while (this.binaryBuffer.length >= 4) {
        const length = this.binaryBuffer.readUInt32BE(0)
        if (this.binaryBuffer.length < 4 + length) break
        const body = this.binaryBuffer.subarray(4, 4 + length)
        this.binaryBuffer = this.binaryBuffer.subarray(4 + length)
        let reply: Reply
        try {
          reply = unpackr.unpack(body) as Reply
        } catch (error) {
          this.warn(`undecodable frame: ${String(error)}`)
          continue
        }
        this.handleResponse(reply)
      }
      return
    }
    this.textBuffer += this.decoder.decode(chunk, { stream: true })
    const lines = this.textBuffer.split('\n')
    this.textBuffer = lines.pop() ?? ''
    for (const line of lines) {
      if (line.trim() === '') continue
      let reply: Reply
      try {
        reply = JSON.parse(line) as Reply
      } catch {
        this.warn(`unparsable line: ${line.slice(0, 200)}`)
        continue
      }
      this.handleResponse(reply)
    }
  }

  private handleResponse(reply: Reply): void {
    const reqId = reply?.reqId
    const entry = typeof reqId === 'string' ? this.pending.get(reqId) : undefined
    if (entry === undefined) {
      this.warn(`response without matching request: ${JSON.stringify(reply).slice(0, 200)}`)
      return
    }
    this.pending.delete(reqId as string)
    clearTimeout(entry.timer)
    if (reply.ok === false && reply.error) entry.reject(new Error(reply.error))
    else entry.resolve(reply)
  }

  private warn(message: string): void {
    this.unmatchedReplies++
    warnings.unmatchedReplies++
    if (warnings.messages.length < 50) warnings.messages.push(message)
  }

  private failAll(error: Error): void {
    for (const [reqId, entry] of this.pending) {
      clearTimeout(entry.timer)
      this.pending.delete(reqId)
      entry.reject(error)
    }
  }

  // ---- §7.4 method → wire mapping ----

  auth(token: string): Promise<Reply> {
    return this.send({ cmd: 'AUTH', token })
  }

  async ping(): Promise<boolean> {
    try {
      const reply = await this.send({ cmd: 'PING' })
      return Boolean(reply.ok || reply.pong)
    } catch {
      return false
    }
  }

  static pushFields(options: PushOptions) {
    return {
      priority: options.priority ?? 0,
      delay: options.delay,
      ttl: options.ttl,
      timeout: options.timeout,
      max_attempts: options.max_attempts,
      backoff: options.backoff,
      unique_key: options.unique_key,
      depends_on: options.depends_on,
      tags: options.tags,
      lifo: options.lifo ?? false,
      remove_on_complete: options.remove_on_complete ?? false,
      remove_on_fail: options.remove_on_fail ?? false,
      stall_timeout: options.stall_timeout,
      debounce_id: options.debounce_id,
      debounce_ttl: options.debounce_ttl,
      job_id: options.jobId,
      keep_completed_age: options.keep_completed_age,
      keep_completed_count: options.keep_completed_count,
      group_id: options.group_id,
    }
  }

  /** PUSH; like the real client it reads only `id` and fabricates the rest of the job locally. */
  async push(queue: string, data: unknown, options: PushOptions = {}): Promise<Job> {
    const fields = FlashQ.pushFields(options)
    const reply = await this.send<{ id: number }>({ cmd: 'PUSH', queue, data, ...fields })
    return {
      id: reply.id,
      queue,
      data,
      ...fields,
      stall_timeout: options.stall_timeout ?? 30000,
      attempts: 0,
      max_attempts: options.max_attempts ?? 0,
      created_at: Date.now(),
    }
  }

  async pushBatch(queue: string, jobs: Array<{ data: unknown } & PushOptions>): Promise<number[]> {
    const reply = await this.send<{ ids: number[] }>({
      cmd: 'PUSHB',
      queue,
      jobs: jobs.map((job) => ({ data: job.data, ...FlashQ.pushFields(job) })),
    })
    return reply.ids
  }

  async pull(queue: string, timeout = 60000): Promise<Job | null> {
    const reply = await this.send<{ job: Job | null }>({ cmd: 'PULL', queue, timeout }, timeout + 5000)
    return reply.job ?? null
  }

  async pullBatch(queue: string, count: number, timeout = 60000): Promise<Job[]> {
    const reply = await this.send<{ jobs?: Job[] }>({ cmd: 'PULLB', queue, count, timeout }, timeout + 5000)
    return reply.jobs ?? []
  }

  async ack(id: number, result?: unknown): Promise<void> {
    await this.send({ cmd: 'ACK', id, result })
  }

  async ackBatch(ids: number[]): Promise<number> {
    const reply = await this.send<{ count?: number }>({ cmd: 'ACKB', ids })
    return reply.count ?? ids.length
  }

  async fail(id: number, error?: string): Promise<void> {
    await this.send({ cmd: 'FAIL', id, error })
  }

  async getJob(id: number): Promise<{ job: Job; state: string } | null> {
    const reply = await this.send<{ job: Job | null; state: string }>({ cmd: 'GETJOB', id })
    return reply.job ? { job: reply.job, state: reply.state } : null
  }

  async getState(id: number): Promise<string | null> {
    return (await this.send<{ state: string | null }>({ cmd: 'GETSTATE', id })).state
  }

  async getResult(id: number): Promise<unknown> {
    return (await this.send({ cmd: 'GETRESULT', id })).result
  }

  async finished(id: number, timeout = 30000): Promise<unknown> {
    const reply = await this.send({ cmd: 'WAITJOB', id, timeout }, timeout + 5000)
    if (reply.error) throw new Error(reply.error)
    return reply.result
  }

  async getJobByCustomId(customId: string): Promise<{ job: Job; state: string } | null> {
    const reply = await this.send<{ job: Job | null; state: string }>({ cmd: 'GETJOBBYCUSTOMID', job_id: customId })
    return reply.job ? { job: reply.job, state: reply.state } : null
  }

  async getJobsBatch(ids: number[]): Promise<Array<{ job: Job; state: string }>> {
    const reply = await this.send<{ jobs?: Array<Job & { state: string }> }>({ cmd: 'GETJOBSBATCH', ids })
    return (reply.jobs ?? []).map(({ state, ...job }) => ({ job: job as Job, state }))
  }

  async cancel(id: number): Promise<void> {
    await this.send({ cmd: 'CANCEL', id })
  }

  async progress(id: number, progress: number, message?: string): Promise<void> {
    await this.send({ cmd: 'PROGRESS', id, progress: Math.min(100, Math.max(0, progress)), message })
  }

  async getProgress(id: number): Promise<{ progress: number; message?: string }> {
    const reply = await this.send<{ progress: { progress: number; message?: string } }>({ cmd: 'GETPROGRESS', id })
    return { progress: reply.progress.progress, message: reply.progress.message }
  }

  async log(id: number, message: string, level: 'info' | 'warn' | 'error' = 'info'): Promise<void> {
    await this.send({ cmd: 'LOG', job_id: id, message, level })
  }

  async getLogs(id: number): Promise<Array<{ message: string; level: string; timestamp: number }>> {
    return (await this.send({ cmd: 'GETLOGS', job_id: id })).logs ?? []
  }

  async heartbeat(id: number): Promise<void> {
    await this.send({ cmd: 'HEARTBEAT', job_id: id })
  }

  async partial(id: number, data: unknown, index?: number): Promise<void> {
    await this.send({ cmd: 'PARTIAL', id, data, index })
  }

  async pause(queue: string): Promise<void> {
    await this.send({ cmd: 'PAUSE', queue })
  }

  async resume(queue: string): Promise<void> {
    await this.send({ cmd: 'RESUME', queue })
  }

  async isPaused(queue: string): Promise<boolean> {
    return (await this.send<{ paused: boolean }>({ cmd: 'ISPAUSED', queue })).paused
  }

  async listQueues(): Promise<Array<Record<string, unknown> & { name: string }>> {
    return (await this.send({ cmd: 'LISTQUEUES' })).queues
  }

  async getDlq(queue: string, count = 100): Promise<Job[]> {
    return (await this.send({ cmd: 'DLQ', queue, count })).jobs
  }

  async retryDlq(queue: string, id?: number): Promise<number> {
    return (await this.send({ cmd: 'RETRYDLQ', queue, id })).ids?.[0] ?? 0
  }

  async purgeDlq(queue: string): Promise<number> {
    return (await this.send({ cmd: 'PURGEDLQ', queue })).count
  }

  async stats(): Promise<{ queued: number; processing: number; delayed: number; dlq: number }> {
    const reply = await this.send({ cmd: 'STATS' })
    return { queued: reply.queued, processing: reply.processing, delayed: reply.delayed, dlq: reply.dlq }
  }

  async metrics(): Promise<Record<string, unknown>> {
    return (await this.send({ cmd: 'METRICS' })).metrics
  }

  async getJobs(options: { queue?: string; state?: string; limit?: number; offset?: number } = {}): Promise<{ jobs: Array<{ job: Job; state: string }>; total: number }> {
    const reply = await this.send<{ jobs: Array<Job & { state: string; job?: Job }>; total: number }>({
      cmd: 'GETJOBS',
      queue: options.queue,
      state: options.state,
      limit: options.limit ?? 100,
      offset: options.offset ?? 0,
    })
    return { jobs: reply.jobs.map((item) => ({ job: item.job as Job, state: item.state })), total: reply.total }
  }

  async getJobCounts(queue: string): Promise<{ waiting: number; active: number; delayed: number; completed: number; failed: number }> {
    const reply = await this.send({ cmd: 'GETJOBCOUNTS', queue })
    return { waiting: reply.waiting, active: reply.active, delayed: reply.delayed, completed: reply.completed, failed: reply.failed }
  }

  async count(queue: string): Promise<number> {
    return (await this.send({ cmd: 'COUNT', queue })).count
  }

  async drain(queue: string): Promise<number> {
    return (await this.send({ cmd: 'DRAIN', queue })).count
  }

  async obliterate(queue: string): Promise<number> {
    return (await this.send({ cmd: 'OBLITERATE', queue })).count
  }
}

// ---- §7.5 BullMQ-style wrappers ----

export type JobsOptions = {
  priority?: number
  delay?: number
  attempts?: number
  backoff?: number | { type?: string; delay?: number }
  timeout?: number
  jobId?: string
  removeOnComplete?: boolean | number
  removeOnFail?: boolean | number
  ttl?: number
  lifo?: boolean
  tags?: string[]
  group_id?: string
}

function toPushOptions(opts: JobsOptions = {}): PushOptions {
  const flag = (value: boolean | number | undefined) => (value === undefined ? undefined : typeof value === 'number' ? value > 0 : value)
  return {
    priority: opts.priority,
    delay: opts.delay,
    max_attempts: opts.attempts,
    backoff: typeof opts.backoff === 'number' ? opts.backoff : opts.backoff?.delay,
    timeout: opts.timeout,
    jobId: opts.jobId,
    remove_on_complete: flag(opts.removeOnComplete),
    remove_on_fail: flag(opts.removeOnFail),
    ttl: opts.ttl,
    lifo: opts.lifo,
    tags: opts.tags,
    group_id: opts.group_id,
  }
}

export class Queue {
  readonly client: FlashQ
  constructor(readonly name: string, options: ClientOptions = {}) {
    this.client = new FlashQ(options)
  }

  add(name: string, data: Record<string, unknown>, opts?: JobsOptions): Promise<Job> {
    return this.client.push(this.name, { name, ...data }, toPushOptions(opts))
  }

  addBulk(jobs: Array<{ name: string; data: Record<string, unknown>; opts?: JobsOptions }>): Promise<number[]> {
    return this.client.pushBatch(this.name, jobs.map((job) => ({ data: { name: job.name, ...job.data }, ...toPushOptions(job.opts) })))
  }

  close(): Promise<void> {
    return this.client.close()
  }
}

export type WorkerOptions = ClientOptions & { concurrency?: number; batchSize?: number; autorun?: boolean }
export type Processor = (job: Job) => unknown | Promise<unknown>

/**
 * One TCP connection per concurrency slot, always JSON; each loops PULLB(count=100, timeout=500), runs the
 * batch in parallel, then ACK id result per success and FAIL id message per failure. No heartbeats.
 */
export class Worker {
  readonly clients: FlashQ[] = []
  private running = false
  private loops: Promise<void>[] = []
  readonly counts = { completed: 0, failed: 0, batches: 0, errors: 0 }
  /** Jobs processed per connection index. */
  readonly perConnection: number[]

  constructor(
    readonly queues: string | string[],
    private readonly processor: Processor,
    readonly options: WorkerOptions = {},
  ) {
    const concurrency = options.concurrency ?? 10
    this.perConnection = new Array(concurrency).fill(0)
    for (let i = 0; i < concurrency; i++) this.clients.push(new FlashQ({ ...options, useBinary: false }))
    if (options.autorun !== false) void this.run()
  }

  async run(): Promise<void> {
    if (this.running) return
    this.running = true
    await Promise.all(this.clients.map((client) => client.connect()))
    this.loops = this.clients.map((client, index) => this.loop(client, index))
  }

  private async loop(client: FlashQ, index: number): Promise<void> {
    const queues = Array.isArray(this.queues) ? this.queues : [this.queues]
    const batchSize = this.options.batchSize ?? 100
    while (this.running) {
      for (const queue of queues) {
        if (!this.running) return
        let jobs: Job[]
        try {
          jobs = await client.pullBatch(queue, batchSize, 500)
        } catch {
          this.counts.errors++
          if (!this.running) return
          await Bun.sleep(100)
          continue
        }
        if (jobs.length === 0) continue
        this.counts.batches++
        this.perConnection[index] = (this.perConnection[index] ?? 0) + jobs.length
        await Promise.all(jobs.map((job) => this.processJob(client, job)))
      }
    }
  }

  private async processJob(client: FlashQ, job: Job): Promise<void> {
    let result: unknown
    try {
      result = await this.processor(job)
    } catch (error) {
      try {
        await client.fail(job.id, error instanceof Error ? error.message : String(error))
        this.counts.failed++
      } catch {
        this.counts.errors++
      }
      return
    }
    try {
      await client.ack(job.id, result)
      this.counts.completed++
    } catch {
      this.counts.errors++
    }
  }

  /** Stops the loops (an in-flight PULLB ends within its 500 ms) and closes every connection. */
  async close(): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
    await Promise.all(this.clients.map((client) => client.close()))
  }
}
