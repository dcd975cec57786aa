/**
 * The event hub: engine events from every shard (JobEvent, spec §5.4) fanned out to subscribers in the
 * front — SSE streams, WebSockets, webhooks, the SDK's QueueEvents.
 *
 * Owns: the subscriber set, filters, and turning host events on only while someone listens (a host
 * sends events after the records that produced them are durable, alongside the replies).
 * Does not own: transports. `subscribe` calls back synchronously; a subscriber that cannot keep up
 * buffers through `EventBuffer` (one per subscriber, all of them bounded together by `buffers`): each
 * event is encoded once (`EncodedEvent`) and its text shared by every buffer that holds it.
 */
import { eventBufferEventsMax, eventStreamBufferedBytesMax, eventStreamsBufferedBytesTotalMax } from '../base/limits.ts'
import type { JobEvent } from '../engine/types.ts'

export type { JobEvent }
export type JobEventType = JobEvent['event_type']

export const jobEventTypes: readonly JobEventType[] = [
  'pushed', 'completed', 'failed', 'progress', 'retrying', 'stalled', 'timeout', 'partial',
  'active', 'delayed', 'removed', 'drained', 'waiting-children', 'duplicated',
]

/** Every field optional; an empty filter sees every event. */
export type EventFilter = {
  queue?: string
  jobId?: number
  /** Only these event types (SSE `/events/job/{id}?events=a,b`). */
  types?: ReadonlySet<string>
}

export type Unsubscribe = () => void

/** What the hub needs from the shard pool (a small seam so tests and sub-apps can drive it). */
export interface EventSource {
  onEvents: (events: JobEvent[]) => void
  setEventsWanted(on: boolean): void
}

export type OnEvent = (event: JobEvent, encoded: EncodedEvent) => void

type Subscriber = { filter: EventFilter; onEvent: OnEvent }

export class EventHub {
  private readonly subscribers = new Set<Subscriber>()
  /** The buffers of SSE and WebSocket subscribers, bounded together. */
  readonly buffers = new EventBuffers()

  constructor(private readonly source: EventSource) {
    source.onEvents = (events) => this.publish(events)
  }

  get subscriberCount(): number {
    return this.subscribers.size
  }

  /** Calls `onEvent` for every matching event until the returned function is called. */
  subscribe(filter: EventFilter, onEvent: OnEvent): Unsubscribe {
    const subscriber: Subscriber = { filter, onEvent }
    this.subscribers.add(subscriber)
    if (this.subscribers.size === 1) this.source.setEventsWanted(true)
    let done = false
    return () => {
      if (done) return
      done = true
      this.subscribers.delete(subscriber)
      if (this.subscribers.size === 0) this.source.setEventsWanted(false)
    }
  }

  publish(events: JobEvent[]): void {
    for (const event of events) {
      const encoded = new EncodedEvent(event)
      for (const subscriber of this.subscribers) {
        if (!matches(subscriber.filter, event)) continue
        try {
          subscriber.onEvent(event, encoded)
        } catch (error) {
          // One broken subscriber must not starve the others; it is told by losing its subscription.
          process.stderr.write(`flashq: event subscriber failed: ${(error as Error).message}\n`)
          this.subscribers.delete(subscriber)
        }
      }
    }
  }
}

export function matches(filter: EventFilter, event: JobEvent): boolean {
  if (filter.queue !== undefined && filter.queue !== event.queue) return false
  if (filter.jobId !== undefined && filter.jobId !== event.job_id) return false
  if (filter.types !== undefined && !filter.types.has(event.event_type)) return false
  return true
}

/** One event's text, encoded once and shared by every subscriber that buffers it. */
export class SharedText {
  /** Buffers holding it: its bytes count toward EventBuffers' total once, while any holds it. */
  refs = 0
  constructor(readonly data: string | Uint8Array, readonly bytes: number) {}
}

const encoder = new TextEncoder()

/** An event with its wire texts, each made on first use and shared by all subscribers of the event. */
export class EncodedEvent {
  private jsonText: SharedText | null = null
  private sseText: SharedText | null = null
  constructor(readonly event: JobEvent) {}

  /** The JobEvent JSON (a WebSocket text frame). */
  get json(): SharedText {
    if (this.jsonText === null) {
      const text = JSON.stringify(this.event)
      this.jsonText = new SharedText(text, Buffer.byteLength(text))
    }
    return this.jsonText
  }

  /** The SSE message, UTF-8 encoded. */
  get sse(): SharedText {
    if (this.sseText === null) {
      const bytes = encoder.encode(`event: ${this.event.event_type}\ndata: ${this.json.data as string}\n\n`)
      this.sseText = new SharedText(bytes, bytes.byteLength)
    }
    return this.sseText
  }
}

/**
 * Every subscriber buffer of the server and the bytes they hold together (a text several buffers share
 * counted once). Past `bytesMax` the buffers furthest behind are closed until the total is under it,
 * so never-reading subscribers cannot add up to more than that, whatever their number.
 */
export class EventBuffers {
  bytes = 0
  private readonly open = new Set<EventBuffer>()

  constructor(
    readonly bytesMax: number = eventStreamsBufferedBytesTotalMax,
    readonly bufferEventsMax: number = eventBufferEventsMax,
    readonly bufferBytesMax: number = eventStreamBufferedBytesMax,
  ) {}

  get count(): number {
    return this.open.size
  }

  /** A new buffer for one subscriber; `onClose` runs once when it closes (overflow or owner). */
  create(onClose: (reason: string) => void = () => {}): EventBuffer {
    const buffer = new EventBuffer(this, this.bufferEventsMax, this.bufferBytesMax, onClose)
    this.open.add(buffer)
    return buffer
  }

  hold(text: SharedText): void {
    if (text.refs++ === 0) this.bytes += text.bytes
  }

  release(text: SharedText): void {
    if (--text.refs === 0) this.bytes -= text.bytes
  }

  forget(buffer: EventBuffer): void {
    this.open.delete(buffer)
  }

  settle(): void {
    while (this.bytes > this.bytesMax) {
      let furthest: EventBuffer | null = null
      for (const buffer of this.open) if (furthest === null || buffer.bytes > furthest.bytes) furthest = buffer
      if (furthest === null || furthest.bytes === 0) return
      furthest.close(`client too slow: the server's event buffers passed ${this.bytesMax} bytes and this subscriber was furthest behind`)
    }
  }
}

/**
 * The events one subscriber has not taken yet (shared texts, so a slow subscriber costs references,
 * not copies). Over `eventsMax` events the oldest are dropped and counted (spec §5.4 allows it); over
 * `bytesMax` bytes the subscriber is too slow and the buffer closes with a reason (one event always
 * fits, whatever its size, when nothing else waits).
 */
export class EventBuffer {
  private items: Array<SharedText | null> = []
  private head = 0
  bytes = 0
  dropped = 0
  closedReason: string | null = null
  private wake: (() => void) | null = null

  constructor(
    private readonly pool: EventBuffers,
    readonly eventsMax: number,
    readonly bytesMax: number,
    private readonly onClose: (reason: string) => void,
  ) {}

  get length(): number {
    return this.items.length - this.head
  }

  push(text: SharedText): void {
    if (this.closedReason !== null) return
    if (this.bytes > 0 && this.bytes + text.bytes > this.bytesMax) {
      return this.close(`client too slow: more than ${this.bytesMax} bytes of events not taken`)
    }
    this.items.push(text)
    this.bytes += text.bytes
    this.pool.hold(text)
    while (this.length > this.eventsMax) this.release(this.shiftItem())
    this.pool.settle()
    this.notify()
  }

  /** The oldest event, now the caller's (undefined when empty). */
  shift(): SharedText | undefined {
    if (this.length === 0) return undefined
    const text = this.shiftItem()
    this.bytes -= text.bytes
    this.pool.release(text)
    return text
  }

  /** Takes everything buffered, in order. */
  takeAll(): SharedText[] {
    const taken = this.items.slice(this.head) as SharedText[]
    for (const text of taken) this.pool.release(text)
    this.items = []
    this.head = 0
    this.bytes = 0
    return taken
  }

  /** Resolves when there is something to take, the buffer closes, or `timeoutMs` passes. */
  waitFor(timeoutMs: number): Promise<void> {
    if (this.length > 0 || this.closedReason !== null) return Promise.resolve()
    const { promise, resolve } = Promise.withResolvers<void>()
    const timer = setTimeout(() => this.notify(), timeoutMs)
    this.wake = () => {
      clearTimeout(timer)
      resolve()
    }
    return promise
  }

  close(reason: string): void {
    if (this.closedReason !== null) return
    this.closedReason = reason
    this.takeAll()
    this.pool.forget(this)
    this.onClose(reason)
    this.notify()
  }

  private shiftItem(): SharedText {
    const text = this.items[this.head] as SharedText
    this.items[this.head] = null // the consumer may keep it; this buffer must not
    this.head++
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return text
  }

  private release(text: SharedText): void {
    this.bytes -= text.bytes
    this.pool.release(text)
    this.dropped++
  }

  private notify(): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }
}
