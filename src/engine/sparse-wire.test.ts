/** PULLB `sparse` (extension): the jobs leave out exactly their default-valued fields, answered at once or to a waiting pull. */
import { expect, test } from 'bun:test'
import { Harness } from './test-helpers.ts'

type Wire = Record<string, unknown>

/** The 31 fields' defaults; a sparse job with them filled in must equal the full one. */
const defaults: Wire = {
  priority: 0, started_at: 0, attempts: 0, max_attempts: 0, backoff: 0, ttl: 0, timeout: 0, unique_key: null, depends_on: [],
  progress: 0, progress_msg: null, tags: [], lifo: false, remove_on_complete: false, remove_on_fail: false, last_heartbeat: 0,
  stall_timeout: 0, stall_count: 0, parent_id: null, children_ids: [], children_completed: 0, custom_id: null,
  keep_completed_age: 0, keep_completed_count: 0, completed_at: 0, group_id: null,
}

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
