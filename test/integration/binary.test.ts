/**
 * The compiled single executable: built with build.ts, run from an empty directory with no
 * node_modules, spoken to in both wire modes (msgpackr runs without its native addon there), and
 * restarted on its data directory.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import { repoRoot, startServer, temporaryDirectory } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

let binary: string
const buildDir = temporaryDirectory('flashq-build-')
const emptyDir = temporaryDirectory('flashq-empty-')

beforeAll(async () => {
  const built = Bun.spawnSync([process.execPath, join(repoRoot, 'build.ts')], { cwd: repoRoot, stdout: 'pipe', stderr: 'pipe' })
  expect(built.exitCode).toBe(0)
  binary = join(buildDir, 'flashq')
  // Copy out of dist/ so that the run cannot find anything of the repository next to it.
  await Bun.write(binary, Bun.file(join(repoRoot, 'dist', 'flashq')))
  Bun.spawnSync(['chmod', '+x', binary])
}, 120_000)

afterAll(() => {
  rmSync(buildDir, { recursive: true, force: true })
  rmSync(emptyDir, { recursive: true, force: true })
})

test('the binary serves both wire modes from an empty directory and keeps jobs across a restart', async () => {
  const server = await startServer({ binary, cwd: emptyDir, args: ['--data-dir', join(emptyDir, 'data')] })
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
