/**
 * GETJOBS from the id-ordered index equals the definition (every listed job of the shard or queue,
 * filtered by state, sorted by id descending, `total` before paging), over a random workload and
 * after a restart (replay adds jobs out of id order).
 */
import { describe, expect, test } from 'bun:test'
import { prng } from '../base/prng.ts'
import { Harness, restart } from './test-helpers.ts'
import { type Job, LOC_COMPLETED, stateOf } from './job.ts'
import { parseStateFilter } from './handlers-queue.ts'
import { newestFirst } from './job-index.ts'

const queues = ['a', 'b', 'c']
const states = [undefined, 'waiting', 'delayed', 'active', 'completed', 'failed', 'waiting-children', 'waitingparent']

/** The definition, straight from the job table. */
function reference(h: Harness, queue: string | undefined, state: string | undefined, offset: number, limit: number) {
  const filter = parseStateFilter(state)
  const matches: Job[] = []
  for (const job of h.engine.core.jobs.values()) {
    if (queue !== undefined && job.queue !== queue) continue
    if (job.loc === LOC_COMPLETED && !job.inHistory) continue
    if (filter !== null && stateOf(job, h.now) !== filter) continue
    matches.push(job)
  }
  matches.sort((x, y) => y.id - x.id)
  return { ids: matches.slice(offset, offset + limit).map((job) => job.id), total: matches.length }
}

function check(h: Harness, label: string): void {
  for (const queue of [undefined, ...queues]) {
    for (const state of states) {
      // Small pages take the id-ordered list for most states, large ones the state's own home.
      for (const [offset, limit] of [[0, 1], [2, 1], [0, 5], [3, 4], [0, 1000]] as const) {
        const reply = h.call({ cmd: 'GETJOBS', queue, state, offset, limit })
        const got = { ids: (reply.jobs as Array<{ id: number }>).map((job) => job.id), total: reply.total }
        const want = reference(h, queue, state, offset, limit)
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          throw new Error(`${label}: GETJOBS ${JSON.stringify({ queue, state, offset, limit })} gave ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
        }
      }
    }
  }
}

describe('GETJOBS index', () => {
  test('pages equal the scan-and-sort definition over a random workload and after restarts', () => {
    const rng = prng(7)
    let h = new Harness()
    const pick = () => queues[rng.int(queues.length)] as string
    for (let step = 0; step < 400; step++) {
      const roll = rng.int(100)
      if (roll < 30) h.push(pick(), { delay: rng.int(3) === 0 ? 1000 + rng.int(5000) : undefined, max_attempts: 1 + rng.int(2) })
      else if (roll < 40) {
        const ids = [...h.engine.core.jobs.keys()]
        const dep = ids[rng.int(Math.max(1, ids.length))]
        h.push(pick(), dep === undefined ? {} : { depends_on: [dep] })
      } else if (roll < 45) h.call({ cmd: 'FLOW', queue: pick(), data: {}, children: [{ queue: pick(), data: 1 }, { queue: pick(), data: 2 }] })
      else if (roll < 65) h.pull(pick())
      else if (roll < 80 || roll < 90) {
        const active = [...h.engine.core.activeJobs]
        const job = active[rng.int(Math.max(1, active.length))]
        if (job !== undefined) h.call(roll < 80 ? { cmd: 'ACK', id: job.id } : { cmd: 'FAIL', id: job.id, error: 'x' })
      } else if (roll < 93) {
        const ids = [...h.engine.core.jobs.keys()]
        const id = ids[rng.int(Math.max(1, ids.length))]
        if (id !== undefined) h.call({ cmd: 'CANCEL', id })
      } else if (roll < 96) h.advance(rng.int(4000))
      else h = restart(h, [...h.engine.snapshot()])
      if (step % 20 === 19) check(h, `step ${step}`)
    }
    check(h, 'end')
    check(restart(h), 'replayed log')
    expect(h.engine.core.jobs.size).toBeGreaterThan(20)
  })

  test('a job pushed just when the id lists drop their stale entries is still listed', () => {
    // Most jobs cancelled: the lists compact on a later push, which must not drop the job being pushed.
    const h = new Harness()
    const kept: number[] = []
    for (let i = 0; i < 5000; i++) {
      const id = h.push('q')
      if (i % 10 === 0) kept.push(id)
      else h.call({ cmd: 'CANCEL', id })
    }
    const listed = new Set<number>()
    for (let offset = 0; ; offset += 1000) {
      const page = h.call({ cmd: 'GETJOBS', queue: 'q', limit: 1000, offset }).jobs as Array<{ job: { id: number } }>
      if (page.length === 0) break
      for (const item of page) listed.add(item.job.id)
    }
    expect(kept.filter((id) => !listed.has(id))).toEqual([])
    expect(h.call({ cmd: 'GETJOBS', limit: 1, offset: 0 }).total).toBe(kept.length)
  })
})

test('newestFirst selects the highest ids, highest first, whatever the input order', () => {
  const rng = prng(11)
  for (const size of [0, 1, 2, 7, 100, 5000]) {
    for (const order of ['ascending', 'descending', 'shuffled']) {
      const ids = Array.from({ length: size }, (_, i) => 3 * i + 1)
      if (order === 'descending') ids.reverse()
      if (order === 'shuffled') for (let i = ids.length - 1; i > 0; i--) {
        const j = rng.int(i + 1)
        ;[ids[i], ids[j]] = [ids[j] as number, ids[i] as number]
      }
      for (const count of [0, 1, 3, Math.floor(size / 2), size, size + 5]) {
        const got = newestFirst(ids.map((id) => ({ id }) as Job), count).map((job) => job.id)
        expect(got, `${order} ${size} ${count}`).toEqual([...ids].sort((a, b) => b - a).slice(0, Math.max(0, count)))
      }
    }
  }
})
