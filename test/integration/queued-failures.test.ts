/**
 * The queued API when storage cannot take a write (queued-api.md §1.5, §1.8): a full disk answers
 * 507 `insufficient storage` (and deletes still work), a shard whose store died answers 500
 * `storage error` once and 503 afterwards, and no request hangs.
 */
import { afterAll, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { shardOfName } from '../../src/base/hash.ts'
import { startServer, type TestServer } from '../harness/server.ts'
import { queuedClient } from '../harness/queued-client.ts'
import { WireClient } from '../harness/wire-client.ts'
import { mountTmpfs, unmount } from '../crash/kit.ts'

setDefaultTimeout(120_000)

const mountPoint = mkdtempSync(join(tmpdir(), 'flashq-queued-full-'))
let mounted = false
const servers: TestServer[] = []
afterAll(async () => {
  for (const server of servers) await server.kill('SIGKILL')
  if (mounted) await unmount(mountPoint)
  rmSync(mountPoint, { recursive: true, force: true })
})

test('a full disk answers 507 insufficient storage; polls and deletes of stored messages still work', async () => {
  const problem = await mountTmpfs(mountPoint, '2M')
  if (problem !== null) {
    process.stderr.write(`skipped: ${problem}\n`)
    return
  }
  mounted = true
  const server = await startServer({ dataDir: join(mountPoint, 'data'), args: ['--shards', '1'] })
  servers.push(server)
  const q = queuedClient(server.httpPort as number)
  const contents = 'x'.repeat(2000)
  let refusal: { status: number; text: string } | null = null
  for (let i = 0; i < 5000 && refusal === null; i++) {
    const answer = await q('/push', { messages: Array.from({ length: 20 }, () => ({ contents })) }, { queue: 'full' })
    if (answer.status !== 200) refusal = answer
  }
  expect(refusal).toMatchObject({ status: 507, text: 'insufficient storage' })
  const message = (await q('/poll', { visibility_timeout_secs: 60 }, { queue: 'full' })).json.message
  expect(message.contents).toBe(contents)
  expect((await q('/delete', { id: message.id, poll_tag: message.poll_tag }, { queue: 'full' })).status).toBe(200)
})

test('a dead shard answers 500 storage error, then 503; other shards keep serving', async () => {
  const server = await startServer({ args: ['--shards', '2', '--workers', '2'], env: { FLASHQ_TEST_HOOKS: '1' } })
  servers.push(server)
  const q = queuedClient(server.httpPort as number)
  const onShard = (shard: number) => {
    for (let i = 0; ; i++) if (shardOfName(`qf${i}`, 2) === shard) return `qf${i}`
  }
  const client = await WireClient.connect(server.tcpPort)
  client.sendRaw('{"cmd":"_CRASH"}\n') // the test hook kills shard 0's worker
  await Bun.sleep(200)
  client.close()
  const first = await q('/push', { contents: 'x' }, { queue: onShard(0) })
  expect(first).toMatchObject({ status: 500, text: 'storage error' })
  const later = await q('/push', { contents: 'x' }, { queue: onShard(0) })
  expect(later).toMatchObject({ status: 503, text: 'storage error' })
  expect((await q('/push', { contents: 'x' }, { queue: onShard(1) })).status).toBe(200)
})
