/**
 * Queue routes (spec §5.2 "Queues", http-clients.md §1, §4): each one command. The SDK-only paths
 * (`/jobs/batch`, `/ratelimit`, `/dlq/{id}/retry`) are aliases of the reference routes.
 */
import { type Context, Hono } from 'hono'
import { httpBlockingTimeoutMsMax } from '../../base/limits.ts'
import type { HttpDeps } from './deps.ts'
import { jobIdParam, noHeaders, numberQuery, queryNumber, queueParam, readObjectBody, readRequestObject } from './envelope.ts'
import { fastRoutesOf, honoMatch, type FastHandler } from './fast-path.ts'
import { makeRunner, runCommand } from './run.ts'

const count = (reply: Record<string, unknown>) => reply.count
/** The count, as the spec has it; with `ids: true` (extension) the listed ids too (replies.ts CleanedIds). */
const cleanView = ({ count, ids, custom_ids, more }: Record<string, unknown>) => (ids === undefined ? count : { count, ids, custom_ids, more })

export function queueRoutes(deps: HttpDeps): Hono {
  const app = new Hono()
  const run = makeRunner(deps)
  const onQueue = (cmd: string) => async (c: Context) => {
    await readObjectBody(c) // validates the (optional) body: malformed JSON is still a 400
    return run(c, { cmd, queue: queueParam(c) }, cmd === 'DRAIN' || cmd === 'OBLITERATE' || cmd === 'PURGEDLQ' ? count : undefined)
  }

  app.get('/queues', (c) => run(c, { cmd: 'LISTQUEUES' }, (reply) => reply.queues))

  // The hot routes: one function each, for Hono and for the fast path (fast-path.ts).
  const fast = fastRoutesOf(deps)
  const hot: Array<[method: string, path: string, handler: FastHandler]> = [
    ['POST', '/queues/:queue/jobs', async (request, match, headers) => {
      const body = await readRequestObject(request)
      return runCommand(deps, request, { data: null, ...body, cmd: '_PUSHJOB', queue: match.params.queue }, (reply) => reply.job, {}, headers)
    }],
    ['POST', '/queues/:queue/jobs/batch', async (request, match, headers) => {
      const body = await readRequestObject(request)
      return runCommand(deps, request, { ...body, cmd: 'PUSHB', queue: match.params.queue }, (reply) => reply.ids, {}, headers)
    }],
    ['GET', '/queues/:queue/jobs', async (request, match, headers) => {
      const wanted = queryNumber(match.query('count'), 'count') ?? 1
      const timeoutMs = Math.min(queryNumber(match.query('timeout'), 'timeout') ?? 60_000, httpBlockingTimeoutMsMax)
      const queue = match.params.queue
      if (wanted === 1) {
        const pull = { cmd: 'PULL', queue, timeout: timeoutMs }
        return runCommand(deps, request, pull, (reply) => (reply.job ? [reply.job] : []), { blockingMs: timeoutMs }, headers)
      }
      return runCommand(deps, request, { cmd: 'PULLB', queue, count: wanted, timeout: timeoutMs }, (reply) => reply.jobs, { blockingMs: timeoutMs }, headers)
    }],
  ]
  for (const [method, path, handler] of hot) {
    fast.add(method, path, handler)
    app.on(method, path, (c) => handler(c.req.raw, honoMatch(c), noHeaders))
  }

  app.post('/queues/:queue/pause', onQueue('PAUSE'))
  app.post('/queues/:queue/resume', onQueue('RESUME'))
  app.post('/queues/:queue/drain', onQueue('DRAIN'))
  app.delete('/queues/:queue/obliterate', onQueue('OBLITERATE'))
  app.get('/queues/:queue/paused', (c) => run(c, { cmd: 'ISPAUSED', queue: queueParam(c) }, (reply) => reply.paused))
  app.get('/queues/:queue/count', (c) => run(c, { cmd: 'COUNT', queue: queueParam(c) }, count))
  app.get('/queues/:queue/counts', (c) =>
    run(c, { cmd: 'GETJOBCOUNTS', queue: queueParam(c) }, ({ waiting, active, delayed, completed, failed }) =>
      ({ waiting, active, delayed, completed, failed })))
  app.post('/queues/:queue/clean', async (c) => {
    const body = await readObjectBody(c)
    return run(c, { ...body, cmd: 'CLEAN', queue: queueParam(c) }, cleanView)
  })
  app.post('/queues/:queue/flow', async (c) => {
    const body = await readObjectBody(c)
    return run(c, { ...body, cmd: 'FLOW', queue: queueParam(c) }, ({ parent_id, children_ids }) => ({ parent_id, children_ids }))
  })

  // Dead-letter queue.
  app.get('/queues/:queue/dlq', (c) =>
    run(c, { cmd: 'DLQ', queue: queueParam(c), count: numberQuery(c, 'count') ?? 100 }, (reply) => reply.jobs))
  app.delete('/queues/:queue/dlq', onQueue('PURGEDLQ'))
  app.post('/queues/:queue/dlq/retry', async (c) => {
    const body = await readObjectBody(c)
    return run(c, { cmd: 'RETRYDLQ', queue: queueParam(c), id: body.job_id ?? body.id }, count)
  })
  app.post('/queues/:queue/dlq/:id/retry', async (c) => {
    await readObjectBody(c)
    return run(c, { cmd: 'RETRYDLQ', queue: queueParam(c), id: jobIdParam(c) }, count)
  })

  // Rate limit (reference `/rate-limit`, SDK `/ratelimit`) and concurrency.
  for (const path of ['/queues/:queue/rate-limit', '/queues/:queue/ratelimit']) {
    app.post(path, async (c) => {
      const body = await readObjectBody(c)
      return run(c, { cmd: 'RATELIMIT', queue: queueParam(c), limit: body.limit })
    })
    app.delete(path, onQueue('RATELIMITCLEAR'))
  }
  app.post('/queues/:queue/concurrency', async (c) => {
    const body = await readObjectBody(c)
    return run(c, { cmd: 'SETCONCURRENCY', queue: queueParam(c), limit: body.limit })
  })
  app.delete('/queues/:queue/concurrency', onQueue('CLEARCONCURRENCY'))
  return app
}
