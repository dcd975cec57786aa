/**
 * The flashq_storage_* Prometheus families (issue 9): the log's own flush, commit-size and
 * checkpoint figures. Counters carry a `shard` label; the two histograms are summed over shards
 * (per-shard buckets would multiply the series for little use).
 */
import {
  type Histogram, type ShardAdminResult, histogramAdd, histogramCount, newHistogram,
} from '../../shard/storage-admin.ts'
import { msPerSecond, usPerMs } from '../../base/units.ts'

type LogStats = NonNullable<ShardAdminResult['log']>['stats']
type ShardLogStats = { shard: number; stats: LogStats }

const usPerSecond = usPerMs * msPerSecond

/** Prometheus text of every flashq_storage_* family (nothing in --memory mode: no shard has a log). */
export function storageExposition(shards: ShardAdminResult[]): string {
  const logs: ShardLogStats[] = []
  for (const shard of shards) if (shard.log !== null) logs.push({ shard: shard.shardIndex, stats: shard.log.stats })
  if (logs.length === 0) return ''
  const perShard = (name: string, type: 'counter' | 'gauge', help: string, pick: (stats: LogStats) => number) => {
    let text = `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`
    for (const log of logs) text += `${name}{shard="${log.shard}"} ${pick(log.stats)}\n`
    return text
  }
  return [
    perShard('flashq_storage_flushes_total', 'counter', 'Group commits: writes of pending records to the log.', (stats) => stats.writes),
    perShard('flashq_storage_syncs_total', 'counter', 'Durability barriers completed (DSYNC writes or fdatasyncs).', (stats) => stats.syncs),
    perShard('flashq_storage_records_total', 'counter', 'Records made durable.', (stats) => stats.records),
    perShard('flashq_storage_written_bytes_total', 'counter', 'Bytes written to the log, record headers included.', (stats) => stats.writeBytes),
    perShard('flashq_storage_checkpoints_total', 'counter', 'Checkpoints completed.', (stats) => stats.checkpoints),
    perShard('flashq_storage_checkpoint_duration_seconds_total', 'counter', 'Time spent writing checkpoints, summed.', (stats) => stats.checkpointUs / usPerSecond),
    perShard('flashq_storage_last_checkpoint_duration_seconds', 'gauge', 'Duration of the last completed checkpoint (0 = none since start).', (stats) => stats.lastCheckpointUs / usPerSecond),
    histogramText('flashq_storage_flush_latency_seconds', 'Time of each group commit: its write, and its barrier in fsync mode always.', logs.map((log) => log.stats.flushSeconds)),
    histogramText('flashq_storage_flush_records', 'Records per group commit.', logs.map((log) => log.stats.flushRecords)),
  ].join('')
}

/** One histogram family, the shards' histograms (same bounds) added together. */
export function histogramText(name: string, help: string, histograms: Histogram[]): string {
  const total = newHistogram((histograms[0] as Histogram).bounds)
  for (const histogram of histograms) histogramAdd(total, histogram)
  let text = `# HELP ${name} ${help}\n# TYPE ${name} histogram\n`
  let cumulative = 0
  total.bounds.forEach((bound, i) => {
    cumulative += total.counts[i] as number
    text += `${name}_bucket{le="${bound}"} ${cumulative}\n`
  })
  text += `${name}_bucket{le="+Inf"} ${histogramCount(total)}\n${name}_sum ${total.sum}\n${name}_count ${histogramCount(total)}\n`
  return text
}
