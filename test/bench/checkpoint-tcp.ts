/**
 * `bun test/bench/checkpoint-tcp.ts [jobs]`: issue 7's checkpoint pause as a client sees it.
 * A one-shard durable server (io_uring through liburing) is filled with `jobs` waiting jobs (default
 * 1M, PUSHB over TCP), then one client pushes sequentially (each PUSH awaited) while
 * `POST /storage/checkpoint` writes the whole state. Reports the push latency during the checkpoint
 * (p50/p90/p99/max) beside the 2.5 s before it, and the slowest pushes with their time into the
 * checkpoint. Unlike src/storage/checkpoint.bench.ts (in-process, each push starting the moment the
 * last is durable), a push here can arrive in the middle of a checkpoint turn, and it pays the
 * sockets and the client's own scheduling. For an A/B, run it in each checkout (a base worktree).
 * A benchmark, not a test: numbers depend on the machine and its load.
 * `serverCpuMs`/`mainCpuMs`: CPU the server process (all threads, io-wq workers included) and its
 * main thread used during the checkpoint. FLASHQ_TRACE_INSTANCE=<tracefs instance dir> turns that
 * instance's tracing on only while the checkpoint runs (enable its events first; docs/storage.md,
 * fifth round, lists the ones used to find where slow pushes wait).
 */
import { BenchConnection } from '../../src/bench/client.ts'
import { pushBatches } from '../../src/bench/workloads.ts'
import { readFileSync, writeFileSync } from 'node:fs'
import { startBenchServer } from './server.ts'

const jobs = Number(process.argv[2] ?? 1_000_000)
if (!Number.isSafeInteger(jobs) || jobs < 1) throw new Error(`checkpoint-tcp: jobs must be a positive integer, got ${process.argv[2]}`)

const traceInstance = process.env.FLASHQ_TRACE_INSTANCE
const setTracing = (on: boolean) => {
  if (traceInstance !== undefined) writeFileSync(`${traceInstance}/tracing_on`, on ? '1' : '0')
}
/** utime + stime of /proc/<pid>[/task/<tid>]/stat in ms (clock ticks of 10 ms). */
const cpuMs = (statPath: string) => {
  const stat = readFileSync(statPath, 'latin1')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

const server = await startBenchServer('liburing', { extraArgs: ['--shards', '1'] })
try {
  await pushBatches(server.port, { connections: 2, total: jobs, batchSize: 1000, window: 4, queues: ['q'] })
  const base = `http://127.0.0.1:${server.httpPort}`
  // The fill may have started an automatic checkpoint: this one waits it out and writes another.
  await fetch(`${base}/storage/checkpoint`, { method: 'POST' }).then((response) => response.text())
  await Bun.sleep(300)
  const connection = await BenchConnection.connect(server.port)
  const samples: [sentAtMs: number, latencyMs: number][] = []
  let stop = false
  let sentAt = 0
  let n = 0
  const done = new Promise<void>((resolve) => {
    const next = () => {
      sentAt = performance.now()
      connection.send(`{"cmd":"PUSH","queue":"q","data":{"i":${n}}}\n`)
    }
    connection.onCount = (lines: number) => {
      if (lines === 0) return
      samples.push([sentAt, performance.now() - sentAt])
      n++
      if (stop) return resolve()
      next()
    }
    next()
  })
  await Bun.sleep(3000)
  const processStat = `/proc/${server.pid}/stat`
  const mainStat = `/proc/${server.pid}/task/${server.pid}/stat`
  const [processCpuBefore, mainCpuBefore] = [cpuMs(processStat), cpuMs(mainStat)]
  setTracing(true)
  const checkpointStarted = performance.now()
  const reply = await fetch(`${base}/storage/checkpoint`, { method: 'POST' }).then((response) => response.text())
  const checkpointEnded = performance.now()
  setTracing(false)
  const [serverCpuMs, mainCpuMs] = [cpuMs(processStat) - processCpuBefore, cpuMs(mainStat) - mainCpuBefore]
  await Bun.sleep(200)
  stop = true
  await done
  connection.close()
  const during = samples.filter(([at]) => at >= checkpointStarted && at < checkpointEnded)
  const before = samples.filter(([at]) => at >= checkpointStarted - 2500 && at < checkpointStarted).map(([, ms]) => ms)
  const quantile = (values: number[], q: number) => {
    const sorted = [...values].sort((a, b) => a - b)
    return Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2))
  }
  const latencies = during.map(([, ms]) => ms)
  const slowest = [...during].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([at, ms]) => `${(at - checkpointStarted).toFixed(0)}ms:${ms.toFixed(1)}`)
  process.stdout.write(`${JSON.stringify({
    jobs,
    checkpointMs: Math.round(checkpointEnded - checkpointStarted),
    pushesDuring: latencies.length,
    p50Ms: quantile(latencies, 0.5),
    p90Ms: quantile(latencies, 0.9),
    p99Ms: quantile(latencies, 0.99),
    maxMs: quantile(latencies, 1),
    beforeP50Ms: quantile(before, 0.5),
    beforeP99Ms: quantile(before, 0.99),
    serverCpuMs,
    mainCpuMs,
    slowest: slowest.join(' '),
    checkpointReplyOk: reply.startsWith('{"ok":true'),
  })}\n`)
} finally {
  await server.stop()
}
