/**
 * HTTP limits that need no real shards to check: the SSE stream cap and the request deadline. The
 * app is built on stand-ins for the front and the hub (registration and these paths use nothing else).
 */
import { expect, test } from 'bun:test'
import { sseConnectionsMax } from '../../base/limits.ts'
import { EventBuffers } from '../events.ts'
import type { Answerable, Front } from '../front.ts'
import type { ShardPool } from '../shard-pool.ts'
import { createHttpApp } from './app.ts'
import { callCommand, requestTimedOut } from './call.ts'
import type { HttpDeps } from './deps.ts'

test(`at most ${sseConnectionsMax} SSE streams; a closed one frees its slot`, async () => {
  let subscribed = 0
  const hub = { subscribe: () => (subscribed++, () => subscribed--), buffers: new EventBuffers() }
  const app = createHttpApp({ front: { authRequired: false }, hub, metricsProviders: [] } as unknown as HttpDeps)
  const controllers: AbortController[] = []
  const open = async () => {
    const controller = new AbortController()
    controllers.push(controller)
    return app.fetch(new Request('http://test/events', { signal: controller.signal }))
  }
  for (let index = 0; index < sseConnectionsMax; index++) expect((await open()).status).toBe(200)
  expect(subscribed).toBe(sseConnectionsMax)
  const refused = await open()
  expect(refused.status).toBe(503)
  expect(await refused.text()).toContain('Too many event streams')
  controllers[0]?.abort()
  expect(subscribed).toBe(sseConnectionsMax - 1)
  expect((await open()).status).toBe(200)
  for (const controller of controllers) controller.abort()
  expect(subscribed).toBe(0)
})

test('a command the shards never answer ends with the request deadline, and is cancelled there', async () => {
  const cancelled: number[][] = []
  const front = { submit: (_request: object, _line: string, target: Answerable) => target.tokens.push(7) } as unknown as Front
  const pool = { cancel: (tokens: number[]) => cancelled.push([...tokens]) } as unknown as ShardPool
  const reply = await callCommand(front, pool, { cmd: 'STATS' }, { deadlineMs: 20 })
  expect(reply).toEqual({ ok: false, error: requestTimedOut })
  expect(cancelled).toEqual([[7]])
})
