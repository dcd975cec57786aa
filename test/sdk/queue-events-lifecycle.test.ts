/**
 * The server's event extensions through QueueEvents, SSE and WebSocket, against a real server:
 * waiting → active → progress → completed in order, `delayed` for a delayed add (instead of
 * 'waiting') and for moveToDelayed, `removed` with the state the job left, `drained` once the last
 * waiting job is taken, and `retrying` with {attempts, run_at}.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { DelayedError, FlashQ, Queue, QueueEvents, Worker } from '../../src/client/index.ts'
import { openWebSocket, SseReader } from '../integration/http-kit.ts'
import { queueName, serverFixture, waitFor } from './kit.ts'

setDefaultTimeout(30_000)
const fixture = serverFixture()
const connection = () => fixture.connection

beforeAll(() => fixture.start())
afterAll(() => fixture.stop())

const names = ['added', 'waiting', 'active', 'progress', 'completed', 'failed', 'delayed', 'retrying', 'removed', 'drained']

/** Every QueueEvents event as `name:jobId[:detail]`. */
async function listen(queue: string): Promise<{ log: string[]; events: QueueEvents }> {
  const events = fixture.track(new QueueEvents(queue, { connection: connection() }))
  await events.waitUntilReady()
  const log: string[] = []
  for (const name of names) {
    events.on(name, (args: Record<string, unknown> | string) => {
      if (typeof args === 'string') return void log.push(name) // drained carries only the event id
      const detail = name === 'removed' ? `:${args.prev}` : name === 'progress' ? `:${JSON.stringify(args.data)}` : name === 'completed' ? `:${JSON.stringify(args.returnvalue)}` : ''
      log.push(`${name}:${args.jobId}${detail}`)
    })
  }
  return { log, events }
}

test('waiting → active → progress → completed, then drained once the queue has no waiting job', async () => {
  const queue = fixture.track(new Queue(queueName('life'), { connection: connection() }))
  const { log } = await listen(queue.name)
  const job = await queue.add('one', { n: 1 })
  fixture.track(new Worker(queue.name, async (active) => {
    await active.updateProgress(40)
    return 'done'
  }, { connection: connection() }))
  await waitFor('completed and drained', () => log.includes(`completed:${job.id}:"done"`) && log.includes('drained'))
  const id = job.id as string
  expect(log.filter((entry) => entry !== 'drained')).toEqual([`added:${id}`, `waiting:${id}`, `active:${id}`, `progress:${id}:40`, `completed:${id}:"done"`])
  // drained comes with the delivery that took the last job, before that job completes
  expect(log.indexOf('drained')).toBeGreaterThan(log.indexOf(`active:${id}`))
  expect(log.indexOf('drained')).toBeLessThan(log.indexOf(`completed:${id}:"done"`))
})

test('a delayed add is added → delayed (not waiting); moveToDelayed in a processor says delayed with the run time', async () => {
  const queue = fixture.track(new Queue(queueName('delayed'), { connection: connection() }))
  const { log, events } = await listen(queue.name)
  const runAts: number[] = []
  events.on('delayed', ({ delay }: { delay: number }) => runAts.push(delay))
  const before = Date.now()
  const later = await queue.add('later', {}, { delay: 400 })
  await waitFor('delayed event', () => log.includes(`delayed:${later.id}`))
  await new Promise((resolve) => setTimeout(resolve, 50)) // a wrong 'waiting' would have arrived by now
  expect(log).toEqual([`added:${later.id}`, `delayed:${later.id}`])
  expect(runAts[0]).toBeGreaterThanOrEqual(before + 400)

  const moved = await queue.add('moved', { first: true })
  fixture.track(new Worker(queue.name, async (job) => {
    if (job.name === 'moved' && job.data.first) {
      await job.updateData({ first: false })
      await job.moveToDelayed(Date.now() + 300)
      throw new DelayedError()
    }
  }, { connection: connection() }))
  await waitFor('both complete', () => log.includes(`completed:${moved.id}:null`) && log.includes(`completed:${later.id}:null`))
  const mine = log.filter((entry) => entry.endsWith(`:${moved.id}`) || entry.includes(`:${moved.id}:`))
  expect(mine).toEqual([`added:${moved.id}`, `waiting:${moved.id}`, `active:${moved.id}`, `delayed:${moved.id}`, `active:${moved.id}`, `completed:${moved.id}:null`])
})

test('removed names the state the job left', async () => {
  const queue = fixture.track(new Queue(queueName('removed'), { connection: connection() }))
  const { log } = await listen(queue.name)
  const waiting = await queue.add('w', {})
  const delayed = await queue.add('d', {}, { delay: 60_000 })
  await waiting.remove()
  await queue.remove(delayed.id as string)
  await waitFor('two removals', () => log.filter((entry) => entry.startsWith('removed')).length === 2)
  expect(log.filter((entry) => entry.startsWith('removed'))).toEqual([`removed:${waiting.id}:waiting`, `removed:${delayed.id}:delayed`])
})

test('retrying carries attempts and run_at; SSE and WebSocket subscribers get the new events too', async () => {
  const queue = queueName('raw')
  const { httpPort } = connection()
  const sse = (await SseReader.open(`http://127.0.0.1:${httpPort}/events/${queue}`)).reader as SseReader
  const ws = await openWebSocket(`ws://127.0.0.1:${httpPort}/ws/${queue}`)
  const client = fixture.track(new FlashQ(connection()))
  try {
    const job = await client.push(queue, { x: 1 }, { max_attempts: 3, backoff: 100 })
    const pulled = await client.pull(queue, 1000)
    expect(pulled?.id).toBe(job.id)
    await client.fail(job.id, 'nope')
    await client.cancel(job.id)
    const expected = ['pushed', 'active', 'drained', 'retrying', 'removed']
    const seen: Array<Record<string, any>> = []
    while (seen.length < expected.length) seen.push(JSON.parse((await sse.next()).data))
    expect(seen.map((event) => event.event_type)).toEqual(expected)
    const retrying = seen[3] as Record<string, any>
    // backoff 100 is exponential on the wire: 100 × 2^1 after the first failure
    expect(retrying).toMatchObject({ job_id: job.id, error: 'nope', data: { attempts: 1 } })
    expect(retrying.data.run_at - retrying.timestamp).toBe(200)
    expect(seen[4]).toMatchObject({ job_id: job.id, data: { prev: 'delayed' } })
    await waitFor('WebSocket events', () => ws.messages.length >= expected.length)
    expect(ws.messages.slice(0, expected.length).map((text) => JSON.parse(text).event_type)).toEqual(expected)
  } finally {
    sse.close()
    ws.socket.close()
  }
})
