/**
 * The event hub: engine events from every shard (JobEvent, spec §5.4) fanned out to subscribers in the
 * front — SSE streams, WebSockets, webhooks, the SDK's QueueEvents.
 *
 * Owns: the subscriber set, filters, and turning host events on only while someone listens (a host
 * sends events after the records that produced them are durable, alongside the replies).
 * Does not own: transports. `subscribe` calls back synchronously; a subscriber that cannot keep up
 * buffers through `EventBuffer`, which is bounded and either drops the oldest events or closes.
 */
import { eventBufferBytesMax, eventBufferEventsMax } from '../base/limits.ts'
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

type Subscriber = { filter: EventFilter; onEvent: (event: JobEvent) => void }

export class EventHub {
  private readonly subscribers = new Set<Subscriber>()

  constructor(private readonly source: EventSource) {
    source.onEvents = (events) => this.publish(events)
  }

  get subscriberCount(): number {
    return this.subscribers.size
  }

  /** Calls `onEvent` for every matching event until the returned function is called. */
  subscribe(filter: EventFilter, onEvent: (event: JobEvent) => void): Unsubscribe {
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
      for (const subscriber of this.subscribers) {
        if (!matches(subscriber.filter, event)) continue
        try {
          subscriber.onEvent(event)
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

export type OverflowPolicy = 'dropOldest' | 'close'

/**
 * A bounded queue of serialized events (SSE or WebSocket text) for one slow consumer. Over
 * `eventsMax` events or `bytesMax` bytes it drops the oldest (and counts them) or, with 'close',
 * closes itself with a reason. Never holds more than its bounds (plus the one event being added).
 */
export class EventBuffer {
  private items: string[] = []
  private head = 0
  private bytes = 0
  dropped = 0
  closedReason: string | null = null
  private wake: (() => void) | null = null

  constructor(
    readonly eventsMax: number = eventBufferEventsMax,
    readonly bytesMax: number = eventBufferBytesMax,
    private readonly policy: OverflowPolicy = 'dropOldest',
  ) {}

  get length(): number {
    return this.items.length - this.head
  }

  push(text: string): void {
    if (this.closedReason !== null) return
    this.items.push(text)
    this.bytes += text.length
    while (this.length > this.eventsMax || (this.bytes > this.bytesMax && this.length > 1)) {
      if (this.policy === 'close') return this.close(`subscriber fell behind by more than ${this.eventsMax} events or ${this.bytesMax} bytes`)
      this.bytes -= (this.items[this.head] as string).length
      this.items[this.head] = ''
      this.head++
      this.dropped++
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    this.notify()
  }

  /** Takes everything buffered, in order. */
  takeAll(): string[] {
    const taken = this.items.slice(this.head)
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
    this.items = []
    this.head = 0
    this.bytes = 0
    this.notify()
  }

  private notify(): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }
}
