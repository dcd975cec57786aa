/** Micro-benchmark: `bun src/engine/engine.bench.ts` prints jobs/s for PUSHB ×1000 and PULLB 100 + ACKB. */
import { parseCommand, type Command } from '../protocol/commands.ts'
import { Engine } from './engine.ts'

function parsed(request: Record<string, unknown>): Command {
  const result = parseCommand(request)
  if (!result.ok) throw new Error(result.error)
  return result.command
}

function run(recordsEnabled: boolean, batches: number): void {
  const engine = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled })
  let now = 1_700_000_000_000
  const jobs = Array.from({ length: 1000 }, (_, i) => ({ data: { n: i, payload: 'hello world' } }))
  const pushb = parsed({ cmd: 'PUSHB', queue: 'bench', jobs })
  let start = performance.now()
  for (let b = 0; b < batches; b++) {
    engine.execute(pushb, 1, now++, 50_000)
    engine.drainOutput()
  }
  let seconds = (performance.now() - start) / 1000
  const pushed = batches * 1000
  console.log(`records=${recordsEnabled} PUSHB 1000 ×${batches}: ${Math.round(pushed / seconds).toLocaleString()} jobs/s`)

  const pullb = parsed({ cmd: 'PULLB', queue: 'bench', count: 100, timeout: 0 })
  start = performance.now()
  let done = 0
  while (done < pushed) {
    engine.execute(pullb, 1, now, 100)
    const out = engine.drainOutput()
    const reply = out.replies[0]![1] as unknown as { jobs: Array<{ id: number }> }
    const ids = reply.jobs.map((job) => job.id)
    engine.execute({ cmd: 'ACKB', ids } as Command, 2, now++, 100)
    engine.drainOutput()
    done += ids.length
  }
  seconds = (performance.now() - start) / 1000
  console.log(`records=${recordsEnabled} PULLB 100 + ACKB: ${Math.round(done / seconds).toLocaleString()} jobs/s`)
}

const batches = Number(process.env.BATCHES ?? 500)
run(false, 50) // warm-up
run(true, batches)
run(false, batches)
