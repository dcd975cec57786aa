/**
 * A real full disk: the data directory lives on a 2 MiB tmpfs. Pushes must eventually be refused
 * with a clear disk-full error (not a crash, not a hang); while full, pulls and acks of existing jobs
 * still work (DESIGN §4: room for a job's completion record is reserved when it is accepted), reads
 * are served, and after kill -9 and a restart on the still-full disk every acknowledged push and ack
 * is there. Needs root for mount; skips (saying why) when mounting is not possible.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer, type TestServer } from '../harness/server.ts'
import { CrashClient, mountTmpfs, type Reply, unmount } from './kit.ts'

const mountPoint = mkdtempSync(join(tmpdir(), 'flashq-full-'))
let mounted = false
const servers: TestServer[] = []
const requestWaitMs = 10_000

afterAll(async () => {
  for (const server of servers) await server.kill('SIGKILL')
  if (mounted) await unmount(mountPoint)
  rmSync(mountPoint, { recursive: true, force: true })
})

/** A request that must be answered within requestWaitMs: a hang is a failure, not a slow test. */
async function answered(client: CrashClient, command: Record<string, unknown>, server: TestServer): Promise<Reply> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`HANG: no reply within ${requestWaitMs} ms to ${command.cmd}\n${server.output()}`)), requestWaitMs)
  })
  try {
    const reply = await Promise.race([client.request(command), hang])
    if (reply === null) {
      throw new Error(`server dropped the connection on ${command.cmd} (exit ${server.process.exitCode}):\n${server.output()}`)
    }
    return reply
  } finally {
    clearTimeout(timer)
  }
}

const queue = 'full'
/** Accepted jobs: id → payload marker. */
const pushed = new Map<number, string>()
const acked: number[] = []
let skipReason: string | null = null
let server: TestServer
let client: CrashClient
let refusal: Reply | null = null
let batches = 0
const dataDir = join(mountPoint, 'data')

beforeAll(async () => {
  skipReason = await mountTmpfs(mountPoint, '2m')
  if (skipReason !== null) return console.log(`SKIPPED full-disk tests: ${skipReason}`)
  mounted = true
  server = await startServer({ dataDir })
  servers.push(server)
  client = await CrashClient.connect(server.tcpPort, 'msgpack')
})

test('pushes are refused with a clear disk-full error, not a crash or a hang', async () => {
  if (skipReason !== null) return
  // 2 MiB / ~27 KB per batch: the disk is full long before 400 batches. A refusal can be temporary:
  // while a checkpoint is being written it holds space that its completion frees (old segments are
  // deleted), and then pushes are accepted again, as they should be. So fill until a refusal
  // survives a pause longer than a checkpoint takes.
  const settleMs = 300
  while (refusal === null && batches < 400) {
    const jobs = Array.from({ length: 50 }, (_, i) => ({ data: { m: `b${batches}-${i}`, pad: 'f'.repeat(500) } }))
    const reply = await answered(client, { cmd: 'PUSHB', queue, jobs }, server)
    batches++
    if (reply.ok) {
      ;(reply.ids as number[]).forEach((id, i) => pushed.set(id, jobs[i]!.data.m))
      continue
    }
    expect(String(reply.error)).toMatch(/disk full/i)
    await Bun.sleep(settleMs)
    const probe = await answered(client, { cmd: 'PUSH', queue, data: { m: `probe-${batches}` } }, server)
    if (probe.ok) pushed.set(probe.id as number, `probe-${batches}`)
    else refusal = probe
  }
  console.log(`full-disk: ${pushed.size} jobs accepted in ${batches - 1} batches, then: ${JSON.stringify(refusal)}`)
  expect(refusal).not.toBeNull()
  expect(String(refusal?.error)).toMatch(/disk full/i)
  // The log says so once per change of state, not once per refused request.
  const fullLines = () => server.output().split('\n').filter((line) => line.includes('disk full; new jobs are refused')).length
  expect(fullLines()).toBeGreaterThanOrEqual(1)
  const fullLinesBefore = fullLines()
  // Still refused, still alive, single pushes too.
  for (let i = 0; i < 5; i++) {
    const single = await answered(client, { cmd: 'PUSH', queue, data: { m: `single-${i}` } }, server)
    expect(single.ok).toBe(false)
    expect(String(single.error)).toMatch(/disk full/i)
  }
  expect(fullLines()).toBe(fullLinesBefore)
  expect(server.process.exitCode).toBeNull()
}, 60_000)

test('while full, pulls and acks (ACK with a result, ACKB) work and reads are served', async () => {
  if (skipReason !== null) return
  expect(refusal).not.toBeNull()
  for (let round = 0; round < 4; round++) {
    const pulled = await answered(client, { cmd: 'PULLB', queue, count: 50, timeout: 0 }, server)
    const ids = (pulled.jobs as Array<{ id: number }>).map((job) => job.id)
    expect(ids.length).toBe(50)
    if (round % 2 === 0) {
      const replies = await Promise.all(ids.map((id) => answered(client, { cmd: 'ACK', id, result: { done: id } }, server)))
      expect(replies.filter((reply) => !reply.ok)).toEqual([])
    } else {
      expect(await answered(client, { cmd: 'ACKB', ids }, server)).toMatchObject({ ok: true, count: ids.length })
    }
    acked.push(...ids)
  }
  expect(await answered(client, { cmd: 'PING' }, server)).toMatchObject({ ok: true })
  const waitingId = [...pushed.keys()].find((id) => !acked.includes(id)) as number
  expect(await answered(client, { cmd: 'GETJOB', id: waitingId }, server)).toMatchObject({ ok: true, state: 'waiting' })
  expect(await answered(client, { cmd: 'GETSTATE', id: acked[0] }, server)).toMatchObject({ ok: true, state: 'completed' })
  expect(await answered(client, { cmd: 'STATS' }, server)).toMatchObject({ ok: true })
}, 60_000)

test('kill -9 and restart on the still-full disk: every acknowledged push and ack is there', async () => {
  if (skipReason !== null) return
  client.close()
  await server.kill('SIGKILL')
  server = await startServer({ dataDir })
  servers.push(server)
  client = await CrashClient.connect(server.tcpPort, 'msgpack')
  const ackedSet = new Set(acked)
  const wrong: string[] = []
  await Promise.all(
    [...pushed].map(async ([id, marker]) => {
      const reply = await answered(client, { cmd: 'GETJOB', id }, server)
      const expected = ackedSet.has(id) ? 'completed' : 'waiting'
      const data = (reply.job as { data?: { m?: string } } | null)?.data
      if (reply.state !== expected || (expected === 'waiting' && data?.m !== marker)) {
        wrong.push(`job ${id} (${marker}): ${reply.state} ${JSON.stringify(data ?? null).slice(0, 60)}, expected ${expected}`)
      }
    }),
  )
  expect(wrong.slice(0, 20)).toEqual([])
  // The acks above shrank the completion reservation that recovery sizes anew, so the disk may have
  // room again after the restart: a push is then either refused as disk-full or accepted and readable.
  const pushAgain = await answered(client, { cmd: 'PUSH', queue, data: { m: 'after-restart' } }, server)
  if (pushAgain.ok) {
    expect(await answered(client, { cmd: 'GETJOB', id: pushAgain.id }, server)).toMatchObject({ ok: true, state: 'waiting' })
    pushed.set(pushAgain.id as number, 'after-restart')
  } else {
    expect(String(pushAgain.error)).toMatch(/disk full/i)
  }
}, 60_000)

// DESIGN §4 / STYLE 12: room for a job's completion record is reserved when the job is accepted, so
// every accepted job can be acked on a full disk. Last, because a failure here may wedge the shard.
test('while full, EVERY accepted job can still be pulled and acked', async () => {
  if (skipReason !== null) return
  let round = 0
  while (acked.length < pushed.size) {
    const pulled = await answered(client, { cmd: 'PULLB', queue, count: 250, timeout: 0 }, server)
    const ids = (pulled.jobs as Array<{ id: number }>).map((job) => job.id)
    expect(ids.length).toBeGreaterThan(0)
    if (round++ % 2 === 0) {
      const replies = await Promise.all(
        ids.map((id) =>
          answered(client, { cmd: 'ACK', id, result: { done: id } }, server).catch((error: Error) => {
            throw new Error(`after ${acked.length} of ${pushed.size} acks: ${error.message}`)
          }),
        ),
      )
      expect(replies.filter((reply) => !reply.ok)).toEqual([])
    } else {
      const reply = await answered(client, { cmd: 'ACKB', ids }, server).catch((error: Error) => {
        throw new Error(`after ${acked.length} of ${pushed.size} acks: ${error.message}`)
      })
      expect(reply).toMatchObject({ ok: true, count: ids.length })
    }
    acked.push(...ids)
  }
  console.log(`full-disk: all ${acked.length} accepted jobs acked while full`)
}, 60_000)
