/**
 * `bun test/bench/http-front.ts [requests]`: the HTTP front's own CPU per request, fast path against
 * the Hono router, with no sockets and no shards. Requests are built in process and handed to the
 * same `fetch` logic as serve.ts; a stand-in front answers each command at once with a canned reply.
 * It isolates what the fast path changes from the kernel, Bun's HTTP parser and the shard Workers,
 * which dominate (and make noisy) the wrk benchmarks on a shared 2-core machine.
 */
import type { HttpDeps } from '../../src/server/http/deps.ts'
import type { Answerable } from '../../src/server/front.ts'
import { createHttpApp } from '../../src/server/http/app.ts'
import { fastRoutesOf } from '../../src/server/http/fast-path.ts'

const total = Number(process.argv[2] ?? 200_000)
const inFlight = 256

const job = { id: 1, queue: 'q', data: { to: 'a@b', n: 1 }, priority: 0, created_at: 1, run_at: 1, attempts: 0, max_attempts: 3 }
const replies: Record<string, string> = {
  _PUSHJOB: JSON.stringify({ ok: true, id: 1, job }),
  _QPUSH: JSON.stringify({ ok: true, ids: [1] }),
  _QPOLL: JSON.stringify({ ok: true, messages: [{ id: 1, created_at: 1, poll_count: 1, contents: 'x'.repeat(100) }] }),
  _QDELETE: JSON.stringify({ ok: true, deleted: [false] }),
}

const front = {
  authRequired: false,
  checkToken: () => true,
  submit(request: Record<string, unknown>, _line: string, target: Answerable) {
    target.tokens.push(1)
    queueMicrotask(() => target.deliver(1, replies[request.cmd as string] ?? '{"ok":true}'))
  },
}
const deps = {
  front, pool: { cancel() {} }, hub: { subscribe: () => () => {} }, config: { memory: true }, version: 'bench',
  metricsProviders: [], workers: { active: () => [] },
} as unknown as HttpDeps
const app = createHttpApp(deps)
const fast = fastRoutesOf(deps)

type Make = () => Request
const headers = { 'Content-Type': 'application/json' }
const workloads: Array<[string, Make]> = [
  ['POST /queues/q/jobs', () => new Request('http://127.0.0.1:6790/queues/q/jobs', { method: 'POST', headers, body: '{"data":{"to":"a@b","n":1}}' })],
  ['POST /push', () => new Request('http://127.0.0.1:6790/push?queue=q', { method: 'POST', headers, body: `{"contents":"${'x'.repeat(100)}"}` })],
  ['POST /poll', () => new Request('http://127.0.0.1:6790/poll?queue=q', { method: 'POST', headers, body: '{"visibility_timeout_secs":30}' })],
  ['POST /delete', () => new Request('http://127.0.0.1:6790/delete?queue=q', { method: 'POST', headers, body: `{"id":1,"poll_tag":"${'ab'.repeat(30)}"}` })],
]

type Serve = (request: Request) => Response | Promise<Response>
const viaHono: Serve = (request) => app.fetch(request)
const viaFast: Serve = (request) => fast.handle(request) ?? app.fetch(request)
const buildOnly: Serve = () => new Response('')

/** CPU µs per request (user + system of this process), `inFlight` requests at a time. */
async function measure(serve: Serve, make: Make, count: number): Promise<number> {
  const before = process.cpuUsage()
  for (let done = 0; done < count; done += inFlight) {
    const batch: Array<Response | Promise<Response>> = []
    for (let i = 0; i < inFlight; i++) batch.push(serve(make()))
    for (const response of await Promise.all(batch)) await response.arrayBuffer()
  }
  const used = process.cpuUsage(before)
  return (used.user + used.system) / count
}

console.log(`HTTP front CPU per request, in process (no sockets, stand-in shards), ${total} requests, ${inFlight} in flight\n`)
console.log('| route | Hono µs | fast path µs | fast / Hono |')
console.log('|---|---|---|---|')
for (const [name, make] of workloads) {
  for (const serve of [viaHono, viaFast, buildOnly]) await measure(serve, make, total / 10) // warm-up (JIT)
  const request = await measure(buildOnly, make, total) // building the Request itself: not the front's
  const hono: number[] = []
  const fastPath: number[] = []
  for (let run = 0; run < 3; run++) {
    hono.push((await measure(viaHono, make, total)) - request)
    fastPath.push((await measure(viaFast, make, total)) - request)
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[1] as number
  console.log(`| ${name} | ${median(hono).toFixed(1)} | ${median(fastPath).toFixed(1)} | ${(median(fastPath) / median(hono) * 100).toFixed(0)}% |`)
}
