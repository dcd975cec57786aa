/**
 * What JSC compiles in a fresh server while a client meets it: W1 (300 sequential pushes through the
 * SDK, then 2000 timed) or W2 (300 warm-up jobs, then 10 batches of 1000), as bench:peers runs them,
 * with the server's JSC reports (BUN_JSC_reportCompileTimes, and BUN_JSC_verboseOSR with --osr)
 * counted per phase: start-up, the client's warm-up, the timed part. Also the time from spawn to the
 * start-up line and the server's warmup_ms. A fresh server per rep; several checkouts interleaved.
 *
 *   bun test/bench/fresh-jit.ts [--workload w1|w2] [--memory] [--reps 3] [--osr] [--list]
 *                               [--jettisons] [--dump file] [--server /path/to/checkout]...   (default: this checkout)
 *
 * The phase of a report line is the phase in which it reached this process: JSC writes them to
 * stderr as they happen, so a line is at most a pipe read late. --list prints each DFG/FTL compile
 * and each jettison of the client's phases; --jettisons turns on BUN_JSC_dumpDFGDisassembly, the only
 * switch that makes JSC say why it threw code away ("Jettisoning … due to …"); --dump writes every
 * report line (disassembly left out) with its phase to a file. Printed per phase: DFG/FTL compiles
 * (d/f) and their compile ms, with --osr the OSR exit sites compiled (xN: the first exit at each site,
 * not every exit), and jettisons (jN, only with --jettisons). --jettisons slows the server several
 * times (its warm-up may hit its 5 s cap) and its output makes the phase tags lag: use it for the
 * reasons, not the counts.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    workload: { type: 'string', default: 'w1' },
    memory: { type: 'boolean', default: false },
    reps: { type: 'string', default: '3' },
    osr: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    dump: { type: 'string' },
    jettisons: { type: 'boolean', default: false },
    server: { type: 'string', multiple: true, default: [join(import.meta.dir, '..', '..')] },
  },
})

type Phase = 'startup' | 'warm' | 'timed' | 'after'
type Counts = { dfg: number; ftl: number; compileMs: number; exits: number; jettisons: number }
type Rep = { root: string; spawnToListenMs: number; warmupMs: number; rate: number; p50: number; p99: number; phases: Record<Phase, Counts>; slowByQuarter: number[] }

const compilePattern = /^Optimized (\S+?)#.* using (DFG|FTL)\S* .* in ([\d.]+) ms/
const newCounts = (): Counts => ({ dfg: 0, ftl: 0, compileMs: 0, exits: 0, jettisons: 0 })

async function rep(root: string): Promise<Rep> {
  const { Queue } = await import(join(root, 'src/client/index.ts'))
  const { peerJobData } = await import(join(root, 'src/bench/workloads.ts'))
  const dataDir = mkdtempSync(join(tmpdir(), 'flashq-fresh-jit-'))
  const mode = values.memory ? ['--memory'] : ['--data-dir', dataDir]
  const env: Record<string, string> = { ...process.env as Record<string, string>, BUN_JSC_reportCompileTimes: '1' }
  if (values.osr) env.BUN_JSC_verboseOSR = '1'
  if (values.jettisons) env.BUN_JSC_dumpDFGDisassembly = '1'
  const dumped: string[] = []
  const spawnedMs = performance.now()
  const server = Bun.spawn([process.execPath, join(root, 'src/main.ts'), '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--log-level', 'info', ...mode], { stdout: 'pipe', stderr: 'pipe', env })
  let phase: Phase = 'startup'
  const phases: Record<Phase, Counts> = { startup: newCounts(), warm: newCounts(), timed: newCounts(), after: newCounts() }
  const listed: string[] = []
  const reading = (async () => {
    const decoder = new TextDecoder()
    let rest = ''
    for await (const chunk of server.stderr as unknown as AsyncIterable<Uint8Array>) {
      rest += decoder.decode(chunk)
      const lines = rest.split('\n')
      rest = lines.pop() as string
      for (const line of lines) {
        if (values.dump !== undefined && !/^\s+(0x|\d|D@|<|\[)/.test(line)) dumped.push(`${phase}\t${line}`)
        const counts = phases[phase]
        const compile = compilePattern.exec(line)
        if (compile !== null) {
          if (compile[2] === 'FTL') counts.ftl++
          else counts.dfg++
          counts.compileMs += Number(compile[3])
          if (values.list && phase !== 'startup') listed.push(`${phase} ${compile[2]} ${compile[1]} ${compile[3]} ms`)
        } else if (/OSR exit|osr exit|OSR-exit/i.test(line) && !line.includes('Optimized')) {
          counts.exits++
          if (values.list && phase !== 'startup' && values.osr) listed.push(`${phase} exit ${line.slice(0, 200)}`)
        } else if (line.includes('Jettisoning')) {
          counts.jettisons++
          if (values.list && phase !== 'startup') listed.push(`${phase} ${line.slice(0, 200)}`)
        }
      }
    }
  })()
  let startupLine = ''
  const decoder = new TextDecoder()
  for await (const chunk of server.stdout as unknown as AsyncIterable<Uint8Array>) {
    startupLine += decoder.decode(chunk)
    if (startupLine.includes(' listening ')) break
  }
  const spawnToListenMs = performance.now() - spawnedMs
  const port = Number(/tcp=[^ ]*:(\d+)/.exec(startupLine)?.[1])
  const warmupMs = Number(/warmup_ms=(\d+)/.exec(startupLine)?.[1] ?? NaN)
  const queue = new Queue(`fresh-${Date.now().toString(36)}`, { connection: { host: '127.0.0.1', port } })
  const samples: number[] = []
  let timedMs = 0
  let jobs = 0
  try {
    phase = 'warm'
    if (values.workload === 'w1') {
      for (let index = 0; index < 300; index++) await queue.add('job', peerJobData(performance.now()))
      phase = 'timed'
      const started = performance.now()
      for (let index = 0; index < 2000; index++) {
        const sentAt = performance.now()
        await queue.add('job', peerJobData(sentAt))
        samples.push(performance.now() - sentAt)
      }
      timedMs = performance.now() - started
      jobs = 2000
    } else {
      const batch = (count: number) => {
        const t = performance.now()
        return queue.addBulk(Array.from({ length: count }, () => ({ name: 'job', data: peerJobData(t) })))
      }
      await batch(300)
      phase = 'timed'
      const started = performance.now()
      for (let index = 0; index < 10; index++) {
        const sentAt = performance.now()
        await batch(1000)
        samples.push(performance.now() - sentAt)
      }
      timedMs = performance.now() - started
      jobs = 10_000
    }
    phase = 'after'
    await Bun.sleep(100)
  } catch (error) {
    const exit = await Promise.race([server.exited, Bun.sleep(1000).then(() => 'still running')])
    console.log(`server: ${exit}; its last report lines (with --dump):\n${dumped.slice(-20).join('\n')}`)
    throw error
  } finally {
    await queue.close()
    server.kill('SIGINT')
    await server.exited
    await reading
    rmSync(dataDir, { recursive: true, force: true })
  }
  if (values.dump !== undefined) await Bun.write(values.dump, `${dumped.join('\n')}\n`)
  for (const line of listed) console.log(`  ${line}`)
  const slowByQuarter = [0, 1, 2, 3].map((quarter) => samples.slice(quarter * samples.length / 4, (quarter + 1) * samples.length / 4).filter((ms) => ms > 1).length)
  samples.sort((a, b) => a - b)
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] as number
  return { root, spawnToListenMs, warmupMs, rate: jobs / (timedMs / 1000), p50: at(0.5), p99: at(0.99), phases, slowByQuarter }
}

const reps = Number(values.reps)
const results: Rep[] = []
for (let index = 0; index < reps; index++) {
  for (const root of values.server) {
    const one = await rep(root)
    results.push(one)
    const show = (phase: Phase) => {
      const c = one.phases[phase]
      return `${phase} ${c.dfg}d/${c.ftl}f ${c.compileMs.toFixed(0)}ms${values.osr ? ` x${c.exits}` : ''} j${c.jettisons}`
    }
    console.log(`${root.split('/').pop()} ${values.workload} ${values.memory ? 'mem' : 'dur'}: ${Math.round(one.rate)}/s p50 ${one.p50.toFixed(3)} p99 ${one.p99.toFixed(3)} ms (>1ms by quarter ${one.slowByQuarter.join(',')}); listen ${one.spawnToListenMs.toFixed(0)} ms warmup ${one.warmupMs} ms; ${show('warm')} | ${show('timed')} | ${show('after')}`)
  }
}
