import { expect, test } from 'bun:test'
import { NumberRing, ObjectRing } from './ring.ts'

test('a ring keeps the newest `limit` values; a lowered limit drops the oldest at trim', () => {
  const ring = new NumberRing(5, 3)
  expect([1, 2, 3, 4].map((value) => ring.push(value))).toEqual([-1, -1, -1, 1])
  expect([...ring.values()]).toEqual([2, 3, 4])
  ring.setLimit(5)
  ring.push(5)
  ring.push(6)
  expect([...ring.values()]).toEqual([2, 3, 4, 5, 6])
  expect(ring.push(7)).toBe(2) // wraps around the slots
  ring.setLimit(2)
  expect(ring.trim()).toEqual([3, 4, 5])
  expect([...ring.values()]).toEqual([6, 7])
  expect(() => ring.setLimit(6)).toThrow()
})

test('an object ring evicts in order', () => {
  const ring = new ObjectRing<string>(2)
  expect(ring.push('a')).toBeUndefined()
  ring.push('b')
  expect(ring.push('c')).toBe('a')
  expect([...ring.values()]).toEqual(['b', 'c'])
})
