/**
 * Benchmark (not a test): `bun src/engine/getjobs.bench.ts` fills one shard with JOBS live jobs
 * (default 1M: 4 queues, some delayed, some active, a few failed, one in 10 000 waiting for a
 * dependency) and prints the median time of a 50-row GETJOBS page for several filters, over 21 runs
 * each.
 */
import { parseCommand, type Command } from '../protocol/commands.ts'
import { Engine } from './engine.ts'

function parsed(request: Record<string, unknown>): Command {
  const result = parseCommand(request)
  if (!result.ok) throw new Error(result.error)
  return result.command
}

const jobsWanted = Number(process.env.JOBS ?? 1_000_000)
const engine = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: false })
const now = 1_700_000_000_000
const queues = ['q0', 'q1', 'q2', 'q3']
// Every 10 000th job waits for one that never completes: a rare state spread over the whole list.
engine.execute(parsed({ cmd: 'PUSH', queue: 'blocker', data: null }), 1, now, 100)
const blocker = (engine.drainOutput().replies[0]![1] as unknown as { id: number }).id
for (let pushed = 0; pushed < jobsWanted; pushed += 1000) {
  const queue = queues[(pushed / 1000) % queues.length] as string
  const jobs = Array.from({ length: 1000 }, (_, i) => ({
    data: { n: pushed + i }, delay: i % 10 === 0 ? 60_000 : undefined, depends_on: (pushed + i) % 10_000 === 5 ? [blocker] : undefined,
  }))
  engine.execute(parsed({ cmd: 'PUSHB', queue, jobs }), 1, now, 50_000)
  engine.drainOutput()
}
// Some active jobs and a few failed ones, so the state filters have something to find.
engine.execute(parsed({ cmd: 'PULLB', queue: 'q0', count: 1000, timeout: 0 }), 1, now, 100)
const pulled = (engine.drainOutput().replies[0]![1] as unknown as { jobs: Array<{ id: number }> }).jobs
for (const job of pulled.slice(0, 20)) {
  engine.execute(parsed({ cmd: 'FAIL', id: job.id, error: 'bench' }), 1, now, 100)
  engine.execute(parsed({ cmd: 'DISCARD', id: job.id }), 1, now, 100)
}
engine.drainOutput()

function medianMs(request: Record<string, unknown>): { ms: number; total: unknown } {
  const command = parsed(request)
  const times: number[] = []
  let total: unknown
  for (let run = 0; run < 21; run++) {
    const start = performance.now()
    engine.execute(command, 1, now + 1, 100)
    times.push(performance.now() - start)
    total = (engine.drainOutput().replies[0]![1] as { total?: unknown }).total
  }
  times.sort((a, b) => a - b)
  return { ms: times[10] as number, total }
}

console.log(`${jobsWanted.toLocaleString()} live jobs in one shard`)
for (const request of [
  { cmd: 'GETJOBS', queue: 'q1', limit: 50 },
  { cmd: 'GETJOBS', queue: 'q1', state: 'waiting', limit: 50 },
  { cmd: 'GETJOBS', queue: 'q1', state: 'delayed', limit: 50 },
  { cmd: 'GETJOBS', queue: 'q0', state: 'active', limit: 50 },
  { cmd: 'GETJOBS', queue: 'q0', state: 'failed', limit: 50 },
  { cmd: 'GETJOBS', limit: 50 },
  { cmd: 'GETJOBS', queue: 'q1', limit: 50, offset: 10_000 },
  { cmd: 'GETJOBS', queue: 'q2', state: 'waitingchildren', limit: 50 },
  { cmd: 'GETJOBS', state: 'waitingchildren', limit: 50 },
  { cmd: 'GETJOBS', queue: 'q1', state: 'delayed', limit: 50, offset: 5000 },
]) {
  const { ms, total } = medianMs(request)
  console.log(`${JSON.stringify(request)}: median ${ms.toFixed(3)} ms (total ${total})`)
}
