/** @jsxImportSource hono/jsx/dom */
/**
 * Queue view: counts and controls of one queue, and its jobs by state with a text search on id,
 * custom id and name, paged through GET /jobs. The list reloads when the live counts change.
 */
import { useEffect, useState } from 'hono/jsx/dom'
import { del, get, post, q } from '../api.ts'
import { ago, count } from '../format.ts'
import { live } from '../live.ts'
import { href, navigate, router } from '../router.ts'
import { useSignal } from '../signal.ts'
import type { JobDetail } from '../types.ts'
import { ActionButton, Badge, ConfirmButton, Failure, Pager, perform, useLoad } from '../ui.tsx'

const jobsPerPage = 25
/** A search scans this many of the newest jobs in the chosen state (GET /jobs caps its limit near 1000). */
const searchWindowJobs = 1000
const states = ['', 'waiting', 'active', 'delayed', 'failed', 'completed', 'waitingchildren', 'waitingparent']

type JobItem = JobDetail
type JobList = JobItem[] | { jobs: Array<{ job: JobItem; state: string }> }
const jobList = (list: JobList): JobItem[] => (Array.isArray(list) ? list : list.jobs.map((item) => ({ ...item.job, state: item.state })))

export function QueuePage(props: { name: string }) {
  useSignal(live)
  const params = router.route.params
  const state = params.get('state') ?? ''
  const search = params.get('q') ?? ''
  const page = Math.max(1, Number(params.get('page') ?? 1) || 1)
  const info = live.queues.get(props.name)
  const go = (next: Record<string, string | number | undefined>) => navigate(['queues', props.name], { state, q: search, page, ...next })
  const signature = info === undefined ? '' : `${info.pending}/${info.processing}/${info.delayed}/${info.dlq}/${info.completed}/${info.paused}`
  const jobs = useLoad(() => loadJobs(props.name, state, search, page), [props.name, state, search, page, signature])
  const path = `/queues/${q(props.name)}`
  const after = () => {
    jobs.reload()
    void live.refresh().catch(() => {})
  }
  return (
    <section aria-labelledby="queue-title">
      <p class="crumbs"><a href="#/">Overview</a> / queue</p>
      <h1 id="queue-title">{props.name} {info?.paused && <Badge kind="paused">paused</Badge>}</h1>
      <ul class="totals small" aria-label="Jobs by state">
        {[['Waiting', info?.pending, 'waiting'], ['Active', info?.processing, 'active'], ['Delayed', info?.delayed, 'delayed'], ['Failed', info?.dlq, 'failed'], ['Completed', info?.completed, 'completed']].map(([label, value, kind]) => (
          <li class={`total ${kind}`}><span class="total-label">{label}</span><span class="total-value" data-testid={`queue-${kind}`}>{count(value as number | undefined)}</span></li>
        ))}
      </ul>
      <div class="toolbar" role="group" aria-label="Queue actions">
        {info?.paused
          ? <ActionButton label="Resume" run={() => perform('Resume', () => post(`${path}/resume`), after)} />
          : <ActionButton label="Pause" run={() => perform('Pause', () => post(`${path}/pause`), after)} />}
        <ActionButton label="Retry all failed" disabled={info?.dlq === 0} run={() => perform('Retried', () => post(`${path}/dlq/retry`, {}), after)} />
        <ConfirmButton label="Drain" question={`Remove every waiting and delayed job of ${props.name}?`} run={() => perform('Drained', () => post(`${path}/drain`), after)} />
        <ConfirmButton label="Purge DLQ" question={`Delete every failed job of ${props.name}?`} run={() => perform('Purged', () => del(`${path}/dlq`), after)} />
        <CleanForm path={path} after={after} />
        <ConfirmButton label="Obliterate" question={`Delete the queue ${props.name} with all its jobs, in every state? This cannot be undone.`} typeToConfirm={props.name} run={() => perform('Obliterated', () => del(`${path}/obliterate`), () => navigate([]))} />
      </div>
      <LimitsForm path={path} rateLimit={info?.rate_limit ?? null} concurrency={info?.concurrency_limit ?? null} />
      <section class="panel" aria-labelledby="jobs-title">
        <div class="panel-head">
          <h2 id="jobs-title">Jobs</h2>
          <div class="filters">
            <label>State{' '}
              <select value={state} onChange={(event: Event) => go({ state: (event.target as HTMLSelectElement).value, page: 1 })}>
                {states.map((value) => <option value={value} selected={value === state}>{value === '' ? 'all' : value}</option>)}
              </select>
            </label>
            <SearchBox value={search} onSearch={(text) => go({ q: text, page: 1 })} />
          </div>
        </div>
        <Failure error={jobs.error} />
        <JobTable jobs={jobs.data?.items ?? null} />
        <Pager page={page} hasNext={jobs.data?.hasNext ?? false} go={(next) => go({ page: next })} label="Job pages" />
      </section>
    </section>
  )
}

async function loadJobs(queue: string, state: string, search: string, page: number): Promise<{ items: JobItem[]; hasNext: boolean }> {
  // shape=dashboard: the plain array (the server picks the SDK's `{jobs,total}` for some user agents).
  const base = `/jobs?shape=dashboard&queue=${q(queue)}${state === '' ? '' : `&state=${q(state)}`}`
  if (search === '') {
    // One more than a page tells whether a next page exists (GET /jobs returns no total).
    const items = jobList(await get<JobList>(`${base}&limit=${jobsPerPage + 1}&offset=${(page - 1) * jobsPerPage}`))
    return { items: items.slice(0, jobsPerPage), hasNext: items.length > jobsPerPage }
  }
  const needle = search.toLowerCase()
  const window = jobList(await get<JobList>(`${base}&limit=${searchWindowJobs}&offset=0`))
  const matches = window.filter((job) => matchesSearch(job, needle))
  const start = (page - 1) * jobsPerPage
  return { items: matches.slice(start, start + jobsPerPage), hasNext: matches.length > start + jobsPerPage }
}

function jobName(job: JobItem): string | null {
  const data = job.data
  if (typeof job.name === 'string') return job.name
  if (data !== null && typeof data === 'object' && typeof (data as { name?: unknown }).name === 'string') return (data as { name: string }).name
  return null
}

function matchesSearch(job: JobItem, needle: string): boolean {
  return String(job.id) === needle || (job.custom_id ?? '').toLowerCase().includes(needle) || (jobName(job) ?? '').toLowerCase().includes(needle)
}

function SearchBox(props: { value: string; onSearch: (text: string) => void }) {
  const [text, setText] = useState(props.value)
  useEffect(() => setText(props.value), [props.value])
  return (
    <form role="search" onSubmit={(event: Event) => (event.preventDefault(), props.onSearch(text.trim()))}>
      <input type="search" placeholder="id, custom id or name" aria-label="Search jobs" value={text} onInput={(event: Event) => setText((event.target as HTMLInputElement).value)} />
      <button type="submit">Search</button>
    </form>
  )
}

function JobTable(props: { jobs: JobItem[] | null }) {
  if (props.jobs === null) return <p class="empty">Loading…</p>
  if (props.jobs.length === 0) return <p class="empty">No jobs here.</p>
  return (
    <div class="table-wrap">
      <table class="jobs">
        <thead>
          <tr><th scope="col">Id</th><th scope="col">Name / custom id</th><th scope="col">State</th><th scope="col">Priority</th><th scope="col">Attempts</th><th scope="col">Progress</th><th scope="col">Created</th></tr>
        </thead>
        <tbody>
          {props.jobs.map((job) => (
            <tr data-job={job.id}>
              <th scope="row"><a href={href(['jobs', String(job.id)])}>#{job.id}</a></th>
              <td>{jobName(job) ?? job.custom_id ?? '–'}{jobName(job) !== null && job.custom_id !== null && <small> {job.custom_id}</small>}</td>
              <td><Badge kind={job.state}>{job.state}</Badge></td>
              <td>{job.priority}</td>
              <td>{job.attempts}{job.max_attempts > 0 ? ` / ${job.max_attempts}` : ''}</td>
              <td>{job.progress > 0 ? `${job.progress}%` : '–'}</td>
              <td><time title={new Date(job.created_at).toISOString()}>{ago(job.created_at)}</time></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function CleanForm(props: { path: string; after: () => void }) {
  const [state, setState] = useState('completed')
  const [graceSeconds, setGraceSeconds] = useState('0')
  return (
    <form class="inline" aria-label="Clean jobs" onSubmit={async (event: Event) => {
      event.preventDefault()
      await perform('Cleaned', () => post(`${props.path}/clean`, { grace: Number(graceSeconds) * 1000, state, limit: 1000 }), props.after)
    }}>
      <label>Clean{' '}
        <select value={state} onChange={(event: Event) => setState((event.target as HTMLSelectElement).value)}>
          {['completed', 'failed', 'waiting', 'delayed'].map((value) => <option value={value} selected={value === state}>{value}</option>)}
        </select>
      </label>
      <label>older than <input type="number" min="0" class="narrow" value={graceSeconds} onInput={(event: Event) => setGraceSeconds((event.target as HTMLInputElement).value)} /> s</label>
      <button type="submit">Clean</button>
    </form>
  )
}

function LimitsForm(props: { path: string; rateLimit: number | null; concurrency: number | null }) {
  const [rateLimit, setRateLimit] = useState('')
  const [concurrency, setConcurrency] = useState('')
  const set = (kind: 'rate-limit' | 'concurrency', label: string, value: string) => {
    const limit = Number(value)
    return value.trim() === '' ? perform(`Clear ${label}`, () => del(`${props.path}/${kind}`)) : perform(`Set ${label}`, () => post(`${props.path}/${kind}`, { limit }))
  }
  return (
    <details class="limits">
      <summary>Limits: rate {props.rateLimit === null ? 'none' : `${props.rateLimit}/s`}, concurrency {props.concurrency ?? 'none'}</summary>
      <form class="inline" onSubmit={(event: Event) => (event.preventDefault(), void set('rate-limit', 'rate limit', rateLimit))}>
        <label>Rate limit (jobs/s, empty clears) <input type="number" min="1" class="narrow" value={rateLimit} onInput={(event: Event) => setRateLimit((event.target as HTMLInputElement).value)} /></label>
        <button type="submit">Apply</button>
      </form>
      <form class="inline" onSubmit={(event: Event) => (event.preventDefault(), void set('concurrency', 'concurrency', concurrency))}>
        <label>Concurrency (empty clears) <input type="number" min="1" class="narrow" value={concurrency} onInput={(event: Event) => setConcurrency((event.target as HTMLInputElement).value)} /></label>
        <button type="submit">Apply</button>
      </form>
    </details>
  )
}
