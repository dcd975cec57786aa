/**
 * Three flashQ clients read three shapes from a few routes (http-clients.md §1, spec §7.6): the
 * reference answers `GET /jobs` with an array, `GET /jobs/{id}/state` with a string and
 * `GET /jobs/{id}/progress` with `[p, msg]`; the dashboard reads progress as `{progress, message}`;
 * the TypeScript SDK reads `{jobs,total}`, `{state}` and `{progress:{progress,message}}`. A JSON
 * array or string cannot carry extra fields, so these routes answer by caller: the SDK runs under
 * Bun (User-Agent `Bun/…`) and sends `Content-Type: application/json` even on a GET, which a plain
 * fetch does not; the dashboard runs in a browser; `?shape=` overrides (reference|sdk|dashboard).
 * Every other route answers one shape that carries every field any client reads.
 *
 * Node's fetch says `User-Agent: node`, and two flashQ clients send that with a JSON content type:
 * the SDK run under Node, and the MCP server. The MCP server hands state and progress on as text,
 * so those routes give Node the SDK's shape (`nodeShape: 'sdk'`). It scans `GET /jobs?limit=1000` as an
 * array (get_job_by_custom_id, http-clients.md §3), and passes its other `GET /jobs` answers on as
 * text: so Node gets the SDK's `{jobs,total}` from `GET /jobs` too, except for exactly that query
 * (`jobsShape`).
 */
import type { Context } from 'hono'

export type ClientShape = 'reference' | 'sdk' | 'dashboard'

export function clientShape(c: Context, nodeShape: ClientShape = 'reference'): ClientShape {
  const asked = c.req.query('shape')
  if (asked === 'reference' || asked === 'sdk' || asked === 'dashboard') return asked
  const agent = c.req.header('user-agent') ?? ''
  const json = c.req.header('content-type')?.toLowerCase().startsWith('application/json') === true
  if (agent.startsWith('Bun/') && json) return 'sdk'
  if (agent === 'node' && json) return nodeShape
  if (agent.startsWith('Mozilla/')) return 'dashboard'
  return 'reference'
}

/** The one `GET /jobs` query the MCP server reads as an array: its custom-id scan, `?limit=1000` and nothing else. */
const mcpCustomIdScanQuery = 'limit=1000'

/** `GET /jobs`: clientShape, with Node's fetch given the SDK's shape unless it is the MCP server's custom-id scan. */
export function jobsShape(c: Context): ClientShape {
  const search = new URL(c.req.url).search.slice(1)
  return clientShape(c, search === mcpCustomIdScanQuery ? 'reference' : 'sdk')
}
