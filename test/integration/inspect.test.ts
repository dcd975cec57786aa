/**
 * `flashq inspect <data-dir>` on directories a real server wrote and was killed on: a clean one, one
 * with a torn tail (normal after a crash), and one with a flipped byte in the middle of a segment
 * (corruption: named with file and offset, exit code 1). The counts are checked against what the
 * test itself did to the server.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { cpSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot, startServer, temporaryDirectory } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { framesOf, lastUsedSegment, shardDirectories } from '../crash/kit.ts'

const pushedCount = 120
const ackedCount = 20
const jobsPerPush = 10
const root = temporaryDirectory('flashq-inspect-')
const cleanDir = join(root, 'clean')

beforeAll(async () => {
  const server = await startServer({ dataDir: cleanDir })
  const client = await WireClient.connect(server.tcpPort)
  // In PUSHBs of 10: each is one `jb` record (a frame), so a segment holds a dozen frames of them.
  for (let first = 0; first < pushedCount; first += jobsPerPush) {
    const jobs = Array.from({ length: jobsPerPush }, (_, i) => ({ data: { i: first + i, pad: 'x'.repeat(200) } }))
    await client.request({ cmd: 'PUSHB', queue: 'inspect', jobs })
  }
  const pulled = await client.request({ cmd: 'PULLB', queue: 'inspect', count: ackedCount, timeout: 0 })
  const ids = (pulled.jobs as { id: number }[]).map((job) => job.id)
  expect(await client.request({ cmd: 'ACKB', ids })).toMatchObject({ ok: true })
  client.close()
  await server.kill('SIGKILL')
}, 60_000)

afterAll(() => rmSync(root, { recursive: true, force: true }))

function inspect(dataDir: string, json = true): { code: number; stdout: string; stderr: string } {
  const ran = Bun.spawnSync([process.execPath, join(repoRoot, 'src', 'main.ts'), 'inspect', dataDir, ...(json ? ['--json'] : [])], { stdout: 'pipe', stderr: 'pipe' })
  return { code: ran.exitCode, stdout: ran.stdout.toString(), stderr: ran.stderr.toString() }
}

type Shard = { jobs: Record<string, number>; records: { checkpoint: Record<string, number>; log: Record<string, number> }; tornTail: string | null; corruption: { file: string; offset: number; reason: string } | null }

function sum(shards: Shard[], pick: (shard: Shard) => number | undefined): number {
  return shards.reduce((total, shard) => total + (pick(shard) ?? 0), 0)
}

/** A copy of the clean directory to damage, and the last used segment of the shard holding the jobs. */
function damagedCopy(name: string): { dir: string; segment: string } {
  const dir = join(root, name)
  cpSync(cleanDir, dir, { recursive: true })
  const segment = shardDirectories(dir).map(lastUsedSegment).find((file) => file !== null && readFileSync(file).includes('"inspect"'))
  if (segment === undefined || segment === null) throw new Error('no segment with the test queue')
  return { dir, segment }
}

test('a clean directory: manifest, jobs by state and records by type match what was done', () => {
  const result = inspect(cleanDir)
  expect(result.code).toBe(0)
  const report = JSON.parse(result.stdout) as { manifest: { shardCount: number }; shards: Shard[] }
  expect(report.manifest.shardCount).toBe(report.shards.length)
  expect(sum(report.shards, (s) => s.jobs.waiting)).toBe(pushedCount - ackedCount)
  expect(sum(report.shards, (s) => s.jobs.completed)).toBe(ackedCount)
  // A job is a `j` record in a checkpoint, and in the log one of the `jb` records of its PUSHB.
  expect(sum(report.shards, (s) => (s.records.checkpoint.j ?? 0) + (s.records.log.j ?? 0) + jobsPerPush * (s.records.log.jb ?? 0))).toBeGreaterThanOrEqual(pushedCount)
  expect(sum(report.shards, (s) => s.records.log.ab)).toBe(1)
  expect(report.shards.every((s) => s.corruption === null && s.tornTail === null)).toBe(true)
  const text = inspect(cleanDir, false)
  expect(text.stdout).toContain(`jobs: completed=${ackedCount} waiting=${pushedCount - ackedCount}`)
  expect(text.stdout).toContain('no corruption')
})

test('a torn tail is reported with its file and offset, and is not corruption', () => {
  const { dir, segment } = damagedCopy('torn')
  const { stop } = framesOf(segment)
  // Half a frame header where the next record would go: what a crash mid-write leaves.
  const fd = openSync(segment, 'r+')
  writeSync(fd, new Uint8Array([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]), 0, 7, stop)
  closeSync(fd)
  const result = inspect(dir)
  expect(result.code).toBe(0)
  const shards = (JSON.parse(result.stdout) as { shards: Shard[] }).shards
  expect(shards.map((s) => s.tornTail).filter((t) => t !== null)).toEqual([`${segment}@${stop}`])
  expect(shards.every((s) => s.corruption === null)).toBe(true)
  expect(sum(shards, (s) => s.jobs.waiting)).toBe(pushedCount - ackedCount)
  expect(inspect(dir, false).stdout).toContain(`torn tail at ${segment}@${stop}`)
})

test('a flipped byte in the middle of a segment is corruption, named by file and offset; exit code 1', () => {
  const { dir, segment } = damagedCopy('flipped')
  const { frames } = framesOf(segment)
  const frame = frames[Math.floor(frames.length / 2)]!
  expect(frames.length).toBeGreaterThan(4)
  const bytes = readFileSync(segment)
  const at = frame.offset + 16 + Math.floor((frame.end - frame.offset - 16) / 2)
  bytes[at] = bytes[at]! ^ 0x40
  writeFileSync(segment, bytes)
  const result = inspect(dir)
  expect(result.code).toBe(1)
  const corrupt = (JSON.parse(result.stdout) as { shards: Shard[] }).shards.filter((s) => s.corruption !== null)
  expect(corrupt).toHaveLength(1)
  expect(corrupt[0]!.corruption).toMatchObject({ file: segment, offset: frame.offset })
  const text = inspect(dir, false)
  expect(text.code).toBe(1)
  expect(text.stdout).toContain(`CORRUPT at ${segment}@${frame.offset}`)
})

test('inspect of a missing directory says so and exits 2', () => {
  const result = inspect(join(root, 'nope'))
  expect(result.code).toBe(2)
  expect(result.stderr).toContain('does not exist')
})
