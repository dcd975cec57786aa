/**
 * The pool with its stores in this thread (--workers 0): a request batch's replies are delivered
 * before flush() returns (a socket read's replies leave in its own turn), unless a message of the
 * host waits before them, as the cross-shard messages an ACK of a flow child sends the parent's
 * shard: the replies then wait for it, in order.
 */
import { afterEach, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Config } from '../base/config.ts'
import { shardOfJobId } from '../base/ids.ts'
import { nameOnShard } from '../engine/test-helpers.ts'
import { ShardPool } from './shard-pool.ts'

const config: Config = {
  host: '127.0.0.1', tcpPort: 0, httpPort: null, unixSocketPath: null, dataDir: '/nonexistent/flashq-shard-pool-test',
  memory: true, fsync: { kind: 'always' }, shards: 2, workers: 0, io: 'auto', repair: false, authTokens: [],
  shutdownGraceMs: 0, preset: 'testMin', logFormat: 'text', logLevel: 'error', warmup: false, compilerNice: 0,
}

const pools: ShardPool[] = []
afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.stop()
})

async function startPool(): Promise<ShardPool> {
  const pool = new ShardPool(config, 2, 0, join(import.meta.dir, '..', 'shard', 'worker.ts'))
  pools.push(pool)
  await pool.start(false)
  return pool
}

type Reply = { ok: boolean; [field: string]: unknown }

/** Sends one request and flushes; `replies` gets its reply text when it is delivered. */
function send(pool: ShardPool, shard: number, request: object, replies: string[]): void {
  pool.send(shard, JSON.stringify(request), { deliver: (_token, replyJson) => void replies.push(replyJson) })
  pool.flush()
}

async function request(pool: ShardPool, shard: number, command: object): Promise<Reply> {
  const replies: string[] = []
  send(pool, shard, command, replies)
  while (replies.length === 0) await Promise.resolve()
  return JSON.parse(replies[0] as string) as Reply
}

test('a batch\'s replies are delivered before flush() returns', async () => {
  const pool = await startPool()
  const replies: string[] = []
  send(pool, 0, { cmd: 'PUSH', queue: nameOnShard('q', 0, 2), data: 1 }, replies)
  expect(replies.length).toBe(1)
  expect(replies[0]).toMatch(/^\{"ok":true,"id":\d+\}$/)
})

test('replies that follow a cross-shard message of the same batch wait for it, and come after it', async () => {
  const pool = await startPool()
  const parentQueue = nameOnShard('parent', 0, 2)
  const childQueue = nameOnShard('child', 1, 2)
  const flow = await request(pool, 0, { cmd: 'FLOW', queue: parentQueue, data: 1, children: [{ queue: childQueue, data: 2 }, { queue: childQueue, data: 3 }] })
  const child = (flow.children_ids as number[])[0] as number
  expect(shardOfJobId(child, 2)).toBe(1)
  expect((await request(pool, 1, { cmd: 'PULL', queue: childQueue, timeout: 0 })).job).toMatchObject({ id: child })
  const crossRouted = { count: 0 }
  const routeCross = (pool as unknown as { routeCross: (items: unknown[]) => void }).routeCross.bind(pool)
  ;(pool as unknown as { routeCross: (items: unknown[]) => void }).routeCross = (items) => {
    crossRouted.count++
    routeCross(items)
  }
  const replies: string[] = []
  send(pool, 1, { cmd: 'ACK', id: child }, replies)
  expect(replies).toEqual([]) // behind the cross message in the inbox
  while (replies.length === 0) await Promise.resolve()
  expect(crossRouted.count).toBe(1)
  expect(JSON.parse(replies[0] as string)).toEqual({ ok: true })
  expect(await request(pool, 0, { cmd: 'GETCHILDREN', parent_id: flow.parent_id })).toMatchObject({ completed: 1 })
})
