/** DISCARD of a parked job (extension used by the SDK's failParentOnFailure): DLQ, counts, replay. */
import { expect, test } from 'bun:test'
import { Harness, restart } from './test-helpers.ts'

test('a job parked on depends_on can be discarded; its dependency completing later does not release it', () => {
  const h = new Harness()
  const child = h.push('c')
  const parent = h.push('p', { depends_on: [child] })
  expect(h.state(parent)).toBe('waitingchildren')
  expect(h.call({ cmd: 'DISCARD', id: parent })).toEqual({ ok: true })
  expect(h.state(parent)).toBe('failed')
  expect(h.call({ cmd: 'GETJOBCOUNTS', queue: 'p' })).toMatchObject({ waiting: 0, failed: 1 })
  expect(h.call({ cmd: 'GETJOBS', queue: 'p', state: 'waitingchildren' }).total).toBe(0)
  h.pull('c')
  h.call({ cmd: 'ACK', id: child })
  h.advance(1000)
  expect(h.state(parent)).toBe('failed')
  expect(h.pull('p')).toBeNull()
  const replayed = restart(h)
  expect(replayed.state(parent)).toBe('failed')
  expect(replayed.call({ cmd: 'GETJOBCOUNTS', queue: 'p' })).toMatchObject({ waiting: 0, failed: 1 })
})

test('a FLOW parent waiting for its children can be discarded', () => {
  const h = new Harness()
  const flow = h.call({ cmd: 'FLOW', queue: 'p', data: {}, children: [{ queue: 'c', data: {} }] })
  const parent = flow.parent_id as number
  expect(h.state(parent)).toBe('waitingparent')
  expect(h.call({ cmd: 'DISCARD', id: parent })).toEqual({ ok: true })
  expect(h.state(parent)).toBe('failed')
  expect(restart(h).state(parent)).toBe('failed')
})
