/**
 * The SDK as a package: `bun run build:sdk` output imported by name ('flashq') from Node 20 (ESM) and
 * type-checked by tsc against the shipped declarations, with a real server on the other end.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot, startServer, temporaryDirectory, type TestServer } from '../harness/server.ts'

// Builds and tsc runs take well over bun's 5 s default on a loaded 2-core machine.
setDefaultTimeout(120_000)

let server: TestServer
let consumerDir: string

beforeAll(async () => {
  const build = Bun.spawnSync([process.execPath, join(repoRoot, 'build-sdk.ts')], { cwd: repoRoot, stdout: 'pipe', stderr: 'pipe' })
  if (build.exitCode !== 0) throw new Error(`build:sdk failed:\n${build.stdout}\n${build.stderr}`)
  server = await startServer({ args: ['--memory'] })
  // A consumer project whose node_modules/flashq is this package, as `npm install` would link it.
  consumerDir = temporaryDirectory('flashq-sdk-consumer-')
  mkdirSync(join(consumerDir, 'node_modules'))
  symlinkSync(repoRoot, join(consumerDir, 'node_modules', 'flashq'))
  writeFileSync(join(consumerDir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }))
}, 120_000)

afterAll(async () => {
  await server?.cleanup()
  if (consumerDir) rmSync(consumerDir, { recursive: true, force: true })
})

test('the bundle imports no Bun module and holds no server code (Bun.connect is only looked up at run time)', () => {
  const bundle = readFileSync(join(repoRoot, 'dist', 'sdk', 'index.js'), 'utf8')
  expect(bundle).not.toMatch(/from ["']bun(:[a-z]+)?["']/)
  expect(bundle).not.toMatch(/\bBun\./)
  expect(bundle).not.toContain('src/engine')
  expect(bundle).not.toContain('src/server')
})

test('Node 20 imports every export by package name and runs a Queue + Worker against the server', async () => {
  writeFileSync(
    join(consumerDir, 'main.mjs'),
    `import { Queue, Worker, QueueEvents, FlowProducer, Job, UnrecoverableError, DelayedError, FlashQ } from 'flashq'
const names = { Queue, Worker, QueueEvents, FlowProducer, Job, UnrecoverableError, DelayedError, FlashQ }
const connection = { host: '127.0.0.1', port: Number(process.env.FLASHQ_PORT) }
const queue = new Queue('node-esm', { connection })
await queue.add('greet', { who: 'node' })
const done = new Promise((resolve) => {
  const worker = new Worker('node-esm', async (job) => 'hello ' + job.data.who, { connection })
  worker.on('completed', async (job, result) => { await worker.close(); resolve(result) })
})
const result = await done
const client = new FlashQ({ host: '127.0.0.1', port: connection.port })
const pong = await client.ping()
await Promise.all([queue.close(), client.close()])
console.log(JSON.stringify({ exports: Object.entries(names).filter(([, v]) => typeof v === 'function').map(([k]) => k), result, pong, node: process.version }))
`,
  )
  const child = Bun.spawn(['node', 'main.mjs'], { cwd: consumerDir, env: { ...process.env, FLASHQ_PORT: String(server.tcpPort) }, stdout: 'pipe', stderr: 'pipe' })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  clearTimeout(timer)
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
  const report = JSON.parse(stdout.trim())
  expect(report.node).toMatch(/^v2\d\./)
  expect(report.exports).toEqual(['Queue', 'Worker', 'QueueEvents', 'FlowProducer', 'Job', 'UnrecoverableError', 'DelayedError', 'FlashQ'])
  expect(report.result).toBe('hello node')
  expect(report.pong).toBe(true)
})

test('Node 20 runs a sandboxed processor file from the built package, in a child process and in a worker thread', async () => {
  writeFileSync(join(consumerDir, 'processor.mjs'), `export default async (job) => { await job.updateProgress(40); await job.log('in sandbox'); return { n: job.data.n * 2, pid: process.pid } }\n`)
  writeFileSync(
    join(consumerDir, 'sandbox.mjs'),
    `import { Queue, Worker } from 'flashq'
const connection = { host: '127.0.0.1', port: Number(process.env.FLASHQ_PORT) }
const results = []
for (const useWorkerThreads of [false, true]) {
  const queue = new Queue('node-sandbox-' + useWorkerThreads, { connection })
  const job = await queue.add('double', { n: 21 })
  const worker = new Worker(queue.name, new URL('./processor.mjs', import.meta.url), { connection, useWorkerThreads })
  const result = await new Promise((resolve, reject) => {
    worker.on('completed', (_job, value) => resolve(value))
    worker.on('failed', (_job, error) => reject(error))
  })
  const logs = (await queue.getJobLogs(job.id)).logs
  await Promise.all([worker.close(), queue.close()])
  results.push({ n: result.n, ownProcess: result.pid !== process.pid, logs })
}
console.log(JSON.stringify(results))
`,
  )
  const child = Bun.spawn(['node', 'sandbox.mjs'], { cwd: consumerDir, env: { ...process.env, FLASHQ_PORT: String(server.tcpPort) }, stdout: 'pipe', stderr: 'pipe' })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  clearTimeout(timer)
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
  expect(JSON.parse(stdout.trim())).toEqual([
    { n: 42, ownProcess: true, logs: ['in sandbox'] },
    { n: 42, ownProcess: false, logs: ['in sandbox'] },
  ])
})

test('tsc (strict, nodenext) accepts the typed example against the shipped declarations, and its @ts-expect-error lines stay errors', () => {
  const example = readFileSync(join(repoRoot, 'test', 'sdk', 'typed-example.ts'), 'utf8').replace("'../../src/client/index.ts'", "'flashq'")
  writeFileSync(join(consumerDir, 'example.ts'), example)
  writeFileSync(
    join(consumerDir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(repoRoot, 'node_modules', '@types')] },
      files: ['example.ts'],
    }),
  )
  const tsc = Bun.spawnSync([join(repoRoot, 'node_modules', '.bin', 'tsc'), '-p', consumerDir], { cwd: consumerDir, stdout: 'pipe', stderr: 'pipe' })
  expect(`${tsc.stdout}${tsc.stderr}`).toBe('')
  expect(tsc.exitCode).toBe(0)
  // The same file with a type error added must fail: the check can go red.
  writeFileSync(join(consumerDir, 'example.ts'), `${example}\nexport const wrong: number = new Queue<{ a: 1 }>('q').name\n`)
  const broken = Bun.spawnSync([join(repoRoot, 'node_modules', '.bin', 'tsc'), '-p', consumerDir], { cwd: consumerDir, stdout: 'pipe', stderr: 'pipe' })
  expect(broken.exitCode).not.toBe(0)
  expect(`${broken.stdout}`).toContain('example.ts')
})

test('the typed example runs against the server', async () => {
  const { typedExample } = await import('./typed-example.ts')
  expect(await typedExample(server.tcpPort)).toBe('welcome:a@b.c')
})
