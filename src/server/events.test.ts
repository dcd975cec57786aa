import { describe, expect, test } from 'bun:test'
import { EventBuffers, EventHub, SharedText, type EventSource, type JobEvent } from './events.ts'

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

const text = (data: string) => new SharedText(data, data.length)
const datas = (texts: SharedText[]) => texts.map((item) => item.data)

describe('EventBuffer', () => {
  test('bounded by events: drops the oldest and counts them', () => {
    const buffer = new EventBuffers(1000, 3, 1000).create()
    for (let i = 1; i <= 5; i++) buffer.push(text(`e${i}`))
    expect(buffer.length).toBe(3)
    expect(buffer.dropped).toBe(2)
    expect(datas(buffer.takeAll())).toEqual(['e3', 'e4', 'e5'])
  })

  test('bounded by bytes: the subscriber is closed with the reason; one event of any size fits alone', async () => {
    const reasons: string[] = []
    const buffer = new EventBuffers(1000, 100, 10).create((reason) => reasons.push(reason))
    buffer.push(text('x'.repeat(50))) // alone over the limit: kept
    expect(datas(buffer.takeAll())).toEqual(['x'.repeat(50)])
    buffer.push(text('aaaa'))
    buffer.push(text('bbbb'))
    expect(buffer.closedReason).toBeNull()
    buffer.push(text('cccc')) // 12 bytes > 10
    expect(buffer.closedReason).toBe('client too slow: more than 10 bytes of events not taken')
    expect(reasons).toEqual([buffer.closedReason as string])
    expect(buffer.length).toBe(0)
    buffer.push(text('d')) // closed: ignored
    expect(buffer.length).toBe(0)
    await buffer.waitFor(10_000) // resolves at once once closed
  })

  test('a text shared by buffers counts once toward the total; past the total the one furthest behind closes', () => {
    const buffers = new EventBuffers(100, 1000, 1000)
    const [a, b, c] = [buffers.create(), buffers.create(), buffers.create()]
    const shared = text('s'.repeat(40))
    for (const buffer of [a, b, c]) buffer.push(shared)
    expect(buffers.bytes).toBe(40)
    a.push(text('a'.repeat(30)))
    b.push(text('b'.repeat(20)))
    expect(buffers.bytes).toBe(90)
    c.push(text('c'.repeat(20))) // 110 > 100: `a` (70 bytes behind) goes, and its own 30 with it
    expect(a.closedReason).toContain('furthest behind')
    expect([b.closedReason, c.closedReason]).toEqual([null, null])
    expect(buffers.bytes).toBe(80)
    expect(buffers.count).toBe(2)
    for (const buffer of [b, c]) buffer.takeAll()
    expect(buffers.bytes).toBe(0)
    expect(shared.refs).toBe(0)
  })

  test('waitFor resolves on the next push or after the timeout', async () => {
    const buffer = new EventBuffers().create()
    const waiting = buffer.waitFor(10_000)
    buffer.push(text('x'))
    await waiting
    expect(buffer.shift()?.data).toBe('x')
    expect(buffer.shift()).toBeUndefined()
    await buffer.waitFor(1) // the keep-alive path: nothing arrived
    expect(buffer.length).toBe(0)
  })
})

test('EncodedEvent encodes once, for every subscriber', () => {
  const hub = new EventHub({ onEvents: () => {}, setEventsWanted: () => {} })
  const seen: SharedText[] = []
  hub.subscribe({}, (_event, encoded) => seen.push(encoded.sse))
  hub.subscribe({}, (_event, encoded) => seen.push(encoded.sse))
  hub.publish([event(7)])
  expect(seen[0]).toBe(seen[1] as SharedText)
  expect(new TextDecoder().decode(seen[0]?.data as Uint8Array)).toBe(`event: pushed\ndata: ${JSON.stringify(event(7))}\n\n`)
})
