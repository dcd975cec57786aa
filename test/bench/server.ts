/**
 * Starts a flashq server for benchmarks (production preset, unlike the test harness which forces
 * testMin), and samples per-thread CPU time from /proc so a run can say where the server's time went.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'

export const repoRoot = join(import.meta.dir, '..', '..')

/** `uring` = io_uring either way; `liburing` and `uring-raw` force how the ring is set up. */
export type Mode = 'memory' | 'uring' | 'liburing' | 'uring-raw' | 'pwrite'

export type BenchServer = {
  port: number
  httpPort: number
  pid: number
  dataDir: string | null
  startupLine: string
  stop(): Promise<void>
}

/**
 * `env` is added to the server's environment; `onStderr` gets the server's stderr as it comes (else
 * it is read and dropped), e.g. the collections BUN_JSC_logGC=1 logs (server-alloc.ts).
 */
export type BenchServerOptions = { binary?: string; extraArgs?: string[]; env?: Record<string, string>; onStderr?: (text: string) => void }

export async function startBenchServer(mode: Mode, options: BenchServerOptions = {}): Promise<BenchServer> {
  const dataDir = mode === 'memory' ? null : mkdtempSync(join(tmpdir(), `flashq-bench-${mode}-`))
  const command = options.binary !== undefined ? [options.binary] : [process.execPath, join(repoRoot, 'src', 'main.ts')]
  const modeArgs = mode === 'memory' ? ['--memory'] : ['--data-dir', dataDir as string, '--io', mode]
  const child: Subprocess<'ignore', 'pipe', 'pipe'> = Bun.spawn(
    [...command, '--port', '0', '--http-port', '0', '--host', '127.0.0.1', ...modeArgs, ...(options.extraArgs ?? [])],
    { cwd: repoRoot, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', env: { ...process.env, ...options.env } },
  )
  const stderrText = options.onStderr === undefined ? null : streamText(child.stderr, options.onStderr)
  const startupLine = await readStartupLine(child, stderrText)
  const port = Number(/tcp=[^ ]*:(\d+)/.exec(startupLine)?.[1])
  if (!Number.isFinite(port) || port <= 0) throw new Error(`no tcp port in start-up line: ${startupLine}`)
  const expected = { memory: 'io=none', uring: 'io=io_uring', liburing: 'io=io_uring (liburing', 'uring-raw': 'io=io_uring (kernel, no liburing)', pwrite: 'io=pwrite' }[mode]
  if (!startupLine.includes(expected)) throw new Error(`asked for --io ${mode}, start-up line says: ${startupLine}`)
  return {
    port,
    httpPort: Number(/http=[^ ]*:(\d+)/.exec(startupLine)?.[1]),
    pid: child.pid,
    dataDir,
    startupLine,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await child.exited
      clearTimeout(timer)
      if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Hands each decoded piece of `stream` to `onText`; resolves with all of it once it ends. */
async function streamText(stream: ReadableStream<Uint8Array>, onText: (text: string) => void): Promise<string> {
  const decoder = new TextDecoder()
  let all = ''
  const reader = stream.getReader()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return all
    const text = decoder.decode(value, { stream: true })
    all += text
    onText(text)
  }
}

async function readStartupLine(child: Subprocess<'ignore', 'pipe', 'pipe'>, stderrText: Promise<string> | null): Promise<string> {
  const reader = child.stdout.getReader()
  const decoder = new TextDecoder()
  let seen = ''
  const deadline = Date.now() + 30_000
  const timeout = setTimeout(() => child.kill('SIGKILL'), 30_000)
  try {
    while (Date.now() < deadline) {
      const { value, done } = await reader.read()
      if (done) break
      seen += decoder.decode(value)
      const line = seen.split('\n').find((candidate) => candidate.includes(' listening '))
      if (line !== undefined) {
        void (async () => { for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return })()
        if (stderrText === null) void new Response(child.stderr).text().catch(() => '')
        return line
      }
    }
  } finally {
    clearTimeout(timeout)
  }
  const stderr = await (stderrText ?? new Response(child.stderr).text())
  throw new Error(`server did not start (exit ${child.exitCode}):\n${seen}\n${stderr}`)
}

/** CPU seconds per thread of a process, keyed by "tid:name". */
export type ThreadCpu = Map<string, number>

const clockTicks = 100 // USER_HZ on Linux

export function threadCpu(pid: number): ThreadCpu {
  const result: ThreadCpu = new Map()
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return result
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1')
      const close = stat.lastIndexOf(')')
      const name = stat.slice(stat.indexOf('(') + 1, close)
      const fields = stat.slice(close + 2).split(' ')
      // fields[0] is state (field 3); utime is field 14, stime field 15 → indexes 11 and 12
      const seconds = (Number(fields[11]) + Number(fields[12])) / clockTicks
      result.set(`${tid}:${name}`, seconds)
    } catch {
      // thread exited between readdir and read
    }
  }
  return result
}

export type CpuShares = {
  /** Main thread (tid = pid): the front. */
  front: number
  /** Each Bun Worker thread (shard hosts), busiest first. */
  workers: number[]
  jit: number
  /** JSC/mimalloc collector and scavenger threads. */
  gc: number
  /** io_uring io-wq workers (iou-wrk-*) and Bun's thread pool. */
  io: number
  other: number
  total: number
}

/** Shares of one core per thread group between two samples. */
export function cpuDelta(pid: number, before: ThreadCpu, after: ThreadCpu, wallSeconds: number): CpuShares {
  const shares: CpuShares = { front: 0, workers: [], jit: 0, gc: 0, io: 0, other: 0, total: 0 }
  for (const [key, seconds] of after) {
    const used = (seconds - (before.get(key) ?? 0)) / wallSeconds
    if (used <= 0) continue
    shares.total += used
    const colon = key.indexOf(':')
    const tid = Number(key.slice(0, colon))
    const name = key.slice(colon + 1)
    if (tid === pid) shares.front += used
    else if (name === 'Worker') shares.workers.push(used)
    else if (name.startsWith('JIT')) shares.jit += used
    else if (name === 'HeapHelper' || name.includes('ollector') || name.includes('scavenger')) shares.gc += used
    else if (name.startsWith('iou-') || name.startsWith('Bun Pool')) shares.io += used
    else shares.other += used
  }
  shares.workers.sort((a, b) => b - a)
  return shares
}

/** Apparent and allocated bytes of every file under a directory. */
export function directorySize(dir: string): { apparent: number; allocated: number; files: number } {
  let apparent = 0
  let allocated = 0
  let files = 0
  const walk = (path: string) => {
    let entries: string[]
    try {
      entries = readdirSync(path)
    } catch {
      return
    }
    for (const entry of entries) {
      const full = join(path, entry)
      try {
        const stat = statSync(full)
        if (stat.isDirectory()) walk(full)
        else {
          files++
          apparent += stat.size
          allocated += stat.blocks * 512
        }
      } catch {
        // removed while walking (segment deletion)
      }
    }
  }
  walk(dir)
  return { apparent, allocated, files }
}
