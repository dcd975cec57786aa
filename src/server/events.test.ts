import { describe, expect, test } from 'bun:test'
import { EventBuffer, EventHub, type EventSource, type JobEvent } from './events.ts'

const event = (job_id: number, queue = 'q', event_type: JobEvent['event_type'] = 'pushed'): JobEvent =>
  ({ event_type, queue, job_id, timestamp: 1 })

describe('EventHub', () => {
  test('filters by queue, job and type; turns host events on with the first subscriber and off after the last', () => {
    const toggles: boolean[] = []
    const source: EventSource = { onEvents: () => {}, setEventsWanted: (on) => toggles.push(on) }
    const hub = new EventHub(source)
    const all: number[] = []
    const byQueue: number[] = []
    const byJob: string[] = []
    const stopAll = hub.subscribe({}, (e) => all.push(e.job_id))
    const stopQueue = hub.subscribe({ queue: 'b' }, (e) => byQueue.push(e.job_id))
    const stopJob = hub.subscribe({ jobId: 2, types: new Set(['completed']) }, (e) => byJob.push(e.event_type))
    source.onEvents([event(1, 'a'), event(2, 'b'), event(2, 'b', 'completed'), event(3, 'b')])
    expect(all).toEqual([1, 2, 2, 3])
    expect(byQueue).toEqual([2, 2, 3])
    expect(byJob).toEqual(['completed'])
    stopAll()
    stopAll() // idempotent
    stopQueue()
    expect(toggles).toEqual([true])
    stopJob()
    expect(toggles).toEqual([true, false])
    expect(hub.subscriberCount).toBe(0)
  })

  test('a subscriber that throws is dropped; the others still get the event', () => {
    const source: EventSource = { onEvents: () => {}, setEventsWanted: () => {} }
    const hub = new EventHub(source)
    const seen: number[] = []
    hub.subscribe({}, () => {
      throw new Error('broken')
    })
    hub.subscribe({}, (e) => seen.push(e.job_id))
    source.onEvents([event(1), event(2)])
    expect(seen).toEqual([1, 2])
    expect(hub.subscriberCount).toBe(1)
  })
})

describe('EventBuffer', () => {
  test('bounded by events: drops the oldest and counts them', () => {
    const buffer = new EventBuffer(3, 1000)
    for (let i = 1; i <= 5; i++) buffer.push(`e${i}`)
    expect(buffer.length).toBe(3)
    expect(buffer.dropped).toBe(2)
    expect(buffer.takeAll()).toEqual(['e3', 'e4', 'e5'])
  })

  test('bounded by bytes: keeps at least the newest event', () => {
    const buffer = new EventBuffer(100, 10)
    buffer.push('aaaa')
    buffer.push('bbbb')
    buffer.push('cccc') // 12 bytes > 10: the oldest goes
    expect(buffer.takeAll()).toEqual(['bbbb', 'cccc'])
    buffer.push('x'.repeat(50)) // alone over the limit: kept (one event), nothing else
    expect(buffer.length).toBe(1)
  })

  test("'close' closes with a reason instead of dropping", async () => {
    const buffer = new EventBuffer(2, 1000, 'close')
    buffer.push('a')
    buffer.push('b')
    buffer.push('c')
    expect(buffer.closedReason).toContain('fell behind')
    expect(buffer.length).toBe(0)
    await buffer.waitFor(10_000) // resolves at once once closed
  })

  test('waitFor resolves on the next push or after the timeout', async () => {
    const buffer = new EventBuffer()
    const waiting = buffer.waitFor(10_000)
    buffer.push('x')
    await waiting
    expect(buffer.takeAll()).toEqual(['x'])
    await buffer.waitFor(1) // the keep-alive path: nothing arrived
    expect(buffer.length).toBe(0)
  })
})
