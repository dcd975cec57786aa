/**
 * The queued_* Prometheus families (queued-api.md §4): operation counters kept here in the front,
 * gauges from the shards (QUEUED_STATS) and the group-commit figures of every shard's log.
 * Server-wide totals, no labels, no timestamps, no `_total` suffix (queued's names).
 */
import { commitLatencyBucketsSeconds, type ShardAdminResult } from '../../../shard/storage-admin.ts'

export class QueuedCounters {
  successful_push = 0
  successful_poll = 0
  successful_delete = 0
  successful_update = 0
  empty_poll = 0
  missing_delete = 0
  missing_update = 0
  suspended_push = 0
  suspended_poll = 0
  suspended_delete = 0
  suspended_update = 0
  throttled_poll = 0
}

export type QueuedGauges = { available: number; visible: number; invisible: number }

type Family = { name: string; type: 'counter' | 'gauge'; help: string; value: number }

const counterHelp: Record<keyof QueuedCounters, string> = {
  successful_push: 'Messages accepted by /push (single or batch).',
  successful_poll: 'Messages delivered by /poll.',
  successful_delete: 'Messages deleted.',
  successful_update: 'Successful /update requests.',
  empty_poll: 'Polls that found no visible message.',
  missing_delete: 'Deletes (or batch items) whose message was absent or whose tag was not current.',
  missing_update: 'Updates whose message was absent or whose tag was not current.',
  suspended_push: 'Push requests rejected with 503 because the endpoint is suspended.',
  suspended_poll: 'Poll requests rejected with 503 because the endpoint is suspended.',
  suspended_delete: 'Delete requests rejected with 503 because the endpoint is suspended.',
  suspended_update: 'Update requests rejected with 503 because the endpoint is suspended.',
  throttled_poll: 'Polls rejected with 429 by the throttle.',
}

/** Prometheus text of every queued_* family. `shards` are the storage figures (empty in --memory mode). */
export function queuedExposition(counters: QueuedCounters, gauges: QueuedGauges, shards: ShardAdminResult[]): string {
  const families: Family[] = []
  for (const name of Object.keys(counterHelp) as Array<keyof QueuedCounters>) {
    families.push({ name, type: 'counter', help: counterHelp[name], value: counters[name] })
  }
  families.push(
    { name: 'available', type: 'gauge', help: 'Messages stored (visible or invisible) in queues used through the queued API.', value: gauges.available },
    { name: 'visible', type: 'gauge', help: 'Of those, the messages visible now.', value: gauges.visible },
    { name: 'invisible', type: 'gauge', help: 'Of those, the messages invisible now (leased or delayed).', value: gauges.invisible },
  )
  for (const family of ioFamilies(shards)) families.push(family)
  let text = ''
  for (const family of families) {
    const name = `queued_${family.name}`
    text += `# HELP ${name} ${family.help}\n# TYPE ${name} ${family.type}\n${name} ${family.value}\n`
  }
  return text + commitLatencyHistogram(shards)
}

/** queued_io_commit_latency_seconds: each waiter's time from being held until durable (§4.4 extension). */
function commitLatencyHistogram(shards: ShardAdminResult[]): string {
  const name = 'queued_io_commit_latency_seconds'
  const counts: number[] = new Array(commitLatencyBucketsSeconds.length + 1).fill(0)
  let sumSeconds = 0
  for (const shard of shards) {
    if (shard.log === null) continue
    shard.log.wait.latencyBuckets.forEach((count, i) => (counts[i] = (counts[i] as number) + count))
    sumSeconds += shard.log.wait.latencySumSeconds
  }
  let text = `# HELP ${name} Time each request waited for its records to become durable.\n# TYPE ${name} histogram\n`
  let cumulative = 0
  commitLatencyBucketsSeconds.forEach((bound, i) => {
    cumulative += counts[i] as number
    text += `${name}_bucket{le="${bound}"} ${cumulative}\n`
  })
  cumulative += counts[commitLatencyBucketsSeconds.length] as number
  text += `${name}_bucket{le="+Inf"} ${cumulative}\n${name}_sum ${sumSeconds}\n${name}_count ${cumulative}\n`
  return text
}

/** The shared log's group-commit figures (§4.4), summed over shards. */
function ioFamilies(shards: ShardAdminResult[]): Family[] {
  const sum = (pick: (log: NonNullable<ShardAdminResult['log']>) => number) =>
    Math.round(shards.reduce((total, shard) => total + (shard.log === null ? 0 : pick(shard.log)), 0))
  const syncs = sum((log) => log.stats.syncs)
  const cutByBytes = sum((log) => log.stats.flushesCutByBytes)
  const counter = (name: string, help: string, value: number): Family => ({ name, type: 'counter', help, value })
  return [
    counter('io_write', 'Write submissions to the log.', sum((log) => log.stats.writes)),
    counter('io_write_bytes', 'Bytes written to the log, record headers included.', sum((log) => log.stats.writeBytes)),
    counter('io_write_us', 'Microseconds from write submission to completion, summed.', sum((log) => log.stats.writeUs)),
    counter('io_sync', 'Completed durability barriers (group commits).', syncs),
    counter('io_sync_us', 'Microseconds from barrier submission to completion, summed (a DSYNC write counts whole).', sum((log) => log.stats.syncUs)),
    counter('io_sync_delayed', 'Requests released by commits, each counted once.', sum((log) => log.wait.released)),
    counter('io_sync_longest_delay_us', "Sum over commits of how long the commit's oldest waiter waited before the commit was issued.", sum((log) => log.wait.longestDelayUs)),
    counter('io_sync_shortest_delay_us', "Sum over commits of how long the commit's newest waiter waited before the commit was issued.", sum((log) => log.wait.shortestDelayUs)),
    counter('io_sync_triggered_by_bytes', 'Commits cut because the pending batch reached its byte cap.', cutByBytes),
    counter('io_sync_triggered_by_time', 'Every other commit (started because the log was idle or the previous commit completed).', Math.max(0, syncs - cutByBytes)),
    counter('io_sync_background_loops', 'Iterations of the group-commit loop, including turns that found nothing to commit.', sum((log) => log.stats.flushLoops)),
    counter('io_sync_lock_holds', 'Entries into the section that appends a batch of records to the pending buffer.', sum((log) => log.wait.appendBatches)),
    counter('io_sync_lock_hold_us', 'Microseconds spent appending to the pending buffer, summed.', sum((log) => log.wait.appendUs)),
    counter('io_sync_records', 'Records committed.', sum((log) => log.stats.records)),
    counter('io_write_padding_bytes', 'Alignment padding written (commits are not padded).', 0),
  ]
}
