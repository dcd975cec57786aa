/**
 * What every HTTP sub-app gets: the same Front and shard pool as TCP, the event hub, the config and a
 * few server facts. Sub-apps (routes-*.ts here; the queued API, webhooks and storage routes of other
 * files) are plain Hono apps built from these and mounted by app.ts.
 */
import type { Config } from '../../base/config.ts'
import type { EventHub } from '../events.ts'
import type { Front } from '../front.ts'
import type { ShardPool } from '../shard-pool.ts'
import type { MetricsHistory, WorkerRegistry } from './live-state.ts'

/**
 * Prometheus text contributed by a sub-app: whole families, each with its HELP and TYPE lines.
 * `leading` ones come before the flashq_* families (the queued_* families: queued-api.md §3.8).
 */
export type MetricsProvider = (() => string | Promise<string>) & { leading?: boolean }

export type HttpDeps = {
  front: Front
  hub: EventHub
  pool: ShardPool
  config: Config
  version: string
  startedAtMs: number
  /** The health facts of /health (status, io, fsync, …). */
  health: () => Record<string, unknown>
  /** Open TCP connections (for /system/metrics). */
  tcpConnections: () => number
  tcpPort: () => number
  httpPort: () => number
  /** Extra Prometheus families (queued_*, storage); in registration order, leading ones first. */
  metricsProviders: MetricsProvider[]
  /** `POST /server/shutdown` (exit 0) and `/server/restart` (exit 100): a graceful stop. */
  requestStop: (exitCode: number) => void
  workers: WorkerRegistry
  history: MetricsHistory
}
