/**
 * `QueueEvents`: BullMQ's global event listener, fed by the server's event stream for one queue
 * (WebSocket `/ws/{queue}` on the HTTP port, spec §5.4). The TCP protocol has no push channel: the
 * server never writes unsolicited frames there (§3.7), so events come over the HTTP port.
 *
 * Server events and what they become:
 *   pushed → 'added', then 'waiting' (or 'delayed' / 'waiting-children' when the server's next event
 *   for the queue is that job's `delayed` / `waiting-children`) · duplicated → 'duplicated' {jobId}
 *   (an add with a known jobId) · active → 'active' · delayed → 'delayed' {jobId, delay:
 *   run_at} · completed → 'completed' {jobId, returnvalue} · failed → 'failed' {jobId, failedReason} ·
 *   progress → 'progress' {jobId, data} · failed with its attempts used up → 'retries-exhausted' {jobId, attemptsMade} after 'failed' · retrying → 'delayed' or 'waiting' (from its run_at), then
 *   'retrying' · removed → 'removed' {jobId, prev} · drained → 'drained' · stalled → 'stalled'.
 * `jobId` is the job's visible id (job-ids.ts): its custom jobId, which the server sends along as
 * `custom_id`, or its server id.
 * The connection is re-opened with backoff when it drops; events in the gap are lost (the server
 * keeps no event history).
 */
import { EventEmitter } from 'node:events'
import { checkQueue } from './flashq.ts'
import type { QueueEventsOptions } from './options.ts'
import { EventStream, type ServerEvent } from './event-stream.ts'
import { bullState, progressFromMessage } from './job.ts'
import { isVisibleCustomId } from './job-ids.ts'

/** How long a 'waiting' of an added job may wait for a `delayed` that would replace it. */
const waitingHoldMs = 20

export class QueueEvents extends EventEmitter {
  readonly opts: QueueEventsOptions
  readonly #stream: EventStream

  constructor(readonly name: string, opts: QueueEventsOptions = {}) {
    super()
    checkQueue(name)
    this.opts = opts
    const connection = opts.connection ?? {}
    this.#stream = new EventStream(
      {
        host: connection.host ?? '127.0.0.1',
        httpPort: connection.httpPort ?? (connection.port ?? 6789) + 1,
        token: connection.token ?? '',
        timeoutMs: connection.timeout ?? 5000,
        queue: name,
      },
      { onEvent: (event) => this.#dispatch(event), onReady: () => this.emit('ready'), onError: (error) => this.emit('error', error) },
    )
    if (opts.autorun !== false) this.run().catch((error: Error) => this.emit('error', error))
  }

  /** Opens the event stream; resolves once subscribed. */
  run(): Promise<void> {
    return this.#stream.connect()
  }

  waitUntilReady(): Promise<void> {
    return this.#stream.open ? Promise.resolve() : this.run()
  }

  async close(): Promise<void> {
    if (this.#pushedTimer !== null) clearTimeout(this.#pushedTimer)
    this.#pushedTimer = null
    this.#flushWaiting()
    await this.#stream.close()
    this.emit('closed')
  }

  disconnect(): Promise<void> {
    return this.close()
  }

  /** The job of the last `pushed`, whose 'waiting' waits to see whether a `delayed` follows. */
  #pushedId: string | null = null
  #pushedEventId = ''
  #pushedTimer: ReturnType<typeof setTimeout> | null = null

  #dispatch(event: ServerEvent): void {
    const customId = event.custom_id
    const jobId = customId !== undefined && isVisibleCustomId(customId) ? customId : String(event.job_id)
    const id = `${event.timestamp}-0`
    const replacesWaiting = (event.event_type === 'delayed' || event.event_type === 'waiting-children') && jobId === this.#pushedId
    if (this.#pushedId !== null && !replacesWaiting) this.#flushWaiting()
    switch (event.event_type) {
      case 'pushed':
        this.#emitJob('added', { jobId, name: typeof event.data?.name === 'string' ? event.data.name : '' }, id)
        this.#holdWaiting(jobId, id)
        return
      case 'active':
        this.#emitJob('active', { jobId, prev: 'waiting' }, id)
        return
      case 'completed':
        this.#emitJob('completed', { jobId, returnvalue: event.data ?? null, prev: 'active' }, id)
        return
      case 'failed': {
        this.#emitJob('failed', { jobId, failedReason: event.error ?? '', prev: 'active' }, id)
        const attempts = Number(event.data?.attempts)
        const maxAttempts = Number(event.data?.max_attempts)
        // As BullMQ: after a failure that used up the job's attempts (not an UnrecoverableError's).
        if (maxAttempts > 0 && attempts >= maxAttempts) this.#emitJob('retries-exhausted', { jobId, attemptsMade: String(attempts) }, id)
        return
      }
      case 'progress':
        this.#emitJob('progress', { jobId, data: progressFromMessage(event.data?.message) ?? event.progress ?? event.data }, id)
        return
      case 'retrying': {
        const runAt = Number(event.data?.run_at ?? Number.NaN)
        if (runAt > event.timestamp) this.#emitJob('delayed', { jobId, delay: runAt }, id)
        else this.#emitJob('waiting', { jobId, prev: 'failed' }, id)
        this.#emitJob('retrying', { jobId, failedReason: event.error ?? '', attemptsMade: event.data?.attempts }, id)
        return
      }
      case 'delayed':
        this.#pushedId = null // the job just added is delayed, not waiting
        this.#emitJob('delayed', { jobId, delay: Number(event.data?.run_at ?? 0) }, id)
        return
      case 'waiting-children':
        this.#pushedId = null // the job just added waits for its children, not in the queue
        this.#emitJob('waiting-children', { jobId }, id)
        return
      case 'duplicated':
        this.#emitJob('duplicated', { jobId }, id)
        return
      case 'removed':
        this.#emitJob('removed', { jobId, prev: bullState(event.data?.prev) }, id)
        return
      case 'stalled':
        this.#emitJob('stalled', { jobId }, id)
        return
      case 'drained':
        this.emit('drained', id) // BullMQ's drained has no job, so no drained:<jobId>
        return
      default:
        this.#emitJob(event.event_type, { jobId, data: event.data, error: event.error }, id)
    }
  }

  /** Emits `event` and, as BullMQ does for events about a job, `event:<jobId>` (e.g. 'completed:42'). */
  #emitJob(event: string, args: { jobId: string; [field: string]: unknown }, id: string): void {
    this.emit(event, args, id)
    this.emit(`${event}:${args.jobId}`, args, id)
  }

  /**
   * The server sends a delayed (or parked) job's `delayed` (`waiting-children`) right after its `pushed` (same queue, same shard, one
   * batch), so the next event decides; a timer covers a `pushed` that nothing follows.
   */
  #holdWaiting(jobId: string, eventId: string): void {
    this.#pushedId = jobId
    this.#pushedEventId = eventId
    this.#pushedTimer ??= setTimeout(() => {
      this.#pushedTimer = null
      this.#flushWaiting()
    }, waitingHoldMs)
  }

  #flushWaiting(): void {
    const jobId = this.#pushedId
    if (jobId === null) return
    this.#pushedId = null
    this.#emitJob('waiting', { jobId }, this.#pushedEventId)
  }
}

