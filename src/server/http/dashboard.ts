/**
 * Aggregate views built from several commands: the `/ws/dashboard` snapshot (the dashboard's only
 * source of queues, stats, workers and crons), `/system/metrics`, and metrics-history samples.
 */
import { freemem, totalmem } from 'node:os'
import type { Reply } from './call.ts'
import type { HttpDeps } from './deps.ts'
import type { HistoryPoint } from './live-state.ts'
import { ask } from './run.ts'

const withoutOk = (reply: Reply) => {
  const { ok: _ok, ...rest } = reply
  return rest
}

export async function dashboardSnapshot(deps: HttpDeps): Promise<Record<string, unknown>> {
  const [stats, metrics, queues, crons] = await Promise.all([
    ask(deps, null, { cmd: 'STATS' }),
    ask(deps, null, { cmd: 'METRICS' }),
    ask(deps, null, { cmd: 'LISTQUEUES' }),
    ask(deps, null, { cmd: 'CRONLIST' }),
  ])
  const nowMs = Date.now()
  return {
    stats: stats.ok ? withoutOk(stats) : null,
    metrics: metrics.ok ? metrics.metrics : null,
    queues: queues.ok ? queues.queues : [],
    workers: deps.workers.active(nowMs),
    crons: crons.ok ? (crons.crons as Array<Record<string, unknown>>).map(cronView) : [],
    metrics_history: deps.history.list(),
    system_metrics: systemMetrics(deps),
    sqlite_stats: null,
    storage_stats: storageStats(deps),
    timestamp: nowMs,
  }
}

/** The dashboard reads `enabled`, `last_run` and `next_run` besides the CRONLIST fields. */
export function cronView(cron: Record<string, unknown>): Record<string, unknown> {
  return { enabled: true, last_run: null, ...cron }
}

let lastCpu = process.cpuUsage()
let lastCpuAtMs = Date.now()

export function systemMetrics(deps: HttpDeps): Record<string, unknown> {
  const memory = process.memoryUsage()
  const nowMs = Date.now()
  const cpu = process.cpuUsage(lastCpu)
  const elapsedUs = Math.max(1, (nowMs - lastCpuAtMs) * 1000)
  lastCpu = process.cpuUsage()
  lastCpuAtMs = nowMs
  const totalBytes = totalmem()
  const mb = (bytes: number) => Math.round((bytes / 1048576) * 100) / 100
  return {
    memory_used_mb: mb(memory.rss),
    memory_total_mb: mb(totalBytes),
    memory_percent: Math.round((memory.rss / totalBytes) * 10000) / 100,
    memory_free_mb: mb(freemem()),
    heap_used_mb: mb(memory.heapUsed),
    cpu_percent: Math.round(((cpu.user + cpu.system) / elapsedUs) * 10000) / 100,
    tcp_connections: deps.tcpConnections(),
    uptime_seconds: Math.floor((nowMs - deps.startedAtMs) / 1000),
    process_id: process.pid,
  }
}

export function storageStats(deps: HttpDeps): Record<string, unknown> {
  const config = deps.config
  return {
    enabled: !config.memory,
    path: config.memory ? null : config.dataDir,
    sync: config.memory ? 'none' : config.fsync.kind === 'always' ? 'always' : `interval:${config.fsync.intervalMs}`,
    shards: deps.pool.shardCount,
  }
}

/** One metrics-history point, from STATS and METRICS at this moment. */
export async function sampleHistory(deps: HttpDeps): Promise<HistoryPoint | null> {
  const [stats, metrics] = await Promise.all([ask(deps, null, { cmd: 'STATS' }), ask(deps, null, { cmd: 'METRICS' })])
  if (!stats.ok || !metrics.ok) return null
  const data = metrics.metrics as Record<string, number>
  return {
    timestamp: Date.now(),
    queued: Number(stats.queued) || 0,
    processing: Number(stats.processing) || 0,
    completed: Number(data.total_completed) || 0,
    failed: Number(data.total_failed) || 0,
    throughput: round2(Number(data.jobs_per_second) || 0),
    latency_ms: round2(Number(data.avg_latency_ms) || 0),
  }
}

export const round2 = (value: number) => Math.round(value * 100) / 100
