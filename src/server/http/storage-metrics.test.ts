import { expect, test } from 'bun:test'
import type { ShardAdminResult } from '../../shard/storage-admin.ts'
import { flushRecordsBounds, newHistogram, observe } from '../../storage/histogram.ts'
import { newLogStats } from '../../storage/types.ts'
import { histogramText, storageExposition } from './storage-metrics.ts'

test('histogram text: cumulative buckets, +Inf equals _count, shards added together', () => {
  const a = newHistogram([1, 10])
  const b = newHistogram([1, 10])
  observe(a, 1)
  observe(a, 5)
  observe(b, 50)
  expect(histogramText('x', 'help.', [a, b])).toBe([
    '# HELP x help.', '# TYPE x histogram',
    'x_bucket{le="1"} 1', 'x_bucket{le="10"} 2', 'x_bucket{le="+Inf"} 3', 'x_sum 56', 'x_count 3', '',
  ].join('\n'))
})

test('flashq_storage_* families: per-shard counters, histograms summed; nothing without a log', () => {
  const shard = (index: number, records: number): ShardAdminResult => {
    const stats = newLogStats()
    stats.writes = 1
    stats.records = records
    stats.flushRecords = newHistogram(flushRecordsBounds)
    observe(stats.flushRecords, records)
    return { shardIndex: index, log: { stats } as NonNullable<ShardAdminResult['log']> }
  }
  const text = storageExposition([shard(0, 3), shard(1, 5)])
  expect(text).toContain('flashq_storage_records_total{shard="0"} 3\nflashq_storage_records_total{shard="1"} 5\n')
  expect(text).toContain('flashq_storage_flush_records_sum 8\nflashq_storage_flush_records_count 2\n')
  expect(text).toContain('flashq_storage_flush_records_bucket{le="4"} 1\n')
  expect(storageExposition([{ shardIndex: 0, log: null }])).toBe('')
})
