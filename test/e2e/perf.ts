/**
 * Measures the dashboard's performance items of issue 12 (a script, not part of `bun test`):
 *
 *   bun test/e2e/perf.ts [--seconds 15] [--runs 3] [--load-jobs-per-second 10000] [--only responsiveness|cpu]
 *
 * CHROMIUM_PATH picks the browser binary (for example a wrapper that runs it under `nice`, so that a
 * busy shared machine measures the page rather than the machine).
 *
 * 1. Responsiveness (`--runs` times): 1,000 queues, 100 job events/s pushed over TCP, the overview open in headless
 *    Chromium. Reports the page's own update times (notification → DOM patched), Long Animation
 *    Frames (frames over 50 ms, from Chrome's LoAF API) and requestAnimationFrame gaps.
 * 2. CPU: a durable server under a fixed push/pull/ack load, its CPU (all threads, /proc/<pid>/stat)
 *    over equal windows without and with one browser on the overview, interleaved, `--runs` each.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { launchBrowser, openPage } from './browser.ts'

/** An ignored Chromium switch that lets the script find its own browser's processes. */
const browserMarker = `--flashq-perf=${process.pid}`

const argument = (name: string, fallback: number) => {
  const index = process.argv.indexOf(name)
  return index < 0 ? fallback : Number(process.argv[index + 1])
}
const seconds = argument('--seconds', 15)
const runs = argument('--runs', 3)
const loadJobsPerSecond = argument('--load-jobs-per-second', 10_000)
const queueCount = 1000
const eventsPerSecond = 100

type Server = { pid: number; tcpPort: number; httpPort: number; stop: () => Promise<void> }

async function startServer(): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flashq-perf-'))
  const child = Bun.spawn([process.execPath, join(repoRoot, 'src', 'main.ts'), '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], { stdout: 'pipe', stderr: 'inherit' })
  const reader = child.stdout.getReader()
  let seen = ''
  while (!seen.includes(' listening ')) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`server exited: ${seen}`)
    seen += new TextDecoder().decode(value)
  }
  void (async () => { while (!(await reader.read()).done); })()
  return {
    pid: child.pid,
    tcpPort: Number(/tcp=[^ ]*:(\d+)/.exec(seen)?.[1]),
    httpPort: Number(/http=[^ ]*:(\d+)/.exec(seen)?.[1]),
    stop: async () => {
      child.kill('SIGKILL')
      await child.exited
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Pids of the renderer processes below the browser whose command line carries `marker`. */
function rendererPids(marker: string): number[] {
  const processes = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).flatMap((name) => {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8')
      return [{ pid: Number(name), parent: Number(stat.split(') ')[1]?.split(' ')[1]), cmdline }]
    } catch {
      return [] // exited while listing
    }
  })
  const root = processes.find((entry) => entry.cmdline.includes(marker) && !entry.cmdline.includes('--type='))
  if (root === undefined) return []
  const below = new Set([root.pid])
  for (let grew = true; grew;) {
    grew = false
    for (const entry of processes) if (!below.has(entry.pid) && below.has(entry.parent)) (below.add(entry.pid), (grew = true))
  }
  return processes.filter((entry) => below.has(entry.pid) && entry.cmdline.includes('--type=renderer')).map((entry) => entry.pid)
}

/** utime + stime of every thread of the process, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}

const percentile = (values: number[], fraction: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0
}
const median = (values: number[]) => percentile(values, 0.5)
const fixed = (value: number) => value.toFixed(1)

async function responsiveness(): Promise<void> {
  const server = await startServer()
  const browser = await launchBrowser([browserMarker])
  try {
    const tcp = await WireClient.connect(server.tcpPort)
    await Promise.all(Array.from({ length: queueCount }, (_, index) => tcp.request({ cmd: 'PUSH', queue: `perf-${index}`, data: { index } })))
    const { page, errors } = await openPage(browser)
    await page.goto(`http://127.0.0.1:${server.httpPort}/`)
    await page.getByText(`(${queueCount.toLocaleString('en-US')})`).waitFor({ timeout: 20_000 })
    await page.evaluate(() => {
      const probe = { longFrames: [] as number[], gaps: [] as number[], frames: 0 }
      Object.assign(globalThis, { perfProbe: probe })
      new PerformanceObserver((list) => list.getEntries().forEach((entry) => probe.longFrames.push(entry.duration))).observe({ type: 'long-animation-frame', buffered: false })
      let last = performance.now()
      const frame = (now: number) => {
        probe.frames++
        probe.gaps.push(now - last)
        last = now
        requestAnimationFrame(frame)
      }
      requestAnimationFrame(frame)
      const live = (globalThis as unknown as { flashqLive: { updateDurationsMs: number[] } }).flashqLive
      live.updateDurationsMs.length = 0
    })
    const renderers = rendererPids(browserMarker)
    const rendererCpuBefore = renderers.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
    // One push every 10 ms, on a schedule that does not drift, so each event can cause its own render.
    const startMs = Date.now()
    let pushed = 0
    while (pushed < eventsPerSecond * seconds) {
      await tcp.request({ cmd: 'PUSH', queue: `perf-${Math.floor(Math.random() * queueCount)}`, data: { pushed: pushed++ } })
      await Bun.sleep(Math.max(0, startMs + (pushed * 1000) / eventsPerSecond - Date.now()))
    }
    const rendererCpu = renderers.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - rendererCpuBefore
    const result = await page.evaluate(() => {
      const probe = (globalThis as unknown as { perfProbe: { longFrames: number[]; gaps: number[]; frames: number } }).perfProbe
      const live = (globalThis as unknown as { flashqLive: { updateDurationsMs: number[]; eventsPaused: boolean } }).flashqLive
      return { ...probe, updates: [...live.updateDurationsMs], eventsPaused: live.eventsPaused }
    })
    tcp.close()
    process.stdout.write([
      `## Responsiveness: ${queueCount} queues, ${eventsPerSecond} pushes/s for ${seconds} s (${pushed} pushed)`,
      `page updates: ${result.updates.length}, update time p50 ${fixed(median(result.updates))} ms, p95 ${fixed(percentile(result.updates, 0.95))} ms, max ${fixed(Math.max(...result.updates))} ms`,
      `renderer CPU (all its threads, /proc): ${fixed((100 * rendererCpu) / seconds)} % of a core, ${fixed((1000 * rendererCpu) / Math.max(1, result.updates.length))} ms per page update`,
      `long animation frames (> 50 ms): ${result.longFrames.length}${result.longFrames.length ? `, max ${fixed(Math.max(...result.longFrames))} ms` : ''}`,
      `frames: ${result.frames} (${fixed(result.frames / seconds)}/s), rAF gaps > 33 ms: ${result.gaps.filter((gap) => gap > 33.4).length}, max gap ${fixed(Math.max(...result.gaps))} ms`,
      `event stream paused: ${result.eventsPaused}; console errors: ${errors.length}`,
      '',
    ].join('\n'))
  } finally {
    await browser.close()
    await server.stop()
  }
}

/** Pushes, pulls and acks `loadJobsPerSecond` jobs/s in batches of 100 until `stop()`. */
function startLoad(tcpPort: number): { stop: () => Promise<number> } {
  let running = true
  let done = 0
  const batch = 100
  const loop = async (worker: number, workers: number) => {
    const client = await WireClient.connect(tcpPort)
    const intervalMs = (1000 * batch * workers) / loadJobsPerSecond
    while (running) {
      const startMs = Date.now()
      await client.request({ cmd: 'PUSHB', queue: `load-${worker}`, jobs: Array.from({ length: batch }, (_, index) => ({ data: { index } })) })
      const pulled = await client.request({ cmd: 'PULLB', queue: `load-${worker}`, count: batch, timeout: 1000 })
      await client.request({ cmd: 'ACKB', ids: (pulled.jobs as Array<{ id: number }>).map((job) => job.id) })
      done += batch
      await Bun.sleep(Math.max(0, intervalMs - (Date.now() - startMs)))
    }
    client.close()
  }
  const workers = 4
  const loops = Array.from({ length: workers }, (_, worker) => loop(worker, workers))
  return { stop: async () => ((running = false), await Promise.all(loops), done) }
}

async function cpuWindow(server: Server): Promise<{ percent: number; jobsPerSecond: number }> {
  // --load-jobs-per-second 0: an idle server, where whatever the server spends is the dashboard's.
  const load = loadJobsPerSecond > 0 ? startLoad(server.tcpPort) : { stop: async () => 0 }
  await Bun.sleep(3000) // settle
  const before = cpuSeconds(server.pid)
  const startMs = Date.now()
  await Bun.sleep(seconds * 1000)
  const cpu = cpuSeconds(server.pid) - before
  const elapsed = (Date.now() - startMs) / 1000
  const jobs = await load.stop()
  return { percent: (100 * cpu) / elapsed, jobsPerSecond: jobs / (elapsed + 3) }
}

async function cpuCost(): Promise<void> {
  const browser = await launchBrowser()
  const without: number[] = []
  const withBrowser: number[] = []
  const rates: number[] = []
  try {
    for (let run = 0; run < runs; run++) {
      for (const open of [false, true]) {
        const server = await startServer()
        try {
          const page = open ? await openPage(browser) : null
          if (page !== null) await page.page.goto(`http://127.0.0.1:${server.httpPort}/`)
          const { percent, jobsPerSecond } = await cpuWindow(server)
          ;(open ? withBrowser : without).push(percent)
          rates.push(jobsPerSecond)
          await page?.context.close()
        } finally {
          await server.stop()
        }
      }
    }
  } finally {
    await browser.close()
  }
  process.stdout.write([
    `## Server CPU under a fixed load (~${Math.round(median(rates))} jobs/s pushed, pulled and acked), ${seconds}-s windows, ${runs} runs each`,
    `without a browser: ${without.map(fixed).join(', ')} % of a core (median ${fixed(median(without))})`,
    `with the overview open: ${withBrowser.map(fixed).join(', ')} % of a core (median ${fixed(median(withBrowser))})`,
    `added by the dashboard: ${fixed(median(withBrowser) - median(without))} percentage points of one core`,
    '',
  ].join('\n'))
}

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null
if (only !== 'cpu') for (let run = 0; run < runs; run++) await responsiveness()
if (only !== 'responsiveness') await cpuCost()
