/**
 * The pull release rule (pull-gate.ts): a pull's reply waits for the records of the jobs it hands
 * out, not for unrelated flushes; and never leaves before the push of a job it hands out is durable.
 * The host runs on a fault-injecting IO that can keep a flush in flight (hold/release).
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { FakeClock } from '../base/clock.ts'
import type { Config } from '../base/config.ts'
import { FaultyIo } from '../../test/harness/faulty-io.ts'
import { temporaryDirectory, testFsIo } from '../../test/harness/memory-io.ts'
import { type HostTime, ShardHost, realHostTime } from './host.ts'
import type { FromHost } from './messages.ts'
import { PullGate } from './pull-gate.ts'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const settle = async () => {
  for (let turn = 0; turn < 5; turn++) await new Promise<void>((resolve) => setImmediate(resolve))
}

async function startHost(time: HostTime = realHostTime) {
  const dataDir = temporaryDirectory('flashq-pull-gate-')
  dirs.push(dataDir)
  const config: Config = {
    host: '127.0.0.1', tcpPort: 0, httpPort: null, unixSocketPath: null, dataDir, memory: false, fsync: { kind: 'always' },
    shards: 1, workers: 0, io: 'pwrite', repair: false, authTokens: [], shutdownGraceMs: 0, preset: 'testMin', logFormat: 'text', logLevel: 'warn', warmup: false, compilerNice: 0,
  }
  const io = new FaultyIo(testFsIo())
  const out: Array<FromHost | string> = []
  const host = new ShardHost({ k: 'init', config, shardCount: 1, shardIndexes: [0], eventsWanted: false }, (message) => void out.push(message as FromHost | string), time, io)
  await host.start()
  /** Reply lines released so far, by token (taken out of `out`). */
  const replies = new Map<number, { ok: boolean; [field: string]: unknown }>()
  /** Tokens in the order their replies left. */
  const order: number[] = []
  const collect = () => {
    for (const message of out.splice(0)) {
      if (typeof message !== 'string') continue
      for (const line of message.split('\n')) {
        const token = Number(line.slice(0, line.indexOf('\t')))
        order.push(token)
        replies.set(token, JSON.parse(line.slice(line.indexOf('\t') + 1)))
      }
    }
    return replies
  }
  const until = async (token: number) => {
    for (let turn = 0; turn < 1000 && !collect().has(token); turn++) await new Promise<void>((resolve) => setTimeout(resolve, 1))
    return collect().get(token)
  }
  return { host, io, collect, until, order }
}

describe('pull replies and durability', () => {
  test('a pull of durable jobs returns while an unrelated flush is stalled; the flush\'s own reply waits', async () => {
    const { host, io, collect, until } = await startHost()
    host.handleBatch('1\t0\t{"cmd":"PUSHB","queue":"q","jobs":[{"data":1},{"data":2},{"data":3},{"data":4}]}')
    const pushed = (await until(1))?.ids as number[]
    host.handleBatch('2\t0\t{"cmd":"PULL","queue":"q","timeout":0}')
    const first = ((await until(2))?.job as { id: number }).id
    io.hold() // every flush from now on stays in flight
    host.handleBatch(`3\t0\t{"cmd":"PUSH","queue":"other","data":9}\n4\t0\t{"cmd":"ACK","id":${first}}`)
    host.handleBatch('5\t0\t{"cmd":"PULLB","queue":"q","count":5}')
    await settle()
    const released = collect()
    expect(released.has(3)).toBe(false) // the push and the ack are not durable: no ok yet
    expect(released.has(4)).toBe(false)
    expect((released.get(5)?.jobs as Array<{ id: number }>).map((job) => job.id)).toEqual(pushed.filter((id) => id !== first))
    io.release()
    expect((await until(3))?.ok).toBe(true)
    expect((await until(4))?.ok).toBe(true)
    await host.stop()
  })

  test('a pull never hands out a job before the job\'s push is durable', async () => {
    const { host, io, collect, until, order } = await startHost()
    host.handleBatch('1\t0\t{"cmd":"PUSH","queue":"warm","data":0}')
    await until(1)
    io.hold()
    host.handleBatch('2\t0\t{"cmd":"PUSH","queue":"q","data":1}') // flush in flight, held
    host.handleBatch('3\t0\t{"cmd":"PUSH","queue":"q","data":2}') // appended behind it
    host.handleBatch('4\t0\t{"cmd":"PULLB","queue":"q","count":5}\n5\t0\t{"cmd":"PULL","queue":"q","timeout":0}')
    // A push and a pull in one batch: the pull is answered before the push's record is even appended.
    host.handleBatch('6\t0\t{"cmd":"PUSH","queue":"r","data":1}\n7\t0\t{"cmd":"PULL","queue":"r","timeout":0}')
    await settle()
    expect([...collect().keys()].filter((token) => token >= 2)).toEqual([])
    io.release()
    const pulled = await until(4)
    expect(collect().has(2) && collect().has(3)).toBe(true) // the pushes were acknowledged no later
    expect((pulled?.jobs as unknown[]).length).toBe(2)
    expect((await until(5))?.job).toBeNull()
    expect((await until(7))?.job).toMatchObject({ id: (await until(6))?.id, data: 1 })
    // Replies that waited for the same flush leave in the order they were made.
    expect(order.filter((token) => token === 6 || token === 7)).toEqual([6, 7])
    expect(order.indexOf(3)).toBeLessThan(order.indexOf(4))
    await host.stop()
  })
})

test('a pull that writes records itself (expiring a job past its TTL) waits for them', async () => {
  const clock = new FakeClock()
  const { host, io, collect, until } = await startHost({ ...realHostTime, clock })
  host.handleBatch('1\t0\t{"cmd":"PUSHB","queue":"q","jobs":[{"data":1,"ttl":1000},{"data":2}]}')
  const [, kept] = (await until(1))?.ids as number[]
  clock.advance(2000)
  io.hold()
  host.handleBatch('2\t0\t{"cmd":"PULLB","queue":"q","count":5}')
  await settle()
  expect(collect().has(2)).toBe(false) // its `rm` of the expired job is in the held flush
  io.release()
  expect(((await until(2))?.jobs as Array<{ id: number }>).map((job) => job.id)).toEqual([kept as number])
  await host.stop()
})

describe('PullGate', () => {
  test('a pull waits for its jobs\' records and for barriers, not for records of other jobs', () => {
    const gate = new PullGate()
    gate.note({ t: 'j', i: 7, q: 'q', d: 1, c: 0 }, 10)
    gate.note({ t: 'a', i: 5, c: 0 }, 11) // an ack: job 5 cannot be pulled again without a new record
    gate.note({ t: 'tx', r: [{ t: 'f', i: 8, n: 1, r: 0, m: 'x' }, { t: 'ob', to: 1, n: 1 }] }, 12)
    expect(gate.requiredLsn([5, 6], 0)).toBe(0)
    expect(gate.requiredLsn([6, 7], 0)).toBe(10)
    expect(gate.requiredLsn([8], 0)).toBe(12)
    expect(gate.requiredLsn([6], 13)).toBe(13) // the pull's own records
    gate.note({ t: 'qs', q: 'q', p: false }, 14) // names no job: every later pull waits for it
    expect(gate.requiredLsn([6], 0)).toBe(14)
    gate.forgetDurable(10)
    expect(gate.pendingJobs).toBe(1)
    expect(gate.requiredLsn([7], 0)).toBe(14)
    gate.forgetDurable(14)
    expect(gate.pendingJobs).toBe(0)
  })

  test('pushes of new jobs (growing ids) and records of older jobs are both found', () => {
    const gate = new PullGate()
    for (let id = 1; id <= 5; id++) gate.note({ t: 'j', i: id * 2 }, id) // ids 2,4,…,10 at LSNs 1…5
    gate.note({ t: 'j', i: 4 }, 6) // a record of an older job (a flow rewrites it, say)
    expect(gate.requiredLsn([2], 0)).toBe(1)
    expect(gate.requiredLsn([4], 0)).toBe(6)
    expect(gate.requiredLsn([3, 10], 0)).toBe(5)
    gate.forgetDurable(3)
    expect(gate.requiredLsn([2, 6], 0)).toBe(0)
    expect(gate.requiredLsn([8], 0)).toBe(4)
    expect(gate.pendingJobs).toBe(3)
  })

  test('a packed PUSHB (jb) gates each of its jobs; a packed ACKB (ab) gates nothing', () => {
    const gate = new PullGate()
    gate.note({ t: 'jb', q: 'q', c: 0, o: {}, i: [3, 5, 7], d: [1, 2, 3] }, 4)
    gate.note({ t: 'ab', c: 0, i: [1] }, 5)
    expect(gate.requiredLsn([5], 0)).toBe(4)
    expect(gate.requiredLsn([1, 9], 0)).toBe(0)
    expect(gate.pendingJobs).toBe(3)
    gate.forgetDurable(4)
    expect(gate.requiredLsn([7], 0)).toBe(0)
  })

  test('a record of a type it does not know is a barrier', () => {
    const gate = new PullGate()
    gate.note({ t: 'new-kind', x: 1 }, 3)
    expect(gate.requiredLsn([], 0)).toBe(3)
  })
})
