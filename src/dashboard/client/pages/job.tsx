/** @jsxImportSource hono/jsx/dom */
/**
 * Job view: everything GET /jobs/{id} says about one job, its logs and its flow relatives, with
 * the actions that fit its state. It reloads with each live snapshot while the job can still change.
 */
import { useState } from 'hono/jsx/dom'
import { del, get, post, q } from '../api.ts'
import { duration, json, time } from '../format.ts'
import { live } from '../live.ts'
import { href } from '../router.ts'
import { useSignal } from '../signal.ts'
import type { JobDetail, JobLogEntry } from '../types.ts'
import { ActionButton, Badge, ConfirmButton, Failure, KeyValues, perform, useLoad } from '../ui.tsx'

type Children = { children: number[]; completed: number; total: number }
type Loaded = { job: JobDetail; logs: JobLogEntry[]; children: Children | null }

const settledStates = new Set(['completed', 'unknown'])
const discardable = new Set(['waiting', 'delayed', 'active'])
/** Cancel refuses these (spec: CANCEL of a completed or DLQ job); DELETE /jobs/{id} (REMOVEJOB) takes them. */
const removable = new Set(['completed', 'failed'])

async function loadJob(id: string): Promise<Loaded> {
  const job = await get<JobDetail>(`/jobs/${q(id)}`)
  const [logs, children] = await Promise.all([
    get<JobLogEntry[]>(`/jobs/${q(id)}/logs`).catch(() => []),
    (job.children_ids?.length ?? 0) > 0 ? get<Children>(`/jobs/${q(id)}/children`).catch(() => null) : Promise.resolve(null),
  ])
  return { job, logs, children }
}

export function JobPage(props: { id: string }) {
  useSignal(live)
  const [settled, setSettled] = useState(false)
  // The id this page removed: a removed completed job's id still reads `completed` (its id counts as
  // completed for depends_on), so the page says what it did rather than what GET /jobs/{id} says.
  const [removedId, setRemovedId] = useState<string | null>(null)
  const removed = removedId === props.id
  // A job that can still change reloads on every snapshot; a settled one only on demand.
  const tick = settled ? 0 : live.snapshot?.timestamp ?? 0
  const loaded = useLoad(() => loadJob(props.id), [props.id, tick])
  const job = loaded.data?.job
  if (job !== undefined && settledStates.has(job.state) !== settled) setSettled(settledStates.has(job.state))
  return (
    <section aria-labelledby="job-title">
      <p class="crumbs"><a href="#/">Overview</a> / {job?.queue !== undefined ? <a href={href(['queues', job.queue])}>{job.queue}</a> : 'queue'} / job</p>
      <h1 id="job-title">Job #{props.id} {job !== undefined && !removed && <Badge kind={job.state}><span data-testid="job-state">{job.state}</span></Badge>}</h1>
      <Failure error={loaded.error} />
      {removed ? <p class="empty" data-testid="job-removed">Removed: the server no longer has this job.</p>
        : job === undefined ? loaded.error === null && <p class="empty">Loading…</p>
        : job.queue !== undefined ? <JobBody loaded={loaded.data as Loaded} reload={loaded.reload} onRemoved={() => setRemovedId(props.id)} />
        : job.state === 'completed' ? <CompletedJob id={props.id} loaded={loaded.data as Loaded} reload={loaded.reload} onRemoved={() => setRemovedId(props.id)} />
        : <p class="empty">No such job: it never existed, or it was removed, cancelled, expired or cleaned.</p>}
    </section>
  )
}

type BodyProps = { loaded: Loaded; reload: () => void; onRemoved: () => void }

/**
 * A completed job: GETJOB answers no body for one (spec: "body not returned by GETJOB"), only its
 * state and, while the server keeps it, its result. The queue's job list shows its data.
 */
function CompletedJob(props: BodyProps & { id: string }) {
  const { job, logs } = props.loaded
  return (
    <>
      <div class="toolbar" role="group" aria-label="Job actions">
        <RemoveButton id={props.id} state="completed" onRemoved={props.onRemoved} />
        <button type="button" onClick={props.reload}>Reload</button>
      </div>
      <p class="empty">Completed. The server answers no body for a completed job by id; its queue's job list (state completed) shows it while the history keeps it.</p>
      <section class="panel" aria-labelledby="result-title">
        <h2 id="result-title">Result</h2>
        <pre class="code">{json(job.result ?? null)}</pre>
      </section>
      <Logs logs={logs} />
    </>
  )
}

function JobBody(props: BodyProps) {
  const { job, logs, children } = props.loaded
  const error = failureOf(job)
  return (
    <>
      <JobActions job={job} reload={props.reload} onRemoved={props.onRemoved} />
      <div class="columns">
        <section class="panel" aria-labelledby="summary-title">
          <h2 id="summary-title">Summary</h2>
          <KeyValues entries={[
            ['Queue', <a href={href(['queues', job.queue])}>{job.queue}</a>],
            ['State', job.state],
            ['Attempts', `${job.attempts}${job.max_attempts > 0 ? ` of ${job.max_attempts}` : ' (unlimited retries)'}`],
            ['Priority', job.priority],
            ['Progress', <span><progress max={100} value={job.progress} /> {job.progress}%{job.progress_msg !== null && ` — ${job.progress_msg}`}</span>],
            ['Custom id', job.custom_id ?? '–'],
            ['Stalls', job.stall_count],
          ]} />
        </section>
        <section class="panel" aria-labelledby="times-title">
          <h2 id="times-title">Timestamps</h2>
          <KeyValues entries={[
            ['Created', time(job.created_at)],
            ['Runs at', time(job.run_at)],
            ['Started', time(job.started_at)],
            ['Last heartbeat', time(job.last_heartbeat)],
            ['Completed', time(job.completed_at)],
          ]} />
        </section>
      </div>
      <section class="panel" aria-labelledby="data-title">
        <h2 id="data-title">Data</h2>
        <pre class="code">{json(job.data)}</pre>
      </section>
      {job.state === 'completed' && (
        <section class="panel" aria-labelledby="result-title">
          <h2 id="result-title">Result</h2>
          <pre class="code">{json(job.result ?? null)}</pre>
        </section>
      )}
      {error !== null && (
        <section class="panel error-panel" aria-labelledby="error-title">
          <h2 id="error-title">Error</h2>
          <p class="error-text">{error.message.split('\n')[0]}</p>
          {(error.stack ?? (error.message.includes('\n') ? error.message : null)) !== null && <pre class="code">{error.stack ?? error.message}</pre>}
        </section>
      )}
      <section class="panel" aria-labelledby="options-title">
        <h2 id="options-title">Options</h2>
        <KeyValues entries={[
          ['Max attempts', job.max_attempts === 0 ? 'unlimited' : job.max_attempts],
          ['Backoff', duration(job.backoff)],
          ['TTL', job.ttl === 0 ? 'never expires' : duration(job.ttl)],
          ['Timeout', job.timeout === 0 ? 'none' : duration(job.timeout)],
          ['Stall timeout', job.stall_timeout === 0 ? 'default (30 s)' : duration(job.stall_timeout)],
          ['Unique key', job.unique_key ?? '–'],
          ['Group', job.group_id ?? '–'],
          ['Tags', job.tags.length === 0 ? '–' : job.tags.join(', ')],
          ['LIFO', job.lifo ? 'yes' : 'no'],
          ['Remove on complete / fail', `${job.remove_on_complete ? 'yes' : 'no'} / ${job.remove_on_fail ? 'yes' : 'no'}`],
          ['Keep completed (age / count)', `${job.keep_completed_age} / ${job.keep_completed_count}`],
          ['Depends on', job.depends_on.length === 0 ? '–' : <JobLinks ids={job.depends_on} />],
        ]} />
      </section>
      {(job.parent_id !== null || job.children_ids.length > 0) && (
        <section class="panel" aria-labelledby="flow-title">
          <h2 id="flow-title">Flow</h2>
          <KeyValues entries={[
            ['Parent', job.parent_id === null ? '–' : <a href={href(['jobs', String(job.parent_id)])}>#{job.parent_id}</a>],
            ['Children', job.children_ids.length === 0 ? '–' : <JobLinks ids={job.children_ids} />],
            ['Children completed', `${children?.completed ?? job.children_completed} of ${children?.total ?? job.children_ids.length}`],
          ]} />
        </section>
      )}
      <Logs logs={logs} />
    </>
  )
}

function Logs(props: { logs: JobLogEntry[] }) {
  return (
    <section class="panel" aria-labelledby="logs-title">
      <h2 id="logs-title">Logs</h2>
      {props.logs.length === 0 ? <p class="empty">No log lines.</p> : (
        <ol class="logs">
          {props.logs.map((entry) => <li><time>{time(entry.timestamp)}</time> <Badge kind={entry.level}>{entry.level}</Badge> {entry.message}</li>)}
        </ol>
      )}
    </section>
  )
}

function JobLinks(props: { ids: number[] }) {
  return <span class="links">{props.ids.map((id) => <a href={href(['jobs', String(id)])}>#{id}</a>)}</span>
}

/** The failure the server reports for the job: an explicit error field, else the last reason kept in progress_msg. */
function failureOf(job: JobDetail): { message: string; stack: string | null } | null {
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : null)
  const message = text(job.error) ?? text(job.failed_reason) ?? (job.state === 'failed' || job.attempts > 0 ? text(job.progress_msg) : null)
  if (message === null) return null
  const stack = text(job.stack) ?? text(job.stacktrace) ?? (Array.isArray(job.stacktrace) ? job.stacktrace.join('\n') : null)
  return { message, stack }
}

/** Removes a completed or failed job (DELETE /jobs/{id}, REMOVEJOB), after a confirmation: CANCEL refuses them. */
function RemoveButton(props: { id: string; state: 'completed' | 'failed'; queue?: string; onRemoved: () => void }) {
  const what = props.state === 'failed' ? `failed job #${props.id} from the DLQ of ${props.queue}` : `completed job #${props.id}, its result and its logs`
  // ?queue=: the server leaves the job alone if the id names another queue's job.
  const path = `/jobs/${q(props.id)}${props.queue === undefined ? '' : `?queue=${q(props.queue)}`}`
  return <ConfirmButton label="Remove" question={`Remove ${what}? This cannot be undone.`} run={() => perform('Remove', () => del(path), props.onRemoved)} />
}

function JobActions(props: { job: JobDetail; reload: () => void; onRemoved: () => void }) {
  const { job } = props
  const [priority, setPriority] = useState(String(job.priority))
  const path = `/jobs/${job.id}`
  const live = job.state !== 'completed' && job.state !== 'unknown'
  return (
    <div class="toolbar" role="group" aria-label="Job actions">
      {job.state === 'failed' && <ActionButton label="Retry" run={() => perform('Retry', () => post(`/queues/${q(job.queue)}/dlq/retry`, { job_id: job.id }), props.reload)} />}
      {job.state === 'delayed' && <ActionButton label="Promote" run={() => perform('Promote', () => post(`${path}/promote`), props.reload)} />}
      {discardable.has(job.state) && <ActionButton label="Discard" danger title="Move it to the DLQ now, without more retries" run={() => perform('Discard', () => post(`${path}/discard`), props.reload)} />}
      {live && job.state !== 'failed' && <ActionButton label="Cancel" danger run={() => perform('Cancel', () => post(`${path}/cancel`), props.reload)} />}
      {removable.has(job.state) && <RemoveButton id={String(job.id)} state={job.state as 'completed' | 'failed'} queue={job.queue} onRemoved={props.onRemoved} />}
      {live && (
        <form class="inline" onSubmit={async (event: Event) => {
          event.preventDefault()
          await perform('Priority', () => post(`${path}/priority`, { priority: Number(priority) }), props.reload)
        }}>
          <label>Priority <input type="number" class="narrow" value={priority} onInput={(event: Event) => setPriority((event.target as HTMLInputElement).value)} /></label>
          <button type="submit">Set priority</button>
        </form>
      )}
      <button type="button" onClick={props.reload}>Reload</button>
    </div>
  )
}
