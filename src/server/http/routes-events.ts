/**
 * Server-sent events (spec §5.4): `/events`, `/events/{queue}`, `/queues/{queue}/events` (alias) and
 * `/events/job/{id}?events=a,b`. Each stream is pulled by the client: events wait in a bounded
 * EventBuffer (oldest dropped beyond eventBufferEventsMax or eventBufferBytesMax), so a client that
 * stops reading costs at most that buffer plus the socket's own, never more.
 */
import { Hono } from 'hono'
import { eventBufferBytesMax, eventBufferEventsMax, sseConnectionsMax, sseKeepAliveMs } from '../../base/limits.ts'
import { EventBuffer, type EventFilter, type JobEvent } from '../events.ts'
import type { HttpDeps } from './deps.ts'
import { HttpProblem, jobIdParam } from './envelope.ts'

const encoder = new TextEncoder()

export const formatSse = (event: JobEvent) => `event: ${event.event_type}\ndata: ${JSON.stringify(event)}\n\n`

export function eventRoutes(deps: HttpDeps): Hono {
  const app = new Hono()
  let open = 0
  const stream = (filter: EventFilter, signal: AbortSignal): Response => {
    if (open >= sseConnectionsMax) throw new HttpProblem(503, `Too many event streams (max ${sseConnectionsMax})`)
    open++
    const buffer = new EventBuffer(eventBufferEventsMax, eventBufferBytesMax, 'dropOldest')
    const unsubscribe = deps.hub.subscribe(filter, (event) => buffer.push(formatSse(event)))
    let finished = false
    const finish = () => {
      if (finished) return
      finished = true
      open--
      unsubscribe()
      buffer.close('stream closed')
    }
    signal.addEventListener('abort', finish)
    let reportedDrops = 0
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(': connected\n\n'))
      },
      async pull(controller) {
        await buffer.waitFor(sseKeepAliveMs)
        if (finished) return controller.close()
        let text = ''
        if (buffer.dropped > reportedDrops) {
          text += `: dropped ${buffer.dropped - reportedDrops} events (client too slow)\n\n`
          reportedDrops = buffer.dropped
        }
        for (const event of buffer.takeAll()) text += event
        controller.enqueue(encoder.encode(text === '' ? ': keep-alive\n\n' : text))
      },
      cancel: finish,
    }, { highWaterMark: 0 })
    return new Response(body, {
      headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' },
    })
  }
  app.get('/events', (c) => stream({}, c.req.raw.signal))
  app.get('/events/job/:id', (c) => {
    const types = c.req.query('events')
    const filter: EventFilter = { jobId: jobIdParam(c) }
    if (types !== undefined && types.trim() !== '') filter.types = new Set(types.split(',').map((type) => type.trim()))
    return stream(filter, c.req.raw.signal)
  })
  app.get('/events/:queue', (c) => stream({ queue: c.req.param('queue') }, c.req.raw.signal))
  app.get('/queues/:queue/events', (c) => stream({ queue: c.req.param('queue') }, c.req.raw.signal))
  return app
}
