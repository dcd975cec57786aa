/**
 * The start-up JIT warm-up (server/warmup.ts) runs the hot paths on a scratch stack before the
 * server opens. It must leave no trace a client or the data directory could see: no queue, no job,
 * no counted metric, no byte of its jobs in the logs, and the first job id as on a server without it.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, expect, test } from 'bun:test'
import { startServer, temporaryDirectory, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

/** The scratch queue's name, as it would appear in a record or a listing if the warm-up leaked. */
const scratchQueue = 'warm-up'

const servers: TestServer[] = []
afterAll(async () => {
  for (const server of servers) await server.cleanup()
})

async function started(args: string[] = [], preset: 'production' | 'testMin' = 'testMin', dataDir?: string): Promise<TestServer> {
  const server = await startServer({ args, preset, ...(dataDir === undefined ? {} : { dataDir }) })
  servers.push(server)
  return server
}

/** Every byte under the data directory, concatenated (the logs are a few preallocated segments). */
function dataDirectoryText(dir: string): string {
  const texts: string[] = []
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name)
    if (statSync(path).isFile()) texts.push(readFileSync(path).toString('latin1'))
  }
  return texts.join('\n')
}

// The production preset: its warm-up pushes 24 batches and leaves most of them to OBLITERATE.
test('the warm-up runs by default and leaves no queue, job, metric or record behind', async () => {
  const server = await started([], 'production')
  expect(server.startupLine).toMatch(/ warmup_ms=\d+/)
  const client = await WireClient.connect(server.tcpPort)
  try {
    expect(await client.request({ cmd: 'LISTQUEUES' })).toMatchObject({ ok: true, queues: [] })
    expect(await client.request({ cmd: 'STATS' })).toMatchObject({ ok: true, queued: 0, processing: 0, delayed: 0, dlq: 0, completed: 0 })
    expect(await client.request({ cmd: 'METRICS' })).toMatchObject({ ok: true, metrics: { total_pushed: 0, total_completed: 0, total_failed: 0 } })
    expect(dataDirectoryText(server.dataDir)).not.toContain(scratchQueue)
    // The first scratch stack's log directory (on the server's own IO backend) is gone.
    expect(readdirSync(server.dataDir).filter((name) => !name.startsWith('shard-')).sort()).toEqual(['flashq.lock', 'manifest.json'])
  } finally {
    client.close()
  }
})

test('a scratch log directory left by a server killed during its warm-up is removed at the next start', async () => {
  const dataDir = temporaryDirectory()
  mkdirSync(join(dataDir, '.warm-up-killed', 'shard-00'), { recursive: true })
  writeFileSync(join(dataDir, '.warm-up-killed', 'shard-00', '0000000000000001.seg'), scratchQueue)
  const server = await started(['--shards', '2'], 'testMin', dataDir)
  expect(readdirSync(server.dataDir).sort()).toEqual(['flashq.lock', 'manifest.json', 'shard-00', 'shard-01'])
})

test('the first job id is the one a server without the warm-up hands out', async () => {
  const warm = await started(['--shards', '2'])
  const cold = await started(['--shards', '2', '--no-warmup'])
  const firstId = async (server: TestServer) => {
    const client = await WireClient.connect(server.tcpPort)
    try {
      return (await client.request({ cmd: 'PUSH', queue: 'first', data: {} })).id as number
    } finally {
      client.close()
    }
  }
  expect(await firstId(warm)).toBe(await firstId(cold))
})

test('--no-warmup starts without it (no warmup_ms) and serves', async () => {
  const server = await started(['--no-warmup', '--memory'])
  expect(server.startupLine).not.toContain('warmup_ms')
  const client = await WireClient.connect(server.tcpPort)
  try {
    const { id } = await client.request({ cmd: 'PUSH', queue: 'cold', data: { a: 1 } })
    expect(await client.request({ cmd: 'PULL', queue: 'cold', timeout: 0 })).toMatchObject({ job: { id } })
  } finally {
    client.close()
  }
})
