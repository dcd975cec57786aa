/**
 * Smoke runs of the memory and latency benchmark scripts (tiny sizes), so they cannot rot: each
 * starts its own servers and must print its result lines. No timing is asserted.
 */
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../harness/server.ts'

function runScript(script: string, args: string[]): { code: number | null; out: string } {
  const ran = Bun.spawnSync([process.execPath, join(repoRoot, 'test', 'bench', script), ...args], {
    cwd: repoRoot, stdout: 'pipe', stderr: 'pipe', timeout: 90_000, env: { ...process.env, FLASHQ_TEST_HOOKS: '1' },
  })
  return { code: ran.exitCode, out: ran.stdout.toString() + ran.stderr.toString() }
}

test('memory.ts: RSS and heap per job after a GC in every shard, with the object counts', () => {
  const { code, out } = runScript('memory.ts', ['--jobs', '2000', '--modes', 'memory', '--settle-ms', '0', '--types'])
  expect(out).toMatch(/^src memory: 2000 jobs in [\d.]+ s; .* B\/job RSS, -?\d+ B\/job JS heap$/m)
  expect(out).toMatch(/^ {2}shard 0: \{"/m)
  expect(code).toBe(0)
}, 90_000)

test('latency.ts: W1 and W4 lines for a tiny run', () => {
  const { code, out } = runScript('latency.ts', ['--modes', 'memory', '--runs', '1', '--w1-jobs', '200', '--w4-rates', '200', '--w4-seconds', '1'])
  expect(out).toMatch(/^src memory W1: \d+ \(/m)
  expect(out).toMatch(/^src memory W4 200\/s: p50 [\d.]+ /m)
  expect(code).toBe(0)
}, 90_000)

test('custom-id-push.ts: p50/p99 lines with and without job_id, memory and durable', () => {
  const { code, out } = runScript('custom-id-push.ts', ['--pushes', '50'])
  for (const line of ['memory plain', 'memory with job_id', 'durable plain', 'durable with job_id']) {
    expect(out).toMatch(new RegExp(`^${line}: 50 pushes, p50 \\d+ µs, p99 \\d+ µs$`, 'm'))
  }
  expect(code).toBe(0)
}, 90_000)

test('queue-remove.ts: DRAIN, OBLITERATE, CLEAN and CLEAN with a limit of a queue, with a PING behind each, memory and durable, per checkout', () => {
  const { code, out } = runScript('queue-remove.ts', ['--jobs', '2000', '--runs', '1'])
  for (const mode of ['memory', 'durable']) {
    for (const [cmd, count] of [['DRAIN', 2000], ['OBLITERATE', 2000], ['CLEAN', 1800], ['CLEAN100', 100]] as const) {
      expect(out).toMatch(new RegExp(`^\\S+ ${mode} ${cmd}: ${count} jobs, \\d+ \\(\\d+–\\d+\\) ms, a PING behind it \\d+ \\(\\d+–\\d+\\) ms$`, 'm'))
    }
  }
  expect(code).toBe(0)
}, 90_000)

test('depends-on.ts: the dependent job waits until its last dependency is acked, then is waiting', () => {
  const { code, out } = runScript('depends-on.ts', ['--dependencies', '300'])
  expect(out).toMatch(/^300 dependencies: push [\d.]+ ms, drain \d+ ms \(slowest ACKB of 100: [\d.]+ ms\), then the dependent job is waiting$/m)
  expect(code).toBe(0)
}, 90_000)

test('sdk-per-job.ts: client CPU and heap bytes per job, for sequential adds and a trickle through a Worker', () => {
  for (const shape of ['add', 'trickle']) {
    const { code, out } = runScript('sdk-per-job.ts', ['--shape', shape, '--jobs', '200', '--warmup', '50'])
    expect(out).toMatch(new RegExp(`^${shape} .*: 200 jobs in [\\d.]+ s, client cpu [\\d.]+ µs/job \\(user [\\d.]+\\), heap \\d+ B/job \\(\\d+ collections\\)$`, 'm'))
    expect(code).toBe(0)
  }
}, 90_000)

test('w1-floor.ts: a row per server and client, memory and durable, with the server and client CPU per push; --base adds the base rows', () => {
  const { code, out } = runScript('w1-floor.ts', ['--runs', '1', '--pushes', '50', '--warmup', '10', '--base', join(import.meta.dir, '..', '..')])
  for (const mode of ['memory', 'durable']) expect(out).toMatch(new RegExp(`^W1 ${mode}: medians of 1 run \\(min–max\\)$`, 'm'))
  const spread = '[\\d.]+ \\([\\d.]+–[\\d.]+\\)'
  for (const row of ['floor \\(Bun\\)', 'floor \\(Bun\\), SDK', 'flashq, bare client', 'flashq, SDK', 'flashq \\(base\\), bare client', 'flashq \\(base\\), SDK']) {
    expect(out.match(new RegExp(`^\\| ${row} \\| \\d+ \\(\\d+–\\d+\\) \\| [\\d.]+ \\| [\\d.]+ \\| [\\d.]+ \\| ${spread} \\| ${spread} \\| ${spread} \\| (—|[\\d.]+) \\|$`, 'gm'))?.length).toBe(2)
  }
  expect(code).toBe(0)
}, 90_000)

test('w1-floor.ts --workload w2: a row per server and client for PUSHB batches of 1000, the floor\'s through the SDK too', () => {
  const { code, out } = runScript('w1-floor.ts', ['--runs', '1', '--workload', 'w2', '--pushes', '2000', '--warmup', '300', '--mode', 'durable', '--only', 'floor,flashq'])
  expect(out).toMatch(/^W2 durable: medians of 1 run \(min–max\)$/m)
  for (const row of ['floor \\(Bun\\)', 'floor \\(Bun\\), SDK', 'flashq, bare client', 'flashq, SDK']) {
    // Every batch answered (no errors column), at a rate above zero.
    expect(out).toMatch(new RegExp(`^\\| ${row} \\| [1-9]\\d* \\(\\d+–\\d+\\) \\| .* \\| — \\|$`, 'm'))
  }
  expect(code).toBe(0)
}, 90_000)

test('request-path.ts: main-thread CPU per PUSH through the TCP handler, memory and durable, this checkout against a base', () => {
  const { code, out } = runScript('request-path.ts', ['--runs', '1', '--warmup', '50', '--requests', '100', '--base', join(import.meta.dir, '..', '..')])
  for (const mode of ['memory', 'durable']) {
    for (const name of ['this', 'base']) expect(out).toMatch(new RegExp(`^${mode} ${name}: [\\d.]+ µs of main-thread CPU per PUSH, min [\\d.]+ \\([\\d.]+; 100 after 50\\)$`, 'm'))
  }
  expect(code).toBe(0)
}, 90_000)

test('request-path.ts --shape both: a line per PUSH shape, the bare line client\'s and the SDK\'s', () => {
  const { code, out } = runScript('request-path.ts', ['--runs', '1', '--warmup', '50', '--requests', '100', '--mode', 'memory', '--shape', 'both'])
  for (const shape of ['bare', 'sdk']) expect(out).toMatch(new RegExp(`^memory this ${shape}: [\\d.]+ µs of main-thread CPU per PUSH, min [\\d.]+ \\([\\d.]+; 100 after 50\\)$`, 'm'))
  expect(code).toBe(0)
}, 90_000)

test('sdk-add-path.ts: the SDK\'s and the line client\'s CPU per add over a fake socket, this checkout against a base', () => {
  const { code, out } = runScript('sdk-add-path.ts', ['--client', 'both', '--runs', '1', '--warmup', '50', '--adds', '100', '--segments', '2', '--base', join(import.meta.dir, '..', '..')])
  for (const name of ['this sdk', 'this bare', 'base sdk', 'base bare']) {
    expect(out).toMatch(new RegExp(`^${name}: [\\d.]+ µs of main-thread CPU per add \\([\\d.]+–[\\d.]+; 1 runs, each the lowest of 2 × 100 after 50\\)$`, 'm'))
  }
  expect(code).toBe(0)
}, 90_000)

test('sync-loop.ts and sync-options.c: one latency line per way of writing a small durable append', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flashq-sync-loop-'))
  try {
    const { code, out } = runScript('sync-loop.ts', [dir, '20'])
    expect(out).toMatch(/^bun pre-written \+ fdatasync p50 [\d.]+ p90 [\d.]+ p99 [\d.]+ us$/m)
    expect(code).toBe(0)
    const binary = join(dir, 'sync-options')
    const built = Bun.spawnSync(['cc', '-O2', join(repoRoot, 'test', 'bench', 'sync-options.c'), '-o', binary], { stderr: 'pipe' })
    expect(built.exitCode).toBe(0)
    for (const mode of [0, 1, 2, 5]) {
      const ran = Bun.spawnSync([binary, dir, String(mode), '20'], { stdout: 'pipe', stderr: 'pipe' })
      expect(ran.stdout.toString()).toMatch(/^[a-zA-Z_ +-]+ p50 +[\d.]+ p90 +[\d.]+ p99 +[\d.]+ us$/m)
      expect(ran.exitCode).toBe(0)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}, 90_000)

test('server-alloc.ts: KB allocated in the server per request, with the collections, for every shape', () => {
  const { code, out } = runScript('server-alloc.ts', ['--runs', '1', '--requests', '300', '--jobs', '100', '--rate', '200', '--seconds', '1'])
  expect(out).toMatch(/^server allocation, memory: medians of 1 run\(s\) \(min–max\)$/m)
  for (const row of ['w1 \\(KB per PUSH\\)', 'pull \\(KB per job: PULLB\\+PUSH\\+ACKB\\)', 'w4 200/s \\(KB per job\\)', 'idle Worker \\(KB per second\\)']) {
    expect(out).toMatch(new RegExp(`^${row}: -?[\\d.]+ KB, -?\\d+ KB/s; eden \\d+, full \\d+; pause per eden median [\\d.]+ ms, longest pause [\\d.]+ ms, paused [\\d.]+ ms/s$`, 'm'))
  }
  expect(code).toBe(0)
}, 90_000)

test('request-objects.ts: objects per request by type, for each shape, this checkout against a base', () => {
  for (const shape of ['push', 'pull', 'sdk']) {
    const { code, out } = runScript('request-objects.ts', ['--shape', shape, '--requests', '50', '--base', join(import.meta.dir, '..', '..')])
    expect(out).toMatch(new RegExp(`^memory ${shape}: objects per (PUSH|PUSH\\+PULLB\\+ACKB) over 50 steps, this [\\d.]+, base [\\d.]+$`, 'm'))
    expect(out).toMatch(/^ {2}Object +[\d.]+ +[\d.]+$/m)
    expect(code).toBe(0)
  }
}, 90_000)

test('w4-threads.ts: a line per run with push→start percentiles, server CPU per job by thread and the compiler threads\' CPU per window', () => {
  const { code, out } = runScript('w4-threads.ts', ['--rate', '200', '--seconds', '1', '--warmup-seconds', '0.5', '--window-seconds', '0.4', '--runs', '1', '--jit-policy', 'none,nice19', '--server-args', '--compiler-nice 0'])
  for (const policy of ['none', 'nice19']) {
    expect(out).toMatch(new RegExp(`^flashq memory 200/s jit=${policy}: p50 [\\d.]+ p99 [\\d.]+ max [\\d.]+ ms; server µs/job bun.exe \\d+.*; compiler ms per 0.4 s: \\d+`, 'm'))
  }
  expect(code).toBe(0)
}, 90_000)

test('w4-threads.ts --server-env: the server runs with the variables given (no JIT: its compiler threads take no CPU)', () => {
  const { code, out } = runScript('w4-threads.ts', ['--rate', '200', '--seconds', '1', '--warmup-seconds', '0.5', '--window-seconds', '0.4', '--runs', '1', '--server-env', 'BUN_JSC_useJIT=0'])
  expect(out).toMatch(/^flashq memory 200\/s jit=none: p50 [\d.]+ p99 [\d.]+ max [\d.]+ ms; server µs\/job bun.exe \d+.*; compiler ms per 0.4 s: (0 )*0$/m)
  expect(code).toBe(0)
  const refused = runScript('w4-threads.ts', ['--server-env', 'no-equals-sign'])
  expect(refused.out).toContain("--server-env: K=V[,K=V…], not 'no-equals-sign'")
  expect(refused.code).not.toBe(0)
}, 90_000)

test('w4-perf.ts --syscalls: the server main thread\'s system calls per W4 job, flashq against the floor', () => {
  const { code, out } = runScript('w4-perf.ts', ['--runs', '1', '--rate', '300', '--warmup-seconds', '0.5', '--seconds', '1', '--syscalls'])
  // Every job's push and the worker's pull are read and answered: at least one send and one receive each.
  const calls = (name: string) => /^\| +(\S+) \| ([\d.]+) \| ([\d.]+) \|$/.exec(out.split('\n').find((line) => line.startsWith(`|   ${name} |`)) ?? '')
  for (const name of ['sendto', 'recvfrom']) {
    const row = calls(name)
    expect(row).not.toBeNull()
    for (const value of (row as RegExpExecArray).slice(2)) expect(Number(value)).toBeGreaterThanOrEqual(1)
  }
  expect(out).toMatch(/^\| system calls per job \| [\d.]+ \| [\d.]+ \|$/m)
  expect(code).toBe(0)
}, 90_000)

