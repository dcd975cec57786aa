/** @jsxImportSource hono/jsx/dom */
/** Server: version, uptime, configuration (GET /settings), process figures and connections (live snapshot). */
import { get } from '../api.ts'
import { duration } from '../format.ts'
import { live } from '../live.ts'
import { useSignal } from '../signal.ts'
import { Failure, useLoad } from '../ui.tsx'
import { Details } from './details.tsx'

export function ServerPage() {
  useSignal(live)
  const settings = useLoad(() => get<Record<string, unknown>>('/settings'), [])
  const health = useLoad(() => get<Record<string, unknown>>('/health'), [live.snapshot?.timestamp ?? 0])
  const system = live.snapshot?.system_metrics
  const uptimeMs = typeof health.data?.uptime_ms === 'number' ? health.data.uptime_ms : null
  return (
    <section aria-labelledby="server-title">
      <h1 id="server-title">Server</h1>
      <Failure error={settings.error ?? health.error} />
      <section class="panel" aria-labelledby="identity-title">
        <h2 id="identity-title">flashq {String(settings.data?.version ?? health.data?.version ?? '')}</h2>
        <p>Status <b>{String(health.data?.status ?? '–')}</b>{uptimeMs !== null && <>, up {duration(uptimeMs)}</>}</p>
      </section>
      {system !== undefined && (
        <section class="panel" aria-labelledby="process-title">
          <h2 id="process-title">Process and connections</h2>
          <Details value={system} />
        </section>
      )}
      {settings.data !== null && (
        <section class="panel" aria-labelledby="config-title">
          <h2 id="config-title">Configuration</h2>
          <Details value={settings.data} />
        </section>
      )}
    </section>
  )
}
