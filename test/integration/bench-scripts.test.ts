/**
 * Smoke runs of the memory and latency benchmark scripts (tiny sizes), so they cannot rot: each
 * starts its own servers and must print its result lines. No timing is asserted.
 */
import { expect, test } from 'bun:test'
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
