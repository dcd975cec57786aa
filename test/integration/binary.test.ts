/**
 * The compiled single executable: the release binary for this machine built with build.ts, run from
 * an empty directory with no node_modules and no Bun on PATH, spoken to in both wire modes (msgpackr
 * runs without its native addon there), and restarted on its data directory.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { existsSync, rmSync } from 'node:fs'
import { repoRoot, startServer, temporaryDirectory } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import packageJson from '../../package.json' with { type: 'json' }
import { ioUnavailableReason } from '../../src/io/pick.ts'

let binary: string
const buildDir = temporaryDirectory('flashq-build-')
const emptyDir = temporaryDirectory('flashq-empty-')
const release = process.arch === 'arm64' ? 'linux-arm64' : 'linux-x64'
/** A PATH with nothing on it: the binary must not need bun (or anything else) to run. */
const bareEnv = { PATH: join(emptyDir, 'no-bin') }

beforeAll(async () => {
  const built = Bun.spawnSync([process.execPath, join(repoRoot, 'build.ts'), '--only', release], { cwd: repoRoot, stdout: 'pipe', stderr: 'pipe' })
  if (built.exitCode !== 0) throw new Error(`build failed: ${built.stderr.toString()}`)
  binary = join(buildDir, 'flashq')
  // Copy out of dist/ so that the run cannot find anything of the repository next to it.
  await Bun.write(binary, Bun.file(join(repoRoot, 'dist', `flashq-${release}`)))
  Bun.spawnSync(['chmod', '+x', binary])
  expect(Bun.which('bun', { PATH: bareEnv.PATH })).toBeNull()
}, 180_000)

afterAll(() => {
  rmSync(buildDir, { recursive: true, force: true })
  rmSync(emptyDir, { recursive: true, force: true })
})

test('--version prints version, commit and build date; SHA256SUMS lists the binary', async () => {
  const ran = Bun.spawnSync([binary, '--version'], { cwd: emptyDir, env: bareEnv })
  expect(ran.exitCode).toBe(0)
  const text = ran.stdout.toString()
  expect(text).toStartWith(`flashq ${packageJson.version}\n`)
  const commit = Bun.spawnSync(['git', 'rev-parse', '--short', 'HEAD'], { cwd: repoRoot }).stdout.toString().trim()
  expect(text).toContain(`commit ${commit}`)
  expect(text).toMatch(/\nbuilt \d{4}-\d{2}-\d{2}\n/)
  const sums = await Bun.file(join(repoRoot, 'dist', 'SHA256SUMS')).text()
  const digest = new Bun.CryptoHasher('sha256').update(await Bun.file(binary).arrayBuffer()).digest('hex')
  expect(sums).toContain(`${digest}  flashq-${release}\n`)
})

test('the binary serves both wire modes from an empty directory and keeps jobs across a restart', async () => {
  const server = await startServer({ binary, cwd: emptyDir, env: bareEnv, args: ['--data-dir', join(emptyDir, 'data')] })
  expect(server.startupLine).toMatch(/data=durable .* io=(io_uring|pwrite).* shards=\d+ workers=\d+/)
  const json = await WireClient.connect(server.tcpPort, 'json')
  const msgpack = await WireClient.connect(server.tcpPort, 'msgpack')
  const first = await json.request({ cmd: 'PUSH', queue: 'bin', data: { via: 'json' } })
  const second = await msgpack.request({ cmd: 'PUSH', queue: 'bin', data: { via: 'msgpack', big: 2 ** 40 }, priority: 5 })
  const batch = await msgpack.request({ cmd: 'PUSHB', queue: 'bin', jobs: Array.from({ length: 100 }, (_, i) => ({ data: i })) })
  expect((batch.ids as number[]).length).toBe(100)
  const pulled = await msgpack.request({ cmd: 'PULL', queue: 'bin', timeout: 1000 })
  expect(pulled.job).toMatchObject({ id: second.id, data: { via: 'msgpack', big: 2 ** 40 } })
  expect(await msgpack.request({ cmd: 'ACK', id: second.id })).toMatchObject({ ok: true })
  json.close()
  msgpack.close()

  const again = await server.restart()
  try {
    const client = await WireClient.connect(again.tcpPort)
    expect(await client.request({ cmd: 'GETSTATE', id: first.id })).toMatchObject({ state: 'waiting' })
    expect(await client.request({ cmd: 'GETSTATE', id: second.id })).toMatchObject({ state: 'completed' })
    expect(await client.request({ cmd: 'COUNT', queue: 'bin' })).toMatchObject({ count: 101 })
    client.close()
  } finally {
    await again.cleanup()
  }
}, 60_000)

test('flashq bench from the binary starts its own server, runs every test, prints the table', () => {
  const ran = Bun.spawnSync([binary, 'bench', '-n', '2000'], { cwd: emptyDir, env: bareEnv, stdout: 'pipe', stderr: 'pipe', timeout: 120_000 })
  const table = ran.stdout.toString()
  expect(ran.exitCode).toBe(0)
  expect(table).toContain('data=memory')
  for (const name of ['PUSH pipelined', 'PUSHB 1000', 'PULLB 100 + ACKB', 'PUSH one at a time']) {
    const row = table.split('\n').find((line) => line.startsWith(name))
    expect(row).toBeDefined()
    const cells = row!.trim().split(/\s{2,}/)
    expect(Number(cells[1])).toBe(2000) // jobs
    expect(cells.at(-1)).toBe('0') // errors
  }
}, 120_000)

const rawUnavailable = ioUnavailableReason('uring-raw')
test.skipIf(rawUnavailable !== null)(`the binary forced onto io_uring without liburing says so${rawUnavailable ? ` — SKIPPED: ${rawUnavailable}` : ''}`, async () => {
  const server = await startServer({ binary, cwd: emptyDir, env: bareEnv, args: ['--data-dir', join(emptyDir, 'raw'), '--io', 'uring-raw'] })
  try {
    expect(server.startupLine).toContain('io=io_uring (kernel, no liburing)')
  } finally {
    await server.cleanup()
  }
})

test('the binary serves the embedded dashboard from an empty directory', async () => {
  const server = await startServer({ binary, cwd: emptyDir, args: ['--memory'] })
  try {
    const base = `http://127.0.0.1:${server.httpPort}`
    const page = await (await fetch(`${base}/`)).text()
    const assets = [...page.matchAll(/(?:href|src)="(\/dashboard\/assets\/[^"]+)"/g)].map((match) => match[1] as string)
    expect(assets.length).toBe(2)
    for (const path of assets) {
      const response = await fetch(`${base}${path}`)
      expect(response.status).toBe(200)
      expect((await response.text()).length).toBeGreaterThan(1000)
    }
  } finally {
    await server.cleanup()
  }
}, 60_000)

/** The arm64 release, run under qemu-user where it is installed (apt-get install qemu-user libc6-arm64-cross). */
const qemu = Bun.which('qemu-aarch64')
const arm64Sysroot = '/usr/aarch64-linux-gnu'
const arm64Unrunnable = process.arch !== 'x64' ? 'not an x64 machine'
  : qemu === null ? 'qemu-aarch64 not installed' : !existsSync(arm64Sysroot) ? `${arm64Sysroot} missing (libc6-arm64-cross)` : null
test.skipIf(arm64Unrunnable !== null)(`the linux-arm64 binary (bytecode) runs under qemu-user${arm64Unrunnable ? ` — SKIPPED: ${arm64Unrunnable}` : ''}`, () => {
  const built = Bun.spawnSync([process.execPath, join(repoRoot, 'build.ts'), '--only', 'linux-arm64'], { cwd: repoRoot, stdout: 'pipe', stderr: 'pipe' })
  expect(built.stderr.toString()).toBe('')
  const ran = Bun.spawnSync([qemu as string, '-L', arm64Sysroot, join(repoRoot, 'dist', 'flashq-linux-arm64'), '--version'], { cwd: emptyDir, env: bareEnv, stdout: 'pipe', timeout: 60_000 })
  expect(ran.exitCode).toBe(0)
  expect(ran.stdout.toString()).toContain('linux-arm64')
}, 120_000)
