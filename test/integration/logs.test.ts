/**
 * The event log of a real server: one line per event that matters, in text or JSON, filtered by
 * level, and never one per request. Checkpoints are reached quickly with the testMin preset (tiny
 * segments); a worker crash uses the FLASHQ_TEST_HOOKS `_CRASH` command.
 */
import { expect, test } from 'bun:test'
import { startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

type Line = { time: string; level: string; event: string; msg: string; [field: string]: unknown }

/** Sends SIGTERM and waits for the exit, so the stop lines are in the output too. */
async function stopped(server: TestServer): Promise<string> {
  server.process.kill('SIGTERM')
  expect(await server.process.exited).toBe(0)
  await Bun.sleep(50) // the last chunk of stdout may still be in the reader
  return server.output()
}

test('--log-format json: every line is one JSON event; 3000 requests give a handful of lines', async () => {
  const server = await startServer({ args: ['--log-format', 'json'] })
  const client = await WireClient.connect(server.tcpPort)
  const requests = 3000
  await Promise.all(Array.from({ length: requests }, (_, i) => client.request({ cmd: 'PUSH', queue: `logs-${i % 4}`, data: { i, pad: 'p'.repeat(100) } })))
  client.close()
  const output = await stopped(server)
  const lines = output.trim().split('\n').map((text) => JSON.parse(text) as Line)
  for (const line of lines) {
    expect(Number.isNaN(Date.parse(line.time))).toBe(false)
    expect(['debug', 'info', 'warn', 'error']).toContain(line.level)
    expect(typeof line.event).toBe('string')
    expect(typeof line.msg).toBe('string')
  }
  const events = lines.map((line) => line.event)
  expect(events).toContain('recovery')
  expect(events.filter((event) => event === 'start')).toHaveLength(1)
  expect(events).toContain('checkpoint') // 3000 × ~150 bytes over 64 KiB testMin segments
  expect(events.filter((event) => event === 'stop')).toHaveLength(2) // stopping, stopped
  const startMessage = lines.find((line) => line.event === 'start')?.msg ?? ''
  expect(startMessage).toStartWith('flashq ')
  expect(startMessage).toContain(` listening tcp=127.0.0.1:${server.tcpPort} `)
  expect(lines.length).toBeLessThan(requests / 20)
}, 60_000)

test('--log-level warn hides info events but keeps the start-up line; text lines carry time, level, event', async () => {
  const quiet = await startServer({ args: ['--log-level', 'warn'] })
  const quietOutput = await stopped(quiet)
  expect(quietOutput).toContain(' listening ')
  expect(quietOutput).not.toContain('info recovery:')
  expect(quietOutput).not.toContain('info stop:')
  const normal = await startServer()
  const normalOutput = await stopped(normal)
  expect(normalOutput).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z info recovery: shard 0: replayed 0 records/m)
  expect(normalOutput).toMatch(/^\S+ info stop: SIGTERM: stopping/m)
  expect(normalOutput).toMatch(/^\S+ info stop: stopped: every log flushed stop_ms=\d+$/m)
})

test('a crashed shard worker is one error line naming the worker and its shards', async () => {
  const server = await startServer({ args: ['--memory', '--shards', '2', '--workers', '2', '--log-format', 'json'], env: { FLASHQ_TEST_HOOKS: '1' } })
  try {
    const client = await WireClient.connect(server.tcpPort)
    client.sendRaw('{"cmd":"_CRASH"}\n')
    for (let i = 0; i < 20; i++) await client.request({ cmd: 'PUSH', queue: `c${i}`, data: 1 })
    client.close()
    const crashes = server.output().trim().split('\n').map((text) => JSON.parse(text) as Line).filter((line) => line.event === 'worker-crash')
    expect(crashes).toHaveLength(1)
    expect(crashes[0]).toMatchObject({ level: 'error', host: 0, shards: '0' })
    expect(crashes[0]!.msg).toContain('shard worker 0')
  } finally {
    await server.cleanup()
  }
})

test('bad --log-format and --log-level values are refused with a one-line reason', async () => {
  const { runToExit } = await import('../harness/server.ts')
  for (const args of [['--log-format', 'xml'], ['--log-level', 'loud']]) {
    const result = await runToExit(args)
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(args[0]!)
  }
})
