/**
 * What emptying a big queue costs everyone else: DRAIN, OBLITERATE and CLEAN of `--jobs` waiting
 * jobs (pushed in PUSHB batches of 1000: most ready at mixed priorities, a tenth delayed, so both
 * heaps are big), and CLEAN100 (CLEAN of waiting jobs with a limit of 100, the housekeeping call
 * BullMQ users make: `queue.clean(grace, 100, 'wait')`), timed from the send to the reply, with a PING sent right behind it on another
 * connection: how long the server's thread was taken (a shard runs one command at a time). A fresh
 * server (production preset) per run, memory and durable, `--server` checkouts alternated run by run.
 *
 *   bun test/bench/queue-remove.ts [--jobs 500000] [--runs 3] [--commands DRAIN,OBLITERATE,CLEAN,CLEAN100] [--server <checkout>]...
 *
 * Prints per checkout, mode and command the median (min–max) of the command's ms and the PING's.
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '500000' },
    runs: { type: 'string', default: '3' },
    commands: { type: 'string', default: 'DRAIN,OBLITERATE,CLEAN,CLEAN100' },
    server: { type: 'string', multiple: true, default: [join(import.meta.dir, '..', '..')] },
  },
})
const jobs = Number(values.jobs)
const runs = Number(values.runs)
const commands = (values.commands as string).split(',')
const batchJobs = 1000
/** Every tenth job is delayed by this much: it stays in the delay heap for the run. */
const delayMs = 3_600_000

type Timing = { commandMs: number; pingMs: number; count: number }

async function once(checkout: string, durable: boolean, cmd: string): Promise<Timing> {
  const { startServer } = await import(join(checkout, 'test/harness/server.ts'))
  const { WireClient } = await import(join(checkout, 'test/harness/wire-client.ts'))
  const server = await startServer({ args: durable ? [] : ['--memory'], preset: 'production' })
  try {
    const client = await WireClient.connect(server.tcpPort)
    const pinger = await WireClient.connect(server.tcpPort)
    const queue = 'big'
    for (let pushed = 0; pushed < jobs; pushed += batchJobs) {
      const size = Math.min(batchJobs, jobs - pushed)
      const items = Array.from({ length: size }, (_, at) => ({ data: { n: pushed + at, pad: 'x'.repeat(60) }, priority: at % 7, ...(at % 10 === 9 ? { delay: delayMs } : {}) }))
      const reply = await client.request({ cmd: 'PUSHB', queue, jobs: items })
      if (reply.ok !== true) throw new Error(`PUSHB failed: ${JSON.stringify(reply)}`)
    }
    const request = cmd === 'CLEAN' || cmd === 'CLEAN100' ? { cmd: 'CLEAN', queue, grace: 0, state: 'waiting', ...(cmd === 'CLEAN100' ? { limit: 100 } : {}) } : { cmd, queue }
    const startedMs = performance.now()
    const done = client.request(request, 120_000)
    const ping = pinger.request({ cmd: 'PING' }, 120_000).then(() => performance.now() - startedMs)
    const reply = await done
    const commandMs = performance.now() - startedMs
    if (reply.ok !== true) throw new Error(`${cmd} failed: ${JSON.stringify(reply)}`)
    const timing = { commandMs, pingMs: await ping, count: Number(reply.count) }
    client.close()
    pinger.close()
    return timing
  } finally {
    await server.cleanup()
  }
}

const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
const spread = (values: number[]) => `${median(values).toFixed(0)} (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`
const results = new Map<string, Timing[]>()
for (let run = 0; run < runs; run++) {
  for (const durable of [false, true]) {
    for (const cmd of commands) {
      for (const checkout of values.server as string[]) {
        const key = `${checkout} ${durable ? 'durable' : 'memory'} ${cmd}`
        results.set(key, [...(results.get(key) ?? []), await once(checkout, durable, cmd)])
      }
    }
  }
}
for (const [key, timings] of results) {
  console.log(`${key}: ${timings[0]?.count} jobs, ${spread(timings.map((one) => one.commandMs))} ms, a PING behind it ${spread(timings.map((one) => one.pingMs))} ms`)
}
