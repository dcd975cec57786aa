import { expect, test } from 'bun:test'
import { splitRequest, wholeRequestShard } from './route.ts'

test('wholeRequestShard: the shard splitRequest would send a one-part request to, null exactly when it has several parts', () => {
  const requests: Array<Record<string, unknown>> = [
    { cmd: 'ACKB', ids: [] }, { cmd: 'ACKB', ids: [4] }, { cmd: 'ACKB', ids: [4, 8, 12] }, { cmd: 'ACKB', ids: [4, 5] },
    { cmd: 'ACKB', ids: [3, 7, 11] }, { cmd: 'ACKB', ids: ['x', 4] }, { cmd: 'ACKB', ids: [-1, 1.5] }, { cmd: 'ACKB' },
    { cmd: 'ACKB', ids: 'nope' }, { cmd: 'GETJOBSBATCH', ids: [2, 6] }, { cmd: 'GETJOBSBATCH', ids: [1, 2] },
    { cmd: 'KVMSET', entries: [] }, { cmd: 'KVMSET', entries: [{ key: 'a' }, { key: 'a' }] },
    { cmd: 'KVMSET', entries: [{ key: 'a' }, { key: 'b' }, { key: 'c' }, { key: 'd' }] }, { cmd: 'KVMSET', entries: [null, 3] },
    { cmd: 'ACKB', ids: Array.from({ length: 20_000 }, () => 4) },
  ]
  for (const shardCount of [1, 2, 4]) {
    for (const request of requests) {
      const parts = splitRequest(request, shardCount)
      const expected = parts === null ? 0 : parts.size === 1 ? [...parts.keys()][0] as number : null
      expect({ request, shardCount, shard: wholeRequestShard(request, shardCount) }).toEqual({ request, shardCount, shard: expected })
    }
  }
})
