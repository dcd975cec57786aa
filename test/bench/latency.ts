/**
 * Latency as one producer and a small worker pool meet it, on a freshly started server:
 *   W1  one PUSH at a time, each awaited, after a 300-push warm-up: jobs/s and round-trip p50/p99.
 *   W4  an open-loop producer at a fixed rate (PUSH without waiting for replies) and 10 pullers
 *       (blocking PULL, then ACK + the next PULL in one write): push → delivery latency p50/p99/max.
 * Each (mode, workload, run) gets a fresh server; runs are interleaved over the modes.
 *
 *   bun test/bench/latency.ts [--modes memory,liburing] [--runs 3] [--only w1,w4] [--w1-jobs 5000]
 *                             [--w4-rates 1000,5000] [--w4-seconds 5] [--binary path]...
 * Each --binary (an executable taking the server's flags) is measured too, interleaved with this
 * checkout (`src` in the labels): a way to compare before and after in one session.
 */
import { BenchConnection } from '../../src/bench/client.ts'
import { pushLatency, queueNames } from '../../src/bench/workloads.ts'
import { startBenchServer, type Mode } from './server.ts'

type Options = { modes: Mode[]; runs: number; only: string[]; w1Jobs: number; w4Rates: number[]; w4Seconds: number; binaries: string[] }

function parseOptions(argv: string[]): Options {
  const options: Options = { modes: ['memory', 'liburing'], runs: 3, only: ['w1', 'w4'], w1Jobs: 5000, w4Rates: [1000, 5000], w4Seconds: 5, binaries: [] }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = () => argv[++i] ?? ''
    if (flag === '--modes') options.modes = value().split(',') as Mode[]
    else if (flag === '--runs') options.runs = Number(value())
    else if (flag === '--only') options.only = value().split(',')
    else if (flag === '--w1-jobs') options.w1Jobs = Number(value())
    else if (flag === '--w4-rates') options.w4Rates = value().split(',').map(Number)
    else if (flag === '--w4-seconds') options.w4Seconds = Number(value())
    else if (flag === '--binary') options.binaries.push(value())
    else throw new Error(`unknown flag '${flag}'`)
  }
  return options
}

const quantile = (sorted: Float64Array, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number

/** Pullers of concurrency 1 each; the producer stamps each job's data with its send time. */
export async function openLoop(port: number, ratePerSecond: number, seconds: number): Promise<{ p50: number; p99: number; max: number; jobs: number }> {
  const queue = 'w4'
  const pullers = await Promise.all(Array.from({ length: 10 }, () => BenchConnection.connect(port)))
  const producer = await BenchConnection.connect(port)
  producer.onCount = () => {}
  const total = Math.round(ratePerSecond * seconds)
  const samples = new Float64Array(total)
  let received = 0
  const pull = `{"cmd":"PULL","queue":"${queue}","timeout":5000}\n`
  const done = new Promise<void>((resolve) => {
    for (const puller of pullers) {
      puller.onLine = (line) => {
        const at = performance.now()
        const match = /"data":\{"t":([\d.]+)\}/.exec(line)
        const id = /"job":\{"id":(\d+)/.exec(line)?.[1]
        if (match === null || id === undefined) return puller.send(pull)
        if (received < total) samples[received] = at - Number(match[1])
        received++
        if (received >= total) resolve()
        puller.send(`{"cmd":"ACK","id":${id}}\n${pull}`)
      }
      puller.send(pull)
    }
  })
  await Bun.sleep(50) // the pulls are waiting before the first push
  const started = performance.now()
  let sent = 0
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * ratePerSecond))
      let text = ''
      for (; sent < due; sent++) text += `{"cmd":"PUSH","queue":"${queue}","data":{"t":${performance.now()}}}\n`
      if (text !== '') producer.send(text)
      if (sent >= total) return resolve()
      setTimeout(tick, 0)
    }
    tick()
  })
  await Promise.race([done, Bun.sleep(10_000)])
  for (const connection of [...pullers, producer]) connection.close()
  const sorted = samples.slice(0, Math.min(received, total)).sort()
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] as number, jobs: sorted.length }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number
const fmt = (values: number[], digits = 2) => `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`

if (import.meta.main) {
  const options = parseOptions(process.argv.slice(2))
  const results = new Map<string, number[][]>()
  const note = (key: string, values: number[]) => {
    const list = results.get(key) ?? []
    list.push(values)
    results.set(key, list)
  }
  for (let run = 0; run < options.runs; run++) {
    for (const [mode, binary] of options.modes.flatMap((mode) => [undefined, ...options.binaries].map((binary) => [mode, binary] as const))) {
      const label = `${binary ?? 'src'} ${mode}`
      if (options.only.includes('w1')) {
        const server = await startBenchServer(mode, { binary })
        try {
          const measured = await pushLatency(server.port, { total: options.w1Jobs, warmup: 300, queues: queueNames(1, 2, 'w1') })
          note(`${label} W1`, [measured.rate, measured.p50 ?? 0, measured.p99 ?? 0])
        } finally {
          await server.stop()
        }
      }
      if (options.only.includes('w4')) {
        for (const rate of options.w4Rates) {
          const server = await startBenchServer(mode, { binary })
          try {
            const measured = await openLoop(server.port, rate, options.w4Seconds)
            note(`${label} W4 ${rate}/s`, [measured.p50, measured.p99, measured.max])
          } finally {
            await server.stop()
          }
        }
      }
    }
  }
  for (const [key, runs] of results) {
    const column = (index: number) => runs.map((values) => values[index] as number)
    if (key.endsWith('W1')) process.stdout.write(`${key}: ${fmt(column(0), 0)} jobs/s, p50 ${fmt(column(1), 3)} ms, p99 ${fmt(column(2), 3)} ms\n`)
    else process.stdout.write(`${key}: p50 ${fmt(column(0), 3)} ms, p99 ${fmt(column(1), 3)} ms, max ${fmt(column(2), 1)} ms\n`)
  }
}
