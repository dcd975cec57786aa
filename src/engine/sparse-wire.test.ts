/** PULLB `sparse` (extension): the jobs leave out exactly their default-valued fields, answered at once or to a waiting pull. */
import { expect, test } from 'bun:test'
import { wireJobDefaults } from '../protocol/wire-job-defaults.ts'
import { Harness } from './test-helpers.ts'

type Wire = Record<string, unknown>

/** The defaults both ends of a sparse PULLB share: the hand-written encoder must leave out exactly these. */
const defaults: Wire = wireJobDefaults

function expectSparseOf(h: Harness, sparse: Wire): void {
  const full = h.call({ cmd: 'GETJOB', id: sparse.id }).job as Wire
  expect(Object.keys(full).length).toBe(31)
  for (const [field, value] of Object.entries(sparse)) if (field in defaults) expect(value).not.toEqual(defaults[field])
  expect({ ...defaults, ...sparse }).toEqual(full)
}

test('a sparse PULLB leaves out the default-valued fields, and only those', () => {
  const h = new Harness()
  h.push('q', { data: { plain: true } })
  const dependency = h.push('other')
  h.call({ cmd: 'ACK', id: (h.pull('other') as { id: number }).id })
  h.push('q', {
    data: 'rich', priority: 4, max_attempts: 3, backoff: 10, ttl: 60_000, timeout: 500, unique_key: 'u', tags: ['a'], lifo: true,
    remove_on_complete: true, stall_timeout: 2000, job_id: 'custom', keep_completed_age: 5, keep_completed_count: 6, group_id: 'g',
    depends_on: [dependency],
  })
  const jobs = h.call({ cmd: 'PULLB', queue: 'q', count: 2, timeout: 0, sparse: true }).jobs as Wire[]
  expect(jobs.map((job) => job.data)).toEqual(['rich', { plain: true }])
  for (const job of jobs) expectSparseOf(h, job)
  expect(Object.keys(jobs[1] as Wire).sort()).toEqual(['created_at', 'data', 'id', 'last_heartbeat', 'queue', 'run_at', 'started_at'])
  // Without `sparse` nothing changes: all 31 fields.
  h.push('q')
  expect(Object.keys((h.call({ cmd: 'PULLB', queue: 'q', count: 1, timeout: 0 }).jobs as Wire[])[0] as Wire).length).toBe(31)
})

test('a sparse PULLB that waits for jobs is answered sparse', () => {
  const h = new Harness()
  const pull = h.send({ cmd: 'PULLB', queue: 'w', count: 5, timeout: 5000, sparse: true })
  const full = h.send({ cmd: 'PULLB', queue: 'w', count: 5, timeout: 5000 })
  h.push('w', { data: 1 })
  h.push('w', { data: 2 })
  const jobs = (h.take(pull.token) as Wire).jobs as Wire[]
  expect(jobs.map((job) => job.data)).toEqual([1])
  expectSparseOf(h, jobs[0] as Wire)
  expect(Object.keys(((h.take(full.token) as Wire).jobs as Wire[])[0] as Wire).length).toBe(31)
})
