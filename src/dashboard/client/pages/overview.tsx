/** @jsxImportSource hono/jsx/dom */
/**
 * Overview: totals by state, live throughput and latency charts, and the per-queue table (filtered,
 * sorted and paged in the browser, so a thousand queues render as one page of rows).
 */
import { memo, useMemo, useState } from 'hono/jsx/dom'
import { LineChart } from '../chart.tsx'
import { ago, count, rate } from '../format.ts'
import { live } from '../live.ts'
import { href } from '../router.ts'
import { useSignal } from '../signal.ts'
import type { QueueInfo } from '../types.ts'
import { Badge, Pager } from '../ui.tsx'

const rowsPerPage = 50
type SortKey = 'name' | 'pending' | 'processing' | 'delayed' | 'dlq' | 'completed'

export function Overview() {
  useSignal(live)
  const snapshot = live.snapshot
  const queues = [...live.queues.values()]
  const totals = totalsOf(queues, snapshot?.stats)
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <ul class="totals" aria-label="Jobs by state">
        <Total label="Waiting" value={totals.pending} kind="waiting" />
        <Total label="Active" value={totals.processing} kind="active" />
        <Total label="Delayed" value={totals.delayed} kind="delayed" />
        <Total label="Failed (DLQ)" value={totals.dlq} kind="failed" />
        <Total label="Completed" value={totals.completed} kind="completed" />
        <Total label="Jobs/s" value={snapshot?.metrics?.jobs_per_second} kind="rate" decimals />
      </ul>
      <Charts version={live.ratesVersion} />
      <QueueTable queues={queues} />
      <RecentEvents />
    </section>
  )
}

/** Re-renders only when a snapshot adds chart points, not on every event. */
const Charts = memo((_props: { version: number }) => {
  const rates = live.rates
  const spanMinutes = rates.length > 1 ? Math.max(1, Math.round(((rates.at(-1)?.timestampMs ?? 0) - (rates[0]?.timestampMs ?? 0)) / 60000)) : 0
  const span = rates.length > 1 ? `last ${spanMinutes} min` : 'waiting for data'
  return (
    <div class="charts">
      <LineChart
        title="Throughput"
        unit="jobs/s"
        spanLabel={span}
        series={[
          { label: 'pushed', className: 's-pushed', values: rates.map((point) => point.pushed) },
          { label: 'completed', className: 's-completed', values: rates.map((point) => point.completed) },
          { label: 'failed', className: 's-failed', values: rates.map((point) => point.failed) },
        ]}
      />
      <LineChart title="Latency (push → ack, average)" unit="ms" spanLabel={span} series={[{ label: 'latency', className: 's-latency', values: rates.map((point) => point.latencyMs) }]} />
    </div>
  )
})

function Total(props: { label: string; value: number | undefined; kind: string; decimals?: boolean }) {
  return (
    <li class={`total ${props.kind}`}>
      <span class="total-label">{props.label}</span>
      <span class="total-value" data-testid={`total-${props.kind}`}>{props.value === undefined ? '–' : props.decimals ? rate(props.value) : count(props.value)}</span>
    </li>
  )
}

function totalsOf(queues: QueueInfo[], stats: { completed: number } | null | undefined) {
  const sum = (pick: (queue: QueueInfo) => number) => queues.reduce((total, queue) => total + pick(queue), 0)
  return {
    pending: sum((queue) => queue.pending),
    processing: sum((queue) => queue.processing),
    delayed: sum((queue) => queue.delayed),
    dlq: sum((queue) => queue.dlq),
    // The retained history per queue is bounded; the server-wide count is the truer total.
    completed: Math.max(stats?.completed ?? 0, sum((queue) => queue.completed)),
  }
}

const collator = new Intl.Collator(undefined, { numeric: true })
const byName = (a: QueueInfo, b: QueueInfo) => collator.compare(a.name, b.name)

function QueueTable(props: { queues: QueueInfo[] }) {
  const [filter, setFilter] = useState('')
  const [sort, setSort] = useState<SortKey>('name')
  const [page, setPage] = useState(1)
  const needle = filter.trim().toLowerCase()
  // Sorting a thousand names on every event would cost more than the rest of a render; names change rarely.
  const byNameOrder = useMemo(() => [...props.queues].sort(byName).map((queue) => queue.name), [live.namesVersion])
  const named = needle === '' ? byNameOrder : byNameOrder.filter((name) => name.toLowerCase().includes(needle))
  const shown = named.map((name) => live.queues.get(name)).filter((queue) => queue !== undefined)
  if (sort !== 'name') shown.sort((a, b) => b[sort] - a[sort] || byName(a, b))
  const pages = Math.max(1, Math.ceil(shown.length / rowsPerPage))
  const current = Math.min(page, pages)
  const rows = shown.slice((current - 1) * rowsPerPage, current * rowsPerPage)
  const header = (key: SortKey, label: string) => (
    <th scope="col" aria-sort={sort === key ? (key === 'name' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" class="sort" onClick={() => (setSort(key), setPage(1))}>{label}</button>
    </th>
  )
  return (
    <section aria-labelledby="queues-title" class="panel">
      <div class="panel-head">
        <h2 id="queues-title">Queues <small>({count(props.queues.length)})</small></h2>
        <input type="search" placeholder="Filter queues" aria-label="Filter queues" value={filter} onInput={(event: Event) => (setFilter((event.target as HTMLInputElement).value), setPage(1))} />
      </div>
      <div class="table-wrap">
        <table class="queues">
          <thead>
            <tr>
              {header('name', 'Queue')}
              {header('pending', 'Waiting')}
              {header('processing', 'Active')}
              {header('delayed', 'Delayed')}
              {header('dlq', 'Failed')}
              {header('completed', 'Completed')}
              <th scope="col">Rate limit</th>
              <th scope="col">Concurrency</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((queue) => (
              <tr data-queue={queue.name}>
                <th scope="row">
                  <a href={href(['queues', queue.name])}>{queue.name}</a> {queue.paused && <Badge kind="paused">paused</Badge>}
                </th>
                <td data-col="waiting">{count(queue.pending)}</td>
                <td>{count(queue.processing)}</td>
                <td>{count(queue.delayed)}</td>
                <td class={queue.dlq > 0 ? 'warn' : ''}>{count(queue.dlq)}</td>
                <td>{count(queue.completed)}</td>
                <td>{queue.rate_limit === null ? '–' : `${count(queue.rate_limit)}/s`}</td>
                <td>{queue.concurrency_limit === null ? '–' : count(queue.concurrency_limit)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <p class="empty">{props.queues.length === 0 ? 'No queues yet: push a job to create one.' : 'No queue matches the filter.'}</p>}
      </div>
      {pages > 1 && <Pager page={current} hasNext={current < pages} go={setPage} label="Queue pages" />}
    </section>
  )
}

function RecentEvents() {
  const events = live.recentEvents
  return (
    <section aria-labelledby="events-title" class="panel">
      <h2 id="events-title">Recent events</h2>
      {live.eventsPaused && <p class="note">Events arrive faster than a page can show them; the counts above come from the periodic snapshot.</p>}
      {events.length === 0 ? <p class="empty">No events since this page opened.</p> : (
        <ol class="events">
          {events.map((event) => (
            <li>
              <Badge kind={event.event_type}>{event.event_type}</Badge> <a href={href(['jobs', String(event.job_id)])}>#{event.job_id}</a> in{' '}
              <a href={href(['queues', event.queue])}>{event.queue}</a> <time>{ago(event.timestamp)}</time>
              {event.error !== undefined && <span class="error-text"> {event.error}</span>}
            </li>
          ))}
        </ol>
      )}
    </section>
  )
}
