/**
 * `bun test/bench/queued-ceiling.ts [--runs N] [--seconds S]`: the ceiling of the queued workload on
 * this machine. A bare Bun.serve (its own process) answers /push, /poll and /delete with constant
 * texts shaped like flashq's, under the same wrk, connections and queued.lua as the queued workload
 * (queued-http.ts), so every number here is what the HTTP stack, the kernel and wrk cost with no
 * queue behind them. Variants:
 *   const   fetch handler, constant answer (body not read)
 *   body    fetch handler, the body read as text and JSON.parse'd (what any real handler must do)
 *   routes  Bun.serve's native `routes` table instead of the fetch handler, body read and parsed
 */
import { join } from 'node:path'

const variants = ['const', 'body', 'routes'] as const
type Variant = (typeof variants)[number]

const pollAnswer = `{"message":{"contents":"${'x'.repeat(100)}","created":"2026-01-01T00:00:00.000Z","index":1,"id":1,"poll_count":1,"poll_tag":"${'ab'.repeat(30)}"}}`
const answers: Record<string, string> = { '/push': '{"index":1,"id":1}', '/poll': pollAnswer, '/delete': '{}' }

function serve(variant: Variant): void {
  const init = { status: 200, headers: new Headers({ 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' }) }
  const answer = (path: string) => new Response(answers[path] ?? '{}', init)
  const pathOf = (url: string) => {
    const start = url.indexOf('/', url.indexOf(':') + 3)
    const query = url.indexOf('?', start)
    return query < 0 ? url.slice(start) : url.slice(start, query)
  }
  const parsed = (request: Request, path: string) => request.text().then((text) => {
    JSON.parse(text)
    return answer(path)
  })
  const server = variant === 'routes'
    ? Bun.serve({
      port: 0, hostname: '127.0.0.1',
      routes: Object.fromEntries(Object.keys(answers).map((path) => [path, { POST: (request: Request) => parsed(request, path) }])),
      fetch: () => new Response('not found', { status: 404 }),
    })
    : Bun.serve({
      port: 0, hostname: '127.0.0.1',
      fetch: (request) => (variant === 'const' ? answer(pathOf(request.url)) : parsed(request, pathOf(request.url))),
    })
  process.stdout.write(`port ${server.port}\n`)
}

type Result = { rate: number; p50: number; p99: number; wrkCores: number }

async function wrk(port: number, seconds: number): Promise<Result> {
  const script = join(import.meta.dir, 'queued.lua')
  const child = Bun.spawn(['wrk', '-t2', '-c256', `-d${seconds}s`, '--latency', '-s', script, `http://127.0.0.1:${port}`], {
    env: { ...process.env, QUEUES: 'q0,q1' }, stdout: 'pipe', stderr: 'pipe',
  })
  const [output] = await Promise.all([new Response(child.stdout).text(), child.exited])
  const ms = (p: string) => {
    const match = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(output)
    if (!match) return Number.NaN
    return Number(match[1]) * (match[2] === 'us' ? 0.001 : match[2] === 's' ? 1000 : 1)
  }
  const usage = child.resourceUsage()
  const cpuSeconds = usage === undefined ? 0 : Number(usage.cpuTime.total) / 1e6
  return { rate: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? Number.NaN), p50: ms('50'), p99: ms('99'), wrkCores: cpuSeconds / seconds }
}

async function measure(variant: Variant, seconds: number): Promise<Result> {
  const child = Bun.spawn([process.execPath, import.meta.path, '--serve', variant], { stdout: 'pipe', stderr: 'inherit' })
  try {
    const reader = child.stdout.getReader()
    let seen = ''
    while (!/port \d+\n/.test(seen)) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`the ${variant} server exited before listening`)
      seen += new TextDecoder().decode(value)
    }
    const port = Number(/port (\d+)/.exec(seen)?.[1])
    await wrk(port, 2) // warm-up (JIT)
    return await wrk(port, seconds)
  } finally {
    child.kill()
    await child.exited
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] as number

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const flag = (name: string, fallback: number) => {
    const at = args.indexOf(name)
    return at < 0 ? fallback : Number(args[at + 1])
  }
  if (args[0] === '--serve') return serve(args[1] as Variant)
  const runs = flag('--runs', 3)
  const seconds = flag('--seconds', 6)
  const results = new Map<Variant, Result[]>(variants.map((variant) => [variant, []]))
  // Variants interleave within each run, in a rotated order, so a noisy moment on a shared machine
  // (or whatever the previous server left behind) hits them alike.
  for (let run = 0; run < runs; run++) {
    for (const variant of [...variants.slice(run % variants.length), ...variants.slice(0, run % variants.length)]) {
      const result = await measure(variant, seconds)
      results.get(variant)?.push(result)
      process.stderr.write(`  ${variant} run ${run + 1}: ${(result.rate / 1000).toFixed(1)}k req/s p50 ${result.p50} ms p99 ${result.p99} ms, wrk ${Math.round(result.wrkCores * 100)}% of a core\n`)
    }
  }
  console.log(`queued workload ceiling: bare Bun.serve, wrk -t2 -c256 -d${seconds}s with queued.lua; medians of ${runs}\n`)
  console.log('| server | req/s | p50 ms | p99 ms | wrk CPU (of one core) |')
  console.log('|---|---|---|---|---|')
  for (const [variant, list] of results) {
    const m = (pick: (result: Result) => number) => median(list.map(pick))
    console.log(`| ${variant} | ${(m((r) => r.rate) / 1000).toFixed(1)}k | ${m((r) => r.p50).toFixed(2)} | ${m((r) => r.p99).toFixed(2)} | ${Math.round(m((r) => r.wrkCores) * 100)}% |`)
  }
}

await main()
