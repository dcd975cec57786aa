/**
 * kill -9 under a load of cross-shard depends_on and flows, restart, and check the outbox's promise:
 * every acknowledged dependent job and flow parent eventually runs, exactly once, and only after
 * what it waits for completed. During the load only the dependencies and the flow children are
 * worked on (so the dependents and parents have never run before the kill); after the restart a
 * worker drains every queue. Several rounds on one data directory; SEED=… replays the choices.
 */
import { afterAll, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { shardOfName } from '../../src/base/hash.ts'
import { prng, seedFromEnv } from '../../src/base/prng.ts'
import { startServer, temporaryDirectory, type TestServer } from '../harness/server.ts'
import { CrashClient, sleep } from './kit.ts'

const seed = seedFromEnv()
console.log(`outbox-kill SEED=${seed}`)
const rng = prng(seed)
const shardCount = 4
const rounds = Number(process.env.CRASH_ROUNDS ?? 3)
/** The drain gives up after this long (the outbox re-sends every second). */
const drainDeadlineMs = 60_000

function queueOnShard(prefix: string, shard: number): string {
  for (let i = 0; ; i++) if (shardOfName(`${prefix}${i}`, shardCount) === shard) return `${prefix}${i}`
}
const shards = [...Array(shardCount).keys()]
/** Dependencies and flow children: worked on during the load. */
const workQueues = shards.map((shard) => queueOnShard('ob-work-', shard))
/** Dependents and flow parents: only drained after the restart. */
const waitQueues = shards.map((shard) => queueOnShard('ob-wait-', shard))

/** A dependent job or a flow parent whose push was acknowledged, and what it waits for. */
type Waiter = { id: number; waitsFor: number[]; round: number }
const waiters = new Map<number, Waiter>()
const bugs: string[] = []

const dataDir = temporaryDirectory('flashq-outbox-')
let server: TestServer | null = null

afterAll(async () => {
  await server?.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

/** Pushes dependency + cross-shard dependent, and flows with children on other shards, until killed. */
async function pusher(client: CrashClient, round: number, lane: number): Promise<void> {
  for (let i = lane; !client.isClosed; i += 2) {
    const shard = i % shardCount
    const dep = await client.request({ cmd: 'PUSH', queue: workQueues[shard], data: { i } })
    if (dep?.ok !== true) return
    const other = (shard + 1 + (i % (shardCount - 1))) % shardCount
    const dependent = await client.request({ cmd: 'PUSH', queue: waitQueues[other], data: { i }, depends_on: [dep.id] })
    if (dependent?.ok === true) waiters.set(dependent.id as number, { id: dependent.id as number, waitsFor: [dep.id as number], round })
    const flow = await client.request({
      cmd: 'FLOW', queue: waitQueues[shard], data: { i },
      children: [{ queue: workQueues[other], data: { i } }, { queue: workQueues[(other + 1) % shardCount], data: { i } }],
    })
    if (flow?.ok === true) {
      const parentId = flow.parent_id as number
      waiters.set(parentId, { id: parentId, waitsFor: flow.children_ids as number[], round })
    }
    if (dependent === null || flow === null) return
  }
}

/** Runs the work queues (dependencies and children) until the connection dies. */
async function worker(client: CrashClient): Promise<void> {
  while (!client.isClosed) {
    const pulled = await client.request({ cmd: 'PULLB', queue: workQueues[rng.int(shardCount)], count: 20, timeout: 50 })
    if (pulled === null) return
    await Promise.all(((pulled.jobs ?? []) as Array<{ id: number }>).map((job) => client.request({ cmd: 'ACK', id: job.id })))
  }
}

/** Drains every queue until every acknowledged waiter ran; counts the runs of waiters. */
async function drain(client: CrashClient, round: number): Promise<Map<number, number>> {
  const runs = new Map<number, number>()
  const deadline = Date.now() + drainDeadlineMs
  let quietRounds = 0
  while (Date.now() < deadline) {
    let moved = 0
    for (const queue of [...workQueues, ...waitQueues]) {
      const pulled = (await client.must({ cmd: 'PULLB', queue, count: 100, timeout: 0 })).jobs as Array<{ id: number }>
      moved += pulled.length
      for (const job of pulled) {
        if (waitQueues.includes(queue)) {
          runs.set(job.id, (runs.get(job.id) ?? 0) + 1)
          const waiter = waiters.get(job.id)
          for (const id of waiter?.waitsFor ?? []) {
            const state = (await client.must({ cmd: 'GETSTATE', id })).state
            if (state !== 'completed') bugs.push(`round ${round}: job ${job.id} ran while ${id} it waits for is ${state}`)
          }
        }
        const ack = await client.must({ cmd: 'ACK', id: job.id })
        if (!ack.ok) bugs.push(`round ${round}: ACK ${job.id}: ${ack.error}`)
      }
    }
    const missing = [...waiters.values()].filter((waiter) => !runs.has(waiter.id))
    // Keep going a little after the last one ran, so a second run (a duplicate) would show.
    quietRounds = missing.length === 0 && moved === 0 ? quietRounds + 1 : 0
    if (quietRounds >= 3) break
    await sleep(missing.length === 0 ? 600 : 200)
  }
  return runs
}

test(
  `kill -9 under cross-shard depends_on and flows: every acknowledged dependent and parent runs exactly once (SEED=${seed})`,
  async () => {
    const log: string[] = []
    for (let round = 1; round <= rounds; round++) {
      server = await startServer({ dataDir, args: ['--shards', String(shardCount), '--workers', '2'] })
      const clients = await Promise.all([0, 1, 2, 3].map(() => CrashClient.connect(server!.tcpPort, 'json')))
      const before = waiters.size
      const running = Promise.all([pusher(clients[0]!, round, 0), pusher(clients[1]!, round, 1), worker(clients[2]!), worker(clients[3]!)])
      const killAfterMs = 300 + rng.int(900)
      await Promise.race([sleep(killAfterMs), running])
      await server.kill('SIGKILL')
      await running
      for (const client of clients) client.close()

      server = await startServer({ dataDir, args: ['--shards', String(shardCount), '--workers', '2'] })
      const client = await CrashClient.connect(server.tcpPort, 'json')
      const runs = await drain(client, round)
      for (const waiter of waiters.values()) {
        const count = runs.get(waiter.id) ?? 0
        if (count !== 1) bugs.push(`round ${round}: job ${waiter.id} (acknowledged in round ${waiter.round}) ran ${count} times`)
        const state = (await client.must({ cmd: 'GETSTATE', id: waiter.id })).state
        if (state !== 'completed') bugs.push(`round ${round}: job ${waiter.id} is ${state}`)
      }
      for (const [id, count] of runs) if (count > 1) bugs.push(`round ${round}: job ${id} ran ${count} times`)
      log.push(`round ${round}: killed after ${killAfterMs} ms; ${waiters.size - before} acknowledged dependents and parents; ${runs.size} ran after the restart`)
      client.close()
      await server.kill('SIGKILL')
      // Every waiter ran: the next round checks only its own.
      expect(waiters.size - before).toBeGreaterThan(0)
      waiters.clear()
    }
    console.log(log.join('\n'))
    if (bugs.length > 0) console.log(`OUTBOX BUGS (${bugs.length}), SEED=${seed}:\n${bugs.slice(0, 40).join('\n')}`)
    expect(bugs).toEqual([])
  },
  240_000,
)
