/**
 * The SDK's lean paths against its general ones (they must not differ in anything but cost):
 * Queue.add of a job without options against add with `{}` (the general option path), and a
 * request's JSON line written without copying the command against the copy. Also the one timer
 * that now carries every request's timeout.
 */
import { describe, expect, test } from 'bun:test'
import { FlashQ, Queue, RequestTimeoutError } from '../../src/client/index.ts'
import { jsonLineOf } from '../../src/client/connection.ts'
import { queueName, sdkTestFile } from './kit.ts'

const { fixture, connection, newQueue } = sdkTestFile()

/** Records every command the queue's connection sends (and still sends it). */
function recordCommands(queue: Queue): Array<Record<string, unknown>> {
  const sent: Array<Record<string, unknown>> = []
  const connection = queue.client.connection
  const request = connection.request.bind(connection)
  connection.request = (command, options) => {
    sent.push(structuredClone(command))
    return request(command, options)
  }
  return sent
}

/** What a returned Job shows a user, minus what differs between any two jobs (id, time). */
function visible(job: Awaited<ReturnType<Queue['add']>>) {
  const { id: _id, timestamp: _timestamp, ...rest } = job.toJSON()
  return { ...rest, ownKeys: Object.keys(job), serverIdIsId: String(job.serverId) === job.id, jobId: job.jobId === job.id, asJSON: { ...job.asJSON(), id: 0, timestamp: 0 } }
}

const dataShapes: Array<[string, unknown]> = [
  ['a plain object', { to: 'a@b.c', n: 1, nested: { x: [1, 2] } }],
  ['an object with its own name key', { name: 'inner', v: 2 }],
  ['an object with $data', { $data: 1 }],
  ['an empty object', {}],
  ['a string', 'text'],
  ['a number', 42],
  ['an array', [1, 'two']],
  ['null', null],
  ['undefined', undefined],
  ['a class instance', new Date(0)],
]

describe('Queue.add without options (lean) against add with {} (general)', () => {
  for (const [label, data] of dataShapes) {
    test(`${label}: the same PUSH, the same Job, the same job on the server`, async () => {
      const queue = newQueue('lean-add')
      const sent = recordCommands(queue)
      const waiting: unknown[] = []
      queue.on('waiting', (job) => waiting.push(job))
      const lean = await queue.add('named', data)
      const general = await queue.add('named', data, {})
      expect(sent).toHaveLength(2)
      expect(sent[0]).toEqual(sent[1] as Record<string, unknown>)
      expect(Object.keys(sent[0] as object)).toEqual(Object.keys(sent[1] as object))
      expect(visible(lean)).toEqual(visible(general))
      expect(lean.opts).toEqual(general.opts)
      expect(lean.opts).not.toBe(general.opts) // each job has its own options object, as in BullMQ
      expect(waiting).toEqual([lean, general])
      const [leanRead, generalRead] = await Promise.all([queue.getJob(lean.id as string), queue.getJob(general.id as string)])
      expect(leanRead?.wire).toBeDefined()
      const { id: _a, created_at: _b, run_at: _c, ...leanWire } = leanRead?.wire as unknown as Record<string, unknown>
      const { id: _d, created_at: _e, run_at: _f, ...generalWire } = generalRead?.wire as unknown as Record<string, unknown>
      expect(leanWire).toEqual(generalWire)
      expect(leanRead?.data).toEqual(generalRead?.data)
      expect(leanRead?.name).toBe('named')
    })
  }

  test('queue default options take the general path: the defaults reach the server', async () => {
    const queue = fixture.track(new Queue(queueName('lean-defaults'), { connection: connection(), defaultJobOptions: { attempts: 4, priority: 2 } }))
    const job = await queue.add('d', { v: 1 })
    expect(job.opts).toEqual({ attempts: 4, priority: 2 })
    const read = await queue.getJob(job.id as string)
    expect(read?.wire?.max_attempts).toBe(4)
    expect(read?.opts.priority).toBe(2)
  })
})

describe('a request as a JSON line', () => {
  const commands: Array<Record<string, unknown>> = [
    { cmd: 'PUSH', queue: 'q', data: { a: 1, s: 'quote " and \\ and \n' }, max_attempts: 1 },
    { cmd: 'ACKB', ids: [1, 2, 3] },
    { cmd: 'PULLB', queue: 'q', count: 10, timeout: 1000, sparse: true, skipped: undefined },
    { cmd: 'X', reqId: 'the command own one' },
    Object.assign(Object.create({ inherited: 1 }), { cmd: 'PROTO' }),
    { cmd: 'TOJSON', toJSON: () => ({ replaced: true }) },
    {},
  ]
  for (const command of commands) {
    test(`${JSON.stringify(command)}: the bytes of JSON.stringify({...command, reqId})`, () => {
      expect(jsonLineOf(command, 'abc-1234-77')).toBe(`${JSON.stringify({ ...command, reqId: 'abc-1234-77' })}\n`)
    })
  }
})

describe('request timeouts share one timer', () => {
  test('each request fails after its own timeout, shorter after longer, and answered ones do not', async () => {
    const client = fixture.track(new FlashQ(connection()))
    await client.connect()
    const empty = queueName('lean-timeouts')
    const startedMs = performance.now()
    const long = client.send({ cmd: 'PULL', queue: empty, timeout: 5000 }, { timeoutMs: 600 }).catch((error: Error) => [error, performance.now() - startedMs] as const)
    const short = client.send({ cmd: 'PULL', queue: empty, timeout: 5000 }, { timeoutMs: 150 }).catch((error: Error) => [error, performance.now() - startedMs] as const)
    const answered = client.ping()
    const [shortError, shortMs] = (await short) as readonly [Error, number]
    expect(shortError).toBeInstanceOf(RequestTimeoutError)
    expect(String(shortError)).toContain('PULL got no reply within 150 ms')
    expect(shortMs).toBeGreaterThanOrEqual(145) // never before its deadline (the timer's ms rounding aside)
    const [longError, longMs] = (await long) as readonly [Error, number]
    expect(String(longError)).toContain('PULL got no reply within 600 ms')
    expect(longMs).toBeGreaterThanOrEqual(595)
    expect(await answered).toBe(true)
    expect(await client.ping()).toBe(true)
  })

  test('a timeout setTimeout cannot take (beyond 2^31-1 ms, not a number) fires at once, as a timer per request did', async () => {
    const client = fixture.track(new FlashQ(connection()))
    await client.connect()
    // The PULL waits 5 s at the server, so only the client-side timeout can end these before the test's own timeout.
    for (const timeoutMs of [3e9, Number.NaN]) {
      const error = await client.send({ cmd: 'PULL', queue: queueName('lean-huge'), timeout: 5000 }, { timeoutMs }).catch((caught: Error) => caught)
      expect(error).toBeInstanceOf(RequestTimeoutError)
    }
    expect(await client.ping()).toBe(true)
  }, 4000)
})
