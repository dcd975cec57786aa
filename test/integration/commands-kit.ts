/**
 * Shared helpers for the per-command integration tests: fresh queue names (optionally on a chosen
 * shard), polling for an eventual state, and small push/pull shortcuts over a WireClient.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout } from 'bun:test'
import { startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { shardOfName } from '../../src/base/hash.ts'
import type { Reply } from '../harness/wire-client.ts'

/** Every test server of these files runs with this many shards, so queues spread over both. */
export const SHARDS = 2
export const shardArgs = ['--shards', String(SHARDS)]

let counter = 0
const run = Date.now().toString(36)

/** A queue name not used before in this process. */
export function freshQueue(prefix = 'q'): string {
  return `${prefix}-${run}-${counter++}`
}

/** A fresh name (queue, KV key, cron name) that hashes to `shard`. */
export function nameOnShard(prefix: string, shard: number): string {
  for (;;) {
    const name = freshQueue(prefix)
    if (shardOfName(name, SHARDS) === shard) return name
  }
}

export function shardOfId(id: number): number {
  return id % SHARDS
}

/** Polls `probe` until it returns a truthy value (which is returned), or fails after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T>, timeoutMs = 5000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T = await probe()
  while (!last) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms (last: ${JSON.stringify(last)})`)
    await Bun.sleep(intervalMs)
    last = await probe()
  }
  return last
}

/** Polls GETSTATE until the job reaches `state`. */
export async function waitForState(client: WireClient, id: number, state: string, timeoutMs = 5000): Promise<void> {
  let seen = ''
  try {
    await waitFor(async () => {
      seen = (await client.request({ cmd: 'GETSTATE', id })).state as string
      return seen === state
    }, timeoutMs)
  } catch {
    throw new Error(`job ${id} did not reach state ${state} within ${timeoutMs} ms (last: ${seen})`)
  }
}

export async function push(client: WireClient, queue: string, extra: Record<string, unknown> = {}): Promise<number> {
  const reply = await client.request({ cmd: 'PUSH', queue, data: extra.data ?? {}, ...extra })
  expect(reply).toMatchObject({ ok: true })
  return reply.id as number
}

/** A non-blocking pull; returns the job or null. */
export async function pullNow(client: WireClient, queue: string): Promise<Record<string, any> | null> {
  const reply = await client.request({ cmd: 'PULL', queue, timeout: 0 })
  expect(reply.ok).toBe(true)
  return reply.job as Record<string, any> | null
}

/** Pushes one job and pulls it, so it is active. */
export async function pushActive(client: WireClient, queue: string, extra: Record<string, unknown> = {}): Promise<number> {
  const id = await push(client, queue, extra)
  const job = await pullNow(client, queue)
  expect(job?.id).toBe(id)
  return id
}

export async function state(client: WireClient, id: number): Promise<string> {
  return (await client.request({ cmd: 'GETSTATE', id })).state as string
}

export async function getJob(client: WireClient, id: number): Promise<Record<string, any> | null> {
  return (await client.request({ cmd: 'GETJOB', id })).job as Record<string, any> | null
}

/** Asserts an error reply with exactly this text. */
export function expectError(reply: Reply, error: string): void {
  expect(reply).toMatchObject({ ok: false, error })
}

/** Asserts a shape error (`Invalid: …`) that names `field`. */
export function expectInvalid(reply: Reply, field: string): void {
  expect(reply.ok).toBe(false)
  expect(reply.error).toMatch(/^Invalid: /)
  expect(reply.error).toContain(field)
}

/** An id that was never handed out (ids stay far below this in tests). */
export const unknownId = 987_654_321

/**
 * One server (SHARDS shards) and one client for a whole test file: started before the first test,
 * handed over through `use`, stopped after the last. A timed-out test makes bun kill the shared
 * server, so slow machines get a generous per-test timeout.
 */
export function sharedServer(use: (server: TestServer, client: WireClient) => void): void {
  setDefaultTimeout(20_000)
  let server: TestServer | undefined
  let client: WireClient | undefined
  beforeAll(async () => {
    server = await startServer({ args: shardArgs })
    client = await WireClient.connect(server.tcpPort)
    use(server, client)
  })
  afterAll(async () => {
    client?.close()
    await server?.cleanup()
  })
}
