/** @jsxImportSource hono/jsx/dom */
/// <reference lib="dom" />
/** Browser entry of the dashboard: finds out whether a token is needed, opens the live feed, renders. */
import { render } from 'hono/jsx/dom'
import { get } from './api.ts'
import { App } from './app.tsx'
import { live } from './live.ts'

// Exposed for measuring from a browser console or test/e2e/perf.ts.
Object.assign(globalThis, { flashqLive: live })
render(<App />, document.getElementById('app') as HTMLElement)
// A 401 here raises the token prompt before any page asks for data.
get('/stats').then(() => live.start(), () => live.start())
