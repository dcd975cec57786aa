/**
 * Server-sent events (spec §5.4): `/events`, `/events/{queue}`, `/queues/{queue}/events` (alias) and
 * `/events/job/{id}?events=a,b`. Each stream is pulled by the client: Bun asks for more only once the
 * socket took what it had, so events wait in the subscriber's EventBuffer (shared texts). Beyond
 * eventBufferEventsMax events the oldest are dropped (the stream says how many); beyond
 * eventStreamBufferedBytesMax bytes, or when all subscribers pass eventStreamsBufferedBytesTotalMax and
 * this one is furthest behind, the client is too slow: it is unsubscribed at once and its stream ends
 * with a comment giving the reason.
 */
import { Hono } from 'hono'
import { sseConnectionsMax, sseKeepAliveMs } from '../../base/limits.ts'
import type { EventFilter } from '../events.ts'
import type { HttpDeps } from './deps.ts'
import { HttpProblem, jobIdParam } from './envelope.ts'
import { validateQueueName } from '../../protocol/validate.ts'

const encoder = new TextEncoder()

const sseHeaders = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' }

export function eventRoutes(deps: HttpDeps): Hono {
  const app = new Hono()
  let open = 0
  const stream = (filter: EventFilter, request: Request): Response => {
    // HEAD (which Hono routes here) gets the headers only: Bun sends no body, never pulls or cancels
    // the stream, and a subscription would never end (each one held a stream slot for good).
    if (request.method === 'HEAD') return new Response(null, { headers: sseHeaders })
    if (open >= sseConnectionsMax) throw new HttpProblem(503, `Too many event streams (max ${sseConnectionsMax})`)
    open++
    const buffer = deps.hub.buffers.create(() => unsubscribe())
    const unsubscribe = deps.hub.subscribe(filter, (_event, encoded) => buffer.push(encoded.sse))
    let finished = false
    const finish = () => {
      if (finished) return
      finished = true
      open--
      buffer.close('stream closed') // unsubscribes
    }
    request.signal.addEventListener('abort', finish)
    let reportedDrops = 0
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(': connected\n\n'))
      },
      async pull(controller) {
        await buffer.waitFor(sseKeepAliveMs)
        if (finished) return controller.close()
        if (buffer.dropped > reportedDrops) {
          controller.enqueue(encoder.encode(`: dropped ${buffer.dropped - reportedDrops} events (client too slow)\n\n`))
          reportedDrops = buffer.dropped
        }
        const events = buffer.takeAll()
        for (const text of events) controller.enqueue(text.data as Uint8Array)
        if (buffer.closedReason !== null) {
          controller.enqueue(encoder.encode(`: closed: ${buffer.closedReason}\n\n`))
          finish()
          return controller.close()
        }
        if (events.length === 0) controller.enqueue(encoder.encode(': keep-alive\n\n'))
      },
      cancel: finish,
    }, { highWaterMark: 0 })
    return new Response(body, { headers: sseHeaders })
  }
  app.get('/events', (c) => stream({}, c.req.raw))
  app.get('/events/job/:id', (c) => {
    const types = c.req.query('events')
    const filter: EventFilter = { jobId: jobIdParam(c) }
    if (types !== undefined && types.trim() !== '') filter.types = new Set(types.split(',').map((type) => type.trim()))
    return stream(filter, c.req.raw)
  })
  app.get('/events/:queue', (c) => stream({ queue: streamQueue(c.req.param('queue')) }, c.req.raw))
  app.get('/queues/:queue/events', (c) => stream({ queue: streamQueue(c.req.param('queue')) }, c.req.raw))
  return app
}

/** A stream's queue: a name no job can have would hold a stream that never carries an event. */
function streamQueue(queue: string): string {
  const problem = validateQueueName(queue)
  if (problem !== null) throw new HttpProblem(400, `Invalid queue for an event stream: ${problem}`)
  return queue
}
