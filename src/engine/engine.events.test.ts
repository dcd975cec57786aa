/**
 * The event extensions (README "Events"): `active` per delivered job, `drained` when a delivery takes
 * a queue's last ready job, `delayed` for a push or move-to-delayed with a future run_at, `removed`
 * on CANCEL, `retrying` with {attempts, run_at}; FAIL's `retry_delay`; and no events at all while
 * nobody listens (Core.eventsEnabled).
 */
import { describe, expect, test } from 'bun:test'
import { Harness, restart } from './test-helpers.ts'
import { removedEventsPerCommandMax } from './engine-limits.ts'

const types = (h: Harness) => h.events.map((e) => `${e.event_type}:${e.job_id}`)

describe('event extensions', () => {
  test('a PULLB emits active per job, then drained once the queue has no ready job left', () => {
    const h = new Harness()
    const a = h.push('q')
    const b = h.push('q')
    const c = h.push('q')
    h.events.length = 0
    expect((h.call({ cmd: 'PULLB', queue: 'q', count: 2, timeout: 0 }).jobs as unknown[]).length).toBe(2)
    expect(types(h)).toEqual([`active:${a}`, `active:${b}`])
    h.events.length = 0
    h.call({ cmd: 'PULLB', queue: 'q', count: 2, timeout: 0 })
    expect(types(h)).toEqual([`active:${c}`, 'drained:0'])
    h.events.length = 0
    h.call({ cmd: 'PULLB', queue: 'q', count: 2, timeout: 0 })
    expect(types(h)).toEqual([]) // an empty queue polled again is not drained again
  })

  test('a blocked pull served by a later push emits active and drained', () => {
    const h = new Harness()
    const pull = h.send({ cmd: 'PULL', queue: 'q', timeout: 5000 })
    const id = h.push('q')
    expect((h.take(pull.token)?.job as { id: number }).id).toBe(id)
    expect(types(h)).toEqual([`pushed:${id}`, `active:${id}`, 'drained:0'])
  })

  test('delayed: a push with a delay and MOVETODELAYED carry the run_at; a push without one is not delayed', () => {
    const h = new Harness()
    const later = h.push('q', { delay: 500 })
    const now = h.push('q')
    expect(h.events.map((e) => [e.event_type, e.job_id, e.data])).toEqual([
      ['pushed', later, {}],
      ['delayed', later, { run_at: h.now + 500 }],
      ['pushed', now, {}],
    ])
    h.pull('q')
    h.events.length = 0
    h.call({ cmd: 'MOVETODELAYED', id: now, delay: 250 })
    expect(h.events.map((e) => [e.event_type, e.data])).toEqual([['delayed', { run_at: h.now + 250 }]])
  })

  test('removed on CANCEL names the state the job left', () => {
    const h = new Harness()
    const waiting = h.push('q')
    const delayed = h.push('q', { delay: 1000 })
    h.events.length = 0
    h.call({ cmd: 'CANCEL', id: delayed })
    h.call({ cmd: 'CANCEL', id: waiting })
    expect(h.events.map((e) => [e.event_type, e.job_id, e.data])).toEqual([
      ['removed', delayed, { prev: 'delayed' }],
      ['removed', waiting, { prev: 'waiting' }],
    ])
  })

  test('removed for each job DRAIN, CLEAN and OBLITERATE remove, with the state it left', () => {
    const h = new Harness()
    const waiting = h.push('q')
    const delayed = h.push('q', { delay: 1000 })
    h.events.length = 0
    h.call({ cmd: 'DRAIN', queue: 'q' })
    expect(h.events.map((e) => [e.event_type, e.job_id, e.data])).toEqual([
      ['removed', waiting, { prev: 'waiting' }],
      ['removed', delayed, { prev: 'delayed' }],
    ])
    const old = h.push('q')
    h.advance(100)
    h.push('q') // younger than the grace: stays
    h.events.length = 0
    h.call({ cmd: 'CLEAN', queue: 'q', grace: 50, state: 'waiting' })
    expect(h.events.map((e) => [e.event_type, e.job_id, e.data])).toEqual([['removed', old, { prev: 'waiting' }]])
    const active = h.push('q', {})
    h.pull('q')
    h.events.length = 0
    h.call({ cmd: 'OBLITERATE', queue: 'q' })
    expect(h.events.filter((e) => e.event_type === 'removed').map((e) => (e.data as { prev: string }).prev).sort()).toEqual(['active', 'waiting'])
    expect(h.events.some((e) => e.job_id === active)).toBe(true)
  })

  test('one DRAIN sends removedEventsPerCommandMax removed events at most, and still removes every job', () => {
    const h = new Harness()
    for (let index = 0; index < removedEventsPerCommandMax + 5; index++) h.push('q')
    h.events.length = 0
    expect(h.call({ cmd: 'DRAIN', queue: 'q' }).count).toBe(removedEventsPerCommandMax + 5)
    expect(h.events.filter((e) => e.event_type === 'removed').length).toBe(removedEventsPerCommandMax)
  })

  test('waiting-children for a job added parked on its dependencies; duplicated for a push of a known job_id', () => {
    const h = new Harness()
    const dep = h.push('q', { delay: 1000 })
    h.events.length = 0
    const parked = h.push('q', { depends_on: [dep] })
    const first = h.push('q', { job_id: 'c1' })
    expect(h.push('q', { job_id: 'c1' })).toBe(first)
    expect(types(h)).toEqual([`pushed:${parked}`, `waiting-children:${parked}`, `pushed:${first}`, `duplicated:${first}`])
  })

  test('retrying carries attempts and run_at; FAIL retry_delay replaces the exponential backoff', () => {
    const h = new Harness()
    const id = h.push('q', { backoff: 100, max_attempts: 5 })
    h.pull('q')
    h.events.length = 0
    h.call({ cmd: 'FAIL', id, error: 'x' })
    expect(h.events[0]).toMatchObject({ event_type: 'retrying', error: 'x', data: { attempts: 1, run_at: h.now + 200 } })
    h.advance(200)
    h.pull('q')
    h.events.length = 0
    h.call({ cmd: 'FAIL', id, error: 'y', retry_delay: 70 })
    expect(h.events[0]).toMatchObject({ event_type: 'retrying', data: { attempts: 2, run_at: h.now + 70 } })
    expect((h.call({ cmd: 'GETJOB', id }).job as { run_at: number }).run_at).toBe(h.now + 70)
    // The retry's run_at is in the `f` record: replay places the job at the same time.
    expect((restart(h).call({ cmd: 'GETJOB', id }).job as { run_at: number }).run_at).toBe(h.now + 70)
    h.advance(69)
    expect(h.pull('q')).toBeNull()
    h.advance(1)
    expect(h.pull('q')?.id).toBe(id)
  })

  test('nothing is built while nobody listens', () => {
    const h = new Harness()
    h.engine.core.eventsEnabled = false
    const id = h.push('q', { delay: 10 })
    h.advance(10)
    h.pull('q')
    h.call({ cmd: 'FAIL', id, retry_delay: 0 })
    h.pull('q')
    h.call({ cmd: 'ACK', id })
    h.call({ cmd: 'CANCEL', id: h.push('q') })
    expect(h.events).toEqual([])
  })

  test('a queued push emits pushed with the contents, and nothing while nobody listens', () => {
    const h = new Harness()
    const reply = h.call({ cmd: '_QPUSH', queue: 'q', messages: [{ contents: 'hello', delay_ms: 0 }] })
    const [id] = reply.ids as number[]
    expect(h.events.map((e) => [e.event_type, e.job_id, JSON.parse(JSON.stringify(e.data))])).toEqual([['pushed', id, 'hello']])
    h.events.length = 0
    h.engine.core.eventsEnabled = false
    h.call({ cmd: '_QPUSH', queue: 'q', messages: [{ contents: 'unheard', delay_ms: 0 }] })
    expect(h.events).toEqual([])
  })
})
