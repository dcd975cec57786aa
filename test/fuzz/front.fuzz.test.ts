/**
 * Standing fuzz test of the front (issue 8): seeded random and mutated requests in JSON lines and
 * MessagePack, including huge nesting, non-finite numbers, multi-byte strings at the limits and
 * random bytes, sent in random chunkings to a real server (durable; its stores in two shard workers,
 * then in the main thread, the default on 2 cores: each shape gets FUZZ_SECONDS). After each
 * batch the server must still answer a push/pull/ack round trip on every shard, its RSS must stay
 * under a bound, and no reply may show a stack trace or a path.
 *
 *   bun test test/fuzz                         CI: about 2 × 10 s of batches
 *   FUZZ_SECONDS=600 bun test test/fuzz        a longer local run
 *   SEED=1234 bun test test/fuzz               replay one run (the seed is printed)
 */
import { expect, test } from 'bun:test'
import { connect, type Socket as NetSocket } from 'node:net'
import { Packr } from 'msgpackr'
import { shardOfName } from '../../src/base/hash.ts'
import { jobDataBytesMax, kvKeyBytesMax, queueNameCharsMax, requestNestingDepthMax } from '../../src/base/limits.ts'
import { prng, seedFromEnv } from '../../src/base/prng.ts'
import { startServer, type TestServer } from '../harness/server.ts'
import { frame, WireClient } from '../harness/wire-client.ts'

const fuzzSeconds = Number(process.env.FUZZ_SECONDS ?? 10)
const seed = seedFromEnv()
const random = prng(seed)
const shardCount = 2
/**
 * Growth of the server's RSS over its idle size that counts as unbounded. A batch may hold a few
 * 10 MiB jobs and replies in flight at once; freed memory goes back to the system only after the
 * collector runs, so the bound leaves room for one batch's garbage, and the check waits a little
 * for it (rssSettleMs) before it calls the growth unbounded. A leak grows batch after batch past it.
 */
const rssGrowthBytesMax = 1024 * 1024 * 1024
const rssSettleMs = 3000

const packr = new Packr({ useRecords: false, variableMapSize: true })

/** The server under test; each test starts its own. */
let server: TestServer
/** Where the stores run: in shard Workers, and in the main thread (the in-thread host and its reply path). */
const serverShapes = [
  { name: `stores in ${shardCount} shard workers`, workers: shardCount },
  { name: 'stores in the main thread', workers: 0 },
]

// ---------------------------------------------------------------------------------------------------
// Values and requests

const commands = [
  'PUSH', 'PUSHB', 'PULL', 'PULLB', 'ACK', 'ACKB', 'FAIL', 'GETJOB', 'GETSTATE', 'GETJOBS', 'GETJOBSBATCH',
  'DLQ', 'KVSET', 'KVGET', 'KVMSET', 'KVINCR', 'CRON', 'FLOW', 'UPDATEJOB', 'COUNT', 'STATS', 'PING', 'NOPE',
]
const fields = [
  'queue', 'data', 'id', 'ids', 'jobs', 'count', 'timeout', 'priority', 'delay', 'ttl', 'max_attempts', 'backoff',
  'key', 'value', 'entries', 'schedule', 'children', 'limit', 'offset', 'job_id', 'unique_key', 'tags', 'depends_on',
]
const strangeNumbers = [0, -1, 1.5, 2 ** 31, 2 ** 53, -(2 ** 63), Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e308]
const alphabet = ['a', 'Z', '0', '_', '-', '.', 'é', '€', '😀', '\u0000', '"', '\\', '\n', ' ', '{', '[']

function randomString(lengthMax: number): string {
  let text = ''
  const length = random.int(lengthMax + 1)
  for (let index = 0; index < length; index++) text += random.pick(alphabet)
  return text
}

/** Strings right at (and one past) the limits, in multi-byte characters. */
function limitString(): string {
  switch (random.int(4)) {
    case 0: return 'é'.repeat(queueNameCharsMax + random.int(2))
    case 1: return '€'.repeat(Math.floor(kvKeyBytesMax / 3) + random.int(2))
    case 2: return '😀'.repeat(queueNameCharsMax / 2 + random.int(2))
    default: return '€'.repeat(Math.floor(jobDataBytesMax / 3) - 1 + random.int(3))
  }
}

function nested(depth: number): unknown {
  let value: unknown = random.int(2) === 0 ? 1 : 'x'
  for (let level = 0; level < depth; level++) value = random.int(2) === 0 ? [value] : { k: value }
  return value
}

function randomValue(depth = 0): unknown {
  switch (random.int(depth > 3 ? 5 : 9)) {
    case 0: return null
    case 1: return random.pick(strangeNumbers)
    case 2: return random.int(1000)
    case 3: return randomString(20)
    case 4: return random.int(2) === 0
    case 5: return Array.from({ length: random.int(4) }, () => randomValue(depth + 1))
    case 6: return Object.fromEntries(Array.from({ length: random.int(4) }, () => [random.pick(fields), randomValue(depth + 1)]))
    case 7: return nested(requestNestingDepthMax - 3 + random.int(6))
    default: return random.int(20) === 0 ? limitString() : randomString(8)
  }
}

function randomRequest(): Record<string, unknown> {
  const request: Record<string, unknown> = { cmd: random.pick(commands) }
  const fieldCount = random.int(6)
  for (let index = 0; index < fieldCount; index++) request[random.pick(fields)] = randomValue()
  if (random.int(3) === 0) request.queue = `fuzz-${random.int(8)}`
  if (random.int(4) === 0) request.reqId = `f${random.int(1_000_000)}`
  return request
}

// ---------------------------------------------------------------------------------------------------
// Encodings (valid, mutated, hostile)

function jsonLine(): Uint8Array {
  const kind = random.int(10)
  if (kind === 0) return new TextEncoder().encode(`{"cmd":"PUSH","queue":"fuzz-deep","data":${'['.repeat(50_000)}${']'.repeat(50_000)}}\n`)
  if (kind === 1) return randomBytes(random.int(200), true)
  let text: string
  try {
    text = JSON.stringify(randomRequest())
  } catch {
    return new Uint8Array([0x0a])
  }
  if (kind === 2) text = mutateText(text)
  if (kind === 3) text = text.replace(/[0-9]+/, random.pick(['1e400', '-1e400', '1E9', '0.5', '9007199254740993']))
  return new TextEncoder().encode(`${text.replaceAll('\n', '')}\n`)
}

function msgpackFrame(): Uint8Array {
  const kind = random.int(10)
  if (kind === 0) return frame(deepMsgpack(50_000))
  if (kind === 1) return frame(randomBytes(random.int(200), false))
  let body: Uint8Array
  try {
    body = packr.pack(randomRequest())
  } catch {
    body = new Uint8Array([0x80])
  }
  if (kind === 2) body = mutateBytes(body)
  return frame(body)
}

function deepMsgpack(depth: number): Uint8Array {
  const head = packr.pack({ cmd: 'PUSH', queue: 'fuzz-deep' })
  const bytes = new Uint8Array(head.length + 4 + 1 + depth + 1)
  bytes.set(head, 0)
  bytes[0] = 0x83 // three entries: cmd, queue, data
  bytes.set([0xa4, 0x64, 0x61, 0x74, 0x61], head.length) // "data"
  bytes.fill(0x91, head.length + 5, head.length + 5 + depth)
  return bytes.subarray(0, head.length + 5 + depth + 1)
}

function randomBytes(length: number, line: boolean): Uint8Array {
  const bytes = new Uint8Array(length + (line ? 1 : 0))
  for (let index = 0; index < length; index++) bytes[index] = random.int(256)
  if (line) {
    for (let index = 0; index < length; index++) if (bytes[index] === 0x0a) bytes[index] = 0x20
    bytes[length] = 0x0a
  }
  return bytes
}

function mutateText(text: string): string {
  const at = random.int(text.length)
  switch (random.int(3)) {
    case 0: return text.slice(0, at) + text.slice(at + 1)
    case 1: return text.slice(0, at) + random.pick(alphabet) + text.slice(at)
    default: return text.slice(0, at) + random.pick(['{', '[', '"', ',', ':', '}']) + text.slice(at + 1)
  }
}

function mutateBytes(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice()
  const flips = 1 + random.int(3)
  for (let flip = 0; flip < flips && copy.length > 0; flip++) copy[random.int(copy.length)] = random.int(256)
  return copy
}

// ---------------------------------------------------------------------------------------------------
// One batch: a few connections, each sent a stream of requests in random chunks.

type BatchResult = { replies: number; dirtyErrors: string[] }

async function fuzzConnection(mode: 'json' | 'msgpack', requests: number): Promise<BatchResult> {
  const parts: Uint8Array[] = []
  // The first byte chooses the mode: JSON lines must start with `{`.
  if (mode === 'json') parts.push(new TextEncoder().encode('{"cmd":"PING"}\n'))
  for (let index = 0; index < requests; index++) parts.push(mode === 'json' ? jsonLine() : msgpackFrame())
  const stream = Buffer.concat(parts)
  const socket = await new Promise<NetSocket>((resolve, reject) => {
    const opened = connect({ host: '127.0.0.1', port: server.tcpPort }, () => resolve(opened))
    opened.once('error', reject)
  })
  const result: BatchResult = { replies: 0, dirtyErrors: [] }
  let received: Buffer = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk])
    if (mode === 'json') received = readJsonReplies(received, result)
  })
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  // Random chunking: from single bytes to large slices, sometimes with a pause between.
  let offset = 0
  while (offset < stream.length && !socket.destroyed) {
    const size = random.int(4) === 0 ? 1 + random.int(8) : 1 + random.int(64 * 1024)
    socket.write(stream.subarray(offset, offset + size))
    offset += size
    if (random.int(20) === 0) await Bun.sleep(1)
  }
  socket.end()
  await Promise.race([closed, Bun.sleep(10_000)])
  socket.destroy()
  return result
}

function readJsonReplies(buffer: Buffer, result: BatchResult): Buffer {
  let start = 0
  for (let end = buffer.indexOf(0x0a, start); end >= 0; end = buffer.indexOf(0x0a, start)) {
    const text = buffer.subarray(start, end).toString()
    start = end + 1
    result.replies++
    const error = (JSON.parse(text) as { error?: unknown }).error
    if (typeof error === 'string' && /\n|\bat (?:\S+ )?\(?\S+:\d+:\d+|\/work\/|\/src\/|\.ts:\d+/.test(error)) result.dirtyErrors.push(error)
  }
  return buffer.subarray(start)
}

// ---------------------------------------------------------------------------------------------------
// Health after each batch

async function rssBytes(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text()
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024
}

const queueOfShard = Array.from({ length: shardCount }, (_, shard) => {
  for (let n = 0; ; n++) if (shardOfName(`health-${n}`, shardCount) === shard) return `health-${n}`
})

async function roundTripOnEveryShard(): Promise<void> {
  const client = await WireClient.connect(server.tcpPort)
  try {
    for (const queue of queueOfShard) {
      const pushed = await client.request({ cmd: 'PUSH', queue, data: { seed } }, 10_000)
      expect(pushed).toMatchObject({ ok: true })
      const pulled = await client.request({ cmd: 'PULL', queue, timeout: 5000 }, 10_000)
      expect(pulled.job?.id).toBe(pushed.id)
      expect(await client.request({ cmd: 'ACK', id: pushed.id }, 10_000)).toMatchObject({ ok: true })
    }
  } finally {
    client.close()
  }
}

/**
 * Removes what the batch stored on purpose (jobs, KV entries, cron entries of any queue or name), so
 * the RSS bound measures the server, not the data it was asked to keep.
 */
/** RSS growth over `idleRss`, sampled until it is under the bound or rssSettleMs passed. */
async function settledRssGrowth(pid: number, idleRss: number): Promise<number> {
  const deadlineMs = Date.now() + rssSettleMs
  let growth = await rssBytes(pid) - idleRss
  while (growth >= rssGrowthBytesMax && Date.now() < deadlineMs) {
    await Bun.sleep(200)
    growth = await rssBytes(pid) - idleRss
  }
  return growth
}

async function removeStoredState(): Promise<void> {
  const client = await WireClient.connect(server.tcpPort)
  try {
    const { queues } = await client.request({ cmd: 'LISTQUEUES' }, 20_000)
    for (const queue of queues as Array<{ name: string }>) await client.request({ cmd: 'OBLITERATE', queue: queue.name }, 20_000)
    const { keys } = await client.request({ cmd: 'KVKEYS' }, 20_000)
    for (const key of keys as string[]) await client.request({ cmd: 'KVDEL', key }, 20_000)
    const { crons } = await client.request({ cmd: 'CRONLIST' }, 20_000)
    for (const cron of crons as Array<{ name: string }>) await client.request({ cmd: 'CRONDELETE', name: cron.name }, 20_000)
  } finally {
    client.close()
  }
}

for (const shape of serverShapes) {
  test(`the front survives fuzzed input, ${shape.name} (SEED=${seed}, ${fuzzSeconds} s)`, async () => {
    server = await startServer({ args: ['--shards', String(shardCount), '--workers', String(shape.workers)] })
    try {
      await fuzzServer()
    } finally {
      await server.cleanup()
    }
  }, (fuzzSeconds + 60) * 1000)
}

async function fuzzServer(): Promise<void> {
  process.stderr.write(`front fuzz: SEED=${seed} FUZZ_SECONDS=${fuzzSeconds}\n`)
  await roundTripOnEveryShard()
  const idleRss = await rssBytes(server.process.pid)
  const deadlineMs = Date.now() + fuzzSeconds * 1000
  let batches = 0
  let replies = 0
  while (Date.now() < deadlineMs) {
    const results = await Promise.all([fuzzConnection('json', 40), fuzzConnection('msgpack', 40), fuzzConnection(random.pick(['json', 'msgpack'] as const), 40)])
    for (const result of results) {
      replies += result.replies
      expect(result.dirtyErrors).toEqual([])
    }
    expect(server.process.exitCode).toBeNull()
    await roundTripOnEveryShard()
    await removeStoredState()
    expect(await settledRssGrowth(server.process.pid, idleRss)).toBeLessThan(rssGrowthBytesMax)
    batches++
  }
  process.stderr.write(`front fuzz: ${batches} batches, ${replies} JSON replies checked\n`)
  expect(batches).toBeGreaterThan(0)
  expect(replies).toBeGreaterThan(0)
  const health = (await (await fetch(`http://127.0.0.1:${server.httpPort}/health`)).json()) as { data: { status: string } }
  expect(health.data.status).toBe('healthy') // spec §5.2 shape
}
