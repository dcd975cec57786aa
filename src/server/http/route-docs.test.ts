import { expect, test } from 'bun:test'
import { createHttpApp } from './app.ts'
import type { HttpDeps } from './deps.ts'
import { httpRoutes } from './route-docs.ts'

test('the documented routes (OpenAPI, /docs) are exactly the routes the app serves', () => {
  // Registration reads nothing from deps; routes are matched by method and path only.
  const app = createHttpApp({ metricsProviders: [] } as unknown as HttpDeps)
  const served = new Set(app.routes.filter((route) => route.method !== 'ALL').map((route) => `${route.method} ${route.path}`))
  const documented = new Set(httpRoutes.map((route) => `${route.method} ${route.path}`))
  expect([...documented].filter((route) => !served.has(route))).toEqual([])
  expect([...served].filter((route) => !documented.has(route))).toEqual([])
})
