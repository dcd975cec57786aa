import { describe, expect, test } from 'bun:test'
import { fnv1a32, shardOfName } from '../base/hash.ts'
import { scratchQueues } from './warmup.ts'

describe('warm-up scratch queues', () => {
  // fnv1a32 returns an int32 below 2^31 and a double above: both must run before a client's queue does.
  test('hash on both sides of 2^31', () => {
    const above = scratchQueues.map((name) => fnv1a32(name) >= 2 ** 31)
    expect(above).toContain(true)
    expect(above).toContain(false)
  })

  test('fall on both shards of two', () => {
    expect(new Set(scratchQueues.map((name) => shardOfName(name, 2))).size).toBe(2)
  })
})
