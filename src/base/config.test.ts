import { expect, test } from 'bun:test'
import { defaultWorkerCount, mainThreadStoresCoresMax } from './config.ts'

test('default workers: the stores share the main thread on small machines, unless fdatasync would block it', () => {
  expect(mainThreadStoresCoresMax).toBe(2)
  expect(defaultWorkerCount(2, false, 1)).toBe(0)
  expect(defaultWorkerCount(2, false, 2)).toBe(0)
  // A blocking log (pwrite) in the main thread would stall every connection during each flush.
  expect(defaultWorkerCount(2, true, 2)).toBe(2)
  expect(defaultWorkerCount(4, true, 1)).toBe(1)
  // Bigger machines: one Worker per core, never more than shards.
  expect(defaultWorkerCount(8, false, 4)).toBe(4)
  expect(defaultWorkerCount(2, false, 8)).toBe(2)
})
