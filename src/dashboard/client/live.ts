/**
 * The live feed: one WebSocket to /ws/dashboard for the periodic snapshot (queues, stats, metrics,
 * workers, crons), reconnected with backoff (1 s doubling to 30 s) and shown when lost; and the
 * JobEvent stream of /ws, which makes a pushed job appear at once instead of at the next snapshot.
 *
 * The event stream costs the server work per event, so it is dropped while events arrive faster
 * than eventRateMaxPerSecond and probed again later: under load the snapshot alone keeps the page
 * current.
 */
import { auth, get, socketUrl } from './api.ts'
import { emitChange, subscribeTo } from './signal.ts'
import type { JobEvent, QueueInfo, Snapshot, Stats } from './types.ts'

const reconnectFirstMs = 1000
const reconnectMaxMs = 30_000
const eventRateMaxPerSecond = 500
const eventProbeAfterMs = 60_000
/** The event rate is judged over windows this long: short, so that a probe under load costs little. */
const eventRateWindowMs = 250
const recentEventsMax = 25
/** Ten minutes of chart points at the default 3-s snapshot interval. */
const chartPointsMax = 200
const updateDurationsMax = 2000
const renderIntervalMinMs = 100

export type ConnectionState = 'connecting' | 'open' | 'lost'
export type RatePoint = { timestampMs: number; pushed: number; completed: number; failed: number; latencyMs: number }

class LiveFeed {
  state: ConnectionState = 'connecting'
  retryAtMs = 0
  snapshot: Snapshot | null = null
  queues = new Map<string, QueueInfo>()
  recentEvents: JobEvent[] = []
  eventsPaused = false
  eventsOpen = false
  rates: RatePoint[] = []
  /** Bumped when the set of queue names changes, or the chart points: views cache their work on them. */
  namesVersion = 0
  ratesVersion = 0
  /**
   * Milliseconds from each change notification until its re-render ran (the DOM patched), newest
   * last; read by test/e2e/perf.ts (the page exposes `flashqLive`).
   */
  readonly updateDurationsMs: number[] = []
  private socket: WebSocket | null = null
  private events: WebSocket | null = null
  private backoffMs = reconnectFirstMs
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private notifyScheduled = false
  private lastRenderMs = 0
  private eventWindow = { startMs: 0, count: 0 }

  start(): void {
    this.connect()
  }

  retryNow(): void {
    clearTimeout(this.retryTimer)
    this.backoffMs = reconnectFirstMs
    this.connect()
  }

  subscribe = (listener: () => void) => subscribeTo(this, listener)

  /** After an action: the queues and totals now, instead of at the next snapshot. */
  async refresh(): Promise<void> {
    const [queues, stats] = await Promise.all([get<QueueInfo[]>('/queues'), get<Stats>('/stats')])
    this.queues = new Map(queues.map((queue) => [queue.name, queue]))
    this.namesVersion++
    if (this.snapshot !== null) this.snapshot = { ...this.snapshot, queues, stats }
    this.notify()
  }

  private connect(): void {
    this.socket?.close()
    this.state = 'connecting'
    this.notify()
    const socket = new WebSocket(socketUrl('/ws/dashboard'))
    this.socket = socket
    socket.onopen = () => {
      this.state = 'open'
      this.backoffMs = reconnectFirstMs
      if (this.events === null && !this.eventsPaused) this.connectEvents()
      this.notify()
    }
    socket.onmessage = (message) => this.applySnapshot(JSON.parse(String(message.data)) as Snapshot)
    socket.onclose = (close) => {
      if (this.socket !== socket) return
      this.socket = null
      if (close.code === 1008) auth.demand()
      this.state = 'lost'
      this.retryAtMs = Date.now() + this.backoffMs
      this.retryTimer = setTimeout(() => this.connect(), this.backoffMs)
      this.backoffMs = Math.min(this.backoffMs * 2, reconnectMaxMs)
      this.notify()
    }
  }

  private connectEvents(): void {
    const events = new WebSocket(socketUrl('/ws'))
    this.events = events
    this.eventsPaused = false
    this.eventWindow = { startMs: performance.now(), count: 0 }
    events.onopen = () => {
      this.eventsOpen = true
      this.notify()
    }
    events.onmessage = (message) => this.applyEvent(JSON.parse(String(message.data)) as JobEvent)
    events.onclose = () => {
      if (this.events !== events) return
      this.events = null
      this.eventsOpen = false
      this.notify()
      // The snapshot socket reopens it when it reconnects; a paused stream waits for its probe.
      if (this.state === 'open' && !this.eventsPaused) setTimeout(() => this.events === null && !this.eventsPaused && this.connectEvents(), reconnectFirstMs)
    }
  }

  private pauseEvents(): void {
    this.eventsPaused = true
    const events = this.events
    this.events = null
    this.eventsOpen = false
    events?.close()
    setTimeout(() => this.connectEvents(), eventProbeAfterMs)
    this.notify()
  }

  private applySnapshot(snapshot: Snapshot): void {
    const previous = this.snapshot
    this.snapshot = snapshot
    this.queues = new Map((snapshot.queues ?? []).map((queue) => [queue.name, queue]))
    this.namesVersion++
    this.recordRates(previous, snapshot)
    this.ratesVersion++
    this.notify()
  }

  private recordRates(previous: Snapshot | null, current: Snapshot): void {
    const metrics = current.metrics
    const timestampMs = current.timestamp ?? Date.now()
    if (metrics == null) return
    if (previous === null || previous.metrics == null) {
      this.seedRates(current)
      return
    }
    const seconds = Math.max(0.001, (timestampMs - (previous.timestamp ?? timestampMs - 3000)) / 1000)
    const rate = (now: number, before: number) => Math.max(0, (now - before) / seconds)
    this.rates.push({
      timestampMs,
      pushed: rate(metrics.total_pushed, previous.metrics.total_pushed),
      completed: rate(metrics.total_completed, previous.metrics.total_completed),
      failed: rate(metrics.total_failed, previous.metrics.total_failed),
      latencyMs: metrics.avg_latency_ms,
    })
    if (this.rates.length > chartPointsMax) this.rates.splice(0, this.rates.length - chartPointsMax)
  }

  /** The server's own history fills the charts at once; it has completions, not pushes. */
  private seedRates(snapshot: Snapshot): void {
    this.rates = (snapshot.metrics_history ?? []).slice(-chartPointsMax).map((point) => ({
      timestampMs: point.timestamp,
      pushed: 0,
      completed: point.throughput ?? 0,
      failed: 0,
      latencyMs: point.latency_ms ?? 0,
    }))
  }

  /** Moves the counts an event implies until the next snapshot brings the server's own. */
  private applyEvent(event: JobEvent): void {
    const window = this.eventWindow
    window.count++
    const elapsedMs = performance.now() - window.startMs
    if (elapsedMs >= eventRateWindowMs) {
      if (window.count / (elapsedMs / 1000) > eventRateMaxPerSecond) return this.pauseEvents()
      this.eventWindow = { startMs: performance.now(), count: 0 }
    }
    this.recentEvents.unshift(event)
    if (this.recentEvents.length > recentEventsMax) this.recentEvents.length = recentEventsMax
    const known = this.queues.get(event.queue)
    if (known === undefined) this.namesVersion++
    const queue = known ?? emptyQueue(event.queue)
    const changed = { ...queue }
    if (event.event_type === 'pushed') changed.pending++
    else if (event.event_type === 'completed') (changed.processing = Math.max(0, changed.processing - 1)), changed.completed++
    else if (event.event_type === 'failed') (changed.processing = Math.max(0, changed.processing - 1)), changed.dlq++
    this.queues.set(event.queue, changed)
    this.notify()
  }

  /**
   * Many events cause one render: at most one per animation frame and one per renderIntervalMinMs,
   * which nobody can read faster anyway and which keeps a busy feed from filling every frame.
   */
  private notify(): void {
    if (this.notifyScheduled) return
    this.notifyScheduled = true
    const waitMs = Math.max(0, this.lastRenderMs + renderIntervalMinMs - performance.now())
    setTimeout(() => requestAnimationFrame(() => this.render()), waitMs)
  }

  private render(): void {
    this.notifyScheduled = false
    this.lastRenderMs = performance.now()
    const startMs = this.lastRenderMs
    emitChange(this)
    // hono/jsx/dom patches the DOM in microtasks; a task runs after all of them.
    setTimeout(() => {
      this.updateDurationsMs.push(performance.now() - startMs)
      if (this.updateDurationsMs.length > updateDurationsMax) this.updateDurationsMs.shift()
    })
  }
}

function emptyQueue(name: string): QueueInfo {
  return { name, pending: 0, processing: 0, completed: 0, delayed: 0, dlq: 0, paused: false, rate_limit: null, concurrency_limit: null }
}

export const live = new LiveFeed()
