import { expect, test } from 'bun:test'
import { histogramAdd, histogramCopy, histogramCount, newHistogram, observe } from './histogram.ts'

test('a value lands in the first bucket whose bound is at or above it; above the last one, in +Inf', () => {
  const histogram = newHistogram([1, 2, 4])
  for (const value of [0, 1, 1.5, 2, 3, 4, 5, 1000]) observe(histogram, value)
  expect(histogram.counts).toEqual([2, 2, 2, 2])
  expect(histogram.sum).toBe(1016.5)
  expect(histogramCount(histogram)).toBe(8)
})

test('a copy does not follow later observations; adding sums counts and sums bucket by bucket', () => {
  const a = newHistogram([10])
  observe(a, 3)
  const copy = histogramCopy(a)
  observe(a, 30)
  expect(copy.counts).toEqual([1, 0])
  const total = newHistogram([10])
  histogramAdd(total, a)
  histogramAdd(total, copy)
  expect(total.counts).toEqual([2, 1])
  expect(total.sum).toBe(36)
})
