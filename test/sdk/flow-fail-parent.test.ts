/**
 * failParentOnFailure against a real server (2 shards, so parents and children may live on
 * different shards): a child that fails for good fails its parent, with BullMQ's reason, up a nested
 * chain as far as the option goes; without the option the parent keeps waiting.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { FlowProducer, Queue, QueueEvents, Worker } from '../../src/client/index.ts'
import { nameOnShard } from '../integration/commands-kit.ts'
import { serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture(['--memory', '--shards', '2'])
const connection = () => fixture.connection

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

/** A worker on `queue` that fails jobs named `doomed` (one attempt) and completes the rest. */
function worker(queue: string, ran: string[]): Worker {
  return fixture.track(new Worker(queue, async (job) => {
    ran.push(job.name)
    if (job.name === 'doomed') throw new Error('child broke')
    return job.name
  }, { connection: connection() }))
}

test('a child with failParentOnFailure that fails for good fails its parent (on another shard), with the reason', async () => {
  const parentQueue = fixture.track(new Queue(nameOnShard('fp-parent', 0), { connection: connection() }))
  const childQueue = nameOnShard('fp-child', 1)
  const events = fixture.track(new QueueEvents(parentQueue.name, { connection: connection() }))
  await events.waitUntilReady()
  const parentFailed = new Promise<string>((resolve) => events.on('failed', ({ jobId }: { jobId: string }) => resolve(jobId)))
  const flows = fixture.track(new FlowProducer({ connection: connection() }))
  const tree = await flows.add({
    name: 'parent',
    queueName: parentQueue.name,
    children: [
      { name: 'fine', queueName: childQueue, data: {} },
      { name: 'doomed', queueName: childQueue, data: {}, opts: { failParentOnFailure: true } },
    ],
  })
  const ran: string[] = []
  worker(childQueue, ran)
  worker(parentQueue.name, ran)
  await waitFor('parent failed', async () => (await tree.job.getState()) === 'failed')
  expect(await parentFailed).toBe(tree.job.id as string)
  const doomed = tree.children?.find((child) => child.job.name === 'doomed')?.job
  const parent = await parentQueue.getJob(tree.job.id as string)
  expect(parent?.failedReason).toBe(`child bull:${childQueue}:${doomed?.id} failed`)
  expect(ran).not.toContain('parent')
  expect(ran.sort()).toEqual(['doomed', 'fine'])
})

test('nested: the failure climbs while each level has the option, and stops where one does not', async () => {
  const queue = fixture.track(new Queue(nameOnShard('fp-nested', 0), { connection: connection() }))
  const flows = fixture.track(new FlowProducer({ connection: connection() }))
  const tree = await flows.add({
    name: 'top',
    queueName: queue.name,
    children: [{
      name: 'middle',
      queueName: queue.name,
      opts: { failParentOnFailure: false },
      children: [{
        name: 'lower',
        queueName: queue.name,
        opts: { failParentOnFailure: true },
        children: [{ name: 'doomed', queueName: queue.name, opts: { failParentOnFailure: true } }],
      }],
    }],
  })
  const ran: string[] = []
  worker(queue.name, ran)
  const middle = tree.children?.[0]
  const lower = middle?.children?.[0]
  await waitFor('lower failed', async () => (await lower?.job.getState()) === 'failed')
  await waitFor('middle failed', async () => (await middle?.job.getState()) === 'failed')
  await new Promise((resolve) => setTimeout(resolve, 200))
  // middle has no failParentOnFailure: top keeps waiting for its children, as in BullMQ.
  expect(await tree.job.getState()).toBe('waiting-children')
  expect(ran).toEqual(['doomed'])
})

test('without the option, the parent keeps waiting for its children', async () => {
  const queue = fixture.track(new Queue(nameOnShard('fp-off', 1), { connection: connection() }))
  const flows = fixture.track(new FlowProducer({ connection: connection() }))
  const tree = await flows.add({ name: 'parent', queueName: queue.name, children: [{ name: 'doomed', queueName: queue.name }] })
  worker(queue.name, [])
  await waitFor('child failed', async () => (await tree.children?.[0]?.job.getState()) === 'failed')
  await new Promise((resolve) => setTimeout(resolve, 200))
  expect(await tree.job.getState()).toBe('waiting-children')
})
