/**
 * One server per data directory (shard/data-dir-lock.ts): a second start on a directory in use
 * exits 1 naming the holder and touches nothing, and a server killed with -9 leaves no lock behind.
 */
import { afterAll, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { startAgainOn, startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

const servers: TestServer[] = []
afterAll(async () => {
  for (const server of servers) await server.cleanup()
})

test('a second server on a data directory in use is refused, and the first keeps serving', async () => {
  const first = await startServer()
  servers.push(first)
  const client = await WireClient.connect(first.tcpPort)
  const pushed = await client.request({ cmd: 'PUSH', queue: 'lock', data: { n: 1 } })
  const files = readdirSync(first.dataDir, { recursive: true }).sort()

  const second = await startAgainOn(first.dataDir)
  expect(second.code).toBe(1)
  expect(second.stderr).toContain(`data directory ${first.dataDir} is in use by another flashq server (pid ${first.process.pid})`)
  expect(readdirSync(first.dataDir, { recursive: true }).sort()).toEqual(files)
  expect((await client.request({ cmd: 'GETJOB', id: pushed.id })).job.data).toEqual({ n: 1 })
  client.close()
})

test('a server killed with -9 leaves no lock: the next start on its directory succeeds and recovers', async () => {
  const first = await startServer()
  const client = await WireClient.connect(first.tcpPort)
  const pushed = await client.request({ cmd: 'PUSH', queue: 'lock', data: 'kept' })
  client.close()
  const next = await first.restart() // SIGKILL, then a start on the same directory
  servers.push(next)
  const after = await WireClient.connect(next.tcpPort)
  expect((await after.request({ cmd: 'GETJOB', id: pushed.id })).job.data).toBe('kept')
  after.close()
})
