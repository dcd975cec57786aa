/**
 * Where a W1 push's server CPU goes at steady state, by `perf`: the floor server (src/bench/peers/floor.ts, as w1-floor.ts runs it)
 * (the least a Bun server can do per push) against flashq in memory mode, each driven by the same
 * bare line client, one push awaited at a time.
 *
 *   bun test/bench/w1-perf.ts [--runs 2] [--warmup-seconds 3] [--seconds 4] [--base <flashq checkout>] [--top 0] [--by-js 0]
 *
 * Each server runs with JSC's JITDump on (test/bench/jit-perf-map.ts turns it into perf's map, so
 * compiled JavaScript has names); after `--warmup-seconds` of pushes, `perf record` samples its main
 * thread for `--seconds` while the client keeps pushing. Printed per server: main-thread µs per push
 * (samples × sampling period ÷ pushes), and the inclusive µs per push of the kernel's send, receive
 * and epoll paths and of the JavaScript entry points (perf's "children" attribution). Needs perf
 * (`apt-get install linux-perf`) and root or perf_event_paranoid ≤ 1 for `perf record -p`.
 * `--base /tmp/base` adds a column for another checkout's server, run after this one's in every run
 * (an A/B at steady state). `--top 20` also lists each server's 20 symbols with the most
 * samples of their own (perf's "self"), in µs per push, medians of the runs: where a flat profile
 * spends its time. `--by-js 20` lists the 20 JavaScript functions that cost the most counting the
 * native code they call: each sample is charged to the nearest JIT frame up its stack, so a
 * TextDecoder.decode or JSON.parse (bun.exe, unnamed in perf) is charged to the function that
 * called it; samples with no JavaScript on their stack are the event loop's (kernel or native).
 * That is how the line decoder's ~2.3 µs per push showed (docs/storage.md, twelfth round).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Socket, Subprocess } from 'bun'
import { readStartupLine } from '../../src/bench/startup-line.ts'
import { freePort } from '../../src/bench/peers/process.ts'
import { BenchFlags } from './flags.ts'
import { byNearestJs, countSamples, inclusivePercent, jitDumpEnv, median, microsPerSample, nameJitCode, perf, printTop, recordThread, samplesPerSecond, selfMicrosOf } from './perf-samples.ts'

/** How long a server may take to exit after SIGTERM before it is killed. */
const exitWaitMs = 10_000
const repoRoot = join(import.meta.dir, '..', '..')
/** Inclusive rows to report: a kernel or libc symbol, or `JS: <function>` (any JIT tier), and its label. */
const rows: Array<[symbol: string, label: string]> = [
  ['__send', 'kernel: send (loopback TCP, the client woken)'],
  ['__x64_sys_recvfrom', 'kernel: receive'],
  ['__x64_sys_epoll_pwait2', 'kernel: epoll wait'],
  ['asm_exc_page_fault', 'kernel: page faults'],
  ['JS: data', 'JS: the socket data handler'],
  ['JS: handleRequests', '  of which the store (engine, host)'],
  ['JS: decodeLines', '  of which splitting lines'],
  // The in-thread host's replies delivered in a microtask (deliverBatch or deliverPairs below it);
  // since the pool delivers a socket read's replies as its flush ends, those are in the data handler.
  ['JS: deliverNext', 'JS: replies delivered in a microtask'],
]

type Options = { runs: number; warmupSeconds: number; seconds: number; base: string | null; top: number; byJs: number }
type Measured = { pushesPerSecond: number; mainMicrosPerPush: number; rows: Map<string, number>; selfMicros: Map<string, number>; byJsMicros: Map<string, number> }
/** A server to measure: the floor, or flashq from a checkout. */
type Kind = 'floor' | { checkout: string }

function parseArgs(): Options {
  const flags = new BenchFlags(process.argv.slice(2))
  return {
    runs: flags.count('--runs', 2), warmupSeconds: flags.seconds('--warmup-seconds', 3), seconds: flags.seconds('--seconds', 4),
    base: flags.value('--base'), top: flags.count('--top', 0, 0), byJs: flags.count('--by-js', 0, 0),
  }
}

/** Starts a server with JITDump on; resolves its pid and port. */
async function startServer(kind: Kind, jitDir: string): Promise<{ child: Subprocess<'ignore', 'pipe', 'pipe'>; port: number }> {
  const env = jitDumpEnv(jitDir)
  if (kind === 'floor') {
    const port = freePort()
    const child = Bun.spawn([process.execPath, join(import.meta.dir, '..', '..', 'src', 'bench', 'peers', 'floor.ts'), '--serve', String(port)], { env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
    const { line, seen } = await readStartupLine(child.stdout)
    if (line === null) throw new Error(`floor did not start: ${seen}`)
    return { child, port }
  }
  const child = Bun.spawn(
    [process.execPath, join(kind.checkout, 'src', 'main.ts'), '--memory', '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--log-level', 'warn'],
    { env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
  )
  const { line, seen } = await readStartupLine(child.stdout)
  const port = Number(/tcp=[^ ]*:(\d+)/.exec(line ?? '')?.[1])
  if (!(port > 0)) throw new Error(`flashq did not start: ${seen}`)
  return { child, port }
}

/** Pushes one at a time until `stop` resolves; returns how many were answered. */
async function pushLoop(port: number, stop: Promise<void>): Promise<number> {
  let pending = ''
  let answered: (() => void) | null = null
  const socket: Socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data(_socket, chunk) {
        pending += chunk.toString()
        const newline = pending.indexOf('\n')
        if (newline < 0) return
        if (!pending.startsWith('{"ok":true')) throw new Error(`push refused: ${pending.slice(0, newline)}`)
        pending = pending.slice(newline + 1)
        const resolve = answered
        answered = null
        resolve?.()
      },
    },
  })
  let stopped = false
  void stop.then(() => (stopped = true))
  const line = `{"cmd":"PUSH","queue":"w1","data":{"n":1,"pad":"${'x'.repeat(80)}"}}\n`
  let pushes = 0
  while (!stopped) {
    await new Promise<void>((resolve) => {
      answered = resolve
      socket.write(line)
    })
    pushes++
  }
  socket.end()
  return pushes
}

async function measure(kind: Kind, options: Options): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'flashq-w1-perf-'))
  const { child, port } = await startServer(kind, dir)
  try {
    await pushLoop(port, Bun.sleep(options.warmupSeconds * 1000))
    const data = join(dir, 'perf.data')
    let recorded: () => void = () => {}
    const recording = new Promise<void>((resolve) => (recorded = resolve))
    // The client keeps pushing while perf samples the server for `seconds`.
    const loop = pushLoop(port, recording)
    const seconds = await recordThread(child.pid, options.seconds, data).finally(recorded)
    const pushes = await loop
    child.kill('SIGTERM')
    await Promise.race([child.exited, Bun.sleep(exitWaitMs)])
    nameJitCode(dir, child.pid, data)
    const total = countSamples(data)
    if (total === 0) throw new Error('perf recorded no samples of the server')
    const pushesPerSecond = pushes / seconds
    const inSampled = pushesPerSecond * options.seconds
    const children = perf(['report', '-i', data, '--stdio', '--children', '--sort', 'sym', '-g', 'none'])
    const byRow = new Map<string, number>()
    for (const [symbol, label] of rows) byRow.set(label, (inclusivePercent(children, symbol) / 100) * total * microsPerSample / inSampled)
    const selfMicros = options.top > 0 ? selfMicrosOf(data, microsPerSample / inSampled) : new Map<string, number>()
    const byJsMicros = options.byJs > 0 ? byNearestJs(data, microsPerSample / inSampled) : new Map<string, number>()
    return { pushesPerSecond, mainMicrosPerPush: total * microsPerSample / inSampled, rows: byRow, selfMicros, byJsMicros }
  } finally {
    child.kill('SIGKILL')
    await child.exited
    rmSync(`/tmp/perf-${child.pid}.map`, { force: true })
    rmSync(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const options = parseArgs()
  const kinds: Array<[string, Kind]> = [['floor (Bun)', 'floor'], ['flashq', { checkout: repoRoot }]]
  if (options.base !== null) kinds.push(['flashq (base)', { checkout: options.base }])
  const results = new Map<string, Measured[]>(kinds.map(([name]) => [name, []]))
  for (let run = 0; run < options.runs; run++) {
    for (const [name, kind] of kinds) results.get(name)?.push(await measure(kind, options))
  }
  const columns = kinds.map(([name]) => results.get(name) ?? [])
  const row = (label: string, value: (one: Measured) => number, digits = 1) => `| ${label} | ${columns.map((runs) => median(runs.map(value)).toFixed(digits)).join(' | ')} |`
  console.log(`\nW1 memory at steady state, server main thread, µs per push (medians of ${options.runs}; perf at ${samplesPerSecond} Hz for ${options.seconds} s after ${options.warmupSeconds} s of pushes)`)
  console.log(`| | ${kinds.map(([name]) => name).join(' | ')} |`)
  console.log(`| --- |${' --- |'.repeat(kinds.length)}`)
  console.log(row('pushes/s', (one) => one.pushesPerSecond, 0))
  console.log(row('main thread, all', (one) => one.mainMicrosPerPush))
  for (const [, label] of rows) console.log(row(label, (one) => one.rows.get(label) ?? 0))
  const runsOf = (name: string) => results.get(name) ?? []
  for (const [name] of kinds) printTop(`${name}: the ${options.top} symbols with the most own time, µs per push`, runsOf(name).map((one) => one.selfMicros), options.top)
  for (const [name] of kinds) printTop(`${name}: the ${options.byJs} JavaScript functions that cost the most with the native code they call, µs per push`, runsOf(name).map((one) => one.byJsMicros), options.byJs)
}

await main()
