/**
 * The checkpoint capture (snapshot.ts) while commands keep running: whatever changes between the
 * pulls of a capture, (1) the capture holds exactly the records of the state at its start P — the
 * records an uninterrupted capture at P gives —, and (2) recovery from it plus the records logged
 * after P equals replaying every record from the start. Deterministic per command, then seeded.
 */
import { describe, expect, test } from 'bun:test'
import { prng, seedFromEnv } from '../base/prng.ts'
import type { Engine } from './engine.ts'
import { snapshotBodyText } from './snapshot.ts'
import { Harness, replayed } from './test-helpers.ts'
import type { LogRecord } from './types.ts'

/** A shard with jobs in every state: waiting, delayed, active, completed, DLQ, parked, flows, logs. */
function populated(): { h: Harness; ids: Record<string, number> } {
  const h = new Harness()
  const ids: Record<string, number> = {}
  for (let i = 0; i < 6; i++) ids[`w${i}`] = h.push('a', { data: { i }, priority: i % 3, unique_key: `k${i}`, job_id: `c${i}` })
  ids.delayed = h.push('a', { data: 'later', delay: 5000 })
  ids.ttl = h.push('b', { data: 'short', ttl: 300 })
  for (let i = 0; i < 4; i++) ids[`done${i}`] = h.push('c', { data: { done: i }, remove_on_complete: i === 3 })
  for (let i = 0; i < 4; i++) {
    const job = h.pull('c') as { id: number }
    h.call({ cmd: 'ACK', id: job.id, result: i === 0 ? { r: i } : undefined })
  }
  for (let i = 0; i < 3; i++) ids[`dlq${i}`] = h.push('d', { data: { dlq: i }, max_attempts: 1 })
  for (let i = 0; i < 3; i++) h.call({ cmd: 'FAIL', id: (h.pull('d') as { id: number }).id, error: `boom ${i}` })
  ids.dependency = h.push('e', { data: 'first' })
  ids.parked = h.push('e', { data: 'second', depends_on: [ids.dependency] })
  const flow = h.call({ cmd: 'FLOW', queue: 'f', data: 'parent', children: [{ queue: 'g', data: 'c1' }, { queue: 'g', data: 'c2' }] })
  ids.parent = flow.parent_id as number
  ids.child = (flow.children_ids as number[])[0] as number
  for (let i = 0; i < 3; i++) ids[`act${i}`] = h.push('h', { data: { act: i }, timeout: 1000, stall_timeout: 400, max_attempts: 3, backoff: 10 })
  for (let i = 0; i < 3; i++) h.pull('h')
  h.call({ cmd: 'LOG', id: ids.w0, message: 'hello' })
  h.call({ cmd: 'KVSET', key: 'kv', value: 1 })
  return { h, ids }
}

/** The record texts of an uninterrupted capture (the state as of now). */
function captureNow(engine: Engine): string[] {
  return Array.from(engine.captureSnapshot(), snapshotBodyText)
}

/** Texts in the order that matters (completed jobs and DLQs keep theirs), the other jobs sorted. */
function comparable(texts: string[]): string[] {
  const isOtherJob = (text: string) => text.startsWith('{"t":"j"') && !/"l":[56][,}]/.test(text)
  return [...texts.filter((text) => !isOtherJob(text)), ...texts.filter(isOtherJob).sort()]
}

/** What a client could see (replayed engines hold no active jobs: pull-only fields left out). */
function observe(engine: Engine, ids: number[], nowMs: number) {
  const h = new Harness()
  h.engine = engine
  h.clock.advance(nowMs - h.now)
  const jobs = ids.map((id) => {
    const reply = h.call({ cmd: 'GETJOB', id })
    const job = reply.job as Record<string, unknown> | null
    if (job !== null) {
      job.started_at = 0
      job.last_heartbeat = 0
    }
    const state = reply.state === 'active' ? 'waiting' : reply.state
    return { id, state, job, result: h.call({ cmd: 'GETRESULT', id }).result, logs: h.call({ cmd: 'GETLOGS', id }).logs }
  })
  const queues = (h.call({ cmd: 'LISTQUEUES' }).queues as Array<{ name: string }>).map((q) => q.name).sort()
  const dlqs = queues.map((queue) => (h.call({ cmd: 'DLQ', queue, count: 1000 }).jobs as Array<{ id: number }>).map((job) => job.id))
  const completed = queues.map((queue) => (h.call({ cmd: 'GETJOBS', queue, state: 'completed', limit: 1000 }).jobs as Array<{ id: number }>).map((job) => job.id))
  return { jobs, queues, dlqs, completed, kv: h.call({ cmd: 'KVGET', key: 'kv' }).value }
}

/**
 * Pulls the capture `perPull` texts at a time and runs the next change between pulls; then checks
 * the capture against an uninterrupted one at P, and recovery against a replay from the start.
 */
function checkCapture(h: Harness, changes: Array<() => void>, perPull: number, where: string): void {
  const atP = captureNow(h.engine)
  const recordsAtP = h.records.length
  const capture = h.engine.captureSnapshot()
  const texts: string[] = []
  for (let done = false; !done;) {
    for (let i = 0; i < perPull; i++) {
      const step = capture.next()
      if (step.done === true) {
        done = true
        break
      }
      texts.push(snapshotBodyText(step.value))
    }
    changes.shift()?.()
  }
  for (const change of changes) change()
  expect(h.engine.core.capture, where).toBeNull()
  expect(comparable(texts), where).toEqual(comparable(atP))

  const ids = Array.from({ length: h.engine.core.sequence }, (_, i) => i + 1)
  const fromCheckpoint = replayed([...texts.map((text) => JSON.parse(text) as LogRecord), ...h.records.slice(recordsAtP)], h.now)
  const fromStart = replayed(h.records, h.now)
  expect(observe(fromCheckpoint, ids, h.now), where).toEqual(observe(fromStart, ids, h.now))
}

/** A scenario check of the table below (an Error, so the random test can run changes leniently). */
function must(condition: boolean, what: string): void {
  if (!condition) throw new Error(`scenario: ${what}`)
}

/** The id of a job pulled from `queue` (a scenario error when there is none). */
function pulled(h: Harness, queue: string): number {
  const job = h.pull(queue)
  must(job !== null, `a job to pull in ${queue}`)
  return (job as { id: number }).id
}

/** Changes to jobs the capture has not reached: one command (or tick) each. */
const changes: Record<string, (h: Harness, ids: Record<string, number>) => void> = {
  push: (h) => void h.push('a', { data: 'new' }),
  pull: (h) => void h.call({ cmd: 'PULLB', queue: 'a', count: 3, timeout: 0 }),
  ack: (h, ids) => void h.call({ cmd: 'ACK', id: ids.act0, result: { ok: 1 } }),
  'ack releasing a dependent': (h, ids) => {
    h.call({ cmd: 'ACK', id: pulled(h, 'e') })
    must(h.state(ids.parked as number) === 'waiting', 'the dependent is released')
  },
  'ack of a flow child': (h, ids) => {
    h.call({ cmd: 'ACK', id: pulled(h, 'g') })
    must((h.call({ cmd: 'GETJOB', id: ids.parent }).job as { children_completed: number }).children_completed === 1, 'the parent counts it')
  },
  fail: (h, ids) => void h.call({ cmd: 'FAIL', id: ids.act1, error: 'again' }),
  'fail to the DLQ': (h) => {
    const id = h.push('d', { data: 'x', max_attempts: 1 })
    h.call({ cmd: 'FAIL', id: pulled(h, 'd'), error: `last ${id}` })
  },
  cancel: (h, ids) => void h.call({ cmd: 'CANCEL', id: ids.w1 }),
  update: (h, ids) => void h.call({ cmd: 'UPDATEJOB', id: ids.w2, data: { updated: true } }),
  'update a failed job': (h, ids) => void h.call({ cmd: 'UPDATEJOB', id: ids.dlq1, data: { updated: true } }),
  progress: (h, ids) => void h.call({ cmd: 'PROGRESS', id: ids.act2, progress: 50, message: 'half' }),
  'change priority': (h, ids) => void h.call({ cmd: 'CHANGEPRIORITY', id: ids.w3, priority: 9 }),
  'move to delayed': (h, ids) => void h.call({ cmd: 'MOVETODELAYED', id: ids.act0, delay: 1000 }),
  promote: (h, ids) => void h.call({ cmd: 'PROMOTE', id: ids.delayed }),
  discard: (h, ids) => void h.call({ cmd: 'DISCARD', id: ids.w4 }),
  'retry one DLQ job': (h, ids) => void h.call({ cmd: 'RETRYDLQ', queue: 'd', id: ids.dlq1 }),
  'retry the DLQ': (h) => void h.call({ cmd: 'RETRYDLQ', queue: 'd' }),
  'purge the DLQ': (h) => void h.call({ cmd: 'PURGEDLQ', queue: 'd' }),
  'clean completed': (h) => void h.call({ cmd: 'CLEAN', queue: 'c', grace: 0, state: 'completed' }),
  drain: (h) => void h.call({ cmd: 'DRAIN', queue: 'a' }),
  obliterate: (h) => void h.call({ cmd: 'OBLITERATE', queue: 'd' }),
  heartbeat: (h, ids) => void h.call({ cmd: 'HEARTBEAT', id: ids.act1 }),
  log: (h, ids) => void h.call({ cmd: 'LOG', id: ids.w0, message: 'more' }),
  'ttl expiry': (h) => h.advance(400),
  'stall strike': (h) => h.advance(10_001),
  'processing timeout': (h) => h.advance(1001),
}

describe('a checkpoint capture while commands run', () => {
  for (const [name, change] of Object.entries(changes)) {
    test(`${name}: the capture is the state at its start, and recovery equals replay`, () => {
      const { h, ids } = populated()
      // Two texts (fmt, seq) pulled first: every job is still to be captured when the change comes;
      // a few pulls later, more of the same kind.
      checkCapture(h, [() => change(h, ids), () => {}, () => {}, () => h.push('a', { data: 'more' }), () => h.advance(1)], 2, name)
    })
  }

  test('return() ends copy-on-write; one capture at a time', () => {
    const { h, ids } = populated()
    const capture = h.engine.captureSnapshot()
    expect(() => h.engine.captureSnapshot()).toThrow('running already')
    capture.next()
    capture.return()
    expect(h.engine.core.capture).toBeNull()
    h.call({ cmd: 'UPDATEJOB', id: ids.w0, data: 'after' })
    expect(capture.next().done).toBe(true)
    expect(captureNow(h.engine).some((text) => text.includes('"d":"after"'))).toBe(true)
  })
})

const seed = seedFromEnv()

test(`random commands between random pulls of a capture (SEED=${seed})`, () => {
  const random = prng(seed)
  const names = Object.keys(changes)
  for (let round = 0; round < 25; round++) {
    const { h, ids } = populated()
    const some = Array.from({ length: 12 }, () => {
      const name = random.pick(names)
      const extra = random.int(3)
      return () => {
        ;(changes[name] as (h: Harness, ids: Record<string, number>) => void)(h, ids)
        if (extra === 0) h.advance(random.int(500))
        else if (extra === 1) h.push(random.pick(['a', 'c', 'd', 'h']), { data: { round }, max_attempts: 1 })
      }
    })
    // A scenario check (must) may not hold after other random changes: only the capture is checked.
    const lenient = some.map((change) => () => {
      try {
        change()
      } catch (error) {
        if (!String(error).includes('scenario:')) throw error
      }
    })
    checkCapture(h, lenient, 1 + random.int(6), `round ${round} SEED=${seed}`)
  }
}, 60_000)
