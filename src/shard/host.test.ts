/**
 * The shard host with an injected clock and timers (HostTime), on a real log in a temporary
 * directory: events leave with the replies, as text, only once their records are durable; time and
 * the wake-up timer come from the injected clock.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FakeClock } from '../base/clock.ts'
import type { Config } from '../base/config.ts'
import { type HostTime, ShardHost } from './host.ts'
import { shardDirectory } from './storage-admin.ts'
import { openShardLog } from '../storage/log.ts'
import { testFsIo } from '../../test/harness/memory-io.ts'
import { recordFormatVersion } from '../engine/records.ts'
import { replyBatchText, type FromHost } from './messages.ts'

class FakeTimers {
  readonly pending: Array<{ callback: () => void; delayMs: number; cleared: boolean }> = []
  readonly time: HostTime
  constructor(readonly clock: FakeClock) {
    this.time = {
      clock,
      setTimer: (callback, delayMs) => {
        const timer = { callback, delayMs, cleared: false }
        this.pending.push(timer)
        return timer
      },
      clearTimer: (timer) => {
        const fake = timer as { cleared: boolean }
        fake.cleared = true
      },
    }
  }

  armed(): Array<{ callback: () => void; delayMs: number }> {
    return this.pending.filter((timer) => !timer.cleared)
  }
}

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** `replyPairs`: as an in-thread host, whose reply batches (ReplyPairs) are turned into text here. */
async function startHost(eventsWanted: boolean, dataDir = mkdtempSync(join(tmpdir(), 'flashq-host-')), replyPairs = false) {
  dirs.push(dataDir)
  const config: Config = {
    host: '127.0.0.1', tcpPort: 0, httpPort: null, unixSocketPath: null, dataDir, memory: false, fsync: { kind: 'always' },
    shards: 1, workers: 0, io: 'pwrite', repair: false, authTokens: [], shutdownGraceMs: 0, preset: 'testMin', logFormat: 'text', logLevel: 'warn', warmup: false, compilerNice: 0,
  }
  const clock = new FakeClock()
  const timers = new FakeTimers(clock)
  const out: Array<FromHost | string> = []
  const sent = { pairBatches: 0, textBatches: 0 }
  let wake = () => {}
  const host = new ShardHost({ k: 'init', config, shardCount: 1, shardIndexes: [0], eventsWanted, replyPairs }, (message) => {
    if (Array.isArray(message)) sent.pairBatches++
    else if (typeof message === 'string') sent.textBatches++
    out.push(Array.isArray(message) ? replyBatchText(message) : message)
    wake()
  }, timers.time)
  await host.start()
  /** The next reply batch (a string), waiting for the log's flush. */
  const nextBatch = async (): Promise<string> => {
    for (;;) {
      const at = out.findIndex((message) => typeof message === 'string')
      if (at >= 0) return out.splice(at, 1)[0] as string
      await new Promise<void>((resolve) => (wake = resolve))
    }
  }
  return { host, clock, timers, out, nextBatch, sent }
}

describe('shard host', () => {
  test('events leave with the replies, as text, once their records are durable', async () => {
    const { host, out, nextBatch } = await startHost(true)
    host.handleBatch('7\t0\t{"cmd":"PUSH","queue":"q","data":{"x":1}}')
    // The push's record is not durable yet: neither the reply nor the event has left.
    expect(out.filter((message) => typeof message === 'string')).toEqual([])
    const lines = (await nextBatch()).split('\n')
    expect(lines.length).toBe(2)
    expect(lines[0]).toMatch(/^7\t\{"ok":true,"id":\d+\}$/)
    expect(lines[1]!.startsWith('e\t')).toBe(true)
    expect(JSON.parse(lines[1]!.slice(2))).toMatchObject({ event_type: 'pushed', queue: 'q', data: { x: 1 } })
    expect(out.some((message) => typeof message !== 'string' && (message as { k: string }).k === 'events')).toBe(false)
    await host.stop()
  })

  test('no event lines when nobody listens', async () => {
    const { host, nextBatch } = await startHost(false)
    host.handleBatch('1\t0\t{"cmd":"PUSH","queue":"q","data":1}')
    expect((await nextBatch()).split('\n').length).toBe(1)
    await host.stop()
  })

  test('requests handed over parsed (--workers 0) are answered as the same lines in a text batch', async () => {
    const { host, nextBatch } = await startHost(false)
    const push = '{"cmd":"PUSH","queue":"q","data":{"x":1}}'
    host.handleRequests([1, 0, push, JSON.parse(push), 2, 0, '{"cmd":', undefined, 3, 0, '{"cmd":"PUSH"}', { cmd: 'PUSH' }])
    // Reply bodies by token, with the job id masked (the second push gets the next id).
    const replies = async (firstToken: number) => Object.fromEntries((await nextBatch()).split('\n').map((line) => [
      Number(line.slice(0, line.indexOf('\t'))) - firstToken, line.slice(line.indexOf('\t') + 1).replace(/"id":\d+/, '"id":N'),
    ]))
    const direct = await replies(1)
    host.handleBatch(`4\t0\t${push}\n5\t0\t{"cmd":\n6\t0\t{"cmd":"PUSH"}`)
    expect(await replies(4)).toEqual(direct)
    expect(direct[0]).toBe('{"ok":true,"id":N}')
    expect(direct[1]).toStartWith('{"ok":false,"error":"Invalid: ')
    expect(direct[2]).toStartWith('{"ok":false,')
    await host.stop()
  })

  test('an in-thread host sends the same replies and events as (token, text) pairs as a Worker sends as text', async () => {
    const push = '{"cmd":"PUSH","queue":"q","data":{"x":"é\\n"}}'
    const pushb = '{"cmd":"PUSHB","queue":"q","jobs":[{"data":1},{"data":2}]}'
    const pull = '{"cmd":"PULLB","queue":"q","count":2,"timeout":0}'
    const blocking = '{"cmd":"PULL","queue":"empty","timeout":1000}'
    const batches = async (replyPairs: boolean) => {
      const started = await startHost(true, undefined, replyPairs)
      const { host, clock, timers, nextBatch } = started
      const texts: string[] = []
      // Replies held for the log's flush, a validation error, a request that does not parse, a pull
      // answered at once (its own LSN gate), and a blocking pull answered by its timer.
      host.handleRequests([1, 0, push, JSON.parse(push), 2, 0, '{"cmd":', undefined, 3, 0, '{"cmd":"PUSH"}', { cmd: 'PUSH' }, 4, 0, pushb, undefined])
      texts.push(await nextBatch())
      host.handleRequests([5, 0, pull, JSON.parse(pull), 6, 0, blocking, JSON.parse(blocking)])
      texts.push(await nextBatch())
      clock.advance(1000)
      timers.armed()[0]!.callback()
      texts.push(await nextBatch())
      await host.stop()
      return { texts, sent: started.sent }
    }
    const text = await batches(false)
    const pairs = await batches(true)
    expect(text.sent.pairBatches).toBe(0)
    expect(pairs.sent.textBatches).toBe(0)
    expect(pairs.sent.pairBatches).toBe(3)
    expect(pairs.texts).toEqual(text.texts)
    expect(text.texts[0]!.split('\n').map((line) => line.slice(0, line.indexOf('\t')))).toEqual(['2', '3', '1', '4', 'e', 'e', 'e']) // the host's own errors first
    expect(text.texts[2]).toBe('6\t{"ok":true,"job":null}')
  })

  test('time and the wake-up timer come from the injected clock', async () => {
    const { host, clock, timers, nextBatch } = await startHost(false)
    host.handleBatch('1\t0\t{"cmd":"PUSH","queue":"q","data":1,"delay":5000}')
    const id = JSON.parse((await nextBatch()).split('\t')[1]!).id as number
    host.handleBatch(`2\t0\t{"cmd":"GETJOB","id":${id}}`)
    const job = JSON.parse((await nextBatch()).split('\t')[1]!).job as { created_at: number; run_at: number }
    expect(job.created_at).toBe(clock.nowMs())
    expect(job.run_at).toBe(clock.nowMs() + 5000)
    // A blocking pull arms the host's one timer for its deadline, measured on the fake clock.
    host.handleBatch('3\t0\t{"cmd":"PULL","queue":"q","timeout":2000}')
    expect(timers.armed().map((timer) => timer.delayMs)).toEqual([2000])
    clock.advance(2000)
    timers.armed()[0]!.callback()
    expect(JSON.parse((await nextBatch()).split('\t')[1]!)).toEqual({ ok: true, job: null })
    await host.stop()
  })

  test('a log of an older record format gets a `fmt` of this one before its first new record', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flashq-host-'))
    const logOf = async () => {
      const io = testFsIo()
      const opened = await openShardLog({ dir: shardDirectory(dataDir, 0), io, fsync: { kind: 'always' }, segmentBytes: 1 << 20, flushBytesMax: 1 << 16, repair: false })
      return { opened, io }
    }
    // A log an older flashq wrote: format 2, one job.
    const old = await logOf()
    old.opened.log.append('{"t":"fmt","v":2}')
    old.opened.log.append('{"t":"j","i":1,"q":"q","d":"old","c":1}')
    await old.opened.log.close()
    old.io.closeAll()
    const { host, nextBatch } = await startHost(false, dataDir)
    host.handleBatch('1\t0\t{"cmd":"PUSHB","queue":"q","jobs":[{"data":1},{"data":2}]}')
    await nextBatch()
    await host.stop()
    const after = await logOf()
    const records = [...after.opened.bodies].map((body) => JSON.parse(new TextDecoder().decode(body)) as { t: string; v?: number })
    await after.opened.log.close()
    after.io.closeAll()
    expect(records.map((record) => record.t)).toEqual(['fmt', 'j', 'fmt', 'jb'])
    expect(records[2]?.v).toBe(recordFormatVersion)
    // Reopened by this flashq again: nothing more to say.
    const again = await startHost(false, dataDir)
    await again.host.stop()
    const last = await logOf()
    expect([...last.opened.bodies].length).toBe(4)
    await last.opened.log.close()
    last.io.closeAll()
  })
})
