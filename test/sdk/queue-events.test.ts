/**
 * QueueEvents over the server's WebSocket event stream (/ws/{queue} on the HTTP port): the events a
 * job's life produces arrive in order, only for the subscribed queue, and with a token when the
 * server requires one.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { Queue, QueueEvents, Worker } from '../../src/client/index.ts'
import { startServer, type TestServer } from '../harness/server.ts'
import { queueName, serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture()
const connection = () => fixture.connection

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

function record(events: QueueEvents, log: string[]): void {
  for (const name of ['added', 'waiting', 'active', 'progress', 'completed', 'failed', 'delayed', 'retrying', 'removed', 'stalled']) {
    events.on(name, (args: Record<string, unknown>) => {
      const detail = args.returnvalue !== undefined ? JSON.stringify(args.returnvalue) : args.failedReason ?? (args.data !== undefined ? JSON.stringify(args.data) : args.name ?? '')
      log.push(`${name}:${args.jobId}:${detail}`)
    })
  }
}

test('added/waiting → active → progress → delayed/retrying → active → progress → completed for one job, in order; other queues are not heard', async () => {
  const queue = fixture.track(new Queue(queueName('events'), { connection: connection() }))
  const other = fixture.track(new Queue(queueName('events-other'), { connection: connection() }))
  const events = fixture.track(new QueueEvents(queue.name, { connection: connection() }))
  await events.waitUntilReady()
  const log: string[] = []
  record(events, log)
  fixture.track(new Worker(queue.name, async (job) => {
    await job.updateProgress(30)
    if (job.attemptsMade === 0) throw new Error('first try fails')
    return { ok: true }
  }, { connection: connection() }))
  await other.add('elsewhere', {})
  const job = await queue.add('tracked', { v: 1 }, { attempts: 2, backoff: 50 })
  await waitFor('completed event', () => log.some((entry) => entry.startsWith('completed')))
  const id = job.id as string
  expect(log).toEqual([
    `added:${id}:tracked`,
    `waiting:${id}:`,
    `active:${id}:`,
    `progress:${id}:30`,
    `delayed:${id}:`, // backoff 50 (BullMQ's fixed) puts the retry 50 ms later
    `retrying:${id}:first try fails`,
    `active:${id}:`,
    `progress:${id}:30`,
    `completed:${id}:{"ok":true}`,
  ])
})

test('failed carries the reason; waitUntilFinished(queueEvents) rejects with it', async () => {
  const queue = fixture.track(new Queue(queueName('events-fail'), { connection: connection() }))
  const events = fixture.track(new QueueEvents(queue.name, { connection: connection() }))
  await events.waitUntilReady()
  const failed = new Promise<{ jobId: string; failedReason: string }>((resolve) => events.once('failed', resolve))
  fixture.track(new Worker(queue.name, async () => {
    throw new Error('cannot do it')
  }, { connection: connection() }))
  const job = await queue.add('x', {})
  expect(await failed).toEqual({ jobId: job.id as string, failedReason: 'cannot do it', prev: 'active' } as never)
  expect(String(await job.waitUntilFinished(events).catch((error: Error) => error))).toBe('Error: cannot do it')
})

test('as in BullMQ: `<event>:<jobId>` listeners hear only that job; progress that is not a number arrives as sent', async () => {
  const queue = fixture.track(new Queue(queueName('events-per-job'), { connection: connection() }))
  const events = fixture.track(new QueueEvents(queue.name, { connection: connection() }))
  await events.waitUntilReady()
  await queue.add('x', { n: 1 }) // completes first: its events must not reach the listeners below
  const second = await queue.add('x', { n: 2 })
  const heard: unknown[] = []
  events.on(`completed:${second.id}`, (args: unknown) => heard.push(args))
  const progress: unknown[] = []
  events.on(`progress:${second.id}`, ({ data }: { data: unknown }) => progress.push(data))
  let completed = 0
  events.on('completed', () => completed++)
  fixture.track(new Worker(queue.name, async (job) => {
    await job.updateProgress({ step: 'resize', n: job.data.n })
    return job.data.n * 10
  }, { connection: connection(), concurrency: 1 }))
  await waitFor('both completed events', () => completed === 2)
  expect(heard).toEqual([{ jobId: second.id as string, returnvalue: 20, prev: 'active' }])
  expect(progress).toEqual([{ step: 'resize', n: 2 }])
})

test('with auth on, QueueEvents subscribes with the connection token', async () => {
  let secured: TestServer | null = null
  try {
    secured = await startServer({ args: ['--memory', '--auth-token', 'tok'] })
    const secure = { host: '127.0.0.1', port: secured.tcpPort, httpPort: secured.httpPort ?? undefined, token: 'tok' }
    const events = new QueueEvents('secure-events', { connection: secure })
    await events.waitUntilReady()
    const completed = new Promise<{ jobId: string; returnvalue: unknown }>((resolve) => events.once('completed', resolve))
    const queue = new Queue('secure-events', { connection: secure })
    const worker = new Worker('secure-events', async () => 'secret result', { connection: secure })
    const job = await queue.add('s', {})
    expect(await completed).toMatchObject({ jobId: job.id, returnvalue: 'secret result' })
    // A wrong token: the server closes the socket with 1008 (spec §5.4), and QueueEvents says so.
    const wrong = new QueueEvents('secure-events', { connection: { ...secure, token: 'nope' } })
    const refused = await new Promise<Error>((resolve) => wrong.once('error', resolve))
    expect(refused.message).toContain('code 1008: Invalid token')
    await Promise.all([wrong.close(), events.close(), queue.close(), worker.close()])
  } finally {
    await secured?.cleanup()
  }
})

test('removed {jobId, prev} for each job of drain, clean and obliterate', async () => {
  const queue = fixture.track(new Queue(queueName('events-removed'), { connection: connection() }))
  const events = fixture.track(new QueueEvents(queue.name, { connection: connection() }))
  await events.waitUntilReady()
  const removed: string[] = []
  events.on('removed', ({ jobId, prev }: { jobId: string; prev: string }) => removed.push(`${jobId}:${prev}`))
  const waiting = await queue.add('w', {})
  const delayed = await queue.add('d', {}, { delay: 60_000 })
  await queue.drain(true)
  await waitFor('drain removals', () => removed.length === 2)
  expect(removed.sort()).toEqual([`${waiting.id}:waiting`, `${delayed.id}:delayed`].sort())
  removed.length = 0
  const old = await queue.add('old', {})
  await queue.clean(0, 0, 'wait')
  await waitFor('clean removal', () => removed.length === 1)
  expect(removed).toEqual([`${old.id}:waiting`])
  removed.length = 0
  const last = await queue.add('last', {})
  await queue.obliterate()
  await waitFor('obliterate removal', () => removed.length === 1)
  expect(removed).toEqual([`${last.id}:waiting`])
})

test('waiting-children for a flow parent (instead of waiting), duplicated for an add with a known jobId', async () => {
  const queue = fixture.track(new Queue(queueName('events-children'), { connection: connection() }))
  const events = fixture.track(new QueueEvents(queue.name, { connection: connection() }))
  await events.waitUntilReady()
  const log: string[] = []
  for (const name of ['waiting', 'waiting-children', 'duplicated']) events.on(name, ({ jobId }: { jobId: string }) => log.push(`${name}:${jobId}`))
  const child = await queue.add('child', {}, { delay: 60_000 })
  const parent = await queue.add('parent', {}, { dependsOn: [child.id as string] })
  const first = await queue.add('once', {}, { jobId: 'only-one' })
  const again = await queue.add('once', {}, { jobId: 'only-one' })
  expect(again.id).toBe(first.id)
  await waitFor('events', () => log.length === 3)
  expect(log).toEqual([`waiting-children:${parent.id}`, `waiting:${first.id}`, `duplicated:${first.id}`])
})
