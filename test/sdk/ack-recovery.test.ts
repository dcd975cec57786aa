/**
 * A Worker's acknowledgement that timed out is neither dropped nor repeated: the worker asks the
 * server which deliveries are still active with the same start time and acknowledges only those.
 * The transport is real; only the ACKB call is wrapped to make its reply time out.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { Queue, RequestTimeoutError, Worker } from '../../src/client/index.ts'
import { queueName, serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture()

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

for (const arrived of [true, false]) {
  test(`an ACKB that ${arrived ? 'reached the server' : 'never left'} but timed out: every job completes once, no error`, async () => {
    const queue = fixture.track(new Queue(queueName(`ack-${arrived}`), { connection: fixture.connection }))
    const worker = fixture.track(new Worker(queue.name, async () => {}, { connection: fixture.connection, concurrency: 5, autorun: false }))
    const client = worker.client
    const ackBatch = client.ackBatch.bind(client)
    let wrapped = 0
    const acked: number[] = []
    client.ackBatch = async (ids: number[]) => {
      if (wrapped++ === 0) {
        if (arrived) await ackBatch(ids)
        throw new RequestTimeoutError('ACKB got no reply within 5000 ms')
      }
      acked.push(...ids)
      return ackBatch(ids)
    }
    const ack = client.ack.bind(client)
    client.ack = async (id: number, result?: unknown) => {
      acked.push(id)
      return ack(id, result)
    }
    const completed: string[] = []
    const errors: string[] = []
    worker.on('completed', (job) => completed.push(job.id as string))
    worker.on('error', (error) => errors.push(error.message))
    const jobs = await queue.addBulk(Array.from({ length: 5 }, (_, i) => ({ name: 'x', data: { i } })))
    void worker.run()
    await waitFor('five completed', () => completed.length === 5)
    expect(await queue.getCompletedCount()).toBe(5)
    expect(completed.sort()).toEqual(jobs.map((job) => job.id as string).sort())
    // Re-sent only when the first one never arrived.
    expect(acked.length).toBe(arrived ? 0 : 5)
    expect(errors).toEqual([])
  })
}
