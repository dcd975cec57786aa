/**
 * Seeded simulation of real shard hosts (issue 7): one ShardHost with three shards (as one process
 * holds them) on a fake clock and fake timers, writing through the page-cache model over the pwrite
 * backend (one shard's flushes held in flight at times: shard-gate-io.ts), driven like the front
 * drives it: request batches in, reply batches and cross-shard messages out, the messages carried by a simulated network that delays and loses some. Random pushes (with
 * depends_on across shards), flows with children on other shards, pulls, acks, fails, checkpoints,
 * time passing, flushes held in flight, and power losses; after every power loss the host is started
 * again from what survived on disk and checked against the client's model:
 *  - a push or flow that was answered ok is still there; an ack that was answered ok is completed;
 *  - a job never runs before its dependencies and flow children completed, and never runs again
 *    after its completion was acknowledged;
 * and at the end, once the network and the timers are left to run, every acknowledged job (flow
 * parents and jobs waiting for jobs of other shards included) has completed, acknowledged once.
 * Everything random comes from SEED (in the test name); the pwrite backend completes in order and
 * timers only fire when the simulation says, so a failing seed replays exactly:
 * `SEED=<n> bun test test/sim/host-sim.test.ts`. SIM_STEPS=<n> runs longer.
 */
import { expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import * as path from 'node:path'
import { FakeClock } from '../../src/base/clock.ts'
import type { Config } from '../../src/base/config.ts'
import { shardOfName } from '../../src/base/hash.ts'
import { shardOfJobId } from '../../src/base/ids.ts'
import { prng, seedFromEnv } from '../../src/base/prng.ts'
import { outboxResendIntervalMs } from '../../src/engine/engine-limits.ts'
import { nameOnShard } from '../../src/engine/test-helpers.ts'
import type { CrossShardMessage, Reply } from '../../src/engine/types.ts'
import { PwriteBackend } from '../../src/io/pwrite.ts'
import { type HostTime, ShardHost } from '../../src/shard/host.ts'
import { replyBatchText, type FromHost, type HostInit, type ReplyPairs } from '../../src/shard/messages.ts'
import { openManifest } from '../../src/storage/manifest.ts'
import { shardDirectory } from '../../src/shard/storage-admin.ts'
import { ShardGateIo } from './shard-gate-io.ts'
import { FaultyIo } from '../harness/faulty-io.ts'
import { temporaryDirectory } from '../harness/memory-io.ts'

const seed = seedFromEnv()
const steps = Number(process.env.SIM_STEPS ?? 600)
const shardCount = 3
const queues = [0, 1, 2].flatMap((shard) => [nameOnShard('a', shard, shardCount), nameOnShard('b', shard, shardCount)])
const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

/** Timers that fire only when the simulation runs them, in due order, on the fake clock. */
class SimTimers {
  private armed: Array<{ dueMs: number; callback: () => void; cleared: boolean }> = []
  readonly time: HostTime
  constructor(readonly clock: FakeClock) {
    this.time = {
      clock,
      setTimer: (callback, delayMs) => {
        const timer = { dueMs: clock.nowMs() + delayMs, callback, cleared: false }
        this.armed.push(timer)
        return timer
      },
      clearTimer: (timer) => {
        (timer as { cleared: boolean }).cleared = true
      },
    }
  }

  /** Fires the timers due now, in due order; timers they arm wait for the next call (a later turn). */
  runDue(): void {
    const due = this.armed.filter((timer) => !timer.cleared && timer.dueMs <= this.clock.nowMs()).sort((a, b) => a.dueMs - b.dueMs)
    this.armed = this.armed.filter((timer) => !timer.cleared && timer.dueMs > this.clock.nowMs())
    for (const timer of due) {
      if (timer.cleared) continue
      timer.cleared = true
      timer.callback()
    }
  }
}

type ModelJob = { id: number; deps: number[]; children: number[] }

class Simulation {
  readonly random = prng(seed)
  readonly clock = new FakeClock()
  readonly root = temporaryDirectory('flashq-host-sim-')
  readonly dataDir = path.join(this.root, 'data')
  readonly gate = new ShardGateIo(new PwriteBackend(null))
  io = new FaultyIo(this.gate.backend, { pageCache: { root: this.root }, seed: this.random.int(2 ** 31) })
  host: ShardHost | null = null
  timers = new SimTimers(this.clock)
  /** The life of the process: output of an earlier one (before a power loss) is ignored. */
  life = 0
  /** Cross-shard message batches the front has not forwarded yet. */
  network: CrossShardMessage[][] = []
  private nextToken = 1
  private readonly waiting = new Map<number, (reply: Reply) => void>()

  /** Jobs whose push or flow was answered ok. */
  readonly known = new Map<number, ModelJob>()
  /** Jobs whose ACK was answered ok (durable), with how many times. */
  readonly acked = new Map<number, number>()
  /** Jobs acked in this life whose answer has not come (yet): completed or not, checked at recovery. */
  readonly ackInFlight = new Set<number>()
  readonly active = new Set<number>()
  readonly problems: string[] = []
  pulls = 0
  powerLosses = 0

  async start(): Promise<void> {
    await openManifest(this.io, this.dataDir, shardCount, this.clock.nowMs())
    const config: Config = {
      host: '127.0.0.1', tcpPort: 0, httpPort: null, unixSocketPath: null, dataDir: this.dataDir, memory: false,
      fsync: { kind: 'always' }, shards: shardCount, workers: 0, io: 'pwrite', repair: false, authTokens: [], shutdownGraceMs: 0,
      preset: 'testMin', logFormat: 'text', logLevel: 'error', warmup: false, compilerNice: 0,
    }
    const life = ++this.life
    this.timers = new SimTimers(this.clock)
    // Every other life as an in-thread host (--workers 0) sends its reply batches: as (token, text) pairs.
    const init: HostInit = { k: 'init', config, shardCount, shardIndexes: [0, 1, 2], eventsWanted: false, replyPairs: life % 2 === 0 }
    this.host = new ShardHost(init, (message) => {
      if (life === this.life) this.fromHost(message)
    }, this.timers.time, this.io)
    await this.host.start()
  }

  private fromHost(sent: FromHost | string | ReplyPairs): void {
    const message = Array.isArray(sent) ? replyBatchText(sent) : sent
    if (typeof message === 'string') {
      for (const line of message.split('\n')) {
        const tab = line.indexOf('\t')
        const token = Number(line.slice(0, tab))
        const answer = this.waiting.get(token)
        this.waiting.delete(token)
        answer?.(JSON.parse(line.slice(tab + 1)) as Reply)
      }
    } else if (message.k === 'cross') this.network.push(message.items)
    else if (message.k === 'moreReplies') queueMicrotask(() => this.host?.handle({ k: 'sendMoreReplies' }))
    else if (message.k === 'fatal') this.problems.push(`life ${this.life}: ${message.error}`)
  }

  /** Sends a request to the shard that owns it, as the front routes it; `answer` runs when its reply comes. */
  send(shard: number, request: Record<string, unknown>, answer: (reply: Reply) => void = () => {}): void {
    const token = this.nextToken++
    this.waiting.set(token, answer)
    this.host!.handleBatch(`${token}\t${shard}\t${JSON.stringify(request)}`)
  }

  /** A request whose reply the simulation waits for (flushes are released meanwhile). */
  async ask(shard: number, request: Record<string, unknown>): Promise<Reply> {
    let reply: Reply | undefined
    this.send(shard, request, (answer) => (reply = answer))
    for (let turn = 0; reply === undefined; turn++) {
      if (turn > 1000) throw new Error(`no reply to ${JSON.stringify(request)} (SEED=${seed})`)
      this.release()
      this.deliverAll()
      await nextTurn()
    }
    return reply
  }

  release(): void {
    this.gate.release()
  }

  deliverAll(): void {
    for (const items of this.network.splice(0)) this.host!.handle({ k: 'cross', items })
  }

  push(): void {
    const queue = this.random.pick(queues)
    // Mostly jobs not completed yet, so that the dependent really waits (across shards, often).
    const open = [...this.known.keys()].filter((id) => !this.acked.has(id))
    const candidates = open.length > 0 && this.random.int(4) !== 0 ? open : [...this.known.keys()]
    const deps = candidates.length > 0 && this.random.int(3) === 0 ? [this.random.pick(candidates)] : []
    const request = { cmd: 'PUSH', queue, data: { n: this.random.int(1000) }, priority: this.random.int(3), depends_on: deps.length > 0 ? deps : undefined }
    this.send(shardOfName(queue, shardCount), request, (reply) => {
      if (reply.ok) this.known.set(reply.id as number, { id: reply.id as number, deps, children: [] })
    })
  }

  flow(): void {
    const { shard, request } = this.#flowRequest()
    this.send(shard, request, (reply) => this.#noteFlow(reply))
  }

  /**
   * A flow whose reply is waited for: a run with many power losses can lose every other flow's reply
   * before it comes (SEED=10111798 sent 33, none answered), and the run must check at least one.
   */
  async askFlow(): Promise<void> {
    const { shard, request } = this.#flowRequest()
    this.#noteFlow(await this.ask(shard, request))
  }

  #flowRequest(): { shard: number; request: Record<string, unknown> } {
    const queue = this.random.pick(queues)
    const children = Array.from({ length: 1 + this.random.int(3) }, () => ({ queue: this.random.pick(queues), data: 'child' }))
    return { shard: shardOfName(queue, shardCount), request: { cmd: 'FLOW', queue, data: 'parent', children } }
  }

  #noteFlow(reply: Reply): void {
    if (!reply.ok) return
    const ids = reply.children_ids as number[]
    for (const id of ids) this.known.set(id, { id, deps: [], children: [] })
    this.known.set(reply.parent_id as number, { id: reply.parent_id as number, deps: [], children: ids })
  }

  pull(queue = this.random.pick(queues), count = 1 + this.random.int(3)): void {
    this.send(shardOfName(queue, shardCount), { cmd: 'PULLB', queue, count, timeout: 0 }, (reply) => {
      for (const job of (reply.jobs ?? []) as Array<{ id: number }>) this.ran(job.id)
    })
  }

  /** A job was handed out: everything it waits for must be completed, and it must not be completed itself. */
  private ran(id: number): void {
    this.pulls++
    this.active.add(id)
    if (this.acked.has(id)) this.problems.push(`job ${id} ran again after its ack was answered (SEED=${seed})`)
    const job = this.known.get(id)
    if (job === undefined) return
    for (const before of [...job.deps, ...job.children]) {
      if (!this.acked.has(before) && !this.ackInFlight.has(before)) {
        this.problems.push(`job ${id} ran before ${before} it waits for was acked (SEED=${seed})`)
      }
    }
  }

  ack(id: number): void {
    this.active.delete(id)
    this.ackInFlight.add(id)
    this.send(shardOfJobId(id, shardCount), { cmd: 'ACK', id }, (reply) => {
      if (!reply.ok) return
      this.ackInFlight.delete(id)
      this.acked.set(id, (this.acked.get(id) ?? 0) + 1)
    })
  }

  fail(id: number): void {
    this.active.delete(id)
    this.send(shardOfJobId(id, shardCount), { cmd: 'FAIL', id, error: 'sim' })
  }

  /** Time passes: active jobs heartbeat first (no stall strikes), then due timers fire. */
  advance(ms: number): void {
    for (const id of this.active) this.send(shardOfJobId(id, shardCount), { cmd: 'HEARTBEAT', id })
    this.clock.advance(ms)
    this.timers.runDue()
  }

  /** Power loss: what was not synced is lost (or torn), replies and messages in flight are gone. */
  async powerLoss(): Promise<void> {
    this.powerLosses++
    this.life++ // the dying host's output goes nowhere
    this.io = this.io.powerLoss('random')
    this.gate.release() // operations of the dead process never complete (FaultyIo); the new one's are not held
    this.network = []
    this.waiting.clear()
    this.active.clear()
    await this.start()
    await this.checkRecovered()
  }

  /** After a restart: the client's model holds. */
  async checkRecovered(): Promise<void> {
    for (const id of this.ackInFlight) {
      // An ack whose answer was lost may or may not have been applied: the state says which.
      if ((await this.ask(shardOfJobId(id, shardCount), { cmd: 'GETSTATE', id })).state === 'completed') this.acked.set(id, this.acked.get(id) ?? 0)
    }
    this.ackInFlight.clear()
    for (const job of this.known.values()) {
      const state = (await this.ask(shardOfJobId(job.id, shardCount), { cmd: 'GETSTATE', id: job.id })).state as string
      const where = `life ${this.life}, job ${job.id} (SEED=${seed})`
      if (state === 'unknown') this.problems.push(`${where}: acknowledged push lost`)
      if (this.acked.has(job.id) && state !== 'completed') this.problems.push(`${where}: acknowledged ack lost (${state})`)
      if (state === 'waiting' || state === 'delayed') {
        for (const before of [...job.deps, ...job.children]) {
          if (!this.acked.has(before)) this.problems.push(`${where}: ${state} while ${before} is not completed`)
        }
      }
    }
  }

  /** The network and the timers run, every job is pulled and acked, until every known job completed. */
  async runToQuiet(): Promise<void> {
    for (let round = 0; round < 400; round++) {
      const open = [...this.known.keys()].filter((id) => !this.acked.has(id))
      if (open.length === 0) return
      for (const id of [...this.active]) this.ack(id)
      for (const queue of queues) this.pull(queue, 50)
      this.release()
      for (let turn = 0; turn < 3; turn++) {
        this.deliverAll()
        await nextTurn()
      }
      this.advance(outboxResendIntervalMs)
    }
  }
}

test(`shard hosts under random commands, lost messages and power losses keep every acknowledged job (SEED=${seed})`, async () => {
  const sim = new Simulation()
  await sim.start()
  await sim.askFlow()
  const random = sim.random
  for (let step = 0; step < steps; step++) {
    const op = random.int(100)
    const active = [...sim.active]
    if (op < 22) sim.push()
    else if (op < 29) sim.flow()
    else if (op < 47) sim.pull()
    else if (op < 62 && active.length > 0) sim.ack(random.pick(active))
    else if (op < 66 && active.length > 0) sim.fail(random.pick(active))
    else if (op < 74) sim.advance(random.int(1500))
    else if (op < 88 && sim.network.length > 0) {
      // The front forwards a batch; now and then one is lost (the outbox re-sends it).
      const items = sim.network.shift()!
      if (random.int(15) !== 0) sim.host!.handle({ k: 'cross', items })
    } else if (op < 90) sim.host!.handle({ k: 'checkpoint' })
    else if (op < 95) {
      // One shard's flushes stay in flight (its records not durable, its replies held) until released.
      if (sim.gate.holding) sim.release()
      else sim.gate.hold(shardDirectory(sim.dataDir, random.int(shardCount)))
    }
    for (let turns = random.int(3); turns > 0; turns--) await nextTurn()
    // Power losses strike more often while flushes are held in flight: the states that matter most.
    if (random.int(sim.gate.holding ? 12 : 100) === 0) await sim.powerLoss()
  }
  await sim.powerLoss()
  await sim.runToQuiet()
  expect(sim.problems).toEqual([])
  const open = [...sim.known.keys()].filter((id) => !sim.acked.has(id))
  expect(open, `jobs that never completed (SEED=${seed})`).toEqual([])
  const twice = [...sim.acked].filter(([, count]) => count > 1)
  expect(twice, `jobs acknowledged twice (SEED=${seed})`).toEqual([])
  const crossShard = (job: ModelJob) => job.deps.some((dep) => shardOfJobId(dep, shardCount) !== shardOfJobId(job.id, shardCount))
  const jobs = [...sim.known.values()]
  // The run reached what it is meant to check.
  expect(sim.powerLosses).toBeGreaterThan(3)
  expect(jobs.some((job) => job.children.length > 0)).toBe(true)
  expect(jobs.some(crossShard)).toBe(true)
  if (process.env.SIM_DEBUG) {
    const counts = { known: jobs.length, pulls: sim.pulls, powerLosses: sim.powerLosses, crossShard: jobs.filter(crossShard).length }
    process.stderr.write(`${JSON.stringify(counts)}\n`)
  }
  await sim.host!.stop()
  rmSync(sim.root, { recursive: true, force: true })
}, 120_000)

test('a cross-shard message leaves the host only once the records that caused it are durable', async () => {
  const sim = new Simulation()
  await sim.start()
  const [q0, q1] = [nameOnShard('dependent', 0, shardCount), nameOnShard('dependency', 1, shardCount)]
  const dep = (await sim.ask(1, { cmd: 'PUSH', queue: q1, data: 1 })).id as number
  const dependent = (await sim.ask(0, { cmd: 'PUSH', queue: q0, data: 2, depends_on: [dep] })).id as number
  expect((await sim.ask(1, { cmd: 'PULL', queue: q1, timeout: 0 })).job).toMatchObject({ id: dep })
  // The `watch` reaches shard 1 and is acknowledged: the network falls quiet.
  for (let turn = 0; turn < 20; turn++) {
    sim.deliverAll()
    await nextTurn()
  }
  expect(sim.network).toEqual([])
  sim.gate.hold(shardDirectory(sim.dataDir, 1))
  let acked = false
  sim.send(1, { cmd: 'ACK', id: dep }, () => (acked = true))
  for (let turn = 0; turn < 20; turn++) await nextTurn()
  // Shard 1's ack is not durable: neither its reply nor the dependencyDone for shard 0 has left.
  expect(acked).toBe(false)
  expect(sim.network.flat().map((item) => item.shardIndex)).toEqual([])
  sim.release()
  for (let turn = 0; turn < 20 && !acked; turn++) await nextTurn()
  expect(acked).toBe(true)
  expect(sim.network.flat().map((item) => item.shardIndex)).toContain(0)
  for (let turn = 0; turn < 20; turn++) {
    sim.deliverAll()
    await nextTurn()
  }
  expect((await sim.ask(0, { cmd: 'GETSTATE', id: dependent })).state).toBe('waiting')
  await sim.host!.stop()
  rmSync(sim.root, { recursive: true, force: true })
})
