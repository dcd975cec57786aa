/**
 * The other ways to run the server: write-behind fsync, stores in the main thread, and a clean stop.
 * Each keeps acknowledged jobs across a restart (interval mode: after its interval has passed).
 */
import { expect, test } from 'bun:test'
import { startServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

test('--fsync=interval:20 is labelled, and jobs older than the interval survive kill -9', async () => {
  const server = await startServer({ args: ['--fsync', 'interval:20'] })
  expect(server.startupLine).toContain('fsync=interval:20ms')
  const health = (await (await fetch(`http://127.0.0.1:${server.httpPort}/health`)).json()) as { data: Record<string, unknown> }
  expect(health.data).toMatchObject({ durable: true, fsync: 'interval:20' })
  const client = await WireClient.connect(server.tcpPort)
  const { ids } = await client.request({ cmd: 'PUSHB', queue: 'interval', jobs: Array.from({ length: 50 }, (_, i) => ({ data: i })) })
  client.close()
  await Bun.sleep(200) // ten intervals: the write-behind sync has happened
  const again = await server.restart()
  try {
    const reader = await WireClient.connect(again.tcpPort)
    expect(await reader.request({ cmd: 'COUNT', queue: 'interval' })).toMatchObject({ count: 50 })
    expect(await reader.request({ cmd: 'GETSTATE', id: (ids as number[])[49] })).toMatchObject({ state: 'waiting' })
    reader.close()
  } finally {
    await again.cleanup()
  }
})

test('--workers 0 runs the stores in the main thread, durably', async () => {
  const server = await startServer({ args: ['--workers', '0', '--shards', '2'] })
  expect(server.startupLine).toContain('workers=0')
  const client = await WireClient.connect(server.tcpPort)
  const queues = ['w0-a', 'w0-b', 'w0-c', 'w0-d']
  for (const queue of queues) await client.request({ cmd: 'PUSH', queue, data: queue })
  const pulled = await client.request({ cmd: 'PULL', queue: 'w0-a', timeout: 1000 })
  expect(await client.request({ cmd: 'ACK', id: pulled.job.id, result: 'done' })).toMatchObject({ ok: true })
  expect(await client.request({ cmd: 'STATS' })).toMatchObject({ queued: 3, completed: 1 })
  client.close()
  const again = await server.restart()
  try {
    const reader = await WireClient.connect(again.tcpPort)
    expect(await reader.request({ cmd: 'STATS' })).toMatchObject({ queued: 3, completed: 1 })
    expect(await reader.request({ cmd: 'GETRESULT', id: pulled.job.id })).toMatchObject({ result: 'done' })
    reader.close()
  } finally {
    await again.cleanup()
  }
})

test('SIGTERM stops cleanly (exit 0) and the next start has everything', async () => {
  const server = await startServer()
  const client = await WireClient.connect(server.tcpPort)
  const { id } = await client.request({ cmd: 'PUSH', queue: 'term', data: 'x' })
  client.close()
  expect(await server.kill('SIGTERM')).toBe(0)
  const again = await server.restart()
  try {
    const reader = await WireClient.connect(again.tcpPort)
    expect(await reader.request({ cmd: 'GETSTATE', id })).toMatchObject({ state: 'waiting' })
    reader.close()
  } finally {
    await again.cleanup()
  }
})
