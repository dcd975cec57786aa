/** @jsxImportSource hono/jsx/dom */
/**
 * Storage: io backend and durability mode (/health, /settings), and the store's own figures from
 * GET /storage/stats (segments, bytes, group-commit sizes, flush latency, last checkpoint).
 */
import { get } from '../api.ts'
import { live } from '../live.ts'
import { useSignal } from '../signal.ts'
import { Failure, useLoad } from '../ui.tsx'
import { Details } from './details.tsx'

type Loaded = { health: Record<string, unknown> | null; settings: Record<string, unknown> | null; stats: Record<string, unknown> | null; statsError: Error | null }

async function loadStorage(): Promise<Loaded> {
  const [health, settings, stats] = await Promise.allSettled([get<Record<string, unknown>>('/health'), get<Record<string, unknown>>('/settings'), get<Record<string, unknown>>('/storage/stats')])
  const value = <T,>(result: PromiseSettledResult<T>) => (result.status === 'fulfilled' ? result.value : null)
  return { health: value(health), settings: value(settings), stats: value(stats), statsError: stats.status === 'rejected' ? (stats.reason as Error) : null }
}

export function StoragePage() {
  useSignal(live)
  const loaded = useLoad(loadStorage, [live.snapshot?.timestamp ?? 0])
  const data = loaded.data
  const health = data?.health ?? {}
  const backend: Record<string, unknown> = {
    io: health.io,
    durable: health.durable,
    fsync: health.fsync,
    data: health.data,
    shards: health.shards,
  }
  const settingsStorage = data?.settings?.storage
  return (
    <section aria-labelledby="storage-title">
      <h1 id="storage-title">Storage</h1>
      <Failure error={loaded.error} />
      <section class="panel" aria-labelledby="backend-title">
        <h2 id="backend-title">Backend</h2>
        <Details value={backend} />
      </section>
      <section class="panel" aria-labelledby="stats-title">
        <h2 id="stats-title">Log and checkpoints</h2>
        {data?.stats != null ? <Details value={data.stats} /> : data?.statsError ? <p class="note">GET /storage/stats is not available: {data.statsError.message}</p> : <p class="empty">Loading…</p>}
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
