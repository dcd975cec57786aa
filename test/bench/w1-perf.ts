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
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Socket, Subprocess } from 'bun'
import { readStartupLine } from '../../src/bench/startup-line.ts'
import { freePort } from '../../src/bench/peers/process.ts'
import { BenchFlags } from './flags.ts'

const samplesPerSecond = 4000
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
  // Seconds may be fractions (the smoke test samples for half a second).
  const seconds = (flag: string, fallback: number) => {
    const value = Number(flags.value(flag) ?? fallback)
    if (!(value > 0)) throw new Error(`${flag}: a positive number of seconds, not '${flags.value(flag)}'`)
    return value
  }
  return {
    runs: flags.count('--runs', 2), warmupSeconds: seconds('--warmup-seconds', 3), seconds: seconds('--seconds', 4),
    base: flags.value('--base'), top: flags.count('--top', 0, 0), byJs: flags.count('--by-js', 0, 0),
  }
}

/** Starts a server with JITDump on; resolves its pid and port. */
async function startServer(kind: Kind, jitDir: string): Promise<{ child: Subprocess<'ignore', 'pipe', 'pipe'>; port: number }> {
  const env = { ...process.env, BUN_JSC_useJITDump: '1', BUN_JSC_jitDumpDirectory: jitDir }
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

function perf(args: string[]): string {
  const ran = spawnSync('perf', args, { encoding: 'utf8', maxBuffer: 64 << 20 })
  if (ran.status !== 0) throw new Error(`perf ${args[0]} failed: ${ran.stderr}`)
  return ran.stdout
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
    const recorder = Bun.spawn(['perf', 'record', '-q', '-k', 'mono', '-e', 'cpu-clock', '-F', String(samplesPerSecond), '-g', '-t', String(child.pid), '-o', data, '--', 'sleep', String(options.seconds)], { stdout: 'ignore', stderr: 'pipe' })
    const startedAt = performance.now()
    const exit = await recorder.exited
    const seconds = (performance.now() - startedAt) / 1000
    recorded()
    const pushes = await loop
    if (exit !== 0) throw new Error(`perf record failed: ${await new Response(recorder.stderr).text()}`)
    // JSC buffers the JITDump: only an orderly exit writes its last records (a SIGKILL loses them).
    child.kill('SIGTERM')
    await Promise.race([child.exited, Bun.sleep(exitWaitMs)])
    const dump = readdirSync(dir).find((name) => name.endsWith(`-${child.pid}.dump`))
    if (dump === undefined) throw new Error(`no JITDump of ${child.pid} in ${dir}: ${readdirSync(dir).join(', ')}`)
    const mapped = spawnSync(process.execPath, [join(import.meta.dir, 'jit-perf-map.ts'), join(dir, dump), '--until-ns', String(lastSampleNs(data))], { encoding: 'utf8' })
    if (mapped.status !== 0) throw new Error(`jit-perf-map.ts failed: ${mapped.stderr}`)
    const total = countSamples(perf(['report', '-i', data, '--stdio', '-n', '--sort', 'comm', '-g', 'none']))
    if (total === 0) throw new Error('perf recorded no samples of the server')
    const microsPerSample = 1_000_000 / samplesPerSecond
    const pushesPerSecond = pushes / seconds
    const inSampled = pushesPerSecond * options.seconds
    const children = perf(['report', '-i', data, '--stdio', '--children', '--sort', 'sym', '-g', 'none'])
    const byRow = new Map<string, number>()
    for (const [symbol, label] of rows) byRow.set(label, (inclusivePercent(children, symbol) / 100) * total * microsPerSample / inSampled)
    const selfMicros = options.top > 0 ? selfMicrosOf(perf(['report', '-i', data, '--stdio', '-n', '--no-children', '--sort', 'sym', '-g', 'none']), microsPerSample / inSampled) : new Map<string, number>()
    const byJsMicros = options.byJs > 0 ? byNearestJs(perf(['script', '-i', data, '-F', 'ip,sym']), microsPerSample / inSampled) : new Map<string, number>()
    return { pushesPerSecond, mainMicrosPerPush: total * microsPerSample / inSampled, rows: byRow, selfMicros, byJsMicros }
  } finally {
    child.kill('SIGKILL')
    await child.exited
    rmSync(`/tmp/perf-${child.pid}.map`, { force: true })
    rmSync(dir, { recursive: true, force: true })
  }
}

/** perf's "time of last sample" (seconds of CLOCK_MONOTONIC with -k mono, the JITDump's clock) in ns. */
function lastSampleNs(data: string): bigint {
  const match = /time of last sample : (\d+)\.(\d+)/.exec(perf(['report', '-i', data, '--header-only']))
  if (match === null) throw new Error('perf report: no time of last sample in the header')
  return BigInt(match[1] as string) * 1_000_000_000n + BigInt((match[2] as string).padEnd(9, '0').slice(0, 9))
}

/** Samples of the sampled thread (`perf report -n --sort comm`: children%, self%, samples, comm). */
function countSamples(report: string): number {
  let total = 0
  for (const line of report.split('\n')) {
    const match = /^\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+\S/.exec(line)
    if (match !== null) total += Number(match[1])
  }
  return total
}

/**
 * µs per push of every symbol's own samples (`perf report -n --no-children`: self%, samples, [k],
 * symbol), JIT copies' hashes dropped, and three totals: the kernel's, JIT code's, the rest's
 * (bun.exe's native code, libc).
 */
function selfMicrosOf(report: string, microsPerSampleAndPush: number): Map<string, number> {
  const micros = new Map<string, number>()
  const add = (name: string, value: number) => micros.set(name, (micros.get(name) ?? 0) + value)
  for (const line of report.split('\n')) {
    const match = /^\s+[\d.]+%\s+(\d+)\s+\[([.k])\]\s+(.*?)\s*$/.exec(line)
    if (match === null) continue
    const name = (match[3] as string).replace(/#\w+$/, '')
    const value = Number(match[1]) * microsPerSampleAndPush
    add(name, value)
    add(match[2] === 'k' ? '(total: kernel)' : name.startsWith('JSC-') ? '(total: JavaScript, JIT code)' : '(total: native code, bun.exe and libc)', value)
  }
  return micros
}

/**
 * µs per push charged to each JavaScript function (JIT tiers and copies merged), from `perf script
 * -F ip,sym` (one sample per blank-line-separated block, leaf first): a sample goes to the nearest
 * `JSC-<tier>: <function>` frame up its stack, with its kernel samples apart, or to the event loop.
 */
function byNearestJs(script: string, microsPerSampleAndPush: number): Map<string, number> {
  const micros = new Map<string, number>()
  for (const sample of script.split(/\n\s*\n/)) {
    const frames = sample.split('\n').map((line) => line.trim()).filter((line) => line.length > 0)
    if (frames.length === 0) continue
    const kernel = (frames[0] as string).startsWith('ffffffff')
    let charged = kernel ? '(event loop: kernel)' : '(event loop: native code)'
    for (const frame of frames) {
      const match = /^[0-9a-f]+ JSC-[\w]+: (.*?)(#\w+)?$/.exec(frame)
      if (match === null) continue
      charged = `${match[1] || '(anonymous)'}${kernel ? ' [kernel]' : ''}`
      break
    }
    micros.set(charged, (micros.get(charged) ?? 0) + microsPerSampleAndPush)
  }
  return micros
}

/**
 * The largest inclusive percentage of a symbol. JIT code is named `JSC-<tier>: <function>#<hash>`
 * (one per tier and per compiled copy); the largest is the one the steady state runs.
 */
function inclusivePercent(report: string, symbol: string): number {
  const jsFunction = symbol.startsWith('JS: ') ? symbol.slice('JS: '.length) : null
  let best = 0
  for (const line of report.split('\n')) {
    const match = /^\s+([\d.]+)%\s+[\d.]+%\s+\[[.k]\]\s+(.*?)\s*$/.exec(line)
    if (match === null) continue
    const name = match[2] as string
    const matches = jsFunction === null ? name === symbol : /^JSC-\w+: /.test(name) && name.slice(name.indexOf(': ') + 2).startsWith(`${jsFunction}#`)
    if (matches) best = Math.max(best, Number(match[1]))
  }
  return best
}

async function main(): Promise<void> {
  const options = parseArgs()
  const kinds: Array<[string, Kind]> = [['floor (Bun)', 'floor'], ['flashq', { checkout: repoRoot }]]
  if (options.base !== null) kinds.push(['flashq (base)', { checkout: options.base }])
  const results = new Map<string, Measured[]>(kinds.map(([name]) => [name, []]))
  for (let run = 0; run < options.runs; run++) {
    for (const [name, kind] of kinds) results.get(name)?.push(await measure(kind, options))
  }
  const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
  const columns = kinds.map(([name]) => results.get(name) ?? [])
  const row = (label: string, value: (one: Measured) => number, digits = 1) => `| ${label} | ${columns.map((runs) => median(runs.map(value)).toFixed(digits)).join(' | ')} |`
  console.log(`\nW1 memory at steady state, server main thread, µs per push (medians of ${options.runs}; perf at ${samplesPerSecond} Hz for ${options.seconds} s after ${options.warmupSeconds} s of pushes)`)
  console.log(`| | ${kinds.map(([name]) => name).join(' | ')} |`)
  console.log(`| --- |${' --- |'.repeat(kinds.length)}`)
  console.log(row('pushes/s', (one) => one.pushesPerSecond, 0))
  console.log(row('main thread, all', (one) => one.mainMicrosPerPush))
  for (const [, label] of rows) console.log(row(label, (one) => one.rows.get(label) ?? 0))
  for (const [name] of kinds) printTop(`${name}: the ${options.top} symbols with the most own time`, results.get(name) ?? [], options.top, (one) => one.selfMicros)
  for (const [name] of kinds) printTop(`${name}: the ${options.byJs} JavaScript functions that cost the most with the native code they call`, results.get(name) ?? [], options.byJs, (one) => one.byJsMicros)
}

/** The `top` largest entries of a per-run map, µs per push, medians of the runs (an entry absent from a run counts 0). */
function printTop(title: string, runs: Measured[], top: number, microsOf: (one: Measured) => Map<string, number>): void {
  if (top === 0) return
  const symbols = new Set(runs.flatMap((one) => [...microsOf(one).keys()]))
  const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
  const ranked = [...symbols].map((symbol) => [symbol, median(runs.map((one) => microsOf(one).get(symbol) ?? 0))] as const).sort((a, b) => b[1] - a[1])
  console.log(`\n${title}, µs per push`)
  for (const [symbol, micros] of ranked.slice(0, top)) console.log(`${micros.toFixed(2).padStart(6)}  ${symbol}`)
}

await main()
