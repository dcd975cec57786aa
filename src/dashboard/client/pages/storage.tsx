/** @jsxImportSource hono/jsx/dom */
/**
 * Storage: io backend and durability mode (/health, /settings), the store's own figures from
 * GET /storage/stats (segments, bytes, last checkpoint, per shard), and group commit from the
 * `queued_io_*` counters of /metrics: records per commit and flush latency, over the server's life
 * and over the last refresh; and the distributions of both, from the histograms of /storage/stats.
 */
import { get, getText } from '../api.ts'
import { bytes, count, duration } from '../format.ts'
import { live } from '../live.ts'
import { useSignal } from '../signal.ts'
import { Failure, KeyValues, useLoad } from '../ui.tsx'
import { Details, Histogram } from './details.tsx'

type GroupCommit = { syncs: number; records: number; syncUs: number; bytes: number; atMs: number }
type Loaded = {
  health: Record<string, unknown> | null
  settings: Record<string, unknown> | null
  stats: Record<string, unknown> | null
  statsError: Error | null
  groupCommit: GroupCommit | null
}

/** Unlabelled samples of a Prometheus text exposition. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$/.exec(line)
    if (match) values.set(match[1] as string, Number(match[2]))
  }
  return values
}

function groupCommitOf(text: string): GroupCommit | null {
  const values = samples(text)
  const syncs = values.get('queued_io_sync')
  if (syncs === undefined) return null
  return { syncs, records: values.get('queued_io_sync_records') ?? 0, syncUs: values.get('queued_io_sync_us') ?? 0, bytes: values.get('queued_io_write_bytes') ?? 0, atMs: Date.now() }
}

async function loadStorage(): Promise<Loaded> {
  const [health, settings, stats, metrics] = await Promise.allSettled([
    get<Record<string, unknown>>('/health'),
    get<Record<string, unknown>>('/settings'),
    get<Record<string, unknown>>('/storage/stats'),
    getText('/metrics?format=text'),
  ])
  const value = <T,>(result: PromiseSettledResult<T>) => (result.status === 'fulfilled' ? result.value : null)
  const text = value(metrics)
  return {
    health: value(health),
    settings: value(settings),
    stats: value(stats),
    statsError: stats.status === 'rejected' ? (stats.reason as Error) : null,
    groupCommit: text === null ? null : groupCommitOf(text),
  }
}

let previousGroupCommit: GroupCommit | null = null

export function StoragePage() {
  useSignal(live)
  const loaded = useLoad(loadStorage, [live.snapshot?.timestamp ?? 0])
  const data = loaded.data
  const health = data?.health ?? {}
  const backend: Record<string, unknown> = { io: health.io, durable: health.durable, fsync: health.fsync, data: health.data, shards: health.shards }
  const settingsStorage = data?.settings?.storage
  return (
    <section aria-labelledby="storage-title">
      <h1 id="storage-title">Storage</h1>
      <Failure error={loaded.error} />
      <section class="panel" aria-labelledby="backend-title">
        <h2 id="backend-title">Backend</h2>
        <Details value={backend} />
      </section>
      <section class="panel" aria-labelledby="commit-title">
        <h2 id="commit-title">Group commit</h2>
        {data === null ? <p class="empty">Loading…</p> : data.groupCommit === null ? <p class="note">This server's /metrics has no group-commit figures (queued_io_*).</p> : <GroupCommitFigures now={data.groupCommit} />}
      </section>
      {data?.stats != null && <FlushHistograms stats={data.stats} />}
      <section class="panel" aria-labelledby="stats-title">
        <h2 id="stats-title">Log and checkpoints</h2>
        {data?.stats != null ? <Details value={withoutHistograms(data.stats)} /> : data?.statsError ? <p class="note">GET /storage/stats is not available: {data.statsError.message}</p> : <p class="empty">Loading…</p>}
      </section>
      {settingsStorage !== null && typeof settingsStorage === 'object' && (
        <section class="panel" aria-labelledby="storage-settings-title">
          <h2 id="storage-settings-title">Settings</h2>
          <Details value={settingsStorage as Record<string, unknown>} />
        </section>
      )}
    </section>
  )
}

function GroupCommitFigures(props: { now: GroupCommit }) {
  const now = props.now
  const before = previousGroupCommit !== null && previousGroupCommit.atMs < now.atMs && previousGroupCommit.syncs <= now.syncs ? previousGroupCommit : null
  if (previousGroupCommit === null || previousGroupCommit.atMs < now.atMs) previousGroupCommit = now
  const perCommit = (records: number, syncs: number) => (syncs === 0 ? '–' : (records / syncs).toFixed(1))
  const latency = (us: number, syncs: number) => (syncs === 0 ? '–' : `${Math.round(us / syncs)} µs`)
  const recent = before === null ? null : { syncs: now.syncs - before.syncs, records: now.records - before.records, us: now.syncUs - before.syncUs, seconds: (now.atMs - before.atMs) / 1000 }
  return (
    <KeyValues entries={[
      ['Commits (fdatasync or DSYNC write)', count(now.syncs)],
      ['Records committed', count(now.records)],
      ['Records per commit, average', perCommit(now.records, now.syncs)],
      ['Flush latency, average', latency(now.syncUs, now.syncs)],
      ['Bytes written', bytes(now.bytes)],
      [recent === null ? 'Last interval' : `Last ${duration(Math.round(recent.seconds * 1000))}`, recent === null ? 'after the next refresh' : `${count(recent.syncs)} commits, ${perCommit(recent.records, recent.syncs)} records each, ${latency(recent.us, recent.syncs)} per flush`],
    ]} />
  )
}

/** One histogram of /storage/stats: per-bucket (not cumulative) counts; `le` null is the +Inf bucket. */
type StatsHistogram = { count: number; sum: number; buckets: Array<{ le: number | null; count: number }> }

function isHistogram(value: unknown): value is StatsHistogram {
  return value !== null && typeof value === 'object' && Array.isArray((value as StatsHistogram).buckets)
}

const histogramKeys = ['flush_latency_seconds', 'flush_records']

function withoutHistograms(stats: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(stats).filter(([key]) => !histogramKeys.includes(key)))
}

/** Bucket labels `≤ bound` and, for the last, `> previous bound`. */
function bucketLabels(histogram: StatsHistogram, show: (bound: number) => string) {
  return histogram.buckets.map((bucket, i) => ({
    label: bucket.le === null ? `> ${show(histogram.buckets[i - 1]?.le ?? 0)}` : `≤ ${show(bucket.le)}`,
    count: bucket.count,
  }))
}

const latencyLabel = (seconds: number) => (seconds < 0.001 ? `${Math.round(seconds * 1e6)} µs` : seconds < 1 ? `${+(seconds * 1000).toFixed(2)} ms` : `${seconds} s`)

function FlushHistograms(props: { stats: Record<string, unknown> }) {
  const latency = props.stats.flush_latency_seconds
  const records = props.stats.flush_records
  if (!isHistogram(latency) || !isHistogram(records)) return null
  return (
    <section class="panel" aria-labelledby="flush-histograms-title">
      <h2 id="flush-histograms-title">Group-commit distributions</h2>
      <p class="note">{count(records.count)} flushes since start, all shards.</p>
      <Histogram title="Records per flush" buckets={bucketLabels(records, String)} />
      <Histogram title="Flush latency (write and barrier)" buckets={bucketLabels(latency, latencyLabel)} />
    </section>
  )
}
