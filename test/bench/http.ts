/**
 * `bun run bench --http`: flashQ's `POST /queues/{q}/jobs` over many keep-alive connections, driven by
 * Debian's `wrk` (a C load generator, so the client costs little of the 2 cores). Each run gets a fresh
 * server; the table shows the median of the runs with min–max, and wrk's latency percentiles.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startBenchServer, threadCpu, type Mode, type ThreadCpu } from './server.ts'

export type HttpBenchOptions = { runs: number; modes: Mode[]; seconds: number; connections: number[]; serverArgs: string[]; binary?: string }

type WrkResult = {
  rate: number
  p50Ms: number
  p99Ms: number
  non2xx: number
  errors: number
  requests: number
  /** wrk's own CPU, in cores (the client shares the 2 cores with the server). */
  wrkCores: number
}

/** Server CPU per request: all threads, and the main thread (the HTTP front) alone. */
type ServerCost = { allUs: number; frontUs: number }

const pushScript = `wrk.method = "POST"
wrk.body = '{"data":{"to":"a@b","n":1}}'
wrk.headers["Content-Type"] = "application/json"
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/queues/bench-" .. (counter % 4) .. "/jobs")
end
`

function parseWrk(text: string): WrkResult {
  const duration = (value: string, unit: string) => Number(value) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[unit]!
  const percentile = (p: string) => {
    const match = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s|m)`).exec(text)
    return match ? duration(match[1] as string, match[2] as string) : Number.NaN
  }
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  return {
    rate: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? Number.NaN),
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    errors: errors ? errors.slice(1).reduce((sum, count) => sum + Number(count), 0) : 0,
    requests: Number(/(\d+) requests in/.exec(text)?.[1] ?? 0),
    wrkCores: 0,
  }
}

function serverCost(pid: number, before: ThreadCpu, after: ThreadCpu, requests: number): ServerCost {
  let all = 0
  let front = 0
  for (const [thread, seconds] of after) {
    const used = seconds - (before.get(thread) ?? 0)
    all += used
    if (thread.startsWith(`${pid}:`)) front += used
  }
  return { allUs: (all * 1e6) / requests, frontUs: (front * 1e6) / requests }
}

async function runWrk(port: number, connections: number, seconds: number, scriptPath: string): Promise<WrkResult> {
  const child = Bun.spawn(['wrk', '-t2', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', scriptPath, `http://127.0.0.1:${port}`], { stdout: 'pipe', stderr: 'pipe' })
  const [out, code] = await Promise.all([new Response(child.stdout).text(), child.exited])
  if (code !== 0) throw new Error(`wrk exited ${code}: ${out}`)
  const usage = child.resourceUsage()
  const cpuUs = usage === undefined ? 0 : Number(usage.cpuTime.user + usage.cpuTime.system)
  return { ...parseWrk(out), wrkCores: cpuUs / 1e6 / seconds }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] as number
const fmtRate = (rate: number) => (rate >= 1000 ? `${(rate / 1000).toFixed(1)}k` : rate.toFixed(0))

export async function httpRun(options: HttpBenchOptions): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'flashq-wrk-'))
  const scriptPath = join(directory, 'push.lua')
  writeFileSync(scriptPath, pushScript)
  try {
    console.log(`HTTP: wrk -t2 -cN -d${options.seconds}s POST /queues/bench-{0..3}/jobs (JSON, keep-alive); medians of ${options.runs}; each response is the full job, after fdatasync in durable modes\n`)
    console.log(`| connections | ${options.modes.map((mode) => `${mode} req/s | ${mode} p50 / p99 ms | ${mode} server CPU µs/req (front)`).join(' | ')} |`)
    console.log(`|---|${options.modes.map(() => '---|---|---|').join('')}`)
    for (const connections of options.connections) {
      const cells: string[] = []
      for (const mode of options.modes) {
        const results: WrkResult[] = []
        const costs: ServerCost[] = []
        for (let run = 0; run < options.runs; run++) {
          const server = await startBenchServer(mode, { binary: options.binary, extraArgs: options.serverArgs })
          try {
            const httpPort = Number(/http=[^ ]*:(\d+)/.exec(server.startupLine)?.[1])
            await runWrk(httpPort, connections, 1, scriptPath) // warm-up (JIT)
            const cpuBefore = threadCpu(server.pid)
            const result = await runWrk(httpPort, connections, options.seconds, scriptPath)
            const cost = serverCost(server.pid, cpuBefore, threadCpu(server.pid), result.requests)
            results.push(result)
            costs.push(cost)
            const bad = result.non2xx + result.errors > 0 ? ` (${result.non2xx} non-2xx, ${result.errors} socket errors)` : ''
            process.stderr.write(`  http ${mode} c=${connections} run ${run + 1}: ${fmtRate(result.rate)} req/s p99 ${result.p99Ms.toFixed(2)} ms, server ${cost.allUs.toFixed(1)} µs CPU/req (front ${cost.frontUs.toFixed(1)}), wrk ${(result.wrkCores * 100).toFixed(0)}% of a core${bad}\n`)
          } finally {
            await server.stop()
          }
        }
        const rates = results.map((result) => result.rate)
        const bad = results.reduce((sum, result) => sum + result.non2xx + result.errors, 0)
        cells.push(`${fmtRate(median(rates))} (${fmtRate(Math.min(...rates))}–${fmtRate(Math.max(...rates))})${bad > 0 ? ` ⚠${bad}` : ''}`)
        cells.push(`${median(results.map((result) => result.p50Ms)).toFixed(2)} / ${median(results.map((result) => result.p99Ms)).toFixed(2)}`)
        cells.push(`${median(costs.map((cost) => cost.allUs)).toFixed(1)} (${median(costs.map((cost) => cost.frontUs)).toFixed(1)})`)
      }
      console.log(`| ${connections} | ${cells.join(' | ')} |`)
    }
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}
