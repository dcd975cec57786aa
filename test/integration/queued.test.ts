/**
 * The queued-compatible API (queued-api.md) against a real server: the behaviour checklist of §6,
 * every error answer of §1.8, suspension, throttle, batches, `?queue=`, the queued_* metrics, and
 * leases that survive a kill -9.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { startServer, type TestServer } from '../harness/server.ts'
import { metricValue, queuedClient } from '../harness/queued-client.ts'
import { WireClient } from '../harness/wire-client.ts'
import { freshQueue, waitFor } from './commands-kit.ts'

setDefaultTimeout(30_000)

let server: TestServer
let q: ReturnType<typeof queuedClient>
const limitsEnv = { QUEUED_MAX_CONTENT_BYTES: '1000', QUEUED_MAX_BATCH: '10' }

beforeAll(async () => {
  server = await startServer({ args: ['--shards', '2'], env: limitsEnv })
  q = queuedClient(server.httpPort as number)
})
afterAll(async () => {
  await server?.cleanup()
})

const hexTag = /^[0-9a-f]{60}$/
const zeroTag = '0'.repeat(60)

async function pushOne(queue: string, contents: string, visibility?: number): Promise<number> {
  const answer = await q('/push', { contents, visibility_timeout_secs: visibility }, { queue })
  expect(answer.status).toBe(200)
  return answer.json.id
}

async function pollOne(queue: string, visibility: number) {
  const answer = await q('/poll', { visibility_timeout_secs: visibility }, { queue })
  expect(answer.status).toBe(200)
  return answer.json.message
}

describe('round trip (§6 checklist)', () => {
  test('push → poll → delete; never delivered again', async () => {
    const queue = freshQueue('qd')
    const before = Date.now()
    const pushed = await q('/push', { contents: 'hello world' }, { queue })
    expect(pushed.status).toBe(200)
    expect(pushed.headers.get('content-type')).toContain('application/json')
    expect(pushed.json.index).toBe(pushed.json.id)
    const message = await pollOne(queue, 30)
    expect(message.contents).toBe('hello world')
    expect(message.id).toBe(pushed.json.id)
    expect(message.index).toBe(message.id)
    expect(message.poll_count).toBe(1)
    expect(message.poll_tag).toMatch(hexTag)
    expect(message.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    const created = Date.parse(message.created)
    expect(created).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000)
    expect(created).toBeLessThanOrEqual(Date.now())
    // Within the visibility timeout the message is not delivered again.
    expect(await pollOne(queue, 30)).toBeNull()
    const deleted = await q('/delete', { id: message.id, poll_tag: message.poll_tag }, { queue })
    expect(deleted.status).toBe(200)
    expect(deleted.json).toEqual({})
    const again = await q('/delete', { id: message.id, poll_tag: message.poll_tag }, { queue })
    expect(again.status).toBe(404)
    expect(again.text).toBe('message not found')
  })

  test('a poll answer is exactly the JSON of its message, whatever the contents hold', async () => {
    // The single-message answer is built as text (routes.ts singlePollText); it must be what
    // JSON.stringify writes for the same object, for contents that need escaping too.
    const queue = freshQueue('qj')
    const tricky = ['quote " and backslash \\ and slash /', 'lines\n\r\ttabs\u0000\u001f', 'emoji 🚀 and \u2028\u2029', '{"json":"inside"}', '']
    for (const contents of tricky) await pushOne(queue, contents)
    for (const contents of tricky) {
      const answer = await q('/poll', { visibility_timeout_secs: 30 }, { queue })
      expect(answer.status).toBe(200)
      const message = answer.json.message
      expect(message.contents).toBe(contents)
      expect(Object.keys(message)).toEqual(['contents', 'created', 'index', 'id', 'poll_count', 'poll_tag'])
      expect(answer.text).toBe(JSON.stringify({ message }))
    }
    const empty = await q('/poll', { visibility_timeout_secs: 30 }, { queue })
    expect(empty.text).toBe('{"message":null}')
  })

  test('the v0.1 names: `content` and `index` are accepted', async () => {
    const queue = freshQueue('qd')
    const pushed = await q('/push', { content: 'old client' }, { queue })
    expect(pushed.status).toBe(200)
    const message = await pollOne(queue, 30)
    expect(message.contents).toBe('old client')
    expect((await q('/delete', { index: message.index, poll_tag: message.poll_tag }, { queue })).status).toBe(200)
  })

  test('FIFO by visible-at then id; ids unique and increasing', async () => {
    const queue = freshQueue('qd')
    const ids = []
    for (const contents of ['one', 'two', 'three']) ids.push(await pushOne(queue, contents))
    expect([...ids].sort((a, b) => a - b)).toEqual(ids)
    expect(new Set(ids).size).toBe(3)
    const polled = []
    for (let i = 0; i < 3; i++) polled.push((await pollOne(queue, 60)).contents)
    expect(polled).toEqual(['one', 'two', 'three'])
  })

  test('visibility expiry: the message comes back with a new tag and poll_count 2; the old tag is dead', async () => {
    const queue = freshQueue('qd')
    const id = await pushOne(queue, 'again')
    const first = await pollOne(queue, 1)
    expect(first.poll_count).toBe(1)
    const second = await waitFor(async () => await pollOne(queue, 60), 10_000, 100)
    expect(second.id).toBe(id)
    expect(second.poll_count).toBe(2)
    expect(second.poll_tag).toMatch(hexTag)
    expect(second.poll_tag).not.toBe(first.poll_tag)
    const stale = await q('/delete', { id, poll_tag: first.poll_tag }, { queue })
    expect(stale.status).toBe(404)
    expect((await q('/delete', { id, poll_tag: second.poll_tag }, { queue })).status).toBe(200)
  })

  test('a push with a visibility timeout is invisible until then', async () => {
    const queue = freshQueue('qd')
    await pushOne(queue, 'later', 1)
    expect(await pollOne(queue, 30)).toBeNull()
    const message = await waitFor(async () => await pollOne(queue, 30), 10_000, 100)
    expect(message.contents).toBe('later')
    expect(message.poll_count).toBe(1)
  })

  test('a lease that lapsed can still be deleted with its tag while nobody re-polled', async () => {
    const queue = freshQueue('qd')
    const id = await pushOne(queue, 'lapsed')
    const message = await pollOne(queue, 0)
    expect((await q('/delete', { id, poll_tag: message.poll_tag }, { queue })).status).toBe(200)
    expect(await pollOne(queue, 0)).toBeNull()
  })
})

describe('tags', () => {
  test('wrong tag → 404; malformed tag → 400; a never-polled message matches no tag', async () => {
    const queue = freshQueue('qt')
    const id = await pushOne(queue, 'fenced')
    const zeros = await q('/delete', { id, poll_tag: zeroTag }, { queue })
    expect(zeros.status).toBe(404)
    expect(zeros.text).toBe('message not found')
    const message = await pollOne(queue, 30)
    const wrong = await q('/delete', { id, poll_tag: 'a'.repeat(60) }, { queue })
    expect(wrong.status).toBe(404)
    for (const tag of ['abc', 'g'.repeat(60), `${message.poll_tag}0`]) {
      const bad = await q('/delete', { id, poll_tag: tag }, { queue })
      expect(bad.status).toBe(400)
      expect(bad.text).toBe('invalid poll tag')
    }
    // Either case is accepted.
    expect((await q('/delete', { id, poll_tag: message.poll_tag.toUpperCase() }, { queue })).status).toBe(200)
  })

  test('the tag of another queue does not reach a message (queues are separate)', async () => {
    const queue = freshQueue('qt')
    const other = freshQueue('qt')
    const id = await pushOne(queue, 'mine')
    expect(await pollOne(other, 30)).toBeNull()
    const message = await pollOne(queue, 30)
    expect((await q('/delete', { id, poll_tag: message.poll_tag }, { queue: other })).status).toBe(404)
    expect((await q('/delete', { id, poll_tag: message.poll_tag }, { queue })).status).toBe(200)
  })

  test('/update moves visible-at and keeps the tag and poll_count', async () => {
    const queue = freshQueue('qt')
    const id = await pushOne(queue, 'extend me')
    const message = await pollOne(queue, 60)
    const updated = await q('/update', { id, poll_tag: message.poll_tag, visibility_timeout_secs: 0 }, { queue })
    expect(updated.status).toBe(200)
    expect(updated.json).toEqual({})
    const again = await pollOne(queue, 60)
    expect(again.id).toBe(id)
    expect(again.poll_count).toBe(2)
    const stale = await q('/update', { id, poll_tag: message.poll_tag, visibility_timeout_secs: 5 }, { queue })
    expect(stale.status).toBe(404)
    const kept = await q('/update', { id, poll_tag: again.poll_tag, visibility_timeout_secs: 5 }, { queue })
    expect(kept.status).toBe(200)
    expect((await q('/delete', { id, poll_tag: again.poll_tag }, { queue })).status).toBe(200)
  })
})

describe('batches', () => {
  test('batch push answers per item; rejected items use no id', async () => {
    const queue = freshQueue('qb')
    const answer = await q('/push', {
      messages: [{ contents: 'a' }, { contents: 'x'.repeat(1001) }, { contents: 'b', visibility_timeout_secs: 604_801 }, { content: 'c' }],
    }, { queue })
    expect(answer.status).toBe(200)
    const [a, tooLarge, badTimeout, c] = answer.json.results
    expect(a.id).toBe(a.index)
    expect(tooLarge).toEqual({ error: 'ContentTooLarge' })
    expect(badTimeout).toEqual({ error: 'InvalidVisibilityTimeout' })
    expect(c.id).toBeGreaterThan(a.id)
    expect(answer.json.errors).toEqual([{ typ: 'ContentTooLarge', index: 1 }, { typ: 'InvalidVisibilityTimeout', index: 2 }])
    const polled = await q('/poll', { visibility_timeout_secs: 30, count: 10 }, { queue })
    expect(polled.json.messages.map((message: { contents: string }) => message.contents)).toEqual(['a', 'c'])
    expect(polled.json.message).toEqual(polled.json.messages[0])
  })

  test('an empty batch is fine; above QUEUED_MAX_BATCH → 413; a bad item shape → 422 for all', async () => {
    const queue = freshQueue('qb')
    expect((await q('/push', { messages: [] }, { queue })).json).toEqual({ results: [], errors: [] })
    const tooMany = await q('/push', { messages: Array.from({ length: 11 }, () => ({ contents: 'x' })) }, { queue })
    expect(tooMany.status).toBe(413)
    expect(tooMany.text).toBe('too many messages')
    const badShape = await q('/push', { messages: [{ contents: 'ok' }, { contents: 5 }] }, { queue })
    expect(badShape.status).toBe(422)
    expect(badShape.text).toContain('messages[1].contents')
    expect(await pollOne(queue, 30)).toBeNull()
  })

  test('batch delete reports every item', async () => {
    const queue = freshQueue('qb')
    await q('/push', { messages: [{ contents: '1' }, { contents: '2' }] }, { queue })
    const polled = (await q('/poll', { visibility_timeout_secs: 30, count: 2 }, { queue })).json.messages
    const answer = await q('/delete', {
      messages: [
        { id: polled[0].id, poll_tag: polled[0].poll_tag },
        { id: polled[1].id, poll_tag: zeroTag },
        { index: polled[1].id, poll_tag: 'nope' },
      ],
    }, { queue })
    expect(answer.status).toBe(200)
    expect(answer.json.results).toEqual([
      { id: polled[0].id, deleted: true },
      { id: polled[1].id, error: 'MessageNotFound' },
      { id: polled[1].id, error: 'InvalidPollTag' },
    ])
  })
})

describe('suspend and throttle', () => {
  test('a suspended endpoint answers 503 and counts; resuming restores service', async () => {
    const queue = freshQueue('qs')
    expect((await q('/suspend', undefined, { queue })).json).toEqual({ push: false, poll: false, delete: false, update: false })
    const set = await q('/suspend', { push: true, poll: true }, { queue })
    expect(set.json).toEqual({ push: true, poll: true, delete: false, update: false })
    const before = await metrics()
    const pushed = await q('/push', { contents: 'x' }, { queue })
    expect(pushed.status).toBe(503)
    expect(pushed.text).toBe('this endpoint has been suspended')
    expect((await q('/poll', { visibility_timeout_secs: 1 }, { queue })).status).toBe(503)
    // Other queues are not affected.
    expect((await q('/push', { contents: 'x' }, { queue: freshQueue('qs') })).status).toBe(200)
    const after = await metrics()
    expect(metricValue(after, 'queued_suspended_push')).toBe((metricValue(before, 'queued_suspended_push') as number) + 1)
    expect(metricValue(after, 'queued_suspended_poll')).toBe((metricValue(before, 'queued_suspended_poll') as number) + 1)
    await q('/suspend', { push: false, poll: false }, { queue })
    expect((await q('/push', { contents: 'x' }, { queue })).status).toBe(200)
    expect((await q('/suspend', { push: 'yes' }, { queue })).status).toBe(422)
  })

  test('throttle: a burst of N, then 429 with Retry-After; null turns it off', async () => {
    const queue = freshQueue('qr')
    expect((await q('/throttle', undefined, { queue })).json).toEqual({ throttle: null })
    const setting = { max_polls_per_time_window: 2, time_window_sec: 3600 }
    expect((await q('/throttle', { throttle: setting }, { queue })).json).toEqual({ throttle: setting })
    expect((await q('/throttle', undefined, { queue })).json).toEqual({ throttle: setting })
    expect((await q('/poll', { visibility_timeout_secs: 1 }, { queue })).status).toBe(200)
    expect((await q('/poll', { visibility_timeout_secs: 1 }, { queue })).status).toBe(200)
    const throttled = await q('/poll', { visibility_timeout_secs: 1 }, { queue })
    expect(throttled.status).toBe(429)
    expect(throttled.text).toBe('throttled')
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect((await q('/throttle', { throttle: null }, { queue })).json).toEqual({ throttle: null })
    expect((await q('/poll', { visibility_timeout_secs: 1 }, { queue })).status).toBe(200)
    for (const bad of [{ max_polls_per_time_window: 0, time_window_sec: 1 }, { max_polls_per_time_window: 1, time_window_sec: 0 }]) {
      const answer = await q('/throttle', { throttle: bad }, { queue })
      expect(answer.status).toBe(400)
      expect(answer.text).toBe('invalid throttle')
    }
  })

  test('the throttle refills: a rate, not a lifetime cap', async () => {
    const queue = freshQueue('qr')
    await q('/throttle', { max_polls_per_time_window: 1, time_window_sec: 1 }, { queue })
    expect((await q('/poll', { visibility_timeout_secs: 1 }, { queue })).status).toBe(200)
    expect((await q('/poll', { visibility_timeout_secs: 1 }, { queue })).status).toBe(429)
    await waitFor(async () => (await q('/poll', { visibility_timeout_secs: 1 }, { queue })).status === 200, 10_000, 200)
  })
})

describe('bad requests (§1.8)', () => {
  test('malformed JSON 400, wrong Content-Type 415, wrong shape 422', async () => {
    const malformed = await q('/push', undefined, { raw: '{"contents":' })
    expect(malformed.status).toBe(400)
    expect(malformed.headers.get('content-type')).toContain('text/plain')
    expect(malformed.text).toContain('JSON')
    const wrongType = await q('/push', undefined, { raw: '{"contents":"x"}', headers: { 'Content-Type': 'text/plain' } })
    expect(wrongType.status).toBe(415)
    const missing = await q('/push', { visibility_timeout_secs: 1 })
    expect(missing.status).toBe(422)
    expect(missing.text).toContain('contents')
    const notString = await q('/push', { contents: 5 })
    expect(notString.status).toBe(422)
    const pollMissing = await q('/poll', {})
    expect(pollMissing.status).toBe(422)
    expect(pollMissing.text).toContain('visibility_timeout_secs')
    expect((await q('/poll', { visibility_timeout_secs: 1.5 })).status).toBe(422)
    expect((await q('/delete', { poll_tag: zeroTag })).status).toBe(422)
  })

  test('value errors: visibility, queue name, id/index conflict, content size', async () => {
    for (const visibility of [-1, 604_801]) {
      const answer = await q('/poll', { visibility_timeout_secs: visibility })
      expect(answer.status).toBe(400)
      expect(answer.text).toBe('invalid visibility timeout')
    }
    expect((await q('/poll', { visibility_timeout_secs: 604_800 }, { queue: freshQueue('qv') })).status).toBe(200)
    for (const queue of ['a/b', '', 'x'.repeat(257)]) {
      const answer = await q('/poll', { visibility_timeout_secs: 1 }, { queue })
      expect(answer.status).toBe(400)
      expect(answer.text).toBe('invalid queue name')
    }
    const conflict = await q('/delete', { id: 1, index: 2, poll_tag: zeroTag })
    expect(conflict.status).toBe(400)
    expect(conflict.text).toBe('conflicting id and index')
    const large = await q('/push', { contents: 'é'.repeat(501) }) // 1002 UTF-8 bytes
    expect(large.status).toBe(413)
    expect(large.text).toBe('content too large')
    expect((await q('/push', { contents: 'é'.repeat(500) }, { queue: freshQueue('qv') })).status).toBe(200)
  })

  test('unknown route 404, wrong method 405, healthz without auth', async () => {
    expect((await q('/nope', {})).status).toBe(404)
    expect((await q('/push', undefined, { method: 'GET' })).status).toBe(405)
    const health = await q('/healthz')
    expect(health.status).toBe(200)
    expect(health.json).toMatchObject({ version: expect.any(String), durable: true })
  })
})

describe('flashQ side and metrics', () => {
  test('a queued queue shows in LISTQUEUES, and the gauges count its messages', async () => {
    const queue = freshQueue('qm')
    await pushOne(queue, 'visible')
    await pushOne(queue, 'leased')
    await pushOne(queue, 'delayed', 600)
    await pollOne(queue, 600)
    const client = await WireClient.connect(server.tcpPort)
    const listed = await client.request({ cmd: 'LISTQUEUES' })
    client.close()
    expect(listed.queues.map((info: { name: string }) => info.name)).toContain(queue)
    const text = await metrics()
    expect(metricValue(text, 'queued_available')).toBeGreaterThanOrEqual(3)
    expect(metricValue(text, 'queued_visible')).toBeGreaterThanOrEqual(1)
    expect(metricValue(text, 'queued_invisible')).toBeGreaterThanOrEqual(2)
  })

  test('counters move and every family has HELP and TYPE', async () => {
    const queue = freshQueue('qm')
    const before = await metrics()
    await pushOne(queue, 'm')
    const message = await pollOne(queue, 30)
    await pollOne(queue, 30) // empty
    await q('/delete', { id: message.id, poll_tag: zeroTag }, { queue }) // missing
    await q('/delete', { id: message.id, poll_tag: message.poll_tag }, { queue })
    const after = await metrics()
    const delta = (name: string) => (metricValue(after, name) as number) - (metricValue(before, name) as number)
    expect(delta('queued_successful_push')).toBe(1)
    expect(delta('queued_successful_poll')).toBe(1)
    expect(delta('queued_empty_poll')).toBe(1)
    expect(delta('queued_missing_delete')).toBe(1)
    expect(delta('queued_successful_delete')).toBe(1)
    // Durable writes happened: the group-commit counters moved with them.
    expect(delta('queued_io_sync')).toBeGreaterThan(0)
    expect(delta('queued_io_write_bytes')).toBeGreaterThan(0)
    expect(delta('queued_io_sync_delayed')).toBeGreaterThan(0)
    expect(delta('queued_io_commit_latency_seconds_count')).toBeGreaterThan(0)
    expect(metricValue(after, 'queued_io_commit_latency_seconds_bucket{le="+Inf"}')).toBe(metricValue(after, 'queued_io_commit_latency_seconds_count'))
    expect(metricValue(after, 'queued_io_sync')).toBe(
      (metricValue(after, 'queued_io_sync_triggered_by_bytes') as number) + (metricValue(after, 'queued_io_sync_triggered_by_time') as number),
    )
    checkExposition(after)
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/metrics/prometheus`)
    expect(response.headers.get('content-type')).toContain('text/plain')
    expect(await response.text()).toContain('queued_successful_push')
  })
})

describe('durability', () => {
  test('kill -9 after 2xx: messages, leases, tags and poll counts survive; ids are never reused', async () => {
    const own = await startServer({ args: ['--shards', '2'] })
    try {
      const client = queuedClient(own.httpPort as number)
      const queue = freshQueue('qk')
      const pushed = await Promise.all(Array.from({ length: 50 }, (_, i) => client('/push', { contents: `m${i}` }, { queue })))
      expect(pushed.every((answer) => answer.status === 200)).toBe(true)
      const leased = (await client('/poll', { visibility_timeout_secs: 3600, count: 5 }, { queue })).json.messages
      const deleted = (await client('/poll', { visibility_timeout_secs: 3600 }, { queue })).json.message
      expect((await client('/delete', { id: deleted.id, poll_tag: deleted.poll_tag }, { queue })).status).toBe(200)
      const restarted = await own.restart()
      const after = queuedClient(restarted.httpPort as number)
      const rest = (await after('/poll', { visibility_timeout_secs: 3600, count: 100 }, { queue })).json.messages
      const leasedIds = new Set(leased.map((message: { id: number }) => message.id))
      // 50 pushed − 5 leased − 1 deleted: the leased stay invisible, the deleted one is gone.
      expect(rest.length).toBe(44)
      expect(rest.some((message: { id: number }) => leasedIds.has(message.id) || message.id === deleted.id)).toBe(false)
      expect(rest.every((message: { poll_count: number }) => message.poll_count === 1)).toBe(true)
      // The leases' tags are still valid after the restart.
      const lease = leased[0]
      expect((await after('/update', { id: lease.id, poll_tag: lease.poll_tag, visibility_timeout_secs: 0 }, { queue })).status).toBe(200)
      const back = (await after('/poll', { visibility_timeout_secs: 60 }, { queue })).json.message
      expect(back.id).toBe(lease.id)
      expect(back.poll_count).toBe(2)
      const newId = (await after('/push', { contents: 'new' }, { queue })).json.id
      const allIds = pushed.map((answer) => answer.json.id as number)
      expect(newId).toBeGreaterThan(Math.max(...allIds))
      await restarted.cleanup()
    } finally {
      await own.cleanup()
    }
  })
})

describe('durability under load', () => {
  test('kill -9 during concurrent pushes and deletes: every 2xx push is kept, every 2xx delete stays deleted', async () => {
    const own = await startServer({ args: ['--shards', '2'] })
    try {
      const client = queuedClient(own.httpPort as number)
      const queue = freshQueue('qx')
      // Messages to delete during the load (polled first, so their tags are known).
      await client('/push', { messages: Array.from({ length: 200 }, (_, i) => ({ contents: `old${i}` })) }, { queue })
      const toDelete = (await client('/poll', { visibility_timeout_secs: 3600, count: 200 }, { queue })).json.messages
      const pushedIds: number[] = []
      const deletedIds: number[] = []
      let running = true
      const pusher = async (lane: number) => {
        for (let i = 0; running; i++) {
          const answer = await client('/push', { contents: `lane${lane}-${i}` }, { queue }).catch(() => null)
          if (answer?.status === 200) pushedIds.push(answer.json.id)
        }
      }
      const deleter = async () => {
        for (const message of toDelete) {
          if (!running) return
          const answer = await client('/delete', { id: message.id, poll_tag: message.poll_tag }, { queue }).catch(() => null)
          if (answer?.status === 200) deletedIds.push(message.id)
        }
      }
      const lanes = [...Array(8).keys()].map(pusher)
      const deleting = deleter()
      await waitFor(async () => pushedIds.length >= 300 && deletedIds.length >= 20, 20_000, 10)
      await own.kill('SIGKILL')
      running = false
      await Promise.all([...lanes, deleting])
      const restarted = await own.restart()
      const after = queuedClient(restarted.httpPort as number)
      const seen = new Set<number>()
      for (;;) {
        const batch = (await after('/poll', { visibility_timeout_secs: 3600, count: 1000 }, { queue })).json.messages
        if (batch.length === 0) break
        for (const message of batch) seen.add(message.id)
      }
      const lost = pushedIds.filter((id) => !seen.has(id))
      expect(lost).toEqual([])
      // Deleted messages never come back; the others of the first 200 are still leased (invisible).
      expect(deletedIds.filter((id) => seen.has(id))).toEqual([])
      await restarted.cleanup()
    } finally {
      await own.cleanup()
    }
  })
})

describe('auth and NO_QUEUED_API', () => {
  test('with tokens: 401 with WWW-Authenticate unless Bearer; /healthz needs none', async () => {
    const own = await startServer({ args: ['--auth-token', 'sekrit'] })
    try {
      const client = queuedClient(own.httpPort as number)
      const denied = await client('/push', { contents: 'x' })
      expect(denied.status).toBe(401)
      expect(denied.text).toBe('Invalid or missing authentication token')
      expect(denied.headers.get('www-authenticate')).toBe('Bearer')
      expect((await client('/push', { contents: 'x' }, { token: 'wrong' })).status).toBe(401)
      expect((await client('/push', { contents: 'x' }, { token: 'sekrit' })).status).toBe(200)
      expect((await client('/suspend', undefined, { token: 'sekrit' })).status).toBe(200)
      expect((await client('/healthz')).status).toBe(200)
    } finally {
      await own.cleanup()
    }
  })

  test('NO_QUEUED_API: the routes answer 404 (/healthz too: §1.1, §5), /metrics and /health stay', async () => {
    const own = await startServer({ args: ['--memory'], env: { NO_QUEUED_API: '1' } })
    try {
      const client = queuedClient(own.httpPort as number)
      expect((await client('/push', { contents: 'x' })).status).toBe(404)
      expect((await client('/poll', { visibility_timeout_secs: 1 })).status).toBe(404)
      expect((await client('/healthz')).status).toBe(404)
      expect((await client('/health')).status).toBe(200)
      const text = await (await fetch(`http://127.0.0.1:${own.httpPort}/metrics/prometheus`)).text()
      expect(text).toContain('# TYPE')
    } finally {
      await own.cleanup()
    }
  })

  test('a bad QUEUED_MAX_BATCH stops the start with a reason', async () => {
    await expect(startServer({ args: ['--memory'], env: { QUEUED_MAX_BATCH: 'lots' } })).rejects.toThrow(/QUEUED_MAX_BATCH/)
  })
})

async function metrics(): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${server.httpPort}/metrics/prometheus`)
  expect(response.status).toBe(200)
  return await response.text()
}

/** Every sample is `name value`, and every family has HELP and TYPE lines before its samples. */
function checkExposition(text: string): void {
  const described = new Set<string>()
  const typed = new Set<string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const help = /^# HELP (\w+) .+$/.exec(line)
    const type = /^# TYPE (\w+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (help) described.add(help[1] as string)
    else if (type) typed.add(type[1] as string)
    else {
      const sample = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (-?[\d.e+-]+|NaN|\+Inf|-Inf)$/.exec(line)
      expect(sample).not.toBeNull()
      const family = (sample as RegExpExecArray)[1] as string
      const base = family.replace(/_(bucket|sum|count)$/, '')
      expect(described.has(family) || described.has(base)).toBe(true)
      expect(typed.has(family) || typed.has(base)).toBe(true)
    }
  }
}
