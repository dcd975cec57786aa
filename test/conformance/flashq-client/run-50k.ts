/**
 * 50k jobs end to end, the way a flashQ TypeScript client user runs them:
 *   Queue.addBulk (1000 per call, awaited one after another), then a Worker with concurrency 10
 *   (10 JSON connections looping PULLB count=100 timeout=500, ACK per job) whose processor returns a
 *   small result. Reports push phase, processing phase, end to end and jobs/s; medians of the runs.
 *
 *   bun test/conformance/flashq-client/run-50k.ts [--binary path] [--memory] [--runs 3] [--jobs 50000]
 *
 * Each run starts a fresh server (production preset; durable with a temporary data dir unless --memory).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FlashQ, Queue, Worker, warnings } from './client'

const repoRoot = join(import.meta.dir, '..', '..', '..')
const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(name)
const value = (name: string) => {
  const index = argv.indexOf(name)
  return index >= 0 ? argv[index + 1] : undefined
}
const binary = value('--binary')
const memory = flag('--memory')
const runs = Number(value('--runs') ?? 3)
const totalJobs = Number(value('--jobs') ?? 50_000)
const concurrency = Number(value('--concurrency') ?? 10)
const bulkSize = 1000

type Server = { port: number; stop(): Promise<void>; startupLine: string }

async function startServer(): Promise<Server> {
  const dataDir = memory ? null : mkdtempSync(join(tmpdir(), 'flashq-50k-'))
  const command = binary !== undefined ? [binary] : [process.execPath, join(repoRoot, 'src', 'main.ts')]
  const storage = memory ? ['--memory'] : ['--data-dir', dataDir as string]
  const child = Bun.spawn([...command, '--port', '0', '--http-port', '0', '--host', '127.0.0.1', ...storage], {
    cwd: repoRoot,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const reader = child.stdout.getReader()
  const decoder = new TextDecoder()
  let seen = ''
  const deadline = Date.now() + 30_000
  let startupLine: string | undefined
  while (startupLine === undefined && Date.now() < deadline) {
    const { value: chunk, done } = await reader.read()
    if (done) break
    seen += decoder.decode(chunk)
    startupLine = seen.split('\n').find((line) => line.includes(' listening '))
  }
  if (startupLine === undefined) {
    child.kill('SIGKILL')
    throw new Error(`server did not start:\n${seen}\n${await new Response(child.stderr).text()}`)
  }
  void (async () => {
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return
  })()
  void new Response(child.stderr).text().catch(() => '')
  const port = Number(/tcp=[^ ]*:(\d+)/.exec(startupLine)?.[1])
  return {
    port,
    startupLine,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await child.exited
      clearTimeout(timer)
      if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

type RunResult = { pushMs: number; processMs: number; totalMs: number; perConnection: number[]; completedCount: number }

async function runOnce(): Promise<RunResult> {
  const server = await startServer()
  const connection = { host: '127.0.0.1', port: server.port }
  const queueName = 'bench-50k'
  const queue = new Queue(queueName, connection)
  try {
    await queue.client.connect()
    const start = performance.now()
    for (let offset = 0; offset < totalJobs; offset += bulkSize) {
      const count = Math.min(bulkSize, totalJobs - offset)
      const ids = await queue.addBulk(Array.from({ length: count }, (_, i) => ({ name: 'job', data: { n: offset + i } })))
      if (ids.length !== count) throw new Error(`addBulk returned ${ids.length} ids for ${count} jobs`)
    }
    const pushed = performance.now()

    let resolveDone!: () => void
    const done = new Promise<void>((resolve) => (resolveDone = resolve))
    let processed = 0
    const worker = new Worker(
      queueName,
      (job) => {
        if (++processed === totalJobs) setTimeout(check, 0)
        return { ok: true, n: job.data.n }
      },
      { ...connection, concurrency },
    )
    // Done when every ACK has been answered (the worker counts an ACK once its reply arrives).
    const check = () => (worker.counts.completed >= totalJobs ? resolveDone() : setTimeout(check, 1))
    await done
    const finished = performance.now()
    await worker.close()
    if (worker.counts.errors > 0 || worker.counts.failed > 0) throw new Error(`worker errors: ${JSON.stringify(worker.counts)}`)
    const reader = new FlashQ(connection)
    const counts = await reader.getJobCounts(queueName).catch(() => null)
    await reader.close()
    return { pushMs: pushed - start, processMs: finished - pushed, totalMs: finished - start, perConnection: worker.perConnection, completedCount: counts?.completed ?? -1 }
  } finally {
    await queue.close()
    await server.stop()
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const rate = (ms: number) => `${Math.round(totalJobs / (ms / 1000)).toLocaleString('en-US')} jobs/s`

console.log(`flashq-client 50k: ${totalJobs} jobs, addBulk ${bulkSize}/call, Worker concurrency ${concurrency} (PULLB 100/500 ms, ACK per job), ${memory ? '--memory' : 'durable (temp data dir)'}, ${binary ?? 'bun src/main.ts'}, ${runs} runs`)
const results: RunResult[] = []
for (let run = 1; run <= runs; run++) {
  const result = await runOnce()
  results.push(result)
  console.log(
    `run ${run}: push ${fmt(result.pushMs)} (${rate(result.pushMs)}), processing ${fmt(result.processMs)} (${rate(result.processMs)}), end to end ${fmt(result.totalMs)} (${rate(result.totalMs)}); per connection [${result.perConnection.join(' ')}], GETJOBCOUNTS completed ${result.completedCount}`,
  )
}
const pushMs = median(results.map((r) => r.pushMs))
const processMs = median(results.map((r) => r.processMs))
const totalMs = median(results.map((r) => r.totalMs))
console.log(`median: push ${fmt(pushMs)} (${rate(pushMs)}), processing ${fmt(processMs)} (${rate(processMs)}), end to end ${fmt(totalMs)} (${rate(totalMs)})`)
console.log(`unmatched replies: ${warnings.unmatchedReplies}`)
if (warnings.unmatchedReplies > 0) {
  console.log(warnings.messages.join('\n'))
  process.exitCode = 1
}
