/**
 * `Worker`: BullMQ's consumer over one flashQ connection.
 *
 * Flow control: the worker leases at most `concurrency + prefetch` jobs (processing, pulled and not
 * started yet, or asked for); whatever is free of that is asked for with PULLB as soon as it frees up,
 * so several pulls may be in flight. At most `concurrency` processors run at once; the other leased
 * jobs wait in a local buffer (active on the server, kept alive by heartbeats like running jobs).
 * Acknowledgements never hold a slot: results-less completions are gathered into one ACKB per event-
 * loop turn, completions with a result go out as ACK, and all of them are pipelined with the pulls.
 * 'completed' is emitted once the server confirmed the acknowledgement (it is durable then).
 *
 * Prefetch adapts to the jobs: the buffer holds about what the slots finish within two pull round
 * trips (bandwidth × delay), at most `prefetch` jobs. A prefetched job thus waits here about two round
 * trips; slow jobs get no prefetch, so they are not held from other workers; and a no-op processor at
 * concurrency 10 is not bound to 10 jobs per round trip. A new worker prefetches nothing until it has
 * measured both. The round trip is timed on acknowledgements, which the server answers at once, not
 * on pulls: a pull's reply may include a long-poll wait, even a full one (one job asked, one given),
 * and a trickle then sized the prefetch by the gap between its jobs, so the next burst went whole
 * into one worker's buffer. Jobs that turn slow after the buffer filled are handed back (bufferedWaitMaxMs).
 * close() and pause() let the buffered jobs run (they were taken); close(true) hands them back.
 *
 * After a reconnect, acknowledgements that got no reply are re-sent only for jobs that are still
 * active with the same start time (this delivery); a job the server re-queued (a restart) or gave to
 * another worker is not acknowledged twice.
 */
import { EventEmitter } from 'node:events'
import { ackBatchIdsMax, pullBatchJobsMax, sdkWorkerPrefetchJobsMax } from '../base/limits.ts'
import { ConnectionClosedError, RateLimitError, rateLimitExceededMessage, RequestTimeoutError } from './errors.ts'
import { FlashQ, checkQueue } from './flashq.ts'
import { Job, type JobProgress, trimFinished } from './job.ts'
import { keepFailedCountOf, type KeepJobs, type WorkerOptions } from './options.ts'
import type { WireJob } from './wire-types.ts'
import { serverIdOfText } from './job-ids.ts'
import { type BackoffStrategy, failAttempt, isHandOff, isRateLimitExceeded } from './retry.ts'
import { isProcessorFile, SandboxPool } from './sandbox.ts'
import { registerWorker } from './worker-registry.ts'

export type Processor<DataType = any, ResultType = any, NameType extends string = string> = (job: Job<DataType, ResultType, NameType>, token?: string, signal?: AbortSignal) => Promise<ResultType>

/** Long-poll time of one PULLB when the queue is empty (BullMQ's drainDelay, in seconds). */
const drainDelaySecondsDefault = 1
const lockDurationMsDefault = 30_000
/** Job ids per ACKB unless `ackBatchMax` says otherwise. */
const ackBatchIdsDefault = 1000
/**
 * How often active jobs are checked for a due heartbeat (each is due after a third of its stall
 * timeout): well under a second, so a 1 s stall timeout still gets beats ≤ ~0.6 s apart on a busy machine.
 */
const heartbeatTickMs = 250
/** Pause after a failed pull before asking again, so a broken server is not hammered. */
const pullRetryDelayMs = 200
/** Upper bound of the adaptive prefetch unless `prefetch` says otherwise (jobs beyond concurrency). */
const prefetchJobsDefault = 1000
/** Weight of a new sample in the moving averages of pull round trip and processing time. */
const ewmaWeight = 0.1
/** Round trips of work the prefetch buffer may hold (more than one, so a pull is sent before it runs dry). */
const prefetchRoundTrips = 2
/**
 * A buffered job waiting longer than this means the jobs got slow: the prefetch shrinks to what the
 * running jobs' age implies and the surplus goes back to the queue for other workers.
 */
const bufferedWaitMaxMs = 1000

/** A job being processed; once it completes, the same object carries its result to the acknowledgement (Settled). */
type Active = { job: Job<any, any, any>; wire: WireJob; lastBeatMs: number; startedMs: number; result: unknown }
/** A leased job waiting in the prefetch buffer. */
type Buffered = { wire: WireJob; lastBeatMs: number; receivedMs: number }
type Settled = Pick<Active, 'job' | 'wire' | 'result'>

export class Worker<DataType = any, ResultType = any, NameType extends string = string> extends EventEmitter {
  readonly client: FlashQ
  readonly opts: WorkerOptions
  readonly id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
  #concurrency: number
  readonly #processor: Processor<DataType, ResultType, NameType> | null
  #running = false
  #paused = false
  #closing: Promise<void> | null = null
  #forced = false
  /** Jobs being processed, by id. */
  readonly #active = new Map<number, Active>()
  /** Slots asked for in PULLBs without a reply yet. */
  #requested = 0
  /** Prefetched jobs, oldest first from `#bufferHead`. */
  #buffer: Buffered[] = []
  #bufferHead = 0
  /** Upper bound of the prefetch (jobs beyond concurrency); 0 with a limiter. */
  readonly #prefetchMax: number
  /** Moving averages (ms) that size the prefetch, NaN until measured: an acknowledgement's round trip, a job's processing. */
  #roundTripMs = Number.NaN
  #busyMs = Number.NaN
  /** The connection dropped: prefetched jobs wait until the reconnect shows they are still ours. */
  #leasesInDoubt = false
  /** PULLBs in flight, by a sequence number (deleted by #pull itself when it ends). */
  readonly #pulls = new Map<number, Promise<void>>()
  #pullSeq = 0
  #fillScheduled = false
  /** Completions waiting for the next ACKB. */
  #ackQueue: Settled[] = []
  #ackScheduled = false
  /** Acks sent and not yet confirmed, so close() can wait for them. */
  readonly #acksInFlight = new Map<object, Promise<void>>()
  /** Acks whose connection dropped, re-checked after the reconnect. */
  #unconfirmed: Settled[] = []
  #heartbeatTimer: ReturnType<typeof setInterval> | null = null
  /** Limiter: start times of the jobs started within the last `duration` ms, oldest first. */
  #limiterStartsMs: number[] = []
  /** Limiter: jobs received while `max` jobs already started within `duration`; they hold a slot. */
  #limited: WireJob[] = []
  #limiterTimer: ReturnType<typeof setTimeout> | null = null
  #receivedSinceDrained = false
  #runPromise: Promise<void> | null = null
  #resolveRun: (() => void) | null = null

  /** `processor` is a function, or the path (or file: URL) of a processor file that runs sandboxed (sandbox.ts). */
  constructor(readonly name: string, processor?: Processor<DataType, ResultType, NameType> | string | URL | null, opts: WorkerOptions = {}) {
    super()
    checkQueue(name)
    this.opts = opts
    this.#workerKeep = { completed: keptCountOf(opts.removeOnComplete), failed: keptCountOf(opts.removeOnFail) }
    this.#processor = isProcessorFile(processor) ? this.#sandboxed(processor) : (processor ?? null)
    if (typeof processor === 'function' && processor.length >= 3) this.#aborts = new Map()
    this.#concurrency = Math.max(1, opts.concurrency ?? 1)
    this.#prefetchMax = opts.limiter !== undefined ? 0 : Math.min(sdkWorkerPrefetchJobsMax, Math.max(0, Math.floor(opts.prefetch ?? prefetchJobsDefault)))
    this.client = new FlashQ({ host: '127.0.0.1', ...opts.connection })
    this.client.connection.onError = (error) => this.emit('error', error)
    this.client.connection.onReconnected = () => this.#afterReconnect()
    registerWorker(this)
    if (opts.autorun !== false && this.#processor !== null) this.run().catch((error) => this.emit('error', error))
  }

  /** A processor file's jobs run in a pool of child processes or threads, ended with the worker. */
  #sandboxed(file: string | URL): Processor<DataType, ResultType, NameType> {
    const pool = new SandboxPool(file, this.opts.useWorkerThreads === true)
    this.once('closed', () => void pool.close())
    return (job) => pool.run(job) as Promise<ResultType>
  }

  get concurrency(): number {
    return this.#concurrency
  }

  /** flashq extension: jobs leased by this worker and waiting locally for a free slot (prefetch). */
  get prefetched(): number {
    return this.#bufferedCount
  }

  set concurrency(value: number) {
    this.#concurrency = Math.max(1, Math.floor(value))
    this.#scheduleFill()
  }

  /** Starts processing; resolves when the worker is closed. */
  run(): Promise<void> {
    if (this.#processor === null) return Promise.reject(new Error('Worker: no processor was given'))
    if (this.#running) return Promise.reject(new Error('Worker is already running.'))
    if (this.#closing !== null) return Promise.reject(new Error('Worker is closed.'))
    this.#running = true
    this.#runPromise = new Promise<void>((resolve) => (this.#resolveRun = resolve))
    this.client.connect().then(
      () => this.emit('ready'),
      (error: Error) => this.emit('error', error),
    )
    this.#heartbeatTimer = setInterval(() => this.#heartbeat(), heartbeatTickMs)
    this.#heartbeatTimer.unref?.()
    this.#fill()
    return this.#runPromise
  }

  async waitUntilReady(): Promise<FlashQ> {
    await this.client.connect()
    return this.client
  }

  /** Custom backoff (BullMQ's `settings.backoffStrategy`), for jobs processed by this worker. */
  get backoffStrategy(): BackoffStrategy | undefined {
    return this.opts.settings?.backoffStrategy
  }

  /**
   * BullMQ's manual processing, for a worker without a processor: takes one job (PULL, waiting up to
   * drainDelay seconds when `block`), or undefined. Finish it with job.moveToCompleted or
   * job.moveToFailed, and keep a long one alive with job.extendLock.
   */
  async getNextJob(token?: string, { block = true }: { block?: boolean } = {}): Promise<Job<DataType, ResultType, NameType> | undefined> {
    if (this.#paused || this.#closing !== null) return undefined
    const timeoutMs = block ? Math.round((this.opts.drainDelay ?? drainDelaySecondsDefault) * 1000) : 0
    const wire = await this.client.pull(this.name, timeoutMs)
    if (wire === null) return undefined
    const job = Job.fromWire<DataType, ResultType, NameType>(this, wire, 'active')
    job.token = token
    return job
  }

  isRunning(): boolean {
    return this.#running && this.#closing === null
  }

  isPaused(): boolean {
    return this.#paused
  }

  /** Stops taking new jobs; waits for the active ones unless `doNotWaitActive`. */
  async pause(doNotWaitActive = false): Promise<void> {
    if (this.#paused) return
    this.#paused = true
    if (!doNotWaitActive) await this.#whenIdle()
    this.emit('paused')
  }

  async resume(): Promise<void> {
    if (!this.#paused) return
    this.#paused = false
    this.emit('resumed')
    this.#scheduleFill()
  }

  /**
   * Stops the worker. Without `force` it waits for the active jobs and their acknowledgements. With
   * `force` it does not wait: active jobs are handed back to the queue (MOVETODELAYED 0, no attempt
   * counted) so another worker can take them.
   */
  close(force = false): Promise<void> {
    this.#forced ||= force
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.emit('closing', 'closing worker')
    // Pulls in flight may still deliver jobs; they are processed (or released when forced).
    await Promise.allSettled([...this.#pulls.values()])
    // Prefetched jobs whose lease is in doubt (no reconnect yet) are not ours to run: the server
    // hands them out again (after a restart) or they come back as stalled.
    if (this.#leasesInDoubt) this.#takeBuffered()
    if (this.#forced) {
      await this.#releaseActive()
      await Promise.allSettled([...this.#acksInFlight.values()]) // acknowledgements already sent are not cut off
    } else await this.#whenIdle()
    if (this.#heartbeatTimer !== null) clearInterval(this.#heartbeatTimer)
    if (this.#limiterTimer !== null) clearTimeout(this.#limiterTimer)
    if (this.#rateLimitTimer !== null) clearTimeout(this.#rateLimitTimer)
    await this.client.close()
    this.#running = false
    this.emit('closed')
    this.#resolveRun?.()
  }

  async #releaseActive(): Promise<void> {
    const ids = [...this.#active.keys(), ...this.#limited.map((wire) => wire.id), ...this.#takeBuffered().map((held) => held.wire.id)]
    this.#active.clear()
    this.#limited = []
    await Promise.allSettled(ids.map((id) => this.client.moveToDelayed(id, 0)))
  }

  async #whenIdle(): Promise<void> {
    while (this.#active.size > 0 || this.#limited.length > 0 || this.#bufferedCount > 0 || this.#ackQueue.length > 0 || this.#acksInFlight.size > 0 || (this.#paused && this.#pulls.size > 0)) {
      await new Promise<void>((resolve) => this.once('_settled', resolve))
    }
  }

  // ---- pulling ----

  #scheduleFill(): void {
    if (this.#fillScheduled) return
    this.#fillScheduled = true
    // After the completions already queued as promise callbacks: slots freed together share a PULLB.
    queueMicrotask(this.#fillNow)
  }

  /** One function for every scheduled fill and ack flush (not a closure per call). */
  readonly #fillNow = (): void => {
    this.#fillScheduled = false
    this.#fill()
  }

  readonly #flushAcksNow = (): void => this.#flushAcks()

  #fill(): void {
    if (!this.#running || this.#paused || this.#closing !== null || this.#rateLimitTimer !== null) return
    const leased = this.#active.size + this.#requested + this.#limited.length + this.#bufferedCount
    const prefetch = this.#prefetch()
    let free = this.#concurrency + prefetch - leased
    if (free <= 0) return
    // While every slot has work in hand, leases that free one by one wait to share a bigger PULLB.
    if (leased >= this.#concurrency && free < Math.max(this.#concurrency, prefetch >> 1)) return
    free = this.#limit(Math.min(free, pullBatchJobsMax))
    if (free <= 0) return
    this.#requested += free
    const pullId = ++this.#pullSeq
    this.#pulls.set(pullId, this.#pull(free, pullId))
  }

  /**
   * The limiter: at most `max` job starts in any `duration` ms (a sliding window over start times).
   * Pulls ask only for what the window can still start; jobs that arrive early wait for their turn.
   */
  #limit(free: number): number {
    const limiter = this.opts.limiter
    if (limiter === undefined) return free
    const budget = limiter.max - this.#recentStarts(Date.now()) - this.#requested - this.#limited.length
    if (budget <= 0) this.#wakeLimiter()
    return Math.min(free, budget)
  }

  /** Starts within the window; forgets older ones. */
  #recentStarts(nowMs: number): number {
    const limiter = this.opts.limiter as { duration: number }
    const starts = this.#limiterStartsMs
    let expired = 0
    while (expired < starts.length && (starts[expired] as number) <= nowMs - limiter.duration) expired++
    if (expired > 0) starts.splice(0, expired)
    return starts.length
  }

  /** Runs again when the oldest start leaves the window. */
  #wakeLimiter(): void {
    const limiter = this.opts.limiter
    if (limiter === undefined || this.#limiterTimer !== null) return
    const oldestMs = this.#limiterStartsMs[0] ?? Date.now()
    this.#limiterTimer = setTimeout(() => {
      this.#limiterTimer = null
      this.#startLimited()
      this.#fill()
    }, Math.max(1, oldestMs + limiter.duration - Date.now() + 1))
  }

  /** Starts a received job now if the limiter allows it, else queues it for later. */
  #admit(wire: WireJob, nowMs: number, lastBeatMs: number): void {
    const limiter = this.opts.limiter
    if (limiter === undefined) return this.#process(wire, lastBeatMs)
    if (this.#limited.length === 0 && this.#recentStarts(nowMs) < limiter.max) {
      this.#limiterStartsMs.push(nowMs)
      return this.#process(wire, lastBeatMs)
    }
    this.#limited.push(wire)
    this.#wakeLimiter()
  }

  #startLimited(): void {
    const limiter = this.opts.limiter
    if (limiter === undefined) return
    while (this.#limited.length > 0 && this.#recentStarts(Date.now()) < limiter.max) {
      const nowMs = Date.now()
      this.#limiterStartsMs.push(nowMs)
      this.#process(this.#limited.shift() as WireJob, nowMs)
    }
    if (this.#limited.length > 0) this.#wakeLimiter()
    else this.emit('_settled')
  }

  /** Jobs to hold beyond concurrency: what the slots finish in a few pull round trips, at most `prefetch`. */
  #prefetch(): number {
    if (this.#prefetchMax === 0 || !(this.#busyMs >= 0) || !(this.#roundTripMs >= 0)) return 0
    const perRoundTrip = (this.#concurrency * this.#roundTripMs) / Math.max(this.#busyMs, 0.001)
    return Math.min(this.#prefetchMax, Math.floor(perRoundTrip * prefetchRoundTrips))
  }

  get #bufferedCount(): number {
    return this.#buffer.length - this.#bufferHead
  }

  /** Empties the prefetch buffer, returning what it held. */
  #takeBuffered(): Buffered[] {
    const held = this.#buffer.slice(this.#bufferHead)
    this.#buffer = []
    this.#bufferHead = 0
    return held
  }

  /** Starts buffered jobs while slots are free. */
  #startBuffered(): void {
    while (!this.#leasesInDoubt && this.#rateLimitTimer === null && this.#bufferHead < this.#buffer.length && this.#active.size < this.#concurrency) {
      const held = this.#buffer[this.#bufferHead++] as Buffered
      this.#admit(held.wire, Date.now(), held.lastBeatMs)
    }
    if (this.#bufferHead === this.#buffer.length) {
      this.#buffer = []
      this.#bufferHead = 0
    }
  }

  async #pull(count: number, pullId: number): Promise<void> {
    try {
      await this.#pullJobs(count)
    } finally {
      this.#pulls.delete(pullId)
      this.emit('_settled')
    }
  }

  async #pullJobs(count: number): Promise<void> {
    const timeoutMs = Math.round((this.opts.drainDelay ?? drainDelaySecondsDefault) * 1000)
    let jobs: WireJob[]
    try {
      jobs = await this.client.pullBatchSparse(this.name, count, timeoutMs)
    } catch (error) {
      this.#requested -= count
      if (error instanceof ConnectionClosedError && this.#bufferedCount > 0) this.#leasesInDoubt = true
      if (this.#closing === null) {
        if (!(error instanceof ConnectionClosedError)) this.emit('error', error as Error)
        setTimeout(() => this.#fill(), pullRetryDelayMs)
      }
      return
    }
    this.#requested -= count
    if (jobs.length > 0) this.#receivedSinceDrained = true
    if (jobs.length < count && this.#receivedSinceDrained) {
      this.#receivedSinceDrained = false
      this.emit('drained')
    }
    if (this.#forced) {
      await Promise.allSettled(jobs.map((wire) => this.client.moveToDelayed(wire.id, 0)))
      return
    }
    const nowMs = Date.now()
    let index = 0
    while (index < jobs.length && this.#active.size < this.#concurrency && this.#bufferedCount === 0) this.#admit(jobs[index++] as WireJob, nowMs, nowMs)
    while (index < jobs.length) this.#buffer.push({ wire: jobs[index++] as WireJob, lastBeatMs: nowMs, receivedMs: nowMs })
    this.#fill()
  }

  // ---- processing ----

  #process(wire: WireJob, lastBeatMs: number): void {
    const job = Job.fromWire<DataType, ResultType, NameType>(this, wire, 'active')
    const token = `${this.id}:${wire.id}:${wire.started_at}`
    job.token = token
    job.onProgress = this.#emitProgress
    this.#active.set(wire.id, { job, wire, lastBeatMs, startedMs: performance.now(), result: undefined })
    this.emit('active', job, 'waiting')
    let outcome: Promise<ResultType>
    try {
      outcome = (this.#processor as Processor<DataType, ResultType, NameType>)(job, token, this.#aborts === null ? undefined : this.#signalFor(wire.id))
    } catch (error) {
      outcome = Promise.reject(error)
    }
    void this.#finish(job, wire, outcome)
  }

  /** Completes or fails the job once its processor settles: one async step per job, not a promise and two closures. */
  async #finish(job: Job<any, any, any>, wire: WireJob, outcome: ResultType | Promise<ResultType>): Promise<void> {
    let result: ResultType
    try {
      result = await outcome
    } catch (error) {
      return this.#failed(job, wire, error)
    }
    this.#completed(job, wire, result)
  }

  /** One function for every job's progress (not a closure per job). */
  readonly #emitProgress = (progress: JobProgress, job: Job<any, any, any>): void => void this.emit('progress', job, progress)

  #completed(job: Job<any, any, any>, wire: WireJob, result: unknown): void {
    const settled = this.#release(wire.id, true)
    if (settled === undefined) return
    if (job.movedToDelayed) return this.#settled()
    settled.result = result
    if (result === undefined || result === null) {
      this.#ackQueue.push(settled)
      if (!this.#ackScheduled) {
        this.#ackScheduled = true
        // At the end of the event-loop turn: every job of a burst (a PULLB's worth, run slot after
        // slot through the microtask queue) shares one ACKB, written with the next PULLB.
        setImmediate(this.#flushAcksNow)
      }
    } else this.#track(this.client.ack(wire.id, result), [settled])
    this.#scheduleFill()
  }

  #flushAcks(): void {
    this.#ackScheduled = false
    const batchMax = Math.max(1, Math.min(ackBatchIdsMax, this.opts.ackBatchMax ?? ackBatchIdsDefault))
    while (this.#ackQueue.length > 0) {
      // The whole queue when it fits (the common case): no copy.
      const batch = this.#ackQueue.length <= batchMax ? this.#ackQueue : this.#ackQueue.splice(0, batchMax)
      if (batch === this.#ackQueue) this.#ackQueue = []
      const ids = new Array<number>(batch.length)
      for (let at = 0; at < batch.length; at++) ids[at] = (batch[at] as Settled).wire.id
      this.#track(this.client.ackBatch(ids), batch)
    }
    this.#fill()
  }

  #track(ack: Promise<unknown>, batch: Settled[]): void {
    this.#acksInFlight.set(batch, this.#confirm(ack, batch, performance.now()))
  }

  /** Waits for an acknowledgement's reply; one async step per ACK(B), where then + finally cost several promises and closures. */
  async #confirm(ack: Promise<unknown>, batch: Settled[], sentMs: number): Promise<void> {
    try {
      let failure: Error | null = null
      try {
        await ack
      } catch (error) {
        failure = error as Error
      }
      if (failure === null) {
        this.#roundTripMs = ewma(this.#roundTripMs, performance.now() - sentMs)
        const nowMs = Date.now()
        for (const settled of batch) this.#emitCompleted(settled, nowMs)
      } else if (failure instanceof ConnectionClosedError && this.#closing === null) {
        this.#unconfirmed.push(...batch)
        if (this.#bufferedCount > 0) this.#leasesInDoubt = true
      }
      else if (failure instanceof RequestTimeoutError) await this.#reconcile(batch) // a slow server, not a lost ack
      // Refused (e.g. `Job N not found`): the lease may have died with a server restart while the
      // processor ran; the job is then waiting again and runs once more. Check before calling it an error.
      else await this.#reconcile(batch, failure)
    } finally {
      this.#acksInFlight.delete(batch)
      this.#settled()
    }
  }

  #emitCompleted(settled: Settled, nowMs = Date.now()): void {
    const job = settled.job
    job.returnvalue = settled.result
    job.finishedOn = nowMs
    job.attemptsMade = settled.wire.attempts + 1
    this.emit('completed', job, settled.result, 'active')
    const wire = settled.wire
    const keep = wire.keep_completed_count ?? 0
    if (keep > 0) this.#trim('completed', keep)
    else if (this.#workerKeep.completed >= 0 && !wire.remove_on_complete && !(wire.keep_completed_age > 0)) this.#trim('completed', this.#workerKeep.completed)
  }

  /** The Worker's `removeOnComplete` / `removeOnFail` count (BullMQ's, for jobs without their own), -1 for none. */
  readonly #workerKeep: { completed: number; failed: number }

  /** Per state, the count of the last finished `removeOn…: N` job whose trim has not started yet (-1: none). */
  readonly #trimKeep = { completed: -1, failed: -1 }
  #trimming = false

  /**
   * BullMQ's `removeOnComplete: N` / `removeOnFail: N`: the queue keeps its newest N completed (failed)
   * jobs. The server keeps its own history (keep_completed_count is only stored), so the Worker removes
   * the oldest with CLEAN; one trim at a time, jobs finished during it trim once more afterwards.
   */
  #trim(state: 'completed' | 'failed', keep: number): void {
    this.#trimKeep[state] = keep
    if (this.#trimming) return
    this.#trimming = true
    const done = (async () => {
      for (;;) {
        const state = this.#trimKeep.completed >= 0 ? 'completed' : this.#trimKeep.failed >= 0 ? 'failed' : null
        if (state === null) return
        const keepNow = this.#trimKeep[state]
        this.#trimKeep[state] = -1
        await trimFinished(this.client, this.name, state, keepNow)
      }
    })().catch((error: Error) => {
      this.#trimKeep.completed = this.#trimKeep.failed = -1
      this.emit('error', new Error(`removeOnComplete/removeOnFail: trimming jobs of ${this.name} failed: ${error.message}`))
    }).finally(() => {
      this.#trimming = false
      this.#acksInFlight.delete(done)
      this.#settled()
    })
    this.#acksInFlight.set(done, done)
  }

  #failed(job: Job<any, any, any>, wire: WireJob, thrown: unknown): void {
    if (!this.#release(wire.id)) return
    if (isHandOff(thrown) || job.movedToDelayed) return this.#settled()
    if (isRateLimitExceeded(thrown)) return this.#requeueRateLimited(wire)
    const done = failAttempt(this.client, job, wire, thrown, this.backoffStrategy).then(
      ({ error, reason, final, backoffError, stacktrace }) => {
        if (backoffError !== undefined) this.emit('error', backoffError)
        job.failedReason = reason
        job.stacktrace = stacktrace
        job.attemptsMade = wire.attempts + 1
        if (final) job.finishedOn = Date.now()
        this.emit('failed', job, error, 'active')
        const keep = final ? keepFailedCountOf(wire.tags) : 0
        if (keep > 0) this.#trim('failed', keep)
        else if (final && this.#workerKeep.failed >= 0 && !wire.remove_on_fail) this.#trim('failed', this.#workerKeep.failed)
      },
      (failure: Error) => {
        this.emit('error', new Error(`failing job ${wire.id} failed: ${failure.message}`))
      },
    )
    this.#acksInFlight.set(done, done)
    void done.finally(() => {
      this.#acksInFlight.delete(done)
      this.#settled()
    })
    this.#scheduleFill()
  }

  /**
   * Frees the job's slot and starts a buffered job in it; false when the job was already released
   * (forced close). A completion samples the processing time that sizes the prefetch.
   */
  #release(id: number, completed = false): Active | undefined {
    const active = this.#active.get(id)
    if (active === undefined) return undefined
    this.#aborts?.delete(id)
    this.#active.delete(id)
    if (completed) this.#busyMs = ewma(this.#busyMs, performance.now() - active.startedMs)
    if (this.#bufferHead < this.#buffer.length) this.#startBuffered()
    return active
  }

  #settled(): void {
    this.emit('_settled')
    this.#scheduleFill()
  }

  // ---- cancelling jobs (the processor's third parameter, an AbortSignal) ----

  /** Abort controllers of the active jobs, when the processor takes a signal (`(job, token, signal)`); else null. */
  #aborts: Map<number, AbortController> | null = null

  #signalFor(id: number): AbortSignal {
    const controller = new AbortController()
    this.#aborts?.set(id, controller)
    return controller.signal
  }

  /**
   * Aborts the signal of an active job (BullMQ's cancelJob); the processor decides what follows (a
   * throw fails the job as usual). False when the job is not active here or the processor takes no signal.
   */
  cancelJob(jobId: string, reason?: string): boolean {
    const controller = this.#aborts?.get(this.#activeServerId(jobId) ?? Number.NaN)
    if (controller === undefined) return false
    controller.abort(reason ?? 'Job cancelled')
    return true
  }

  cancelAllJobs(reason?: string): void {
    for (const controller of this.#aborts?.values() ?? []) controller.abort(reason ?? 'Job cancelled')
  }

  // ---- BullMQ's manual rate limit (worker.rateLimit + throw Worker.RateLimitError()) ----

  /** Set while rateLimit() holds the worker's pulls back. */
  #rateLimitTimer: ReturnType<typeof setTimeout> | null = null
  #rateLimitedUntilMs = 0

  /** The error a processor throws after rateLimit(): the job goes back to the queue, no attempt counted. */
  static RateLimitError(): Error {
    return new RateLimitError(rateLimitExceededMessage)
  }

  /**
   * Takes no new jobs for `expireTimeMs` (this worker only: BullMQ's limit is per queue). A job whose
   * processor then throws Worker.RateLimitError() goes back to the queue, due when the limit ends.
   */
  async rateLimit(expireTimeMs: number): Promise<void> {
    if (!(expireTimeMs > 0)) return
    this.#rateLimitedUntilMs = Math.max(this.#rateLimitedUntilMs, Date.now() + expireTimeMs)
    if (this.#rateLimitTimer !== null) clearTimeout(this.#rateLimitTimer)
    this.#rateLimitTimer = setTimeout(() => {
      this.#rateLimitTimer = null
      this.#startBuffered() // prefetched jobs held back by the limit
      this.#scheduleFill()
    }, Math.max(1, this.#rateLimitedUntilMs - Date.now()))
  }

  #requeueRateLimited(wire: WireJob): void {
    const delayMs = Math.max(0, this.#rateLimitedUntilMs - Date.now())
    const requeued = this.client.moveToDelayed(wire.id, delayMs).catch((error: Error) => void this.emit('error', error))
    this.#acksInFlight.set(requeued, requeued)
    void requeued.finally(() => {
      this.#acksInFlight.delete(requeued)
      this.#settled()
    })
  }

  /** BullMQ's Worker.delay: resolves after `ms`, or early when `abortController` aborts. */
  delay(ms = 0, abortController?: AbortController): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      abortController?.signal.addEventListener('abort', () => {
        clearTimeout(timer)
        resolve()
      }, { once: true })
    })
  }

  /** Heartbeats for the given active jobs (BullMQ's extendJobLocks); the duration is each job's stall timeout. */
  async extendJobLocks(jobIds: string[], _tokens?: string[], _durationMs?: number): Promise<number> {
    const beats = await Promise.allSettled(jobIds.map((id) => this.client.heartbeat(this.#activeServerId(id) ?? Number.NaN)))
    return beats.filter((beat) => beat.status === 'fulfilled').length
  }

  /** The server id of a job active here, by the id its processor sees (job.id: a custom jobId or the server id). */
  #activeServerId(jobId: string): number | null {
    const serverId = serverIdOfText(jobId)
    if (serverId !== null) return serverId
    for (const [id, active] of this.#active) if (active.job.id === jobId) return id
    return null
  }

  // ---- liveness ----

  /** HEARTBEAT for active jobs whose last one is older than a third of their stall timeout. */
  #heartbeat(): void {
    const nowMs = Date.now()
    const lockMs = this.opts.lockDuration ?? lockDurationMsDefault
    const beat = (held: { wire: WireJob; lastBeatMs: number }) => {
      const intervalMs = Math.min(lockMs / 2, (held.wire.stall_timeout || lockDurationMsDefault) / 3)
      if (nowMs - held.lastBeatMs < intervalMs) return
      held.lastBeatMs = nowMs
      this.client.heartbeat(held.wire.id).catch(() => {})
    }
    for (const active of this.#active.values()) beat(active)
    for (let index = this.#bufferHead; index < this.#buffer.length; index++) beat(this.#buffer[index] as Buffered)
    this.#shedStaleBuffer(nowMs)
  }

  /** The safety valve of the prefetch: jobs turned slow after the buffer was filled (see bufferedWaitMaxMs). */
  #shedStaleBuffer(nowMs: number): void {
    const oldest = this.#buffer[this.#bufferHead]
    if (oldest === undefined || nowMs - oldest.receivedMs < bufferedWaitMaxMs) return
    const perfNowMs = performance.now()
    for (const active of this.#active.values()) this.#busyMs = Math.max(this.#busyMs || 0, perfNowMs - active.startedMs)
    const surplus = this.#bufferedCount - this.#prefetch()
    if (surplus <= 0) return
    const released = this.#buffer.splice(this.#buffer.length - surplus, surplus)
    for (const held of released) this.client.moveToDelayed(held.wire.id, 0).catch((error: Error) => this.emit('error', error))
  }

  /** Re-sends the acknowledgements lost with the connection, and checks the prefetched jobs are still ours. */
  async #afterReconnect(): Promise<void> {
    const lost = this.#unconfirmed
    this.#unconfirmed = []
    await Promise.all([lost.length > 0 ? this.#reconcile(lost) : undefined, this.#recheckBuffered()])
    this.#scheduleFill()
  }

  /**
   * A restarted server has the jobs it handed out waiting again (a pull writes no record): a
   * prefetched job is kept only if it is still active from the same delivery, so it is not run here
   * while another worker runs it too. (A job already started runs on, like every job active at a crash.)
   */
  async #recheckBuffered(): Promise<void> {
    const held = this.#takeBuffered()
    if (held.length === 0) {
      this.#leasesInDoubt = false
      return
    }
    let kept: Buffered[] = []
    try {
      const current = await this.client.getJobsBatch(held.map((one) => one.wire.id))
      const stillOurs = new Set(current.filter((entry) => entry.state === 'active').map((entry) => `${entry.job.id}:${entry.job.started_at}`))
      kept = held.filter((one) => stillOurs.has(`${one.wire.id}:${one.wire.started_at}`))
    } catch (error) {
      this.emit('error', error as Error)
    }
    this.#buffer = [...kept, ...this.#buffer.slice(this.#bufferHead)]
    this.#bufferHead = 0
    this.#leasesInDoubt = false
    this.#startBuffered()
    this.emit('_settled')
  }

  /**
   * Acknowledges again the deliveries that are still ours: active with the same start time. The
   * check is sent after the original acknowledgement on the same connection, and the server starts
   * a connection's commands in order, so an acknowledgement that did arrive is seen as completed.
   */
  async #reconcile(lost: Settled[], refusal: Error | null = null): Promise<void> {
    try {
      const current = await this.client.getJobsBatch(lost.map((settled) => settled.wire.id))
      const stillOurs = new Set(current.filter((entry) => entry.state === 'active').map((entry) => `${entry.job.id}:${entry.job.started_at}`))
      const resend = lost.filter((settled) => stillOurs.has(`${settled.wire.id}:${settled.wire.started_at}`))
      // A refused acknowledgement of a delivery that is still ours is a real error, not a lost lease.
      if (refusal !== null && resend.length > 0) {
        this.emit('error', new Error(`acknowledging ${resend.length} job(s) failed: ${refusal.message}`))
        return
      }
      // GETJOBSBATCH omits completed (and forgotten) jobs: absent means the acknowledgement arrived.
      const present = new Set(current.map((entry) => entry.job.id))
      for (const settled of lost) if (!present.has(settled.wire.id)) this.#emitCompleted(settled)
      for (const settled of resend) this.#track(this.client.ack(settled.wire.id, settled.result ?? undefined), [settled])
    } catch (error) {
      this.emit('error', error as Error)
    }
  }

  // ---- typed events ----

  override on<U extends keyof WorkerListener<DataType, ResultType, NameType>>(event: U, listener: WorkerListener<DataType, ResultType, NameType>[U]): this
  override on(event: string | symbol, listener: (...args: any[]) => void): this
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener)
  }

  override once<U extends keyof WorkerListener<DataType, ResultType, NameType>>(event: U, listener: WorkerListener<DataType, ResultType, NameType>[U]): this
  override once(event: string | symbol, listener: (...args: any[]) => void): this
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.once(event, listener)
  }
}

/** The count of finished jobs a Worker's `removeOnComplete` / `removeOnFail` keeps (true: 0), or -1 (none, or `age` only: not enforced). */
function keptCountOf(option: unknown): number {
  if (option === true) return 0
  if (typeof option === 'number') return Math.max(0, Math.floor(option))
  const count = (option as KeepJobs | undefined)?.count
  return typeof count === 'number' ? Math.max(0, Math.floor(count)) : -1
}

/** A moving average; the first sample sets it. */
function ewma(average: number, sample: number): number {
  return Number.isNaN(average) ? sample : average + (sample - average) * ewmaWeight
}

export type WorkerListener<DataType = any, ResultType = any, NameType extends string = string> = {
  active: (job: Job<DataType, ResultType, NameType>, prev: string) => void
  completed: (job: Job<DataType, ResultType, NameType>, result: ResultType, prev: string) => void
  failed: (job: Job<DataType, ResultType, NameType> | undefined, error: Error, prev: string) => void
  progress: (job: Job<DataType, ResultType, NameType>, progress: number | object | string | boolean) => void
  drained: () => void
  error: (failedReason: Error) => void
  closing: (msg: string) => void
  closed: () => void
  ready: () => void
  paused: () => void
  resumed: () => void
  /** Declared for BullMQ compatibility: the server detects stalls, so the Worker never emits it (QueueEvents 'stalled' does). */
  stalled: (jobId: string, prev: string) => void
}
