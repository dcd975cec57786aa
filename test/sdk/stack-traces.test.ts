/**
 * job.stacktrace after failures, against a real server, as BullMQ 6.7 on Redis gave it for the same
 * jobs: one stack per failed attempt, oldest first, in the Worker's 'failed' event and read back with
 * getJob; `stackTraceLimit: N` keeps the newest N, 0 none. getJobLogs does not show them.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { Queue, Worker } from '../../src/client/index.ts'
import { queueName, serverFixture, waitFor } from './kit.ts'
import { jobErrorCharsMax, jobLogMessageCharsMax } from '../../src/base/limits.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture()

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

const firstLines = (stacks: string[]) => stacks.map((stack) => stack.split('\n')[0]).join('|')

test('one stack trace per failed attempt, the newest stackTraceLimit of them', async () => {
  const queue = fixture.track(new Queue(queueName('stacks'), { connection: fixture.connection }))
  const a = await queue.add('a', {}, { attempts: 3, backoff: 10 })
  const b = await queue.add('b', {}, { attempts: 3, backoff: 10, stackTraceLimit: 2 })
  const c = await queue.add('c', {}, { attempts: 2, backoff: 10, stackTraceLimit: 0 })
  await queue.addJobLog(a.id as string, 'a user line')
  const attempts = new Map<string, number>()
  const failedEvents: string[] = []
  const worker = fixture.track(new Worker(queue.name, async (job) => {
    const attempt = (attempts.get(job.name) ?? 0) + 1
    attempts.set(job.name, attempt)
    throw new Error(`${job.name}${attempt}`)
  }, { connection: fixture.connection }))
  worker.on('failed', (job) => failedEvents.push(`${job?.name}:${firstLines(job?.stacktrace ?? [])}`))
  await waitFor('every attempt failed', () => failedEvents.length === 8)
  expect(failedEvents.filter((event) => event.startsWith('a:'))).toEqual(['a:Error: a1', 'a:Error: a1|Error: a2', 'a:Error: a1|Error: a2|Error: a3'])
  expect(failedEvents.filter((event) => event.startsWith('b:'))).toEqual(['b:Error: b1', 'b:Error: b1|Error: b2', 'b:Error: b2|Error: b3'])
  expect(failedEvents.filter((event) => event.startsWith('c:'))).toEqual(['c:', 'c:'])

  const [readA, readB, readC] = await Promise.all([a, b, c].map((job) => queue.getJob(job.id as string)))
  expect(firstLines(readA?.stacktrace ?? [])).toBe('Error: a1|Error: a2|Error: a3')
  expect(readA?.stacktrace[0]).toContain('stack-traces.test.ts') // the whole stack, not just the message
  expect(readA?.failedReason).toBe('a3')
  expect(firstLines(readB?.stacktrace ?? [])).toBe('Error: b2|Error: b3')
  expect(readB?.opts.stackTraceLimit).toBe(2)
  expect(readC?.stacktrace).toEqual([])
  expect((await queue.getFailed()).map((job) => firstLines(job.stacktrace)).sort()).toEqual(['', 'Error: a1|Error: a2|Error: a3', 'Error: b2|Error: b3'])
  const logs = (await queue.getJobLogs(a.id as string)).logs
  expect(logs).toContain('a user line')
  expect(logs.filter((line) => line.includes('\n    at '))).toEqual([])
})

test('a job waiting for its retry shows the stack traces so far; manual moveToFailed keeps them too', async () => {
  const queue = fixture.track(new Queue(queueName('stacks-manual'), { connection: fixture.connection }))
  const added = await queue.add('m', {}, { attempts: 3, backoff: 60_000 })
  const worker = fixture.track(new Worker(queue.name, null, { connection: fixture.connection }))
  const job = await worker.getNextJob('token')
  await job?.moveToFailed(new Error('manual1'), 'token')
  expect(firstLines(job?.stacktrace ?? [])).toBe('Error: manual1')
  const waiting = await queue.getJob(added.id as string)
  expect(await waiting?.getState()).toBe('delayed')
  expect(firstLines(waiting?.stacktrace ?? [])).toBe('Error: manual1')
  await waiting?.promote()
  const again = await worker.getNextJob('token')
  await again?.moveToFailed(new Error('manual2'), 'token')
  expect(firstLines(again?.stacktrace ?? [])).toBe('Error: manual1|Error: manual2')
})

test('a processor error longer than the server keeps still fails the job, its reason and stack cut to the limits', async () => {
  const queue = fixture.track(new Queue(queueName('huge-error'), { connection: fixture.connection }))
  const job = await queue.add('huge', {})
  const message = 'm'.repeat(jobErrorCharsMax + 10)
  fixture.track(new Worker(queue.name, async () => {
    throw new Error(message)
  }, { connection: fixture.connection }))
  await waitFor('the job failed', async () => (await queue.getJobState(job.id as string)) === 'failed')
  const read = await queue.getJob(job.id as string)
  expect(read?.failedReason).toHaveLength(jobLogMessageCharsMax)
  expect(read?.stacktrace).toHaveLength(1)
  expect(read?.stacktrace[0]?.length).toBe(jobLogMessageCharsMax)
})
