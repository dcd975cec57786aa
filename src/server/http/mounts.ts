/**
 * Sub-apps built elsewhere (the queued-compatible API, webhooks, storage administration), mounted at
 * `/` before the flashQ routes, in this order. Each is `(deps) => Hono`; add one line per sub-app.
 */
import type { Hono } from 'hono'
import type { HttpDeps } from './deps.ts'

export type SubApp = (deps: HttpDeps) => Hono

export const subApps: SubApp[] = []
