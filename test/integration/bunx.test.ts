/**
 * `bunx flashq`: the npm package as `bun pm pack` makes it, run by bunx from a temporary project
 * that has nothing but the tarball. bunx installs the package and its runtime dependencies (from the
 * registry, or Bun's cache) and runs its `bin`. bunx 1.4.5 resolves a relative `--package` path
 * against its own install directory, so the tarball is named by absolute path.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { chmodSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import packageJson from '../../package.json' with { type: 'json' }
import { repoRoot, startServer, temporaryDirectory } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

const project = temporaryDirectory('flashq-bunx-')
let tarball: string
let launcher: string

beforeAll(() => {
  const packed = Bun.spawnSync([process.execPath, 'pm', 'pack', '--destination', project, '--quiet'], { cwd: repoRoot, stdout: 'pipe', stderr: 'pipe' })
  if (packed.exitCode !== 0) throw new Error(`bun pm pack failed: ${packed.stderr.toString()}`)
  tarball = join(project, `flashq-${packageJson.version}.tgz`)
  expect(readdirSync(project)).toContain(`flashq-${packageJson.version}.tgz`)
  writeFileSync(join(project, 'package.json'), '{ "name": "bunx-try", "private": true }\n')
  launcher = join(project, 'flashq-via-bunx')
  writeFileSync(launcher, `#!/bin/sh\nexec ${process.execPath} x --package ${tarball} flashq "$@"\n`)
  chmodSync(launcher, 0o755)
}, 60_000)

afterAll(() => rmSync(project, { recursive: true, force: true }))

test('the tarball holds the server and docs, not the tests', () => {
  const listing = Bun.spawnSync(['tar', 'tzf', tarball]).stdout.toString().split('\n')
  expect(listing).toContain('package/src/main.ts')
  expect(listing).toContain('package/package.json')
  expect(listing).toContain('package/README.md')
  expect(listing).toContain('package/dist/sdk/index.js') // built by prepack: what Node imports
  expect(listing).toContain('package/dist/sdk/index.d.ts')
  expect(listing.filter((path) => path.endsWith('.test.ts'))).toEqual([])
  expect(listing.filter((path) => path.startsWith('package/test/'))).toEqual([])
})

test('bunx --package <tarball> flashq serves jobs from a project with nothing installed', async () => {
  const version = Bun.spawnSync([launcher, '--version'], { cwd: project, stdout: 'pipe', stderr: 'pipe' })
  expect(version.stdout.toString()).toStartWith(`flashq ${packageJson.version}\n`)
  const server = await startServer({ binary: launcher, cwd: project, args: ['--data-dir', join(project, 'data')] })
  try {
    expect(server.startupLine).toContain('data=durable')
    const client = await WireClient.connect(server.tcpPort)
    const pushed = await client.request({ cmd: 'PUSH', queue: 'bunx', data: { hello: 'bunx' } })
    const pulled = await client.request({ cmd: 'PULL', queue: 'bunx', timeout: 1000 })
    expect(pulled.job).toMatchObject({ id: pushed.id, data: { hello: 'bunx' } })
    client.close()
  } finally {
    // `bun x` runs the bin as its own child and does not pass a SIGTERM on (a shell's Ctrl-C reaches
    // the whole process group, systemd the whole cgroup): stop that child by its data directory too,
    // or it outlives the test.
    Bun.spawnSync(['pkill', '-TERM', '-f', '--', `--data-dir ${join(project, 'data')}`])
    await server.cleanup()
  }
}, 120_000)

test('the packed tarball, installed into a project, gives Node its SDK: import { Queue, Worker } from "flashq"', async () => {
  const consumer = join(project, 'consumer')
  mkdirSync(consumer)
  writeFileSync(join(consumer, 'package.json'), '{ "name": "sdk-try", "private": true, "type": "module" }\n')
  const added = Bun.spawnSync([process.execPath, 'add', tarball], { cwd: consumer, stdout: 'pipe', stderr: 'pipe' })
  if (added.exitCode !== 0) throw new Error(`bun add failed: ${added.stderr.toString()}`)
  writeFileSync(join(consumer, 'main.mjs'), `
import { Queue, Worker } from 'flashq'
const connection = { host: '127.0.0.1', port: Number(process.env.FLASHQ_PORT) }
const queue = new Queue('from-tarball', { connection })
await queue.add('greet', { who: 'tarball' })
const result = await new Promise((resolve, reject) => {
  const worker = new Worker('from-tarball', async (job) => 'hello ' + job.data.who, { connection })
  worker.on('completed', (_job, value) => worker.close().then(() => resolve(value)))
  worker.on('error', reject)
})
await queue.close()
console.log(JSON.stringify({ result }))
`)
  const server = await startServer()
  try {
    const child = Bun.spawn(['node', 'main.mjs'], { cwd: consumer, env: { ...process.env, FLASHQ_PORT: String(server.tcpPort) }, stdout: 'pipe', stderr: 'pipe' })
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
    if (code !== 0) throw new Error(`node exited ${code}: ${stderr}`)
    expect(JSON.parse(stdout.trim())).toEqual({ result: 'hello tarball' })
  } finally {
    await server.cleanup()
  }
}, 120_000)
