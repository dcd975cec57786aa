/**
 * `bun run bench:peers` (also `flashq bench --compare` from a checkout): flashq against BullMQ on
 * Redis, beanstalkd and NATS JetStream, durable and in memory, through one harness. Installs the
 * missing peer servers from Debian, starts every (system, workload, repetition) on a fresh server with
 * an empty temporary data directory, interleaves the systems within each repetition, and writes
 * docs/benchmarks.md and docs/benchmarks.svg.
 *
 *   bun run bench:peers [--runs 3] [--only W1,W1c50,W2,W3c10,W3c100,W4,W5] [--systems flashq,bullmq,beanstalkd,nats]
 *                       [--n 10000] [--w4-seconds 3] [--w5-jobs 1000000] [--out docs/benchmarks.md] [--no-install]
 *                       [--flashq-arg <flag>]... [--flashq-shape <name>=<flags>]...
 */
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beanstalkdVariants } from './beanstalkd.ts'
import { type FlashqShape, flashqVariants, parseFlashqShape } from './flashq.ts'
import { floorVariants } from './floor.ts'
import { ensureBinaries } from './install.ts'
import { natsVariants } from './nats.ts'
import { type Noise, watchNoise } from './noise.ts'
import { type Meta, collectMeta, renderMarkdown, renderSvg } from './report.ts'
import type { PeerVariant, SystemName, VariantInfo } from './types.ts'
import { runWorkload, type Sizes, type WorkloadId, type WorkloadResult, workloadIds } from './workloads.ts'
import { bullmqVariants } from './redis-bullmq.ts'

export type PeersOptions = {
  runs: number
  only: WorkloadId[]
  /** System names or variant ids. */
  systems: string[]
  sizes: Sizes
  out: string | null
  install: boolean
  /** Extra flags for every flashq server (`--flashq-arg`). */
  flashqArgs: string[]
  /** More flashq shapes, each its own pair of columns, interleaved with the rest (`--flashq-shape`). */
  flashqShapes: FlashqShape[]
  /** Results of an earlier run to write the report from, instead of running. */
  render?: string
}

export type RunRecord = { workload: WorkloadId; variant: string; rep: number; result: WorkloadResult | null; error: string | null; noise: Noise }

export type PeersRun = { options: PeersOptions; variants: VariantInfo[]; skipped: Array<{ variant: VariantInfo; reason: string }>; records: RunRecord[]; meta: Meta }

export const peersUsage = `usage: bun run bench:peers [options]   (or: bun src/main.ts bench --compare [options])
  --runs <n>          repetitions of each workload (default 3; W5 runs once)
  --only <list>       ${workloadIds.join(',')} (W4 = both rates; default: all)
  --systems <list>    flashq,bullmq,beanstalkd,nats,floor or variant ids like flashq-durable (default: all;
                      floor is a Bun server that only parses, syncs, keeps a FIFO and answers: all but W5)
  --n <jobs>          jobs for W1c50, W2 and W3; W1 times n/5 (default 10000)
  --max-seconds <s>   each timed push/drain phase stops after this even if its jobs are not done (default 2)
  --w4-seconds <s>    measured seconds of each W4 rate, after 1 s of warm-up (default 2)
  --w5-jobs <n>       waiting jobs for W5 (default 1000000; fewer are scaled to 1M in the report)
  --w5-max-seconds <s> W5 stops pushing after this (default 20)
  --out <file.md>     report path, the SVG goes beside it (default docs/benchmarks.md; --out - prints only)
  --no-install        do not apt-get install missing servers (their systems are skipped)
  --flashq-arg <flag> pass a flag to every flashq server (repeatable): --flashq-arg --workers=0
  --flashq-shape <name>=<flags>  also run flashq with these flags as columns flashq-durable@<name> and
                      flashq-memory@<name> (repeatable): --flashq-shape w2='--workers 2'
  --render <run.json> write the report of an earlier run again (each run saves its results in the temp dir)`

const allVariants = (flashqArgs: string[] = [], shapes: FlashqShape[] = []): PeerVariant[] => [
  ...flashqVariants(flashqArgs, shapes), ...bullmqVariants(), ...beanstalkdVariants(), ...natsVariants(), ...floorVariants(),
]
const systemNames: SystemName[] = ['flashq', 'bullmq', 'beanstalkd', 'nats', 'floor']

export function parsePeersArgs(argv: string[], repoRoot: string): PeersOptions {
  const options: PeersOptions = {
    runs: 3, only: [...workloadIds], systems: [...systemNames],
    sizes: { n: 10_000, warmupJobs: 300, w4Seconds: 2, w4WarmupSeconds: 1, w5Jobs: 1_000_000, maxSeconds: 2, w5MaxSeconds: 20 },
    out: join(repoRoot, 'docs', 'benchmarks.md'), install: true, flashqArgs: [], flashqShapes: [],
  }
  const systemLists: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string
    const value = (): string => {
      const next = argv[++i]
      if (next === undefined) throw new Error(`bench:peers: ${flag} needs a value`)
      return next
    }
    const count = (min: number, max: number): number => {
      const text = value()
      if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new Error(`bench:peers: ${flag} must be an integer from ${min} to ${max}, got '${text}'`)
      return Number(text)
    }
    if (flag === '--runs') options.runs = count(1, 100)
    else if (flag === '--n') options.sizes.n = count(10, 10_000_000)
    else if (flag === '--w4-seconds') options.sizes.w4Seconds = count(1, 600)
    else if (flag === '--w5-jobs') options.sizes.w5Jobs = count(1000, 100_000_000)
    else if (flag === '--max-seconds') options.sizes.maxSeconds = count(1, 3600)
    else if (flag === '--w5-max-seconds') options.sizes.w5MaxSeconds = count(1, 36_000)
    else if (flag === '--out') options.out = value() === '-' ? null : (argv[i] as string)
    else if (flag === '--no-install') options.install = false
    else if (flag === '--render') options.render = value()
    else if (flag === '--only') options.only = parseOnly(value())
    else if (flag === '--systems') systemLists.push(value())
    else if (flag === '--flashq-arg') options.flashqArgs.push(value())
    else if (flag === '--flashq-shape') options.flashqShapes.push(parseFlashqShape(value()))
    else throw new Error(`bench:peers: unknown argument '${flag}'\n${peersUsage}`)
  }
  // Checked once every shape is known: a shape's columns are valid names for --systems.
  const ids = allVariants(options.flashqArgs, options.flashqShapes).map((variant) => variant.id)
  for (const list of systemLists) {
    options.systems = list.split(',').map((name) => {
      if (!(systemNames as string[]).includes(name) && !ids.includes(name)) throw new Error(`bench:peers: unknown system '${name}' (${[...systemNames, ...ids].join(', ')})`)
      return name
    })
  }
  return options
}

function parseOnly(list: string): WorkloadId[] {
  const chosen = new Set<WorkloadId>()
  for (const name of list.split(',')) {
    if (name === 'W4') chosen.add('W4@1k').add('W4@5k')
    else if ((workloadIds as readonly string[]).includes(name)) chosen.add(name as WorkloadId)
    else throw new Error(`bench:peers: unknown workload '${name}' (${workloadIds.join(', ')}, W4)`)
  }
  return workloadIds.filter((id) => chosen.has(id))
}

/** Runs the comparison; `log` gets one line per run. */
export async function runPeers(options: PeersOptions, command: string, log: (line: string) => void): Promise<PeersRun> {
  const startedMs = Date.now()
  const wanted = allVariants(options.flashqArgs, options.flashqShapes).filter((variant) => options.systems.includes(variant.system) || options.systems.includes(variant.id))
  const missing = await ensureBinaries(wanted, options.install, log)
  const variants = wanted.filter((variant) => !missing.has(variant.id))
  const skipped = wanted.filter((variant) => missing.has(variant.id)).map((variant) => ({ variant, reason: missing.get(variant.id) as string }))
  const records: RunRecord[] = []
  for (const workload of options.only) {
    const reps = workload === 'W5' ? 1 : options.runs
    for (let rep = 0; rep < reps; rep++) {
      // Interleaved: each repetition runs every system once, starting one further along the list.
      const able = variants.filter((variant) => variant.workloads === undefined || variant.workloads.includes(workload))
      const order = able.map((_, i) => able[(i + rep) % able.length] as PeerVariant)
      for (const variant of order) records.push(await runOne(workload, variant, rep, options.sizes, log))
    }
  }
  const meta = await collectMeta(command, variants, (Date.now() - startedMs) / 1000)
  return { options, variants, skipped, records, meta }
}

/** Longest one run may take before it is recorded as failed (a wedged server must not stop the comparison). */
const runTimeoutMs = 120_000

async function runOne(workload: WorkloadId, variant: PeerVariant, rep: number, sizes: Sizes, log: (line: string) => void): Promise<RunRecord> {
  let peer: Awaited<ReturnType<PeerVariant['start']>> | null = null
  let timer: ReturnType<typeof setTimeout> | undefined
  const startedMs = performance.now()
  const took = () => `${((performance.now() - startedMs) / 1000).toFixed(1)} s`
  try {
    peer = await variant.start()
    const finishNoise = watchNoise(peer.pid)
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no result within ${runTimeoutMs / 1000} s`)), runTimeoutMs)))
    const result = await Promise.race([runWorkload(workload, peer, sizes), timeout])
    const noise = finishNoise()
    log(`${workload} #${rep + 1} ${variant.id} (${took()}): ${summary(result)}${noise.noisy ? `  [noisy: steal ${(noise.stealShare * 100).toFixed(0)}%, others ${noise.otherCores.toFixed(2)} cores]` : ''}`)
    return { workload, variant: variant.id, rep, result, error: null, noise }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    log(`${workload} #${rep + 1} ${variant.id} (${took()}): FAILED ${message}`)
    return { workload, variant: variant.id, rep, result: null, error: message, noise: { stealShare: 0, otherCores: 0, noisy: false } }
  } finally {
    clearTimeout(timer)
    await peer?.stop().catch(() => {})
  }
}

function summary(result: WorkloadResult): string {
  if (result.kind === 'memory') {
    const m = result.memory
    return `${m.jobs} jobs waiting: RSS ${(m.rssBytes / 2 ** 20).toFixed(0)} MiB (idle ${(m.baselineRssBytes / 2 ** 20).toFixed(0)}), disk ${(m.diskBytes / 2 ** 20).toFixed(0)} MiB${m.errors > 0 ? `, ${m.errors} errors` : ''}`
  }
  const m = result.measured
  const latency = m.p99 === undefined ? '' : ` p50 ${m.p50?.toFixed(2)} p99 ${m.p99.toFixed(2)} max ${m.max?.toFixed(2)} ms`
  const overloaded = m.expected !== undefined && m.jobs < m.expected ? ` (overloaded: ${m.jobs} of ${m.expected} done)` : ''
  const twice = (m.duplicates ?? 0) > 0 ? `, ${m.duplicates} delivered twice` : ''
  return `${m.jobs} jobs ${m.rate.toFixed(0)}/s${overloaded}${latency}${twice}${m.errors > 0 ? `, ${m.errors} errors` : ''}`
}

/** Writes the report and the chart beside it; returns their paths. */
export async function writeReport(run: PeersRun): Promise<string[]> {
  if (run.options.out === null) return []
  const svgPath = run.options.out.replace(/\.md$/, '') + '.svg'
  const svgName = svgPath.slice(svgPath.lastIndexOf('/') + 1)
  await Bun.write(run.options.out, renderMarkdown(run, svgName))
  await Bun.write(svgPath, renderSvg(run))
  return [run.options.out, svgPath]
}

/** An earlier run's saved results, to be written to `out`. */
function loadRun(path: string, out: string | null): PeersRun {
  const run = JSON.parse(readFileSync(path, 'utf8')) as PeersRun
  return { ...run, options: { ...run.options, out } }
}

/** The command-line entry: parse, run, write, print. */
export async function peersMain(argv: string[], command: string): Promise<void> {
  if (argv.includes('--help')) return void process.stdout.write(`${peersUsage}\n`)
  const options = parsePeersArgs(argv, join(import.meta.dir, '..', '..', '..'))
  const run = options.render === undefined ? await runPeers(options, command, (line) => process.stderr.write(`${line}\n`)) : loadRun(options.render, options.out)
  if (options.render === undefined) {
    const saved = join(tmpdir(), `flashq-peers-${run.meta.date.replace(/[:]/g, '')}.json`)
    await Bun.write(saved, JSON.stringify(run))
    process.stderr.write(`results saved in ${saved} (re-render with --render ${saved})\n`)
  }
  const written = await writeReport(run)
  if (written.length === 0) process.stdout.write(renderMarkdown(run, null))
  else process.stdout.write(`wrote ${written.join(' and ')}\n`)
  if (run.records.some((record) => record.error !== null)) process.exitCode = 1
}

if (import.meta.main) await peersMain(process.argv.slice(2), ['bun run bench:peers', ...process.argv.slice(2)].join(' '))
