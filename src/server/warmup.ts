/**
 * JIT warm-up at start-up. A freshly started server runs its hot paths in JSC's interpreter and
 * baseline tiers: the first thousands of requests cost several times what they cost later (PUSHB
 * of 1000, one in flight, on a fresh server: the first batches take 2–4× the time of the 50th). Before the
 * real server opens, this drives those paths — TCP reads in both wire modes, parsing, routing, the
 * shard host, the engine's PUSH/PUSHB/PULL/PULLB/ACK/ACKB, record encoding and the log — on two
 * scratch stacks of the same shape (runScratchStacks): an in-thread pool, a Front, and a TcpServer on
 * a loopback port that a client here talks to. The first stack's hosts log on the server's own IO
 * backend into a scratch directory inside the data directory; the second's write nowhere
 * (io/discard.ts). JSC keeps compiled code per function, not per instance, so the real server starts
 * with it.
 *
 * What the real server still recompiled, and why (test/bench/fresh-jit.ts counts the compiles per
 * phase of W1 and W2 on a fresh server; BUN_JSC_verboseOSR, BUN_JSC_reportCompileTimes, and
 * BUN_JSC_dumpDFGDisassembly for the "Jettisoning … due to" lines): per function, compiled code is
 * kept only while what it was specialised on still holds. Fixed here:
 * - values: the one scratch queue's hash was below 2^31, a client's (half of all names) above, so
 *   fnv1a32 took an Overflow exit and shardOfName/nameShard BadType exits (scratchQueues);
 * - instances: closures whose scope JSC had seen only once, and call sites that had only ever called
 *   one closure, had the scratch objects folded in; the real stack's new ones jettisoned them or made
 *   them exit (runScratchStacks drives two stacks; the IO code's per-instance clocks and liburing
 *   bindings are now one per thread);
 * - shapes of built-ins: a first read of a Number static, of globalThis.reportError, or msgpackr's
 *   first `dataView` on a Uint8Array, after code was compiled, changed a shape that code relied on
 *   (reifyBuiltinStatics);
 * - the IO backend's class: with DiscardIo only, the io_uring path was compiled from cold and the
 *   log's calls into it exited during a client's first requests (the first stack runs on it).
 * Measured (test/bench/fresh-jit.ts, fresh servers interleaved with main, a busy 2-core machine): W1
 * durable, DFG compiles in the harness's 300 untimed pushes 17–38 → 6–16 and in the 2000 timed 12–27
 * → 3–13; W2 durable, compiles during the timed batches 5–46 ms → 3–5 ms.
 * What a client still met after that, and why (fresh-jit.ts --list, --osr):
 * - the compiler's backlog: JSC compiles on its own threads, behind the code that asked, and the
 *   compiles the warm-up's last requests queued (msgpackr's pack and unpack, the job table's
 *   settlePayloads and #thaw, the heap's #down: FTL, 10–30 ms each) were still running when the
 *   server opened: 20–160 ms of compiling beside W1's first pushes. The warm-up now waits for those
 *   threads to go quiet (compilerIdle, ~20–90 ms);
 * - the MessagePack part, run last, threw away the push path's compiled code (pushJob, pushCommand,
 *   jobInput, pushPlainJob …, with no OSR exit logged: a watchpoint), and a client's first JSON
 *   pushes compiled it again (memory W1, ~15–25 ms). It now runs first, and the long JSON part
 *   brings that code back to its last tier;
 * - functions that tier up with the count of jobs, not of requests, had not reached FTL: the job
 *   table's #freezeAt (a retiring page freezes its 1,024 waiting jobs; 15–30 ms to compile) and the
 *   heap's #up took their FTL compile at W1's first page retirement (pushBatches 24 → 48).
 * Measured the same way (3 pairs each): W1 memory, compiling in the 300 untimed pushes 22–109 →
 * 1–2 ms, in the 2000 timed 33–70 → 7–9 ms; W1 durable, untimed 21–157 → 3 ms, timed no better
 * (10–28 → 19–23 ms); W1 jobs/s (bench:peers, 4 alternated pairs) memory +3 to +18%, durable −11
 * to +11%. Still left: recordJson's FTL compile (durable, 10–20 ms) and a few small DFG ones in
 * the timed pushes, the first stack's writeSync/writeAll DFG compiles in the untimed ones, and the
 * ring path's compiles when a slow disk sends W1's flushes through the ring instead of the thread.
 * Tried and dropped: 10,000 pipelined pushes instead of 200 (took recordJson and queueLimitRefusal
 * out too, for +0.33 s of start-up; with 3,000 the pipelined reads made handleRequest exit and its
 * 20–50 ms FTL compile fell into the timed pushes); 10,000 sequential pushes with 8,000 pipelined
 * (handleRequest, nextWakeMs, note, parseCommand reached FTL only in the timed pushes); the
 * sequential pushes last (no better); a push to a new queue every 100 sequential ones (the push
 * path's recompiles were the MessagePack part's doing).
 *
 * Leaves no trace a client or the disk could see: the scratch pools have their own engines, no event
 * hub and no HTTP side; their jobs are acked and their queues obliterated, the first stack's log
 * directory is removed (withScratchLogDirectory), and stopped hosts let their payload chunks go
 * (Engine.dispose). Shard hosts in Workers (--workers > 0) are other JS heaps that this does not
 * reach: there only the front's side starts warm.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { unpack } from 'msgpackr'
import type { Socket } from 'bun'
import type { Config } from '../base/config.ts'
import { encodeMsgpackFrame, frameLengthPrefixBytes } from '../protocol/msgpack-frames.ts'
import { compilerThreadIds } from './compiler-threads.ts'
import { Front } from './front.ts'
import { ShardPool } from './shard-pool.ts'
import { TcpServer } from './tcp.ts'

/** Where the discarding scratch hosts believe their logs are; nothing is ever created there (io/discard.ts). */
const discardDataDir = '/nonexistent/flashq-warm-up'
/**
 * The durable warm-up's first stack keeps its logs in a directory of this name plus a random suffix
 * inside the data directory (the same filesystem, so the same IO paths), removed afterwards; one left
 * by a server killed during its warm-up is removed at the next start.
 */
export const scratchLogDirectoryPrefix = '.warm-up-'
/**
 * The queues the warm-up pushes to, in turn. Two, because JSC specialises on the values it saw: the
 * FNV-1a hash of 'warm-up' is below 2^31 and that of 'warm-up-d' above, so fnv1a32's `>>> 0` is
 * compiled for both an int32 and a double result (with one name, a client's queue whose hash is above
 * 2^31, half of all names, took an Overflow exit in fnv1a32 and a BadType exit in shardOfName and
 * route's nameShard, and they were recompiled during its first requests); and they fall on different
 * shards of two, so both shards' engines and hosts run.
 */
export const scratchQueues = ['warm-up', 'warm-up-d'] as const
const scratchQueue = scratchQueues[0]

/**
 * How much each wire mode runs. JSC moves a function up a tier after some hundreds to thousands of
 * calls or loop iterations (and compiles on a background thread meanwhile): the per-job loops
 * (PUSHB, PULLB) get thousands of jobs, the per-request paths (PUSH, PULL, ACK) hundreds of
 * requests. JSON lines, the SDK's default, get most.
 *
 * PUSHB gets the most: its per-job functions (pushJob, encodeJob, enqueue, the job table, the fast
 * parser) reach JSC's last tier (FTL) only after some 10–20 thousand jobs, and those compiles are
 * big (pushJob ~25 ms, encodeJob ~55 ms of a compiler thread). With 2 batches here they happened
 * during a client's first batches instead: 30–60 ms of compiling on a 2-core machine while W2 of
 * the peer comparison measured, 3–6 ms of compiler CPU per batch against ~2.5 ms of the server's
 * own (test/bench/w2-batch.ts; BUN_JSC_reportCompileTimes=true lists them). Only the first
 * drainedJobsMax jobs are pulled and acked (PULLB and ACKB need no more); the rest go with the
 * queue's OBLITERATE.
 *
 * Sequential PUSHes get 16,000 for the same reason: one awaited at a time, every function of the
 * request path (the TCP data handler, route, handleRequests, deliverBatch, pushCommand …) runs once
 * per request, and they reach FTL only after 6–16 thousand requests, with compiles of 10–40 ms each.
 * With 50 here, W1 of the peer comparison (2000 pushes after 300) ran beside ~20–40 ms of compiling:
 * the compiler thread took 17–30 µs of CPU per push in memory, 30–56 in durable (main thread: ~45
 * and ~190). With 8,000 the big FTL compiles fell right into those 2000 pushes; with 16,000, 3–6 ms
 * of compiling is left there (what the scratch stack compiled for its own objects and the real one
 * compiles again), and the compiler thread 12–19 µs per push. It costs ~0.3 s of start-up.
 *
 * PUSHB gets 48 batches, not 24, for the job table's #freezeAt and the heap's #up, which count per
 * job: with 24 their FTL compiles (15–30 ms each) came at W1's first page retirement, ~1,000 pushes
 * in (~0.1–0.2 s of start-up, pushing and obliterating the 24,000 more jobs).
 */
export type WarmupAmount = { sequentialPushes: number; pipelinedPushes: number; pushBatches: number; pullBatchJobs: number; singlePulls: number; wokenPulls: number }

export const warmupAmountJson: WarmupAmount = { sequentialPushes: 16000, pipelinedPushes: 200, pushBatches: 48, pullBatchJobs: 250, singlePulls: 20, wokenPulls: 20 }
export const warmupAmountMsgpack: WarmupAmount = { sequentialPushes: 10, pipelinedPushes: 50, pushBatches: 1, pullBatchJobs: 250, singlePulls: 5, wokenPulls: 5 }
/**
 * The first stack's traffic (on the server's own IO backend when durable, see runScratchStacks): enough
 * for JSC to compile the backend's paths (a flush on the thread for one push, through the ring for a
 * batch, group commit for pipelined ones) and to see a second instance at every call site; it pays a
 * real fdatasync per sequential push (~0.15–0.3 ms here), so far fewer than the second stack's.
 */
export const warmupAmountFirstStack: WarmupAmount = { sequentialPushes: 400, pipelinedPushes: 3000, pushBatches: 4, pullBatchJobs: 250, singlePulls: 20, wokenPulls: 20 }
const warmupAmountFirstStackTestMin: WarmupAmount = { sequentialPushes: 5, pipelinedPushes: 50, pushBatches: 1, pullBatchJobs: 250, singlePulls: 2, wokenPulls: 2 }
/**
 * The testMin preset's servers (the test suite starts hundreds) run 2 PUSHB batches and 50
 * sequential PUSHes, as before: the 24 and the 16,000 are most of the production warm-up's ~0.55 s, and
 * tests do not measure speed.
 */
const testPresetPushBatches = 2
const testPresetSequentialPushes = 50

/** Jobs the warm-up pulls and acks per wire mode (PULLB + ACKB reach their tiers well before). */
const drainedJobsMax = 2500

const pushBatchJobs = 1000
const pipelineDepth = 50
const wokenPullJobs = 10
const wokenPullTimeoutMs = 1000

/**
 * However slow the machine, the warm-up never holds the start longer than this (a busy 2-core
 * machine took ~0.8 s): it then stops where it is, and the server starts anyway (server.ts warns).
 */
const warmupMsMax = 5_000

/**
 * The first stack's share of that: its real syncs wait for the disk, and on a slow or busy one it
 * stops there and the second stack still runs (measured: ~0.2–0.3 s on a quiet machine).
 */
const firstStackMsMax = 1_500

/** compilerIdle: how long the JIT threads must stay idle, how often to look, what counts as idle, the wait's cap. */
const compilerIdleQuietMs = 20
const compilerIdlePollMs = 5
const compilerIdleNoiseNs = 200_000
const compilerIdleWaitMsMax = 1_000

class WarmupDeadline extends Error {}

/** `work`, or a rejection once `ms` passed; `work` failing later (its stack is gone then) is ignored. */
async function withDeadline(work: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new WarmupDeadline(`not done within ${warmupMsMax} ms`)), Math.max(0, ms))
  })
  try {
    await Promise.race([work, expired])
  } finally {
    clearTimeout(timer)
    work.catch(() => {})
  }
}

/** Runs the warm-up and removes every piece of it; resolves with the time it took. */
export async function warmUp(config: Config, shardCount: number, workerUrl: string): Promise<number> {
  const startedMs = performance.now()
  reifyBuiltinStatics()
  await runScratchStacks(config, shardCount, workerUrl, startedMs + warmupMsMax)
  // Its garbage goes now, not in a pause among the first requests, and the idle server's RSS is its
  // own. Here, after the scratch stacks' frames (which held their pools and servers) are gone.
  Bun.gc(true)
  // Tests start hundreds of servers and do not measure speed.
  if (config.preset !== 'testMin') await compilerIdle(Math.min(startedMs + warmupMsMax, performance.now() + compilerIdleWaitMsMax))
  return performance.now() - startedMs
}

/**
 * JSC compiles on background threads ("JITWorker"), behind the code that asked: when the scratch
 * traffic stops, the compiles it queued last (FTL compiles of 20–30 ms each, 60–160 ms in all) are
 * still running, and ran beside a client's first requests on a 2-core machine. Waits, up to
 * `untilMs`, until those threads took no CPU for compilerIdleQuietMs (measured: 20–90 ms). Linux only
 * (their CPU time is read from /proc); elsewhere it returns at once. Says why it returned.
 */
export async function compilerIdle(untilMs: number): Promise<'idle' | 'deadline' | 'unreadable'> {
  let lastNs = compilerCpuNs()
  if (lastNs === null) return 'unreadable'
  let quietSinceMs = performance.now()
  while (performance.now() < untilMs) {
    await Bun.sleep(compilerIdlePollMs)
    const nowNs = compilerCpuNs()
    if (nowNs === null) return 'unreadable'
    if (nowNs - lastNs > compilerIdleNoiseNs) quietSinceMs = performance.now()
    else if (performance.now() - quietSinceMs >= compilerIdleQuietMs) return 'idle'
    lastNs = nowNs
  }
  return 'deadline'
}

/** CPU time (ns) of this process's JIT compiler threads so far, or null when /proc does not say. */
export function compilerCpuNs(): number | null {
  try {
    let totalNs = 0
    for (const tid of compilerThreadIds()) totalNs += Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    return existsSync('/proc/self/task') ? totalNs : null
  } catch {
    return null
  }
}

/**
 * JSC adds a built-in constructor's static functions (Number.isSafeInteger, Array.isArray …) to it
 * only when first read, and each addition changes the constructor's shape: code compiled with the
 * old shape exits (BadCache) or is thrown away ("Structure transition from …" watchpoints). Seen on
 * Number: a first read of another of its statics after the warm-up cost jobIdOf, nextId, pushJob,
 * idShard, deliverBatch … their compiled code. Listing the properties adds them all, now.
 *
 * The global object's lazy `reportError`, first read by the runtime during the real server's start
 * after the warm-up, changed the global object's shape the same way: every compiled read of a global
 * (`performance` in each clock read: handleRequests, the slow-IO wrapper …) exited BadCache at a
 * client's first requests. Found by reading the globals in halves before the warm-up until those
 * exits were gone; reading it here settles it.
 *
 * msgpackr's unpack caches a DataView on the bytes it reads (`source.dataView = …`), the first time
 * adding a property to a Uint8Array: every function compiled for plain Uint8Arrays (decodeLines, the
 * log's append and #newChunk, encodeJob, the ring's #submit …, 18 of them) was thrown away
 * ("Structure transition from … Uint8Array") when the warm-up reached its MessagePack part, late, and
 * compiled again during a client's first requests. One unpack of each kind of source here fires it
 * before anything is compiled.
 */
function reifyBuiltinStatics(): void {
  for (const builtin of [Number, Array, Object, String, Math, JSON, Promise, Uint8Array, ArrayBuffer, Buffer]) Object.getOwnPropertyNames(builtin)
  void globalThis.reportError
  unpack(Uint8Array.of(0xc0))
  unpack(Buffer.of(0xc0))
}

/**
 * Two scratch stacks, one after the other; the real server's is the third. JSC specialises compiled
 * code on the instances it saw: a closure whose scope was allocated once has its captured values
 * folded in (`this` of ShardPool's flushLater, listen's TcpServer, a host's sink), and a call site
 * that only ever called one closure calls that very function; the real stack's new instances fired
 * those watchpoints and checks ("Allocated a scope", BadCache exits) and its request path was
 * recompiled during a client's first requests. Driving traffic through two stacks leaves code that
 * holds for any instance.
 *
 * The first stack runs on the IO backend the server will use (io_uring, say), on logs in a scratch
 * directory inside the data directory, with real fdatasyncs: with only the discarding backend here,
 * the server's own backend and the log's calls into it were compiled from cold during a client's
 * first requests (~25–35 DFG compiles in W1's first pushes). Real syncs are slow, so it gets a short
 * run; the second stack (DiscardIo) gets the long one that takes the request path to JSC's last tier.
 */
async function runScratchStacks(config: Config, shardCount: number, workerUrl: string, deadlineMs: number): Promise<void> {
  const testMin = config.preset === 'testMin'
  const firstDeadlineMs = Math.min(deadlineMs, performance.now() + firstStackMsMax)
  await withScratchLogDirectory(config, async (logDirectory) => {
    try {
      await runScratchStack(config, shardCount, workerUrl, logDirectory, testMin ? warmupAmountFirstStackTestMin : warmupAmountFirstStack, null, firstDeadlineMs)
    } catch (error) {
      if (!(error instanceof WarmupDeadline)) throw error
    }
  })
  const json = testMin ? { ...warmupAmountJson, sequentialPushes: testPresetSequentialPushes, pushBatches: testPresetPushBatches } : warmupAmountJson
  await runScratchStack(config, shardCount, workerUrl, null, json, warmupAmountMsgpack, deadlineMs)
}

/**
 * Runs `work` with a fresh scratch log directory inside the data directory (null in memory mode),
 * removing it afterwards, whether `work` succeeded or not; directories left by a server killed
 * during its warm-up go first. Only names starting with scratchLogDirectoryPrefix are touched.
 */
export async function withScratchLogDirectory<T>(config: Config, work: (logDirectory: string | null) => Promise<T>): Promise<T> {
  if (config.memory) return work(null)
  for (const name of readdirSync(config.dataDir)) {
    if (name.startsWith(scratchLogDirectoryPrefix)) rmSync(join(config.dataDir, name), { recursive: true, force: true })
  }
  const logDirectory = mkdtempSync(join(config.dataDir, scratchLogDirectoryPrefix))
  try {
    return await work(logDirectory)
  } finally {
    rmSync(logDirectory, { recursive: true, force: true })
  }
}

async function runScratchStack(config: Config, shardCount: number, workerUrl: string, logDirectory: string | null,
  json: WarmupAmount, msgpack: WarmupAmount | null, deadlineMs: number): Promise<void> {
  const stack = await openScratchStack(config, shardCount, workerUrl, logDirectory)
  try {
    // MessagePack first: its first requests throw away compiled push-path code (see the header),
    // and the long JSON part after it compiles that again, before a client's first requests do.
    const exercises = (async () => {
      if (msgpack !== null) await exercise('msgpack', stack.tcp.port, msgpack)
      await exercise('json', stack.tcp.port, json)
    })()
    await withDeadline(exercises, deadlineMs - performance.now())
  } finally {
    await closeScratchStack(stack)
  }
}

export type ScratchStack = { pool: ShardPool; tcp: TcpServer; io: string }

/**
 * A pool, front and TCP server like the real ones, on a loopback port. With `logDirectory`, its hosts
 * keep their logs there on the IO backend that config.io picks; without, in memory mode nowhere, and
 * durable on DiscardIo.
 */
export async function openScratchStack(config: Config, shardCount: number, workerUrl: string, logDirectory: string | null): Promise<ScratchStack> {
  // The production preset whatever the server's: testMin's tiny segments would rotate and checkpoint
  // the scratch logs. Errors only: the scratch hosts' log lines are not the server's.
  const scratchConfig: Config = {
    ...config, dataDir: logDirectory ?? discardDataDir, preset: 'production', logLevel: 'error', authTokens: [], unixSocketPath: null, httpPort: null,
  }
  const pool = new ShardPool(scratchConfig, shardCount, 0, workerUrl, logDirectory === null)
  const ready = await pool.start(false)
  const tcp = new TcpServer(new Front(pool, scratchConfig), pool)
  try {
    tcp.listen('127.0.0.1', 0, null)
  } catch (error) {
    await pool.stop()
    throw error
  }
  return { pool, tcp, io: ready.io }
}

export async function closeScratchStack({ pool, tcp }: ScratchStack): Promise<void> {
  tcp.stop()
  await pool.stop()
}

type Reply = { ok: boolean; error?: string; id?: number; ids?: number[]; job?: { id: number } | null; jobs?: Array<{ id: number }> }

/** One client connection in one wire mode, through the same path a real client's requests take. */
export async function exercise(mode: 'json' | 'msgpack', port: number, amount: WarmupAmount): Promise<void> {
  const client = await WarmupClient.connect(mode, port)
  try {
    let pushes = 0
    const push = () => client.send({ cmd: 'PUSH', queue: scratchQueues[pushes++ % scratchQueues.length], data: payload(), max_attempts: 1 })
    for (let index = 0; index < amount.sequentialPushes; index++) await push()
    for (let done = 0; done < amount.pipelinedPushes; done += pipelineDepth) await Promise.all(Array.from({ length: pipelineDepth }, push))
    // Items with max_attempts as the SDK's addBulk sends them, and bare ones: both take the plain
    // PUSHB path (handlers-core.ts pushPlainJob), so both shapes are compiled for.
    const plain = { cmd: 'PUSHB', queue: scratchQueue, jobs: Array.from({ length: pushBatchJobs }, () => ({ data: payload() })) }
    const withOption = { cmd: 'PUSHB', queue: scratchQueue, jobs: Array.from({ length: pushBatchJobs }, () => ({ data: payload(), max_attempts: 1 })) }
    for (let index = 0; index < amount.pushBatches; index++) await client.send({ ...(index % 2 === 0 ? withOption : plain), queue: scratchQueues[Math.floor(index / 2) % scratchQueues.length] })
    await drain(client, amount)
    await obliterateAll(client) // what drain left: the pulls below must wait
    // A worker waiting in a blocking pull, woken by a push (an SDK Worker on a quiet queue).
    for (let index = 0; index < amount.wokenPulls; index++) {
      const pull = client.send({ cmd: 'PULLB', queue: scratchQueue, count: wokenPullJobs, timeout: wokenPullTimeoutMs, sparse: true })
      // If the PUSH below fails (the first stack's deadline closed the connection), `pull` rejects
      // before it is awaited: an unhandled rejection would end the server's start.
      pull.catch(() => {})
      await client.send({ cmd: 'PUSH', queue: scratchQueue, data: payload(), max_attempts: 1 })
      await client.send({ cmd: 'ACKB', ids: ((await pull).jobs ?? []).map((job) => job.id) })
    }
    await obliterateAll(client)
  } finally {
    client.close()
  }
}

async function obliterateAll(client: WarmupClient): Promise<void> {
  for (const queue of scratchQueues) await client.send({ cmd: 'OBLITERATE', queue })
}

/** Takes up to drainedJobsMax jobs out again: a few PULL + ACK, then PULLB + ACKB as the SDK's Worker does. */
async function drain(client: WarmupClient, amount: WarmupAmount): Promise<void> {
  for (let index = 0; index < amount.singlePulls; index++) {
    const { job } = await client.send({ cmd: 'PULL', queue: scratchQueue, timeout: 0 })
    if (job) await client.send({ cmd: 'ACK', id: job.id, result: { done: true } })
  }
  for (let drained = amount.singlePulls; drained < drainedJobsMax;) {
    const pulled = (await client.send({ cmd: 'PULLB', queue: scratchQueue, count: amount.pullBatchJobs, timeout: 0, sparse: true })).jobs ?? []
    if (pulled.length === 0) return
    await client.send({ cmd: 'ACKB', ids: pulled.map((job) => job.id) })
    drained += pulled.length
  }
}

/** A job payload of the size the benchmarks and typical producers send (~100 bytes of JSON). */
function payload(): Record<string, unknown> {
  return { name: 'job', seq: Math.floor(Math.random() * 1e6), sentAt: performance.now(), pad: 'x'.repeat(48) }
}

/** The least client that can wait for replies by reqId, in either wire mode. */
class WarmupClient {
  private readonly waiting = new Map<string, PromiseWithResolvers<Reply>>()
  private nextId = 1
  private text = ''
  private bytes = new Uint8Array(0)
  /** Request bytes the socket did not take yet (Bun's write buffers nothing), sent on drain. */
  private unsent: Uint8Array[] = []

  private constructor(private readonly mode: 'json' | 'msgpack') {}

  private socket: Socket<undefined> | null = null

  static async connect(mode: 'json' | 'msgpack', port: number): Promise<WarmupClient> {
    const client = new WarmupClient(mode)
    client.socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: {
      data: (_socket, chunk) => client.receive(chunk),
      drain: () => client.writeUnsent(),
      close: () => client.failAll(),
      error: () => client.failAll(),
    } })
    client.socket.setNoDelay(true)
    return client
  }

  send(request: Record<string, unknown>): Promise<Reply> {
    const reqId = `w${this.nextId++}`
    const pending = Promise.withResolvers<Reply>()
    this.waiting.set(reqId, pending)
    const framed = { ...request, reqId }
    this.unsent.push(this.mode === 'json' ? Buffer.from(`${JSON.stringify(framed)}\n`) : encodeMsgpackFrame(framed))
    if (this.unsent.length === 1) this.writeUnsent()
    return pending.promise
  }

  private writeUnsent(): void {
    while (this.unsent.length > 0 && this.socket !== null) {
      const head = this.unsent[0] as Uint8Array
      const written = Math.max(0, this.socket.write(head))
      if (written < head.byteLength) {
        this.unsent[0] = head.subarray(written)
        return
      }
      this.unsent.shift()
    }
  }

  close(): void {
    this.socket?.end()
  }

  private receive(chunk: Uint8Array): void {
    if (this.mode === 'json') {
      this.text += Buffer.from(chunk).toString('utf8')
      let end = this.text.indexOf('\n')
      while (end >= 0) {
        this.settle(JSON.parse(this.text.slice(0, end)) as Reply & { reqId: string })
        this.text = this.text.slice(end + 1)
        end = this.text.indexOf('\n')
      }
      return
    }
    this.bytes = this.bytes.length === 0 ? Uint8Array.from(chunk) : Buffer.concat([this.bytes, chunk])
    while (this.bytes.length >= frameLengthPrefixBytes) {
      const length = new DataView(this.bytes.buffer, this.bytes.byteOffset).getUint32(0)
      if (this.bytes.length < frameLengthPrefixBytes + length) return
      this.settle(unpack(this.bytes.subarray(frameLengthPrefixBytes, frameLengthPrefixBytes + length)) as Reply & { reqId: string })
      this.bytes = this.bytes.subarray(frameLengthPrefixBytes + length)
    }
  }

  private settle(reply: Reply & { reqId: string }): void {
    const pending = this.waiting.get(reply.reqId)
    this.waiting.delete(reply.reqId)
    if (reply.ok) pending?.resolve(reply)
    else pending?.reject(new Error(`warm-up request failed: ${reply.error}`))
  }

  /** The scratch server never closes first; if it does, the warm-up must not hang on it. */
  private failAll(): void {
    for (const pending of this.waiting.values()) pending.reject(new Error('the warm-up connection closed'))
    this.waiting.clear()
  }
}
