/**
 * The idle collection (idle-gc.ts): one collection once a burst of work is followed by a quiet spell;
 * none while work goes on, none after a little work, none after stop().
 */
import { describe, expect, test } from 'bun:test'
import { IdleCollector, idleGcBurstTurnsMin, idleGcPurgeEveryMs, idleGcPurgesMax, idleGcQuietMs, type IdleGcSeams } from './idle-gc.ts'

/** A fake clock with timers that fire when it is advanced past them. */
function fakeSeams() {
  let nowMs = 0
  let nextId = 0
  const timers = new Map<number, { dueMs: number; callback: () => void }>()
  const state = { collections: 0, purges: 0, log: [] as string[] }
  const seams: IdleGcSeams = {
    nowMs: () => nowMs,
    setTimer: (callback, delayMs) => {
      timers.set(++nextId, { dueMs: nowMs + delayMs, callback })
      return nextId
    },
    clearTimer: (timer) => void timers.delete(timer as number),
    collect: () => {
      state.collections++
      state.log.push(`collect@${nowMs}`)
    },
    purge: () => {
      state.purges++
      state.log.push(`purge@${nowMs}`)
    },
  }
  const advance = (ms: number) => {
    const endMs = nowMs + ms
    for (;;) {
      const due = [...timers.entries()].filter(([, timer]) => timer.dueMs <= endMs).sort((a, b) => a[1].dueMs - b[1].dueMs)[0]
      if (due === undefined) break
      timers.delete(due[0])
      nowMs = due[1].dueMs
      due[1].callback()
    }
    nowMs = endMs
  }
  return { seams, advance, state, pendingTimers: () => timers.size }
}

describe('IdleCollector', () => {
  test('collects once after a burst followed by quiet', () => {
    const fake = fakeSeams()
    const collector = new IdleCollector(fake.seams)
    for (let turn = 0; turn < idleGcBurstTurnsMin; turn++) collector.noteWork()
    fake.advance(idleGcQuietMs - 1)
    expect(fake.state.collections).toBe(0)
    fake.advance(1)
    expect(fake.state.collections).toBe(1)
    fake.advance(10 * idleGcQuietMs)
    expect(fake.state.collections).toBe(1)
    expect(fake.pendingTimers()).toBe(0)
  })

  test('a time passed in by the caller is used, and a wall clock stepped back delays the collection by one quiet spell at most', () => {
    const fake = fakeSeams()
    const collector = new IdleCollector(fake.seams)
    // The last turns of the burst carry a time an hour ahead of the collector's clock (a step back after them).
    for (let turn = 0; turn < idleGcBurstTurnsMin; turn++) collector.noteWork(3_600_000)
    fake.advance(idleGcQuietMs)
    expect(fake.state.collections).toBe(0)
    collector.noteWork() // work at the stepped-back time: quiet is counted from it
    fake.advance(2 * idleGcQuietMs)
    expect(fake.state.collections).toBe(1)
  })

  test('waits while work goes on, then collects once it stops', () => {
    const fake = fakeSeams()
    const collector = new IdleCollector(fake.seams)
    for (let turn = 0; turn < idleGcBurstTurnsMin; turn++) collector.noteWork()
    for (let step = 0; step < 20; step++) {
      fake.advance(idleGcQuietMs / 2)
      collector.noteWork()
    }
    expect(fake.state.collections).toBe(0)
    fake.advance(idleGcQuietMs)
    expect(fake.state.collections).toBe(1)
  })

  test('a trickle is no burst: turns with quiet spells between them never add up to one', () => {
    const fake = fakeSeams()
    const collector = new IdleCollector(fake.seams)
    for (let turn = 0; turn < 4 * idleGcBurstTurnsMin; turn++) {
      collector.noteWork()
      fake.advance(idleGcQuietMs)
    }
    expect(fake.state.collections).toBe(0)
  })

  test('a little work is no burst: no collection', () => {
    const fake = fakeSeams()
    const collector = new IdleCollector(fake.seams)
    for (let turn = 0; turn < idleGcBurstTurnsMin - 1; turn++) collector.noteWork()
    fake.advance(10 * idleGcQuietMs)
    expect(fake.state.collections).toBe(0)
    expect(fake.pendingTimers()).toBe(0)
  })

  test('the count starts again after a collection, and stop() cancels a pending one', () => {
    const fake = fakeSeams()
    const collector = new IdleCollector(fake.seams)
    for (let turn = 0; turn < idleGcBurstTurnsMin; turn++) collector.noteWork()
    fake.advance(idleGcQuietMs)
    expect(fake.state.collections).toBe(1)
    collector.noteWork()
    fake.advance(10 * idleGcQuietMs)
    expect(fake.state.collections).toBe(1)
    for (let turn = 0; turn < idleGcBurstTurnsMin; turn++) collector.noteWork()
    collector.stop()
    fake.advance(10 * idleGcQuietMs)
    expect(fake.state.collections).toBe(1)
    expect(fake.pendingTimers()).toBe(0)
  })
})

test('the end of a burst outside the counted turns (a checkpoint) collects after the next quiet spell', () => {
  const fake = fakeSeams()
  const collector = new IdleCollector(fake.seams)
  collector.noteWork()
  collector.noteBurstEnd()
  fake.advance(idleGcQuietMs - 1)
  expect(fake.state.collections).toBe(0)
  fake.advance(1)
  expect(fake.state.collections).toBe(1)
})

test('a checkpoint that ends after the requests went quiet is collected at once, not a quiet spell later', () => {
  const fake = fakeSeams()
  const collector = new IdleCollector(fake.seams)
  for (let turn = 0; turn < idleGcBurstTurnsMin; turn++) collector.noteWork()
  fake.advance(idleGcQuietMs)
  expect(fake.state.collections).toBe(1) // the pushes' own burst
  fake.advance(2 * idleGcQuietMs) // the checkpoint goes on writing, no requests
  collector.noteBurstEnd()
  fake.advance(0)
  expect(fake.state.collections).toBe(2)
  // Requests 100 ms before the checkpoint ended: the collection waits for the rest of the quiet time.
  collector.noteWork()
  fake.advance(100)
  collector.noteBurstEnd()
  fake.advance(idleGcQuietMs - 100 - 1)
  expect(fake.state.collections).toBe(2)
  fake.advance(1)
  expect(fake.state.collections).toBe(3)
})

test('after a collection, follow-up purges let the allocator return pages; new work stops them and never turns them into a collection', () => {
  const fake = fakeSeams()
  let released = 0
  const collector = new IdleCollector(fake.seams, () => {
    released++
    expect(fake.state.collections).toBe(released - 1) // before the collection, so it frees them
  })
  for (let turn = 0; turn < idleGcBurstTurnsMin; turn++) collector.noteWork()
  fake.advance(idleGcQuietMs + idleGcPurgeEveryMs * (idleGcPurgesMax + 3))
  const start = idleGcQuietMs
  expect(fake.state.log).toEqual([`collect@${start}`, ...Array.from({ length: idleGcPurgesMax }, (_, i) => `purge@${start + (i + 1) * idleGcPurgeEveryMs}`)])
  expect(released).toBe(1)
  expect(fake.pendingTimers()).toBe(0)

  for (let turn = 0; turn < idleGcBurstTurnsMin; turn++) collector.noteWork()
  fake.advance(idleGcQuietMs + idleGcPurgeEveryMs)
  expect(fake.state.purges).toBe(idleGcPurgesMax + 1)
  collector.noteWork() // a little work: the purges stop, and no collection follows it
  fake.advance(10 * idleGcQuietMs)
  expect(fake.state.purges).toBe(idleGcPurgesMax + 1)
  expect(fake.state.collections).toBe(2)
  expect(fake.pendingTimers()).toBe(0)
})
