/**
 * Frozen jobs (job-table.ts): a plain waiting job is kept as numbers in its page's columns and as a
 * handle in its heap (job-heap.ts), and thawed into a Job object when read. Differential: the same
 * seeded command sequence with freezing on and off must give the same replies, records, events and
 * checkpoint texts (a checkpoint pulled between commands, as the log does), and the same state after
 * the records and the checkpoint are replayed. SEED=… reproduces a failure.
 */
import { expect, test } from 'bun:test'
import { prng, seedFromEnv } from '../base/prng.ts'
import { Engine } from './engine.ts'
import { LOC_GONE, payloadText } from './job.ts'
import { snapshotBodyText } from './snapshot.ts'
import { Harness } from './test-helpers.ts'
import type { LogRecord } from './types.ts'

const seed = seedFromEnv()
const queues = ['a', 'b']

/** PUSHB in batches of at most 1000 (the batch limit); the ids. */
function pushMany(h: Harness, queue: string, jobs: Array<Record<string, unknown>>): number[] {
  const ids: number[] = []
  for (let at = 0; at < jobs.length; at += 1000) ids.push(...(h.call({ cmd: 'PUSHB', queue, jobs: jobs.slice(at, at + 1000) }).ids as number[]))
  return ids
}

/** PULLB until the queue gives no more; the ids in delivery order. */
function pullAll(h: Harness, queue: string): number[] {
  const ids: number[] = []
  for (;;) {
    const jobs = h.call({ cmd: 'PULLB', queue, count: 1000, timeout: 0 }).jobs as Array<{ id: number }>
    if (jobs.length === 0) return ids
    for (const job of jobs) ids.push(job.id)
  }
}

/** Which shard of how many the engine is (a frozen job's id is made from its page and slot with these). */
type Shard = { index: number; count: number }
const oneShard: Shard = { index: 0, count: 1 }

function harness(freezing: boolean, shard = oneShard): Harness {
  const h = new Harness(shard.index, shard.count)
  h.engine.core.jobs.freezing = freezing
  return h
}

/** Plain items (frozen once waiting) with every kind of payload the columns keep, and a few that are not plain. */
function items(rng: ReturnType<typeof prng>, count: number): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, index) => {
    switch (rng.int(12)) {
      case 0: return {}
      case 1: return { data: null }
      case 2: return { data: 'é 日本 🎉'.repeat(1 + rng.int(3)) }
      case 3: return { data: 'L'.repeat(1500) } // beyond the arena: a string, never frozen
      case 4: return { data: index, priority: rng.int(3) }
      case 5: return { data: index, lifo: true }
      case 6: return { data: index, delay: rng.int(400) }
      case 7: return { data: index, tags: ['t'] } // a JobExtras: never frozen
      default: return { data: { n: index, pad: 'x'.repeat(rng.int(80)) }, max_attempts: rng.pick([0, 1, 3]) }
    }
  })
}

type Run = { replies: unknown[]; records: LogRecord[]; events: unknown[]; checkpoints: string[][]; frozenMax: number; engine: Engine; ids: number[] }

function run(freezing: boolean, steps: number, shard: Shard): Run {
  const rng = prng(seed + 11)
  const h = harness(freezing, shard)
  const ids: number[] = []
  const active: number[] = []
  const replies: unknown[] = []
  const checkpoints: string[][] = []
  let capture: ReturnType<Engine['captureSnapshot']> | null = null
  let frozenMax = 0
  const anyId = () => (ids.length === 0 ? 1 : (ids[rng.int(ids.length)] as number))
  const takeActive = () => (active.length === 0 ? anyId() : (active.splice(rng.int(active.length), 1)[0] as number))
  for (let step = 0; step < steps; step++) {
    // A running checkpoint is pulled a few records at a time between commands (outside batches).
    if (capture !== null) {
      const texts = checkpoints[checkpoints.length - 1] as string[]
      for (let pulled = 0; pulled < 40; pulled++) {
        const next = capture.next()
        if (next.done === true) {
          capture = null
          break
        }
        texts.push(snapshotBodyText(next.value))
      }
    } else if (rng.int(150) === 0) {
      capture = h.engine.captureSnapshot()
      checkpoints.push([])
    }
    const queue = rng.pick(queues)
    const op = rng.int(100)
    let request: Record<string, unknown>
    if (op < 14) request = { cmd: 'PUSHB', queue, jobs: items(rng, 1 + rng.int(rng.int(4) === 0 ? 400 : 20)) }
    else if (op < 20) request = { cmd: 'PUSH', queue, data: { s: step }, priority: rng.int(3), delay: rng.int(3) === 0 ? rng.int(300) : 0, lifo: rng.int(6) === 0 }
    else if (op < 34) request = { cmd: 'PULLB', queue, count: 1 + rng.int(rng.int(3) === 0 ? 200 : 4), timeout: 0 }
    else if (op < 44) request = { cmd: 'ACKB', ids: active.splice(0, 1 + rng.int(100)) }
    else if (op < 48) request = { cmd: 'FAIL', id: takeActive(), error: 'x' }
    else if (op < 54) request = { cmd: 'CANCEL', id: anyId() }
    else if (op < 59) request = { cmd: 'CHANGEPRIORITY', id: anyId(), priority: rng.int(5) }
    else if (op < 62) request = { cmd: 'PROMOTE', id: anyId() }
    else if (op < 65) request = { cmd: 'CHANGEDELAY', id: anyId(), delay: rng.int(500) }
    else if (op < 68) request = { cmd: 'UPDATEJOB', id: anyId(), data: { updated: step } }
    else if (op < 71) request = { cmd: 'MOVETODELAYED', id: takeActive(), delay: rng.int(300) }
    else if (op < 76) request = { cmd: 'GETJOB', id: anyId() }
    else if (op < 79) request = { cmd: 'GETJOBSBATCH', ids: [anyId(), anyId(), anyId()] }
    else if (op < 83) request = { cmd: 'GETJOBS', queue, state: rng.pick(['waiting', 'delayed', 'active', undefined]), limit: 20, offset: rng.int(50) }
    else if (op < 85) request = { cmd: 'GETJOBS', limit: 30, offset: rng.int(3000) }
    else if (op < 87) request = { cmd: 'GETJOBCOUNTS', queue }
    else if (op < 88) request = { cmd: 'CLEAN', queue, grace: 0, state: rng.pick(['waiting', 'delayed']), limit: 50 }
    else if (op < 89 && rng.int(4) === 0) request = { cmd: 'DRAIN', queue }
    else if (op < 90) request = { cmd: 'DISCARD', id: anyId() }
    else {
      h.advance(rng.int(3) === 0 ? 200 + rng.int(2000) : rng.int(60))
      continue
    }
    const reply = h.call(request)
    replies.push(reply)
    if (Array.isArray(reply.ids)) for (const id of reply.ids) if (typeof id === 'number') ids.push(id)
    if (typeof reply.id === 'number') ids.push(reply.id)
    for (const job of (reply.jobs as Array<{ id: number }> | undefined) ?? []) if (request.cmd === 'PULLB') active.push(job.id)
    frozenMax = Math.max(frozenMax, h.engine.core.jobs.frozenCount)
  }
  return { replies, records: h.records, events: h.events, checkpoints, frozenMax, engine: h.engine, ids }
}

/** A fresh engine (freezing on or off) that replayed `records` and finished at `nowMs`. */
function replayedWith(freezing: boolean, records: LogRecord[], nowMs: number, shard: Shard): Engine {
  const engine = new Engine({ shardIndex: shard.index, shardCount: shard.count, recordsEnabled: true })
  engine.core.jobs.freezing = freezing
  for (const record of JSON.parse(JSON.stringify(records)) as LogRecord[]) engine.replay(record)
  engine.finishReplay(nowMs)
  engine.drainOutput()
  return engine
}

/** What a client reads of every job and queue, and the order the rest would be delivered in. */
function observe(engine: Engine, ids: number[], nowMs: number) {
  const h = new Harness()
  h.engine = engine
  h.clock.advance(nowMs - h.now)
  const unique = [...new Set(ids)]
  const jobs = []
  for (let at = 0; at < unique.length; at += 100) jobs.push(h.call({ cmd: 'GETJOBSBATCH', ids: unique.slice(at, at + 100) }))
  const delivered = queues.map((queue) => pullAll(h, queue))
  return { jobs, delivered }
}

for (const [shard, steps] of [[oneShard, 3000], [{ index: 2, count: 3 }, 1500]] as const) {
  test(`freezing on and off: the same replies, records, events, checkpoints and replayed state, shard ${shard.index} of ${shard.count} (SEED=${seed})`, () => {
    const on = run(true, steps, shard)
    const off = run(false, steps, shard)
    // The sequence does freeze (a test of nothing otherwise), and the off run froze nothing.
    expect(on.frozenMax).toBeGreaterThan(500)
    expect(off.frozenMax).toBe(0)
    expect(on.checkpoints.length).toBeGreaterThan(2)
    expect(on.replies.length).toBe(off.replies.length)
    for (let index = 0; index < on.replies.length; index++) expect(on.replies[index], `reply ${index} SEED=${seed}`).toEqual(off.replies[index])
    expect(on.records).toEqual(off.records)
    expect(on.events).toEqual(off.events)
    expect(on.checkpoints).toEqual(off.checkpoints)
    const nowMs = new Harness().now + 1e6
    const expected = observe(replayedWith(false, off.records, nowMs, shard), off.ids, nowMs)
    expect(observe(replayedWith(true, on.records, nowMs, shard), on.ids, nowMs)).toEqual(expected)
    // The last checkpoint alone, replayed.
    const checkpoint = (on.checkpoints.at(-1) as string[]).map((text) => JSON.parse(text) as LogRecord)
    expect(observe(replayedWith(true, checkpoint, nowMs, shard), on.ids, nowMs)).toEqual(observe(replayedWith(false, checkpoint, nowMs, shard), off.ids, nowMs))
  }, 60_000)
}

test('a plain waiting job is frozen at the end of its batch and thawed, one object per batch, when read', () => {
  const h = harness(true)
  const ids = pushMany(h, 'q', Array.from({ length: 3000 }, (_, n) => ({ data: { n } })))
  const tagged = h.push('q', { data: 'tagged', tags: ['t'] })
  const table = h.engine.core.jobs
  // All but those of the page new ids still go to (its jobs wait as objects until it retires).
  const frozen = table.frozenCount
  expect(frozen).toBe(ids.filter((id) => id < 2048).length)
  const id = ids[1234] as number
  const job = table.get(id)
  expect(job).toBeDefined()
  expect(table.get(id)).toBe(job) // thawed once: the same object until the batch ends
  expect(table.frozenCount).toBe(frozen - 1)
  expect(job?.data).toEqual({ n: 1234 })
  expect(table.get(tagged)?.tags).toEqual(['t'])
  h.call({ cmd: 'GETJOB', id: ids[0] as number }) // a batch: its end freezes what was thawed
  expect(table.frozenCount).toBe(frozen)
  // The object of the earlier batch is no longer the job: it reads as gone, its payload throws.
  expect(job?.loc).toBe(LOC_GONE)
  expect(() => payloadText(job as NonNullable<typeof job>)).toThrow('held past its batch')
  expect(table.get(id)).not.toBe(job)
  expect(h.call({ cmd: 'GETJOB', id }).job).toMatchObject({ id, data: { n: 1234 } })
})

test('cancel, change priority and promote find a frozen job in its heap; the home registry empties', () => {
  const h = harness(true)
  const plain = pushMany(h, 'q', Array.from({ length: 2000 }, (_, n) => ({ data: n })))
  const delayed = h.call({ cmd: 'PUSHB', queue: 'q', jobs: Array.from({ length: 100 }, (_, n) => ({ data: -n, delay: 1000 })) }).ids as number[]
  const table = h.engine.core.jobs
  expect(table.frozenCount).toBe(2047) // ids 1 to 2047: the pages new ids moved past
  expect(table.frozenHomeCount).toBe(2)
  for (let index = 0; index < plain.length; index += 3) expect(h.call({ cmd: 'CANCEL', id: plain[index] as number }).ok).toBe(true)
  expect(h.call({ cmd: 'CHANGEPRIORITY', id: plain[1000] as number, priority: 9 }).ok).toBe(true)
  expect(h.call({ cmd: 'PROMOTE', id: delayed[50] as number }).ok).toBe(true)
  const order = pullAll(h, 'q')
  const rest = plain.filter((id, index) => index % 3 !== 0 && id !== plain[1000])
  expect(order).toEqual([plain[1000] as number, ...rest, delayed[50] as number])
  h.advance(2000)
  const late = pullAll(h, 'q')
  expect(late).toEqual(delayed.filter((id) => id !== delayed[50]))
  expect(table.frozenCount).toBe(0)
  expect(table.frozenHomeCount).toBe(0)
})

test('the frozen jobs of a page keep one home number until a second home freezes there; reads and order as without freezing', () => {
  const sequence = (freezing: boolean) => {
    const h = harness(freezing)
    // ids 1–1023 (page 0): one queue and priority, one home; 1024–2047 (page 1): two priorities, two homes.
    pushMany(h, 'q', Array.from({ length: 1023 }, (_, n) => ({ data: { n } })))
    pushMany(h, 'q', Array.from({ length: 1024 }, (_, n) => ({ data: { m: n }, priority: n % 2 === 0 ? 0 : 5 })))
    pushMany(h, 'q', Array.from({ length: 10 }, (_, n) => ({ data: -n }))) // page 2: new ids go there
    const columnBytes = h.engine.core.jobs.frozenColumnBytes
    const read = [1, 500, 1023, 1024, 1025, 2047].map((id) => h.call({ cmd: 'GETJOB', id }).job as { data: unknown; priority: number })
    return { columnBytes, read: read.map((job) => [job.data, job.priority]), order: pullAll(h, 'q') }
  }
  const on = sequence(true)
  const off = sequence(false)
  expect(on.columnBytes).toBe(2 * 12 * 1024 + 4 * 1024) // page 0: place and bits; page 1: and a home per slot
  expect(off.columnBytes).toBe(0)
  expect(on.read).toEqual(off.read)
  expect(on.read[3]).toEqual([{ m: 0 }, 0])
  expect(on.read[4]).toEqual([{ m: 1 }, 5])
  expect(on.order).toEqual(off.order)
})

test('W5: 1M-style pushes of 100-byte payloads in batches of 1000 (straddling pages) freeze into 12 bytes of columns per job', () => {
  const h = harness(true)
  pushMany(h, 'q', Array.from({ length: 5000 }, (_, n) => ({ data: { n, pad: 'x'.repeat(80) } })))
  // ids 1–4095 on pages 0–3 (page 4 takes new ids); a batch's jobs of the older page freeze before that page's earlier ones.
  expect(h.engine.core.jobs.frozenCount).toBe(4095)
  expect(h.engine.core.jobs.frozenColumnBytes).toBe(4 * 12 * 1024)
})

test('a page whose payloads span more than 16 chunks keeps whole places; reads, order and checkpoint as without freezing', () => {
  const sequence = (freezing: boolean) => {
    const h = harness(freezing)
    // ~1000-byte payloads: page 0's 1023 jobs fill ~16 chunks of 64 KiB, beyond the 32-bit code's reach.
    const big = (n: number) => ({ n, pad: 'y'.repeat(980) })
    pushMany(h, 'q', Array.from({ length: 1023 }, (_, n) => ({ data: n % 100 === 0 ? null : n % 101 === 0 ? undefined : big(n) })))
    pushMany(h, 'q', Array.from({ length: 1100 }, (_, n) => ({ data: { m: n } }))) // page 1 small; page 2 takes new ids
    const columnBytes = h.engine.core.jobs.frozenColumnBytes
    const checkpoint = Array.from(h.engine.captureSnapshot(), snapshotBodyText)
    const read = [1, 100, 101, 500, 1000, 1022, 1023, 1500].map((id) => h.call({ cmd: 'GETJOB', id }).job as { data: unknown })
    return { columnBytes, checkpoint, read: read.map((job) => job.data), order: pullAll(h, 'q') }
  }
  const on = sequence(true)
  const off = sequence(false)
  expect(on.columnBytes).toBe(2 * 12 * 1024 + 8 * 1024) // page 0 got a wide place column
  expect(on.read).toEqual(off.read)
  expect(on.read[6]).toEqual({ n: 1022, pad: 'y'.repeat(980) })
  expect(on.checkpoint).toEqual(off.checkpoint)
  expect(on.order).toEqual(off.order)
})

test('a checkpoint walk between batches reads frozen jobs without thawing them', () => {
  const h = harness(true)
  pushMany(h, 'q', Array.from({ length: 2500 }, (_, n) => ({ data: { n } })))
  const table = h.engine.core.jobs
  const frozen = table.frozenCount
  expect(frozen).toBe(2047)
  const capture = h.engine.captureSnapshot()
  const texts: string[] = []
  for (let next = capture.next(); next.done !== true; next = capture.next()) {
    texts.push(snapshotBodyText(next.value))
    expect(table.frozenCount).toBe(frozen)
  }
  expect(table.frozenCount).toBe(frozen)
  expect(texts.filter((text) => text.startsWith('{"t":"j"')).length).toBe(2500)
  const off = harness(false)
  pushMany(off, 'q', Array.from({ length: 2500 }, (_, n) => ({ data: { n } })))
  expect(texts).toEqual(Array.from(off.engine.captureSnapshot(), snapshotBodyText))
})

test('a page made sparse (few jobs left) thaws its frozen jobs and keeps them in order, as without freezing', () => {
  const sequence = (freezing: boolean) => {
    const h = harness(freezing)
    const first = pushMany(h, 'q', Array.from({ length: 1024 }, (_, n) => ({ data: { n }, priority: n % 3 })))
    pushMany(h, 'q', Array.from({ length: 2100 }, (_, n) => ({ data: -n }))) // later pages: the first is no longer the newest
    const frozenBefore = h.engine.core.jobs.frozenCount
    // Cancel the first page down to 40 jobs, then below sparseBelow (32): the page turns sparse.
    const kept = first.filter((_, index) => index % 25 === 0)
    for (const id of first) if (!kept.includes(id)) h.call({ cmd: 'CANCEL', id })
    const frozenAt40 = h.engine.core.jobs.frozenCount
    for (const id of kept.slice(0, 12)) h.call({ cmd: 'CANCEL', id })
    return {
      frozen: [frozenBefore, frozenAt40, h.engine.core.jobs.frozenCount],
      jobs: h.call({ cmd: 'GETJOBSBATCH', ids: kept }),
      order: pullAll(h, 'q'),
      records: h.records,
    }
  }
  const on = sequence(true)
  const off = sequence(false)
  // Pages 0 to 2 (ids 1 to 3071) freeze; of the first 1024 ids (1023 on page 0) 41 stay frozen,
  // until at 29 the page is sparse and holds them as objects.
  expect(on.frozen).toEqual([3071, 3071 - 1024 + 41, 3071 - 1024])
  expect(off.frozen).toEqual([0, 0, 0])
  expect(on.jobs).toEqual(off.jobs)
  expect(on.order).toEqual(off.order)
  expect(on.records).toEqual(off.records)
})
