/**
 * `QueueEvents`: BullMQ's global event listener, fed by the server's event stream for one queue
 * (WebSocket `/ws/{queue}` on the HTTP port, spec §5.4). The TCP protocol has no push channel: the
 * server never writes unsolicited frames there (§3.7), so events come over the HTTP port.
 *
 * Server events and what they become:
 *   pushed → 'added' and 'waiting' · completed → 'completed' {jobId, returnvalue} · failed → 'failed'
 *   {jobId, failedReason} · progress → 'progress' {jobId, data} · retrying → 'retrying', plus 'delayed'
 *   or 'waiting' when the event carries the new run_at · stalled → 'stalled' · active / removed /
 *   delayed / drained if the server sends such events (it does not today).
 * The connection is re-opened with backoff when it drops; events in the gap are lost (the server
 * keeps no event history).
 */
import { EventEmitter } from 'node:events'
import { checkQueue } from './flashq.ts'
import type { QueueEventsOptions } from './options.ts'
import { EventStream, type ServerEvent } from './event-stream.ts'

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
    await this.#stream.close()
    this.emit('closed')
  }

  disconnect(): Promise<void> {
    return this.close()
  }

  #dispatch(event: ServerEvent): void {
    const jobId = String(event.job_id)
    const id = `${event.timestamp}-0`
    switch (event.event_type) {
      case 'pushed':
        this.emit('added', { jobId, name: typeof event.data?.name === 'string' ? event.data.name : '' }, id)
        this.emit('waiting', { jobId }, id)
        return
      case 'active':
      case 'pulled':
        this.emit('active', { jobId, prev: 'waiting' }, id)
        return
      case 'completed':
        this.emit('completed', { jobId, returnvalue: event.data ?? null, prev: 'active' }, id)
        return
      case 'failed':
        this.emit('failed', { jobId, failedReason: event.error ?? '', prev: 'active' }, id)
        return
      case 'progress':
        this.emit('progress', { jobId, data: event.progress ?? event.data }, id)
        return
      case 'retrying': {
        // Spec §5.4 puts {attempts, run_at} in the event's data; without it the new state is unknown.
        const runAt = Number(event.data?.run_at ?? Number.NaN)
        if (runAt > event.timestamp) this.emit('delayed', { jobId, delay: runAt }, id)
        else if (runAt <= event.timestamp) this.emit('waiting', { jobId, prev: 'failed' }, id)
        this.emit('retrying', { jobId, failedReason: event.error ?? '', attemptsMade: event.data?.attempts }, id)
        return
      }
      case 'delayed':
        this.emit('delayed', { jobId, delay: Number(event.data?.run_at ?? event.data?.delay ?? 0) }, id)
        return
      case 'removed':
      case 'cancelled':
        this.emit('removed', { jobId, prev: 'waiting' }, id)
        return
      case 'stalled':
        this.emit('stalled', { jobId }, id)
        return
      case 'drained':
        this.emit('drained', id)
        return
      default:
        this.emit(event.event_type, { jobId, data: event.data, error: event.error }, id)
    }
  }
}
