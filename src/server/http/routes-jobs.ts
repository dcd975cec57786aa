/**
 * Job routes (spec §5.2 "Jobs", http-clients.md §1, §3, §4): each one command, except GET /jobs/{id}
 * (GETJOB and GETRESULT together). SDK-only paths are aliases (`/jobs/ack/batch`, `/jobs/custom/{id}`,
 * `/jobs/{id}/delay`, `PATCH /jobs/{id}`, `/flows`). `DELETE /jobs/{id}` (REMOVEJOB) is an extension.
 */
import { type Context, Hono } from 'hono'
import { httpBlockingTimeoutMsMax } from '../../base/limits.ts'
import { getJobsNewestFirst } from '../merge.ts'
import type { Reply } from './call.ts'
import { clientShape, jobsShape } from './client-shape.ts'
import type { HttpDeps } from './deps.ts'
import { fail, jobIdOf, jobIdParam, noHeaders, numberQuery, ok, readObjectBody, readRequestObject } from './envelope.ts'
import { fastRoutesOf, honoMatch, type FastHandler } from './fast-path.ts'
import { ask, makeRunner, runCommand } from './run.ts'

export function jobRoutes(deps: HttpDeps): Hono {
  const app = new Hono()
  const run = makeRunner(deps)
  /** A job command whose body fields (if any) pass through. */
  const onJob = (cmd: string, fields: readonly string[] = []) => async (c: Context) => {
    const body = await readObjectBody(c)
    const request: Record<string, unknown> = { cmd, id: jobIdParam(c) }
    for (const field of fields) if (body[field] !== undefined) request[field] = body[field]
    return run(c, request)
  }

  // Static paths first: they win over `/jobs/{id}` (spec §5.1).
  app.get('/jobs', (c) => {
    const request = {
      cmd: 'GETJOBS',
      queue: c.req.query('queue') || undefined,
      state: c.req.query('state') || undefined,
      limit: numberQuery(c, 'limit') ?? 100,
      offset: numberQuery(c, 'offset') ?? 0,
      [getJobsNewestFirst]: true,
    }
    const shape = jobsShape(c)
    return run(c, request, (reply) => (shape === 'sdk' ? { jobs: reply.jobs, total: reply.total } : reply.jobs))
  })
  // The hot routes: one function each, for Hono and for the fast path (fast-path.ts).
  const fast = fastRoutesOf(deps)
  const ackBatch: FastHandler = async (request, _match, headers) => {
    const body = await readRequestObject(request)
    return runCommand(deps, request, { cmd: 'ACKB', ids: body.ids }, (reply) => reply.count, {}, headers)
  }
  const ack: FastHandler = async (request, match, headers) => {
    const body = await readRequestObject(request)
    const command: Record<string, unknown> = { cmd: 'ACK', id: jobIdOf(match.params.id ?? '') }
    if (body.result !== undefined) command.result = body.result
    return runCommand(deps, request, command, undefined, {}, headers)
  }
  const hot: Array<[path: string, handler: FastHandler]> = [['/jobs/ack-batch', ackBatch], ['/jobs/ack/batch', ackBatch], ['/jobs/:id/ack', ack]]
  for (const [path, handler] of hot) {
    fast.add('POST', path, handler)
    app.post(path, (c) => handler(c.req.raw, honoMatch(c), noHeaders))
  }
  app.get('/jobs/custom/:customId', (c) =>
    run(c, { cmd: 'GETJOBBYCUSTOMID', job_id: c.req.param('customId') }, (reply) => jobView(reply.job, reply.state, null, null)))
  app.post('/flows', async (c) => {
    const body = await readObjectBody(c)
    return run(c, { ...body, cmd: 'FLOW' }, ({ parent_id, children_ids }) => ({ parent_id, children_ids }))
  })

  app.get('/jobs/:id', async (c) => {
    const id = jobIdParam(c)
    const [job, result] = await Promise.all([ask(deps, c, { cmd: 'GETJOB', id }), ask(deps, c, { cmd: 'GETRESULT', id })])
    if (!job.ok) return fail(c, job.error ?? 'Unknown error')
    return ok(c, jobView(job.job, job.state, result.ok ? result.result : null, job.failed_reason ?? null))
  })
  app.get('/jobs/:id/state', (c) => {
    const shape = clientShape(c, 'sdk')
    return run(c, { cmd: 'GETSTATE', id: jobIdParam(c) }, (reply) => (shape === 'sdk' ? { id: reply.id, state: reply.state } : reply.state))
  })
  app.get('/jobs/:id/result', (c) => run(c, { cmd: 'GETRESULT', id: jobIdParam(c) }, (reply) => reply.result ?? null))
  app.get('/jobs/:id/progress', (c) => {
    const shape = clientShape(c, 'sdk')
    return run(c, { cmd: 'GETPROGRESS', id: jobIdParam(c) }, (reply) => progressView(reply, shape))
  })
  app.get('/jobs/:id/logs', (c) => run(c, { cmd: 'GETLOGS', id: jobIdParam(c) }, (reply) => reply.logs))
  app.get('/jobs/:id/children', async (c) => {
    const reply = await ask(deps, c, { cmd: 'GETCHILDREN', parent_id: jobIdParam(c) })
    // The HTTP route's own error text (spec §5.2); TCP keeps `Parent job N not found`.
    if (!reply.ok) return fail(c, reply.error?.startsWith('Parent job ') ? childrenNotFound : (reply.error ?? 'Unknown error'))
    return ok(c, {
      children: reply.children_ids ?? (reply.children as Array<{ id: number }>).map((child) => child.id),
      completed: reply.completed,
      total: reply.total,
    })
  })
  app.get('/jobs/:id/wait', (c) => {
    const timeoutMs = Math.min(numberQuery(c, 'timeout') ?? 30_000, httpBlockingTimeoutMsMax)
    return run(c, { cmd: 'WAITJOB', id: jobIdParam(c), timeout: timeoutMs }, (reply) => reply.result ?? null, { blockingMs: timeoutMs })
  })

  app.post('/jobs/:id/fail', onJob('FAIL', ['error']))
  app.post('/jobs/:id/cancel', onJob('CANCEL'))
  // Extension (BullMQ's job.remove()): any state, completed and failed included; `?queue=` leaves a job of another queue alone.
  app.delete('/jobs/:id', async (c) => {
    await readObjectBody(c) // validates the (optional) body: malformed JSON is still a 400
    return run(c, { cmd: 'REMOVEJOB', id: jobIdParam(c), queue: c.req.query('queue') || undefined })
  })
  app.post('/jobs/:id/promote', onJob('PROMOTE'))
  app.post('/jobs/:id/discard', onJob('DISCARD'))
  app.post('/jobs/:id/heartbeat', onJob('HEARTBEAT'))
  app.post('/jobs/:id/progress', onJob('PROGRESS', ['progress', 'message']))
  app.post('/jobs/:id/partial', onJob('PARTIAL', ['data', 'index']))
  app.post('/jobs/:id/logs', onJob('LOG', ['message', 'level']))
  app.post('/jobs/:id/priority', onJob('CHANGEPRIORITY', ['priority']))
  app.post('/jobs/:id/move-to-delayed', onJob('MOVETODELAYED', ['delay']))
  app.post('/jobs/:id/delay', onJob('MOVETODELAYED', ['delay']))
  app.post('/jobs/:id/update', onJob('UPDATEJOB', ['data']))
  app.patch('/jobs/:id', onJob('UPDATEJOB', ['data']))
  return app
}

/**
 * GET /jobs/{id}: the job's fields flattened (reference, dashboard) plus `job` (the SDK reads
 * `data.job`), `state`, `result` and (extension) `failed_reason`; only `job: null`, `state` and
 * `result` when there is no job body.
 */
function jobView(job: unknown, state: unknown, result: unknown, failedReason: unknown): Record<string, unknown> {
  if (job === null || job === undefined) return { job: null, state, result }
  return { ...(job as Record<string, unknown>), job, state, result, failed_reason: failedReason }
}

const childrenNotFound = 'Parent job not found or has no children'

function progressView(reply: Reply, shape: ReturnType<typeof clientShape>): unknown {
  const info = reply.progress as { id: number; progress: number; message: string | null }
  if (shape === 'sdk') return { progress: info }
  if (shape === 'dashboard') return { progress: info.progress, message: info.message }
  return [info.progress, info.message]
}
