/**
 * getJobs with several states ranges each state on its own and concatenates, as BullMQ does, against a
 * real server. The expected lists are what BullMQ 6.7 on Redis returned for the same jobs (3 completed
 * n=1..3, then 3 waiting n=4..6).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { type JobType, Queue, Worker } from '../../src/client/index.ts'
import { queueName, serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture()

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

test('ranges per state, in the order the states are given, newest or oldest first', async () => {
  const queue = fixture.track(new Queue(queueName('ranges'), { connection: fixture.connection }))
  for (let n = 1; n <= 3; n++) await queue.add('c', { n })
  const worker = fixture.track(new Worker(queue.name, async (job) => job.data.n, { connection: fixture.connection, concurrency: 1 }))
  await waitFor('three completed', async () => (await queue.getCompletedCount()) === 3)
  await worker.close()
  for (let n = 4; n <= 6; n++) await queue.add('w', { n })
  const numbers = async (types: JobType[], start: number, end: number, asc?: boolean) => (await queue.getJobs(types, start, end, asc)).map((job) => job.data.n).join(',')
  expect(await numbers(['waiting', 'completed'], 0, 1)).toBe('6,5,3,2')
  expect(await numbers(['waiting', 'completed'], 0, 1, true)).toBe('4,5,1,2')
  expect(await numbers(['completed', 'waiting'], 1, 2, true)).toBe('2,3,5,6')
  expect(await numbers(['completed', 'waiting'], -2, -1)).toBe('2,1,5,4')
  expect(await numbers(['completed', 'waiting'], -2, -1, true)).toBe('2,3,5,6')
  expect(await numbers([], 0, 0)).toBe('3,6')
  expect(await numbers(['waiting', 'wait'], 0, -1)).toBe('6,5,4') // one state named twice is ranged once
  expect(await numbers(['waiting'], 5, 9)).toBe('')
  expect((await queue.getWaiting(1, 1)).map((job) => job.data.n)).toEqual([5])
  expect((await queue.getCompleted(0, 0)).map((job) => job.data.n)).toEqual([3])
})
