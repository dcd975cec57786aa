/**
 * The comparison's report: docs/benchmarks.md (stamped with commit, machine, date and the command;
 * medians with min–max; noisy runs marked) and a hand-written SVG of flashq's ratio to each peer.
 */
import { existsSync, readFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { $ } from 'bun'
import { machineLoad, otherCoresNoisyMax, stealShareNoisyMax } from './noise.ts'
import type { PeersRun, RunRecord } from './runner.ts'
import type { VariantInfo } from './types.ts'
import { type WorkloadId, workloadTitles } from './workloads.ts'

const repoRoot = join(import.meta.dir, '..', '..', '..')

export type Meta = {
  command: string
  commit: string
  date: string
  machine: string
  load1: number
  durationSeconds: number
  versions: string[]
}

export async function collectMeta(command: string, variants: VariantInfo[], durationSeconds: number): Promise<Meta> {
  const head = (await $`git rev-parse --short HEAD`.cwd(repoRoot).nothrow().quiet()).stdout.toString().trim() || 'unknown'
  const dirty = (await $`git status --porcelain -- src package.json`.cwd(repoRoot).nothrow().quiet()).stdout.toString().trim() !== ''
  const model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown CPU'
  const { cores, load1 } = machineLoad()
  const systems = new Set(variants.map((variant) => variant.system))
  const versions = [`Bun ${Bun.version}`]
  if (systems.has('bullmq')) versions.push(await versionOf(['redis-server', '--version'], /v=(\S+)/, 'Redis'), `BullMQ ${packageVersion('bullmq')}`)
  if (systems.has('beanstalkd')) versions.push(await versionOf(['beanstalkd', '-v'], /beanstalkd (\S+)/, 'beanstalkd'))
  if (systems.has('nats')) versions.push(await versionOf(['nats-server', '--version'], /v(\d\S*)/, 'nats-server'), `nats.js ${packageVersion('nats')}`)
  return {
    command,
    commit: `${head}${dirty ? ' (with uncommitted changes)' : ''}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    machine: `${cores} cores, ${model}, Linux ${release()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM`,
    load1,
    durationSeconds,
    versions,
  }
}

async function versionOf(command: string[], pattern: RegExp, name: string): Promise<string> {
  const path = Bun.which(command[0] as string, { PATH: `${process.env.PATH ?? ''}:/usr/sbin` })
  if (path === null) return `${name} (not installed)`
  const text = (await $`${path} ${command.slice(1)}`.nothrow().quiet()).stdout.toString()
  return `${name} ${pattern.exec(text)?.[1] ?? 'unknown'}`
}

function packageVersion(name: string): string {
  const path = join(repoRoot, 'node_modules', name, 'package.json')
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version : 'unknown'
}

/** Median, min and max of the runs' values. */
type Spread = { median: number; min: number; max: number }

function spread(values: number[]): Spread | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number }
}

/** The runs of one cell, summarized. */
export type Cell = {
  rate: Spread | null
  p50: Spread | null
  p99: Spread | null
  max: Spread | null
  rssBytes: Spread | null
  /** RSS at 1M jobs (scaled linearly from the idle baseline when fewer were pushed). */
  rssAt1MBytes: Spread | null
  diskAt1MBytes: Spread | null
  w5Jobs: number
  /** Runs that did not complete every job in time (an open loop faster than the system). */
  overloaded: number
  /** Jobs completed twice, over all runs. */
  duplicates: number
  runs: number
  noisy: number
  errors: number
  failures: string[]
}

const million = 1_000_000

export function summarize(records: RunRecord[]): Cell {
  const measured = records.flatMap((record) => (record.result?.kind === 'rate' ? [record.result.measured] : []))
  const memory = records.flatMap((record) => (record.result?.kind === 'memory' && record.result.memory.jobs > 0 ? [record.result.memory] : []))
  const optional = (values: Array<number | undefined>) => spread(values.filter((value): value is number => value !== undefined))
  return {
    rate: spread(measured.map((m) => m.rate)),
    p50: optional(measured.map((m) => m.p50)),
    p99: optional(measured.map((m) => m.p99)),
    max: optional(measured.map((m) => m.max)),
    rssBytes: spread(memory.map((m) => m.rssBytes)),
    rssAt1MBytes: spread(memory.map((m) => m.baselineRssBytes + ((m.rssBytes - m.baselineRssBytes) * million) / m.jobs)),
    diskAt1MBytes: spread(memory.map((m) => m.baselineDiskBytes + ((m.diskBytes - m.baselineDiskBytes) * million) / m.jobs)),
    w5Jobs: memory[0]?.jobs ?? 0,
    overloaded: measured.filter((m) => m.expected !== undefined && m.jobs < m.expected).length,
    duplicates: measured.reduce((sum, m) => sum + (m.duplicates ?? 0), 0),
    runs: records.length,
    noisy: records.filter((record) => record.noise.noisy).length,
    errors: measured.reduce((sum, m) => sum + m.errors, 0) + memory.reduce((sum, m) => sum + m.errors, 0),
    failures: records.flatMap((record) => (record.error === null ? [] : [record.error])),
  }
}

export function cellOf(run: PeersRun, workload: WorkloadId, variant: string): Cell {
  return summarize(run.records.filter((record) => record.workload === workload && record.variant === variant))
}

export function formatRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(perSecond >= 1e7 ? 0 : 1)}M`
  if (perSecond >= 1e4) return `${Math.round(perSecond / 1e3)}k`
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k`
  return perSecond.toFixed(0)
}

export function formatMs(ms: number): string {
  if (ms < 1) return ms.toFixed(2)
  if (ms < 10) return ms.toFixed(1)
  return ms.toFixed(0)
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`
const range = (s: Spread, format: (value: number) => string) => (s.min === s.max ? '' : `${format(s.min)}–${format(s.max)}`)

function renderCell(workload: WorkloadId, cell: Cell): string {
  if (cell.runs === 0) return '—' // not run: the floor does not run W5
  if (cell.failures.length === cell.runs) return `failed: ${cell.failures[0]?.slice(0, 80)}`
  const notes: string[] = []
  let main = ''
  if (workload === 'W5' && cell.rssAt1MBytes !== null && cell.diskAt1MBytes !== null) {
    main = `**${mb(cell.rssAt1MBytes.median)}**${cell.diskAt1MBytes.median > 0 ? ` · disk ${mb(cell.diskAt1MBytes.median)}` : ''}`
    if (cell.w5Jobs !== million) notes.push(`scaled from ${formatRate(cell.w5Jobs)} jobs`)
  } else if (workload.startsWith('W4') && cell.overloaded > 0 && cell.rate !== null) {
    main = `**overloaded**: ${formatRate(cell.rate.median)}/s handled`
    notes.push(`${cell.overloaded}/${cell.runs} runs fell behind`)
  } else if (workload.startsWith('W4') && cell.p50 !== null && cell.p99 !== null && cell.max !== null) {
    main = `**${formatMs(cell.p50.median)} / ${formatMs(cell.p99.median)}** / ${formatMs(cell.max.median)} ms`
    const p99Range = range(cell.p99, formatMs)
    if (p99Range !== '') notes.push(`p99 ${p99Range}`)
  } else if (cell.rate !== null) {
    main = `**${formatRate(cell.rate.median)}**${workload === 'W1' && cell.p99 !== null ? ` (${formatMs(cell.p99.median)} ms)` : ''}`
    const rateRange = range(cell.rate, formatRate)
    if (rateRange !== '') notes.push(rateRange)
  }
  if (cell.overloaded > 0 && !workload.startsWith('W4')) notes.push(`✗ ${cell.overloaded} runs incomplete`)
  if (cell.duplicates > 0) notes.push(`${cell.duplicates} delivered twice`)
  if (cell.noisy > 0) notes.push(`⚠ ${cell.noisy}/${cell.runs} noisy`)
  if (cell.errors > 0) notes.push(`✗ ${cell.errors} errors`)
  if (cell.failures.length > 0) notes.push(`✗ ${cell.failures.length} failed`)
  return notes.length === 0 ? main : `${main}<br><sub>${notes.join(' · ')}</sub>`
}

export function renderMarkdown(run: PeersRun, svgName: string | null): string {
  const { meta, variants } = run
  const workloads = [...new Set(run.records.map((record) => record.workload))]
  const noisyRuns = run.records.filter((record) => record.noise.noisy).length
  const others = spread(run.records.map((record) => record.noise.otherCores))
  const lines = [
    '# flashq compared with BullMQ, beanstalkd and NATS JetStream',
    '',
    `Generated by \`${meta.command}\` — commit ${meta.commit}, ${meta.date}.`,
    '',
    `Machine: ${meta.machine}. ${meta.versions.join(', ')}. The run took ${(meta.durationSeconds / 60).toFixed(1)} min.`,
    '',
    noisyRuns > 0
      ? `**Noisy machine:** ${noisyRuns} of ${run.records.length} runs were flagged (hypervisor steal above ${stealShareNoisyMax * 100}% or other processes using more than ${otherCoresNoisyMax} cores; other processes used ${others === null ? '?' : `${others.median.toFixed(2)} cores median, up to ${others.max.toFixed(2)}`}). Treat small differences as noise.`
      : `No run was flagged noisy (steal ≤ ${stealShareNoisyMax * 100}%, other processes ≤ ${otherCoresNoisyMax} cores).`,
    '',
    `Each cell: the median of ${run.options.runs} run${run.options.runs === 1 ? '' : 's'} (W5: one run), min–max below it; ⚠ counts runs flagged noisy. Throughput in jobs/s, latency in ms.`,
    '',
    `| workload | ${variants.map((variant) => variant.label).join(' | ')} |`,
    `| --- | ${variants.map(() => '---').join(' | ')} |`,
    ...workloads.map((workload) => `| ${workloadTitles[workload]} | ${variants.map((variant) => renderCell(workload, cellOf(run, workload, variant.id))).join(' | ')} |`),
    '',
    ...(svgName === null ? [] : [`![flashq's ratio to each peer, per workload](${svgName})`, '']),
    ...targetLines(run),
    ...methodLines(run),
  ]
  return `${lines.join('\n')}\n`
}

/** The issue's targets for flashq, checked against this run's medians. */
function targetLines(run: PeersRun): string[] {
  const median = (workload: WorkloadId, variant: string, pick: (cell: Cell) => Spread | null) => pick(cellOf(run, workload, variant))?.median ?? null
  // A system that fell behind its open loop has no latency to compare: the target is missed.
  const openLoopP99 = (workload: WorkloadId, variant: string) => (cellOf(run, workload, variant).overloaded > 0 ? Number.POSITIVE_INFINITY : median(workload, variant, (c) => c.p99))
  const ms = (value: number) => (value === Number.POSITIVE_INFINITY ? 'fell behind' : `${formatMs(value)} ms`)
  // Each check: name, flashq's value, the goal, whether it is met, the format, and the Bun floor's
  // value of the same measure where the floor runs it (floor.ts: what any Bun server and the SDK reach).
  type Check = [string, number | null, number | null, (value: number, goal: number) => boolean, (value: number) => string, number | null]
  const checks: Check[] = [
    ['W1 durable p99 < 1 ms', median('W1', 'flashq-durable', (c) => c.p99), 1, (v, g) => v < g, (v) => `${formatMs(v)} ms`, median('W1', 'floor-durable', (c) => c.p99)],
    ['W1 durable jobs/s ≥ beanstalkd (fsync)', median('W1', 'flashq-durable', (c) => c.rate), median('W1', 'beanstalkd-fsync', (c) => c.rate), (v, g) => v >= g, formatRate, median('W1', 'floor-durable', (c) => c.rate)],
    ['W2 durable ≥ 500k jobs/s', median('W2', 'flashq-durable', (c) => c.rate), 500_000, (v, g) => v >= g, formatRate, median('W2', 'floor-durable', (c) => c.rate)],
    ['W4 durable p99 < 2 ms at 1k/s', openLoopP99('W4@1k', 'flashq-durable'), 2, (v, g) => v < g, ms, openLoopP99('W4@1k', 'floor-durable')],
    ['W4 durable p99 < 3 ms at 5k/s', openLoopP99('W4@5k', 'flashq-durable'), 3, (v, g) => v < g, ms, openLoopP99('W4@5k', 'floor-durable')],
    ['W5 ≤ 250 MB for 1M waiting jobs', median('W5', 'flashq-durable', (c) => c.rssAt1MBytes), 250e6, (v, g) => v <= g, mb, null],
  ]
  const memoryW1 = median('W1', 'flashq-memory', (c) => c.rate)
  const beanstalkW1 = median('W1', 'beanstalkd-memory', (c) => c.rate)
  checks.push(['memory W1 within 1.5× of beanstalkd (memory)', memoryW1, beanstalkW1 === null ? null : beanstalkW1 / 1.5, (v, g) => v >= g, formatRate, median('W1', 'floor-memory', (c) => c.rate)])
  const rows = checks.filter(([, value, goal]) => value !== null && goal !== null)
  if (rows.length === 0) return []
  const withFloor = rows.some((row) => row[5] !== null)
  const floorCell = (row: Check) => (withFloor ? ` ${row[5] === null ? '—' : row[4](row[5])} |` : '')
  return [
    '## flashq against the targets of issue 13',
    '',
    `| target | measured | goal | met |${withFloor ? ' Bun floor (SDK, no queue) |' : ''}`,
    `| --- | --- | --- | --- |${withFloor ? ' --- |' : ''}`,
    ...rows.map((row) => {
      const [name, value, goal, ok, format] = row
      return `| ${name} | ${format(value as number)} | ${format(goal as number)} | ${ok(value as number, goal as number) ? 'yes' : 'no'} |${floorCell(row)}`
    }),
    '',
    ...(withFloor ? ['The Bun floor is a server that keeps nothing but a FIFO of waiting jobs per queue: it parses each line, writes and fdatasyncs the pushes and acks it read (durable), and answers, handing jobs to parked pulls once durable; flashq\'s SDK (Queue and Worker) drives it as it drives flashq (src/bench/peers/floor.ts). The gap from flashq to it is what flashq\'s own work costs; a goal the floor misses asks more than the simplest Bun server reaches here through the SDK.', ''] : []),    'Where each missed target\'s time or bytes go, with the profiles: [targets.md](targets.md).',
    '',
  ]
}

function methodLines(run: PeersRun): string[] {
  const { sizes } = run.options
  return [
    '## How it is measured',
    '',
    `One client harness (src/bench/workloads.ts, the peer adapters in src/bench/peers/) drives every system over loopback from one Bun process, with 100-byte JSON payloads. Every (workload, system, repetition) gets a freshly started server with an empty temporary data directory; within a repetition the systems run one after another, starting one further along the list each time, so slow drifts of the machine spread over all of them. The client shares the machine's cores with the server.`,
    '',
    `Every timed push or drain phase stops at its job count or after ${sizes.maxSeconds} s, whichever comes first (a slow system is measured over fewer jobs); rates are of the jobs done.`,
    '',
    `- **W1**: one push awaited at a time: ${sizes.warmupJobs} warm-up pushes, then ${Math.max(10, Math.floor(sizes.n / 5))} timed; jobs/s and the p99 of one push's round trip.`,
    `- **W1c50**: ${sizes.n} pushes, 50 in flight on one connection. **W2**: ${sizes.warmupJobs} warm-up jobs (untimed, one batch), then ${sizes.n} jobs in batches of 1000, one batch in flight (BullMQ \`addBulk\`, flashq \`addBulk\` = one PUSHB; beanstalkd and NATS have no batch, so the 1000 puts/publishes are pipelined and awaited together).`,
    `- **W3c10 / W3c100**: ${sizes.n} jobs pre-filled (untimed), then workers with total concurrency 10 / 100 and a no-op processor drain them; the clock stops at the last completion the server confirmed (NATS: a flush after the last ack). Workers: flashq's SDK \`Worker\`, BullMQ's \`Worker\` (one each, \`concurrency\` = C), beanstalkd: C connections each reserving one job at a time, NATS: a pull consumer with \`max_ack_pending\` = C.`,
    `- **W4**: an open-loop producer (its own connection, pushing on schedule whether or not earlier pushes were answered) at 1,000 and 5,000 jobs/s for ${sizes.w4WarmupSeconds} s of warm-up and ${sizes.w4Seconds} s measured, workers of concurrency 10; latency from when a push was sent (on schedule; the producer's own timer lateness is not counted) to when its job started: p50 / p99 / max.`,
    `- **W5**: ${sizes.w5Jobs.toLocaleString('en-US')} jobs (or as many as ${sizes.w5MaxSeconds} s allow) pushed in batches of 1000, 4 in flight, and left waiting; the server's RSS (VmRSS) and its data directory's allocated size (preallocated files included), scaled linearly to 1M from the idle server's where fewer were pushed (the cell says so).`,
    '',
    '| system | what an acknowledged push promises |',
    '| --- | --- |',
    ...run.variants.map((variant) => `| ${variant.label} | ${variant.durability} |`),
    ...run.skipped.map(({ variant, reason }) => `| ${variant.label} | not run: ${reason} |`),
    '',
    `Noise: /proc/stat is read around each run; a run is flagged when the hypervisor stole more than ${stealShareNoisyMax * 100}% of the CPU time or processes other than the client and the server used more than ${otherCoresNoisyMax} cores. Load average at the end: ${run.meta.load1.toFixed(2)}.`,
    '',
    `Regenerate both files with \`${run.meta.command}\`; \`--runs\`, \`--only W1,W2\`, \`--systems flashq,bullmq\` and \`--n\` narrow a run (\`bun run bench:peers --help\`).`,
  ]
}

/** Ratios in the chart: how many times better flashq is than the peer (throughput, p99, RSS). */
type Ratio = { workload: WorkloadId; peer: VariantInfo; ratio: number }

const chartedMetric: Partial<Record<WorkloadId, { pick: (cell: Cell) => Spread | null; higherIsBetter: boolean; what: string }>> = {
  W1: { pick: (c) => c.rate, higherIsBetter: true, what: 'jobs/s' },
  W1c50: { pick: (c) => c.rate, higherIsBetter: true, what: 'jobs/s' },
  W2: { pick: (c) => c.rate, higherIsBetter: true, what: 'jobs/s' },
  W3c10: { pick: (c) => c.rate, higherIsBetter: true, what: 'jobs/s' },
  W3c100: { pick: (c) => c.rate, higherIsBetter: true, what: 'jobs/s' },
  'W4@1k': { pick: (c) => c.p99, higherIsBetter: false, what: 'p99' },
  'W4@5k': { pick: (c) => c.p99, higherIsBetter: false, what: 'p99' },
  W5: { pick: (c) => c.rssAt1MBytes, higherIsBetter: false, what: 'RSS' },
}

/** A system flashq is compared with in the chart: not flashq, and not the floor (a reference, not a queue). */
const isPeer = (variant: VariantInfo) => variant.system !== 'flashq' && variant.system !== 'floor'

export function ratios(run: PeersRun): Ratio[] {
  const out: Ratio[] = []
  const workloads = [...new Set(run.records.map((record) => record.workload))]
  for (const workload of workloads) {
    const metric = chartedMetric[workload]
    if (metric === undefined) continue
    for (const peer of run.variants.filter(isPeer)) {
      const ourCell = cellOf(run, workload, peer.durable ? 'flashq-durable' : 'flashq-memory')
      const theirCell = cellOf(run, workload, peer.id)
      // The latency of a system that fell behind its open loop is not a number to divide.
      if (ourCell.overloaded > 0 || theirCell.overloaded > 0) continue
      const ours = metric.pick(ourCell)?.median
      const theirs = metric.pick(theirCell)?.median
      if (ours === undefined || theirs === undefined || ours <= 0 || theirs <= 0) continue
      out.push({ workload, peer, ratio: metric.higherIsBetter ? ours / theirs : theirs / ours })
    }
  }
  return out
}

const colors: Record<string, string> = { bullmq: '#d9534f', beanstalkd: '#5b8def', nats: '#3aa57a' }
const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** Horizontal bars on a log2 axis centred on 1: right of the line flashq is ahead, left it is behind. */
export function renderSvg(run: PeersRun): string {
  const data = ratios(run)
  const workloads = [...new Set(data.map((ratio) => ratio.workload))]
  const peers = run.variants.filter(isPeer)
  const extent = Math.max(2, ...data.map((ratio) => Math.abs(Math.log2(ratio.ratio))))
  const halfSpan = Math.ceil(extent)
  const width = 960
  const labelWidth = 330
  const plotLeft = labelWidth
  const plotWidth = width - labelWidth - 40
  const centre = plotLeft + plotWidth / 2
  const scale = plotWidth / 2 / halfSpan
  const barHeight = 11
  const groupGap = 14
  const top = 70
  const groupHeight = peers.length * (barHeight + 2) + groupGap
  const legendTop = top + workloads.length * groupHeight + 20
  const height = legendTop + Math.ceil(peers.length / 2) * 18 + 20
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">How many times better flashq is than each peer (median; durable vs flashq durable, memory vs flashq memory)</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" fill="#555">jobs/s for W1–W3 · p99 push→start for W4 (no bar where a side fell behind) · RSS for W5 · log scale · right of 1×: flashq ahead · ${escapeXml(run.meta.commit)}, ${escapeXml(run.meta.date.slice(0, 10))}</text>`,
  ]
  const tickEvery = halfSpan > 5 ? 2 : 1
  for (let step = -halfSpan; step <= halfSpan; step++) {
    if (step % tickEvery !== 0) continue
    const x = centre + step * scale
    const label = step >= 0 ? `${2 ** step}×` : `1/${2 ** -step}`
    parts.push(`<line x1="${x}" y1="${top - 8}" x2="${x}" y2="${legendTop - 14}" stroke="${step === 0 ? '#333' : '#ddd'}" stroke-width="${step === 0 ? 1.5 : 1}"/>`)
    parts.push(`<text x="${x}" y="${top - 12}" text-anchor="middle" fill="#555">${label}</text>`)
  }
  workloads.forEach((workload, w) => {
    const groupTop = top + w * groupHeight
    const metric = chartedMetric[workload]
    parts.push(`<text x="8" y="${groupTop + groupHeight / 2 - 4}" font-weight="bold">${escapeXml(workload)}</text>`)
    parts.push(`<text x="8" y="${groupTop + groupHeight / 2 + 10}" fill="#555">${escapeXml(metric?.what ?? '')}</text>`)
    peers.forEach((peer, p) => {
      const y = groupTop + p * (barHeight + 2)
      const found = data.find((ratio) => ratio.workload === workload && ratio.peer.id === peer.id)
      parts.push(`<text x="${plotLeft - 6}" y="${y + barHeight - 2}" text-anchor="end" font-size="10" fill="#333">${escapeXml(peer.label)}</text>`)
      if (found === undefined) return
      const length = Math.log2(found.ratio) * scale
      const x = length >= 0 ? centre : centre + length
      parts.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(1, Math.abs(length)).toFixed(1)}" height="${barHeight}" fill="${colors[peer.system] ?? '#888'}" fill-opacity="${peer.durable ? 1 : 0.5}"/>`)
      // A long bar to the left would push its label onto the system names: put it right of the 1× line.
      const labelLeft = length < 0 && centre + length - 40 > plotLeft
      const labelX = labelLeft ? centre + length - 4 : Math.max(centre, centre + length) + 4
      parts.push(`<text x="${labelX.toFixed(1)}" y="${y + barHeight - 2}" text-anchor="${labelLeft ? 'end' : 'start'}" font-size="10">${found.ratio >= 10 ? found.ratio.toFixed(0) : found.ratio.toPrecision(2)}×</text>`)
    })
  })
  peers.forEach((peer, p) => {
    const x = 20 + (p % 2) * 460
    const y = legendTop + Math.floor(p / 2) * 18
    parts.push(`<rect x="${x}" y="${y}" width="14" height="10" fill="${colors[peer.system] ?? '#888'}" fill-opacity="${peer.durable ? 1 : 0.5}"/>`)
    parts.push(`<text x="${x + 20}" y="${y + 9}">${escapeXml(`flashq ${peer.durable ? 'durable' : 'memory'} vs ${peer.label}`)}</text>`)
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}
