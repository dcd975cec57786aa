/**
 * `/openapi.json`, generated from the command table's zod schemas (the same schemas TCP validates
 * with) and the route list below, and `/docs`, a readable page of every route.
 */
import { Hono } from 'hono'
import { z } from 'zod'
import { commandTable } from '../../protocol/table.ts'
import type { HttpDeps } from './deps.ts'
import { httpRoutes, type RouteDoc } from './route-docs.ts'

export function docsRoutes(deps: HttpDeps): Hono {
  const app = new Hono()
  let cached: object | null = null
  app.get('/openapi.json', (c) => c.json((cached ??= openApi(deps.version))))
  app.get('/docs', (c) => c.html(docsPage(deps.version)))
  return app
}

/** The JSON schema of a command's body: its request fields minus `cmd` and the path's own fields. */
function bodySchema(route: RouteDoc): object | undefined {
  if (route.command === undefined || route.body === false) return undefined
  const spec = commandTable[route.command]
  let schema: Record<string, unknown>
  try {
    schema = z.toJSONSchema(spec.schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  } catch {
    return { type: 'object' }
  }
  const properties = { ...(schema.properties as Record<string, unknown> | undefined) }
  const omitted = new Set(['cmd', ...(route.fromPath ?? [])])
  for (const name of omitted) delete properties[name]
  const required = (schema.required as string[] | undefined)?.filter((name) => !omitted.has(name))
  return { type: 'object', properties, ...(required && required.length > 0 ? { required } : {}) }
}

function openApi(version: string): object {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of httpRoutes) {
    const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}')
    const parameters = [...route.path.matchAll(/:([A-Za-z]+)/g)].map((match) => ({
      name: match[1], in: 'path', required: true, schema: { type: match[1] === 'id' ? 'integer' : 'string' },
    }))
    for (const query of route.query ?? []) parameters.push({ name: query, in: 'query', required: false, schema: { type: 'string' } })
    const body = bodySchema(route)
    paths[path] ??= {}
    ;(paths[path] as Record<string, unknown>)[route.method.toLowerCase()] = {
      summary: route.summary,
      ...(route.command ? { 'x-flashq-command': route.command, 'x-flashq-error-kinds': commandTable[route.command].errors } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(body ? { requestBody: { required: false, content: { 'application/json': { schema: body } } } } : {}),
      responses: {
        200: { description: 'The envelope `{ok:true,data}`, or `{ok:false,error}` for a command error' },
        400: { description: 'Malformed JSON body or non-numeric id (plain text)' },
        401: { description: 'Invalid or missing authentication token' },
        413: { description: 'Request body too large' },
        415: { description: 'Content-Type is not JSON' },
        422: { description: 'Wrong shape; the message names the field' },
      },
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'flashq HTTP API', version, description: 'flashQ-compatible REST API. Every route is one TCP command with the same validation.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  }
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function docsPage(version: string): string {
  const rows = httpRoutes.map((route) => `<tr><td>${route.method}</td><td><code>${escapeHtml(route.path.replace(/:([A-Za-z]+)/g, '{$1}'))}</code></td>` +
    `<td>${route.command ?? ''}</td><td>${escapeHtml(route.summary)}</td></tr>`).join('\n')
  return `<!doctype html><html><head><meta charset="utf-8"><title>flashq ${version} HTTP API</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left}code{font-size:13px}</style>
</head><body><h1>flashq ${escapeHtml(version)} — HTTP API</h1>
<p>Responses are <code>{"ok":true,"data":…}</code> or <code>{"ok":false,"error":"…"}</code> (HTTP 200). Malformed JSON is 400,
a non-JSON Content-Type 415, a wrong shape 422 naming the field, a body over the limit 413. With tokens configured send
<code>Authorization: Bearer &lt;token&gt;</code> (SSE and WebSocket also take <code>?token=</code>). The machine-readable
description is <a href="/openapi.json">/openapi.json</a>.</p>
<table><tr><th>Method</th><th>Path</th><th>Command</th><th>What it does</th></tr>
${rows}
</table>
<h2>WebSocket</h2>
<p><code>/ws</code> and <code>/ws/{queue}</code> send one JobEvent per text frame
(<code>{"event_type","queue","job_id","timestamp","data"?,"error"?,"progress"?}</code>); <code>/ws/dashboard</code>
sends <code>{stats, metrics, queues, workers, crons, metrics_history, system_metrics, sqlite_stats, storage_stats, timestamp}</code>
every 3 s. Authenticate with the Bearer header, <code>?token=</code>, or a first message <code>{"type":"auth","token":"…"}</code>.</p>
</body></html>`
}
