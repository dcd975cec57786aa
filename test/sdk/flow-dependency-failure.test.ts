/**
 * ignoreDependencyOnFailure and removeDependencyOnFailure against a real server (2 shards, parent and
 * children on different shards): a child with either option that fails for good does not block or fail
 * its parent, which runs once its other children complete. With ignore the failure is listed by
 * getIgnoredChildrenFailures / getDependencies; with remove the child leaves the parent's dependencies.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { FlowProducer, Job, Queue, Worker } from '../../src/client/index.ts'
import { nameOnShard } from '../integration/commands-kit.ts'
import { serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture(['--memory', '--shards', '2'])
const connection = () => fixture.connection

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

/** A worker that fails jobs named `doomed*` (one attempt), completes the rest with their name, and records what ran. */
function worker(queue: string, ran: string[], parents: Array<Job> = []): Worker {
  return fixture.track(new Worker(queue, async (job) => {
    ran.push(job.name)
    if (job.name.startsWith('doomed')) throw new Error(`${job.name} broke`)
    if (job.name === 'parent') parents.push(job)
    return `${job.name}-done`
  }, { connection: connection() }))
}

test('ignoreDependencyOnFailure: the parent runs, and sees the ignored failure and the completed child', async () => {
  const parentQueue = nameOnShard('idf-parent', 0)
  const childQueue = nameOnShard('idf-child', 1)
  const flows = fixture.track(new FlowProducer({ connection: connection() }))
  const tree = await flows.add({
    name: 'parent',
    queueName: parentQueue,
    children: [
      { name: 'fine', queueName: childQueue, data: {} },
      { name: 'doomed', queueName: childQueue, data: {}, opts: { ignoreDependencyOnFailure: true } },
    ],
  })
  const doomed = tree.children?.find((child) => child.job.name === 'doomed')?.job as Job
  const fine = tree.children?.find((child) => child.job.name === 'fine')?.job as Job
  expect(doomed.parentKey).toBe(`bull:${parentQueue}:${tree.job.id}`)
  const ran: string[] = []
  const parents: Job[] = []
  worker(childQueue, ran)
  worker(parentQueue, ran, parents)
  await waitFor('parent completed', async () => (await tree.job.getState()) === 'completed')
  expect(await doomed.getState()).toBe('failed')
  const parent = parents[0] as Job
  expect(await parent.getIgnoredChildrenFailures()).toEqual({ [`bull:${childQueue}:${doomed.id}`]: 'doomed broke' })
  expect(await parent.getChildrenValues()).toEqual({ [`bull:${childQueue}:${fine.id}`]: 'fine-done' })
  expect(await parent.getDependencies()).toEqual({
    processed: { [`bull:${childQueue}:${fine.id}`]: 'fine-done' },
    unprocessed: [],
    failed: [],
    ignored: { [`bull:${childQueue}:${doomed.id}`]: 'doomed broke' },
  })
  expect(await parent.getDependenciesCount()).toEqual({ processed: 1, unprocessed: 0, failed: 0, ignored: 1 })
  expect(await parent.getDependenciesCount({ ignored: true })).toEqual({ ignored: 1 })
  expect(ran.filter((name) => name === 'parent')).toEqual(['parent'])
})

test('removeDependencyOnFailure: the failed child leaves the dependencies; a parent with only failed children runs too', async () => {
  const queue = nameOnShard('rdf', 1)
  const flows = fixture.track(new FlowProducer({ connection: connection() }))
  const tree = await flows.add({
    name: 'parent',
    queueName: queue,
    children: [
      { name: 'doomed-a', queueName: queue, opts: { removeDependencyOnFailure: true } },
      { name: 'doomed-b', queueName: queue, opts: { removeDependencyOnFailure: true, attempts: 2, backoff: 10 } },
    ],
  })
  const ran: string[] = []
  const parents: Job[] = []
  worker(queue, ran, parents)
  await waitFor('parent completed', async () => (await tree.job.getState()) === 'completed')
  // The retried child released the parent only on its last attempt.
  expect(ran.filter((name) => name === 'doomed-b')).toEqual(['doomed-b', 'doomed-b'])
  const parent = parents[0] as Job
  expect(await parent.getDependencies()).toEqual({ processed: {}, unprocessed: [], failed: [], ignored: {} })
  expect(await parent.getIgnoredChildrenFailures()).toEqual({})
})

test('a child that fails without the options still blocks its parent, listed as unprocessed', async () => {
  const queue = nameOnShard('dep-none', 0)
  const flows = fixture.track(new FlowProducer({ connection: connection() }))
  const tree = await flows.add({
    name: 'parent',
    queueName: queue,
    children: [{ name: 'doomed', queueName: queue }, { name: 'doomed-too', queueName: queue, opts: { ignoreDependencyOnFailure: true } }],
  })
  worker(queue, [])
  const [plain, ignored] = [tree.children?.[0]?.job as Job, tree.children?.[1]?.job as Job]
  await waitFor('children failed', async () => (await plain.getState()) === 'failed' && (await ignored.getState()) === 'failed')
  await waitFor('ignored failure noted', async () => Object.keys(await tree.job.getIgnoredChildrenFailures()).length === 1)
  expect(await tree.job.getState()).toBe('waiting-children')
  expect(await tree.job.getDependencies()).toEqual({
    processed: {},
    unprocessed: [`bull:${queue}:${plain.id}`],
    failed: [],
    ignored: { [`bull:${queue}:${ignored.id}`]: 'doomed-too broke' },
  })
})

test('DROPDEP errors name the problem', async () => {
  const queue = fixture.track(new Queue(nameOnShard('dropdep', 0), { connection: connection() }))
  const waiting = await queue.add('x', {})
  await expect(queue.client.dropDependency(waiting.numericId, 12345)).rejects.toThrow(`Job ${waiting.id} not found or not waiting for job 12345`)
})
