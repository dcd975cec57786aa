/**
 * Sandboxed processors (`new Worker(name, '/path/to/processor.ts', opts)`) against a real server: the
 * processor runs in a child process (or a worker thread with `useWorkerThreads`), its updateProgress
 * and log reach the server and the Worker's events, its errors fail the job as a processor's would
 * (UnrecoverableError included), and a sandbox that crashes fails its job while the Worker goes on.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Queue, Worker } from '../../src/client/index.ts'
import { queueName, serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture()
const connection = () => fixture.connection
const processorFile = join(import.meta.dir, 'fixtures', 'sandbox-processor.ts')

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

type Output = { doubled: number; pid: number; threadId: number; logLines: number; name: string; attemptsMade: number }

test('a processor file runs in a child process; progress and logs reach the server and the worker events', async () => {
  const queue = fixture.track(new Queue(queueName('sandbox'), { connection: connection() }))
  const worker = fixture.track(new Worker<{ n: number }, Output>(queue.name, processorFile, { connection: connection(), concurrency: 2 }))
  const progress: unknown[] = []
  const completed: Output[] = []
  worker.on('progress', (_job, value) => progress.push(value))
  worker.on('completed', (_job, result) => completed.push(result))
  const job = await queue.add('double', { n: 21 })
  await queue.add('double', { n: 1 })
  await waitFor('two completions', () => completed.length === 2)
  const result = completed.find((output) => output.doubled === 42) as Output
  expect(result).toMatchObject({ doubled: 42, name: 'double', attemptsMade: 0, logLines: 1 })
  expect(result.pid).not.toBe(process.pid)
  expect(progress).toEqual([50, 50])
  expect((await queue.getJob(job.id as string))?.returnvalue).toEqual(result)
  expect((await queue.getJobLogs(job.id as string)).logs).toEqual(['hello 21'])
})

test('a crash of the sandbox fails its job, not the worker; errors and UnrecoverableError fail as in a processor', async () => {
  const queue = fixture.track(new Queue(queueName('sandbox-crash'), { connection: connection() }))
  const worker = fixture.track(new Worker(queue.name, pathToFileURL(processorFile), { connection: connection() }))
  const failed = new Map<string, { reason: string; attemptsMade: number }>()
  worker.on('failed', (job, error) => job && failed.set(job.name, { reason: error.message, attemptsMade: job.attemptsMade }))
  const completed: string[] = []
  worker.on('completed', (job) => completed.push(job.name))
  await queue.add('crash', { n: 1, crash: true })
  await queue.add('unrecoverable', { n: 2, unrecoverable: true }, { attempts: 3 })
  await queue.add('fail', { n: 3, fail: true })
  await queue.add('after', { n: 4 })
  await waitFor('all four settled', () => failed.size === 3 && completed.length === 1)
  expect(failed.get('crash')).toEqual({ reason: 'Unexpected exit code: 3 signal: null', attemptsMade: 1 })
  expect(failed.get('unrecoverable')).toEqual({ reason: 'no point retrying', attemptsMade: 1 })
  expect(await queue.getJobState((await queue.getJobs(['failed'])).find((job) => job.name === 'unrecoverable')?.id as string)).toBe('failed')
  expect(failed.get('fail')?.reason).toBe('sandbox broke')
  expect(completed).toEqual(['after'])
  expect(worker.isRunning()).toBe(true)
})

test('moveToWait + WaitingError in a sandboxed processor puts the job back; its next run completes it, no attempt counted', async () => {
  const queue = fixture.track(new Queue(queueName('sandbox-wait'), { connection: connection() }))
  const worker = fixture.track(new Worker<{ n: number }, Output>(queue.name, processorFile, { connection: connection() }))
  const failed: string[] = []
  worker.on('failed', (_job, error) => failed.push(error.message))
  const job = await queue.add('double', { n: 6, moveToWait: true })
  expect(await job.waitUntilFinished()).toMatchObject({ doubled: 12, attemptsMade: 0 })
  expect(failed).toEqual([])
})

test('useWorkerThreads runs the processor in a worker thread', async () => {
  const queue = fixture.track(new Queue(queueName('sandbox-thread'), { connection: connection() }))
  const worker = fixture.track(new Worker<{ n: number }, Output>(queue.name, processorFile, { connection: connection(), useWorkerThreads: true }))
  const completed: Output[] = []
  worker.on('completed', (_job, result) => completed.push(result))
  await queue.add('double', { n: 5 })
  await waitFor('completion', () => completed.length === 1)
  expect(completed[0]).toMatchObject({ doubled: 10, pid: process.pid, logLines: 1 })
  expect(completed[0]?.threadId).toBeGreaterThan(0)
})

test('a processor file that cannot be loaded fails each job with the reason', async () => {
  const queue = fixture.track(new Queue(queueName('sandbox-missing'), { connection: connection() }))
  const worker = fixture.track(new Worker(queue.name, join(import.meta.dir, 'fixtures', 'no-such-processor.ts'), { connection: connection() }))
  const reasons: string[] = []
  worker.on('failed', (_job, error) => reasons.push(error.message))
  await queue.add('a', {})
  await queue.add('b', {})
  await waitFor('two failures', () => reasons.length === 2)
  for (const reason of reasons) expect(reason).toContain('no-such-processor')
})
