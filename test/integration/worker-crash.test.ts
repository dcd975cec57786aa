/**
 * A shard worker that dies is detected and reported: its pending requests get an error (no hang),
 * later requests to its shards get an error naming the cause, /health says degraded, and shards on
 * other workers keep serving. FLASHQ_TEST_HOOKS=1 enables the `_CRASH` command for this.
 */
import { expect, test } from 'bun:test'
import { shardOfName } from '../../src/base/hash.ts'
import { startServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

test('a crashed shard worker is reported, not hung on, and the other worker keeps serving', async () => {
  const server = await startServer({ args: ['--memory', '--shards', '2', '--workers', '2'], env: { FLASHQ_TEST_HOOKS: '1' } })
  try {
    const client = await WireClient.connect(server.tcpPort)
    const queueOnShard = (shard: number) => {
      for (let i = 0; ; i++) if (shardOfName(`crash-${i}`, 2) === shard) return `crash-${i}`
    }
    // A blocking pull on shard 0 is pending when its worker dies: it must get an error, not hang.
    const pending = client.request({ cmd: 'PULL', queue: queueOnShard(0), timeout: 30_000 })
    await Bun.sleep(50)
    client.sendRaw('{"cmd":"_CRASH"}\n') // the test hook routes it to shard 0
    expect(await pending).toMatchObject({ ok: false, error: expect.stringContaining('shard worker 0') })
    expect(await client.request({ cmd: 'PUSH', queue: queueOnShard(0), data: 1 })).toMatchObject({ ok: false, error: expect.stringContaining('restart the server') })
    expect(await client.request({ cmd: 'PUSH', queue: queueOnShard(1), data: 1 })).toMatchObject({ ok: true })
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/health`)
    expect(response.status).toBe(503)
    const health = ((await response.json()) as { data: Record<string, unknown> }).data
    expect(health).toMatchObject({ status: 'degraded' })
    expect(String(health.errors)).toContain('shard worker 0')
    client.close()
  } finally {
    await server.cleanup()
  }
})
