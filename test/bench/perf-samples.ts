/**
 * Sampling one thread of a Bun server with `perf` and reading the samples back per unit of work
 * (a push, a job): shared by w1-perf.ts and w4-perf.ts.
 *
 * The server must run with JSC's JITDump on (`jitDumpEnv`), so compiled JavaScript gets names
 * (test/bench/jit-perf-map.ts turns the dump into perf's map), and must exit in an orderly way before
 * `nameJitCode`: JSC buffers the dump, and a SIGKILL loses its last records.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

export const samplesPerSecond = 4000
export const microsPerSample = 1_000_000 / samplesPerSecond

/** The environment that makes a Bun child write its JITDump into `dir`. */
export function jitDumpEnv(dir: string): Record<string, string | undefined> {
  return { ...process.env, BUN_JSC_useJITDump: '1', BUN_JSC_jitDumpDirectory: dir }
}

export function perf(args: string[]): string {
  const ran = spawnSync('perf', args, { encoding: 'utf8', maxBuffer: 64 << 20 })
  if (ran.status !== 0) throw new Error(`perf ${args[0]} failed: ${ran.stderr}`)
  return ran.stdout
}

/** Samples thread `tid` for `seconds` into `data`; resolves with the seconds it took. */
export async function recordThread(tid: number, seconds: number, data: string): Promise<number> {
  const recorder = Bun.spawn(['perf', 'record', '-q', '-k', 'mono', '-e', 'cpu-clock', '-F', String(samplesPerSecond), '-g', '-t', String(tid), '-o', data, '--', 'sleep', String(seconds)], { stdout: 'ignore', stderr: 'pipe' })
  const startedAt = performance.now()
  const exit = await recorder.exited
  if (exit !== 0) throw new Error(`perf record failed: ${await new Response(recorder.stderr).text()}`)
  return (performance.now() - startedAt) / 1000
}

/** Writes /tmp/perf-<pid>.map from the JITDump in `dir`, leaving out code compiled after the recording. */
export function nameJitCode(dir: string, pid: number, data: string): void {
  const dump = readdirSync(dir).find((name) => name.endsWith(`-${pid}.dump`))
  if (dump === undefined) throw new Error(`no JITDump of ${pid} in ${dir}: ${readdirSync(dir).join(', ')}`)
  const mapped = spawnSync(process.execPath, [join(import.meta.dir, 'jit-perf-map.ts'), join(dir, dump), '--until-ns', String(lastSampleNs(data))], { encoding: 'utf8' })
  if (mapped.status !== 0) throw new Error(`jit-perf-map.ts failed: ${mapped.stderr}`)
}

/** perf's "time of last sample" (seconds of CLOCK_MONOTONIC with -k mono, the JITDump's clock) in ns. */
function lastSampleNs(data: string): bigint {
  const match = /time of last sample : (\d+)\.(\d+)/.exec(perf(['report', '-i', data, '--header-only']))
  if (match === null) throw new Error('perf report: no time of last sample in the header')
  return BigInt(match[1] as string) * 1_000_000_000n + BigInt((match[2] as string).padEnd(9, '0').slice(0, 9))
}

/** Samples of the sampled thread (`perf report -n --sort comm`: children%, self%, samples, comm). */
export function countSamples(data: string): number {
  let total = 0
  for (const line of perf(['report', '-i', data, '--stdio', '-n', '--sort', 'comm', '-g', 'none']).split('\n')) {
    const match = /^\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+\S/.exec(line)
    if (match !== null) total += Number(match[1])
  }
  return total
}

/**
 * µs per unit of every symbol's own samples (`perf report -n --no-children`: self%, samples, [k],
 * symbol), JIT copies' hashes dropped, and three totals: the kernel's, JIT code's, the rest's
 * (bun.exe's native code, libc).
 */
export function selfMicrosOf(data: string, microsPerSampleAndUnit: number): Map<string, number> {
  const report = perf(['report', '-i', data, '--stdio', '-n', '--no-children', '--sort', 'sym', '-g', 'none'])
  const micros = new Map<string, number>()
  const add = (name: string, value: number) => micros.set(name, (micros.get(name) ?? 0) + value)
  for (const line of report.split('\n')) {
    const match = /^\s+[\d.]+%\s+(\d+)\s+\[([.k])\]\s+(.*?)\s*$/.exec(line)
    if (match === null) continue
    const name = (match[3] as string).replace(/#\w+$/, '')
    const value = Number(match[1]) * microsPerSampleAndUnit
    add(name, value)
    add(match[2] === 'k' ? '(total: kernel)' : name.startsWith('JSC-') ? '(total: JavaScript, JIT code)' : '(total: native code, bun.exe and libc)', value)
  }
  return micros
}

/**
 * µs per unit charged to each JavaScript function (JIT tiers and copies merged), from `perf script
 * -F ip,sym` (one sample per blank-line-separated block, leaf first): a sample goes to the nearest
 * `JSC-<tier>: <function>` frame up its stack, with its kernel samples apart, or to the event loop.
 */
export function byNearestJs(data: string, microsPerSampleAndUnit: number): Map<string, number> {
  const script = perf(['script', '-i', data, '-F', 'ip,sym'])
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
    micros.set(charged, (micros.get(charged) ?? 0) + microsPerSampleAndUnit)
  }
  return micros
}

/**
 * The largest inclusive percentage of a symbol in a `perf report --children` text. JIT code is named
 * `JSC-<tier>: <function>#<hash>` (one per tier and per compiled copy); the largest is the one the
 * steady state runs.
 */
export function inclusivePercent(report: string, symbol: string): number {
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

export function median(values: number[]): number {
  return values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
}

/** Prints the `top` largest entries of per-run maps, medians of the runs (an entry absent from a run counts 0). */
export function printTop(title: string, runs: Array<Map<string, number>>, top: number): void {
  if (top === 0) return
  const symbols = new Set(runs.flatMap((one) => [...one.keys()]))
  const ranked = [...symbols].map((symbol) => [symbol, median(runs.map((one) => one.get(symbol) ?? 0))] as const).sort((a, b) => b[1] - a[1])
  console.log(`\n${title}`)
  for (const [symbol, micros] of ranked.slice(0, top)) console.log(`${micros.toFixed(2).padStart(6)}  ${symbol}`)
}
