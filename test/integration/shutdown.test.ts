/**
 * Graceful shutdown (spec §6): on SIGTERM the server stops accepting connections and handing out
 * jobs, waits for the active jobs of connected workers (up to --shutdown-grace-ms), then flushes and
 * exits 0. A second signal skips the wait. Nothing acknowledged is lost either way.
 */
import { afterEach, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

const started: TestServer[] = []
afterEach(async () => {
  for (const server of started.splice(0)) await server.cleanup()
})

async function start(args: string[] = []): Promise<TestServer> {
  const server = await startServer({ args })
  started.push(server)
  return server
}

/** True once a TCP connect to the port is refused (the listener is closed). */
async function refusesConnections(port: number): Promise<boolean> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' })
      socket.once('connect', () => {
        socket.destroy()
        resolve(false)
      })
      socket.once('error', () => resolve(true))
    })
    if (refused) return true
    await Bun.sleep(20)
  }
  return false
}

/** Waits for `text` in the server's output (bounded by the test's timeout). */
async function outputShows(server: TestServer, text: string): Promise<void> {
  while (!server.output().includes(text)) await Bun.sleep(20)
}

test('SIGTERM waits for active jobs: no new connections or deliveries, acks work, then exit 0', async () => {
  const server = await start()
  const worker = await WireClient.connect(server.tcpPort)
  const ids: number[] = []
  for (const name of ['a', 'b', 'c']) ids.push((await worker.request({ cmd: 'PUSH', queue: 'drain', data: { name } })).id)
  const pulled = await worker.request({ cmd: 'PULLB', queue: 'drain', count: 2, timeout: 0 })
  const [first, second] = pulled.jobs.map((job: { id: number }) => job.id) as [number, number]
  // A blocking pull already waiting when the signal arrives must not get the job pushed during the drain.
  const watcher = await WireClient.connect(server.tcpPort)
  // A connect completes in the kernel before the server accepts it; one answered request proves the
  // server holds the connection (a connection still in the accept backlog is reset when it stops listening).
  await watcher.request({ cmd: 'PING' })
  const waiting = watcher.request({ cmd: 'PULL', queue: 'idle', timeout: 1500 })

  server.process.kill('SIGTERM')
  await outputShows(server, 'stopping')
  expect(await refusesConnections(server.tcpPort)).toBe(true)

  expect(await worker.request({ cmd: 'PUSH', queue: 'idle', data: 'late' })).toMatchObject({ ok: true })
  expect(await waiting).toMatchObject({ ok: true, job: null })
  expect(await worker.request({ cmd: 'PULL', queue: 'drain', timeout: 200 })).toMatchObject({ ok: true, job: null })
  expect(await worker.request({ cmd: 'ACK', id: first, result: 'done' })).toMatchObject({ ok: true })
  await Bun.sleep(300) // several drain polls: one job is still active, so the server must still run
  expect(server.process.exitCode).toBeNull()
  expect(await worker.request({ cmd: 'FAIL', id: second, error: 'retry me' })).toMatchObject({ ok: true })
  expect(await server.process.exited).toBe(0)
  expect(server.output()).not.toContain('still active')

  const again = await server.restart()
  started.push(again)
  const reader = await WireClient.connect(again.tcpPort)
  expect(await reader.request({ cmd: 'GETSTATE', id: first })).toMatchObject({ state: 'completed' })
  expect(await reader.request({ cmd: 'GETRESULT', id: first })).toMatchObject({ result: 'done' })
  expect((await reader.request({ cmd: 'GETJOB', id: second })).job).toMatchObject({ attempts: 1 })
  expect(await reader.request({ cmd: 'GETSTATE', id: ids[2] })).toMatchObject({ state: 'waiting' })
  expect(await reader.request({ cmd: 'COUNT', queue: 'idle' })).toMatchObject({ count: 1 })
  reader.close()
  worker.close()
  watcher.close()
}, 30_000)

test('when the grace period passes, the server stops anyway and the active job is waiting after restart', async () => {
  const server = await start(['--shutdown-grace-ms', '300'])
  const worker = await WireClient.connect(server.tcpPort)
  const { id } = await worker.request({ cmd: 'PUSH', queue: 'slow', data: 1 })
  expect((await worker.request({ cmd: 'PULL', queue: 'slow', timeout: 0 })).job).toMatchObject({ id })
  server.process.kill('SIGTERM')
  expect(await server.process.exited).toBe(0)
  expect(server.output()).toContain('1 jobs still active')
  worker.close()
  const again = await server.restart()
  started.push(again)
  const reader = await WireClient.connect(again.tcpPort)
  expect(await reader.request({ cmd: 'GETSTATE', id })).toMatchObject({ state: 'waiting' })
  reader.close()
}, 30_000)

test('a second signal skips the wait (the default grace is 30 s, longer than this test may take)', async () => {
  const server = await start()
  const worker = await WireClient.connect(server.tcpPort)
  await worker.request({ cmd: 'PUSH', queue: 'stuck', data: 1 })
  await worker.request({ cmd: 'PULL', queue: 'stuck', timeout: 0 })
  server.process.kill('SIGTERM')
  await outputShows(server, 'stopping')
  server.process.kill('SIGINT')
  expect(await server.process.exited).toBe(0)
  worker.close()
}, 15_000)

test('a bad --shutdown-grace-ms is refused with exit code 2', async () => {
  const child = Bun.spawn([process.execPath, 'src/main.ts', '--shutdown-grace-ms', 'soon'], {
    cwd: `${import.meta.dir}/../..`, stdout: 'pipe', stderr: 'pipe',
  })
  expect(await child.exited).toBe(2)
  expect(await new Response(child.stderr).text()).toContain("--shutdown-grace-ms must be an integer from 0 to 3600000, got 'soon'")
})
