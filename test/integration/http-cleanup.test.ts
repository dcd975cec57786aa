/**
 * Retention settings against a real server (spec §4.18, §5.2): POST /settings/cleanup sets them
 * within the §4.18 minimums and the named maxima (422 naming the field outside), GET /settings
 * reports them, and POST /settings/cleanup/run applies a lowered limit now.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import type { TestServer } from '../harness/server.ts'
import type { WireClient } from '../harness/wire-client.ts'
import { freshQueue, shardArgs } from './commands-kit.ts'
import { type HttpClient, startServerWithClients } from './http-kit.ts'

setDefaultTimeout(60_000)

let server: TestServer
let http: HttpClient
let client: WireClient
let close: () => Promise<void>

beforeAll(async () => {
  ;({ server, client, http, close } = await startServerWithClients(shardArgs))
})
afterAll(() => close())

const defaults = { max_completed_jobs: 5000, max_job_results: 10_000, cleanup_interval_secs: 5, metrics_history_size: 60 }
const batchJobs = 1000

/** Pushes, pulls and acks `count` jobs in batches; returns their ids, oldest first. */
async function completeJobs(queue: string, count: number): Promise<number[]> {
  const ids: number[] = []
  for (let done = 0; done < count; done += batchJobs) {
    const size = Math.min(batchJobs, count - done)
    const pushed = await client.request({ cmd: 'PUSHB', queue, jobs: Array.from({ length: size }, (_, i) => ({ data: { n: done + i } })) })
    expect(pushed.ok).toBe(true)
    const pulled = await client.request({ cmd: 'PULLB', queue, count: size, timeout: 0 })
    expect(pulled.jobs).toHaveLength(size)
    const pulledIds = (pulled.jobs as Array<{ id: number }>).map((job) => job.id)
    expect(await client.request({ cmd: 'ACKB', ids: pulledIds })).toMatchObject({ ok: true })
    ids.push(...pulledIds)
  }
  return ids
}

const completedCount = async (queue: string) => (await http.data<{ completed: number }>('GET', `/queues/${queue}/counts`)).completed

test('GET /settings reports the retention settings; the defaults are the §4.18 minimums', async () => {
  expect((await http.data<{ cleanup: unknown }>('GET', '/settings')).cleanup).toEqual(defaults)
})

test('values outside the range are refused with a 422 naming the field, and change nothing', async () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ max_completed_jobs: 10 }, 'max_completed_jobs'],
    [{ max_job_results: 9999 }, 'max_job_results'],
    [{ metrics_history_size: 59 }, 'metrics_history_size'],
    [{ cleanup_interval_secs: 11 }, 'cleanup_interval_secs'],
    [{ cleanup_interval_secs: 0 }, 'cleanup_interval_secs'],
    [{ max_completed_jobs: 'many' }, 'max_completed_jobs'],
    // The history keeps no more jobs than there are results.
    [{ max_completed_jobs: 12_000 }, 'max_completed_jobs'],
  ]
  for (const [body, field] of cases) {
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/settings/cleanup`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    })
    expect(response.status).toBe(422)
    expect(await response.text()).toContain(field)
  }
  expect((await http.data<{ cleanup: unknown }>('GET', '/settings')).cleanup).toEqual(defaults)
})

test('a raised history keeps more completed jobs; a lowered one forgets the oldest when cleanup runs', async () => {
  const queue = freshQueue('cleanup')
  const raised = { ...defaults, max_completed_jobs: 6000, cleanup_interval_secs: 10 }
  expect(await http.data('POST', '/settings/cleanup', { max_completed_jobs: 6000, cleanup_interval_secs: 10 })).toEqual(raised)
  const ids = await completeJobs(queue, 6500)
  expect(await completedCount(queue)).toBe(6000) // the default would keep 5000

  // Lowered: applied by the next housekeeping (within 10 s) or now by /settings/cleanup/run.
  expect(await http.data('POST', '/settings/cleanup', { max_completed_jobs: 5000 })).toEqual({ ...raised, max_completed_jobs: 5000 })
  const run = await http.data<{ removed: number }>('POST', '/settings/cleanup/run')
  expect(run.removed).toBeGreaterThanOrEqual(0) // the periodic housekeeping may have trimmed first
  expect(await completedCount(queue)).toBe(5000)
  // Newest first: the last page holds the oldest job still listed, the 1501st completed.
  const lastPage = await http.data<Array<{ id: number }>>('GET', `/jobs?queue=${queue}&state=completed&limit=1000&offset=4000`)
  expect(lastPage).toHaveLength(1000)
  expect(lastPage.at(-1)?.id).toBe(ids[1500] as number)
  // Out of the history, the oldest still reads completed: the completed-id set (25 000) keeps it.
  expect(await http.data('GET', `/jobs/${ids[0]}`)).toMatchObject({ state: 'completed' })
  expect((await http.data<{ cleanup: unknown }>('GET', '/settings')).cleanup).toEqual({ ...raised, max_completed_jobs: 5000 })
  await http.data('POST', '/settings/cleanup', defaults)
})
