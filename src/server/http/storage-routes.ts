/**
 * Storage administration over HTTP (spec §5.7), replacing the reference's /sqlite/* and /s3/* routes:
 *
 *   GET  /storage/stats        segments, bytes on disk and live, commits, syncs, last checkpoint LSN and time
 *   GET  /storage/settings     group-commit caps, fsync mode, checkpoint policy
 *   POST /storage/settings     {checkpoint_interval_secs: n | null}: also checkpoint on a timer
 *   POST /storage/checkpoint   force a checkpoint on every shard, answer once they are in place
 *   GET  /storage/backup       stream a consistent online backup (storage/backup.ts), a ustar archive;
 *                              ?checkpoint=false skips the fresh checkpoint (bigger archive, no write)
 *   POST /storage/restore      replace the server's state with an uploaded backup (same shard count)
 *
 * Answers use the flashQ envelope, except the backup download.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Hono, type Context } from 'hono'
import { presets } from '../../base/config.ts'
import { httpBodyBytesMax, storageCheckpointIntervalSecsMax, storageRestoreBodyBytesMax } from '../../base/limits.ts'
import { usPerMs } from '../../base/units.ts'
import {
  BackupError, type Histogram, type ShardAdminResult, backupOf, histogramAdd, histogramCount, manifestShardCount, newHistogram,
  restoreFromFile, segmentCount,
} from '../../shard/storage-admin.ts'
import { readBodyBytes, readBodyText } from './body.ts'
import { moveDataDirLock } from '../../shard/data-dir-lock.ts'
import type { HttpDeps } from './deps.ts'
import { bodiesBusy, bodyErrors, HttpProblem } from './envelope.ts'
import { storageExposition } from './storage-metrics.ts'

const memoryError = 'Storage is disabled: the server runs with --memory'

export function createStorageApp(deps: HttpDeps): Hono {
  const { pool, config } = deps
  const app = new Hono()
  let checkpointIntervalSecs: number | null = null
  let checkpointTimer: ReturnType<typeof setInterval> | null = null
  let restoring = false
  deps.metricsProviders.push(async () => (config.memory ? '' : storageExposition(await pool.admin({ op: 'stats' }))))

  app.get('/storage/stats', async (c) => {
    if (config.memory) return ok(c, { enabled: false, shards: [] })
    const results = await pool.admin({ op: 'stats' })
    const shards = results.map((shard) => shardStats(config.dataDir, shard))
    const shardHistograms = results.flatMap((shard) => (shard.log === null ? [] : [shard.log.stats]))
    const total = (pick: (shard: ReturnType<typeof shardStats>) => number) => shards.reduce((sum, shard) => sum + pick(shard), 0)
    return ok(c, {
      enabled: true,
      path: path.resolve(config.dataDir),
      io: deps.health().io,
      segments: total((shard) => shard.segments),
      bytes_total: total((shard) => shard.bytes_total),
      bytes_written: total((shard) => shard.bytes_written),
      commits: total((shard) => shard.commits),
      syncs: total((shard) => shard.syncs),
      records: total((shard) => shard.records),
      flush_latency_seconds: histogramJson(shardHistograms.map((stats) => stats.flushSeconds)),
      flush_records: histogramJson(shardHistograms.map((stats) => stats.flushRecords)),
      shards,
    })
  })

  const settings = () => ({
    enabled: !config.memory,
    path: config.memory ? null : path.resolve(config.dataDir),
    sync: config.memory ? 'none' : config.fsync.kind === 'always' ? 'always' : `interval:${config.fsync.intervalMs}`,
    segment_bytes: presets[config.preset].segmentBytes,
    flush_bytes_max: presets[config.preset].flushBytesMax,
    // A flush starts as soon as the previous one is done; there is no linger window.
    linger_us: 0,
    checkpoint_trigger: 'log size (4 segments or twice the last checkpoint)',
    checkpoint_interval_secs: checkpointIntervalSecs,
  })
  app.get('/storage/settings', (c) => ok(c, settings()))
  app.post('/storage/settings', async (c) => {
    const body = await jsonObject(c)
    if (body instanceof Response) return body
    for (const field of Object.keys(body)) {
      if (field === 'checkpoint_interval_secs') continue
      if (field in settings()) return c.text(`field '${field}' cannot be changed at runtime (it is a start-up setting)`, 422)
    }
    if ('checkpoint_interval_secs' in body) {
      const value = body.checkpoint_interval_secs
      if (value !== null && (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > storageCheckpointIntervalSecsMax)) {
        return c.text(`field 'checkpoint_interval_secs' must be null or an integer from 1 to ${storageCheckpointIntervalSecsMax}`, 422)
      }
      if (config.memory && value !== null) return ok(c, null, memoryError)
      checkpointIntervalSecs = value as number | null
      if (checkpointTimer !== null) clearInterval(checkpointTimer)
      checkpointTimer = checkpointIntervalSecs === null ? null
        : setInterval(() => void pool.admin({ op: 'checkpoint' }), checkpointIntervalSecs * 1000)
      checkpointTimer?.unref()
    }
    return ok(c, settings())
  })

  app.post('/storage/checkpoint', async (c) => {
    if (config.memory) return ok(c, null, memoryError)
    const startedMs = performance.now()
    const shards = await pool.admin({ op: 'checkpoint' })
    const failed = shards.find((shard) => shard.log?.lastCheckpointError)
    if (failed !== undefined) return ok(c, null, `Checkpoint of shard ${failed.shardIndex} failed: ${failed.log?.lastCheckpointError}`)
    return ok(c, {
      duration_ms: Math.round(performance.now() - startedMs),
      shards: shards.map((shard) => ({ shard: shard.shardIndex, checkpoint_lsn: shard.log?.checkpointLsn ?? 0 })),
    })
  })

  app.get('/storage/backup', async (c) => {
    if (config.memory) return ok(c, null, memoryError)
    // A fresh checkpoint keeps the archive small: the segments before it are left out. With
    // ?checkpoint=false the newest existing checkpoint and every segment after it are copied instead.
    const checkpointFirst = !['false', '0'].includes(c.req.query('checkpoint') ?? '')
    if (checkpointFirst) await pool.admin({ op: 'checkpoint' })
    const chunks = backupOf(config.dataDir, pool.shardCount)
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await chunks.next()
        if (next.done) controller.close()
        else controller.enqueue(next.value)
      },
      async cancel() {
        await chunks.return(undefined)
      },
    })
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    return new Response(stream, {
      headers: { 'Content-Type': 'application/x-tar', 'Content-Disposition': `attachment; filename="flashq-backup-${stamp}.tar"` },
    })
  })

  app.post('/storage/restore', async (c) => {
    if (config.memory) return ok(c, null, memoryError)
    if (restoring) return ok(c, null, 'A restore is already running')
    const declared = Number(c.req.header('content-length') ?? 0)
    if (declared > storageRestoreBodyBytesMax) return c.text(uploadTooLarge, 413)
    restoring = true
    const dataDir = path.resolve(config.dataDir)
    const stamp = `${Date.now()}-${process.pid}`
    const upload = `${dataDir}.upload-${stamp}.tar`
    const staged = `${dataDir}.restore-${stamp}`
    const previous = `${dataDir}.before-restore-${stamp}`
    try {
      await Bun.write(upload, await readBodyBytes(c.req.raw, storageRestoreBodyBytesMax, { tooLarge: () => new HttpProblem(413, uploadTooLarge), busy: bodiesBusy }))
      const report = await restoreFromFile(upload, staged)
      const shardCount = manifestShardCount(staged)
      if (shardCount !== pool.shardCount) {
        return ok(c, null, `The backup has ${String(shardCount)} shards and this server runs ${pool.shardCount}: restore it with 'flashq restore <file> --data-dir <new dir>' and start a server there`)
      }
      try {
        await pool.reopen(async () => {
          moveDataDirLock(dataDir, staged)
          fs.renameSync(dataDir, previous)
          fs.renameSync(staged, dataDir)
        })
      } catch (error) {
        // The backup's logs did not recover (damaged inside): put the previous data back and serve it.
        await pool.reopen(async () => {
          fs.renameSync(dataDir, staged)
          fs.renameSync(previous, dataDir)
          moveDataDirLock(staged, dataDir)
        })
        return ok(c, null, `Restore failed, the previous state is served again: ${(error as Error).message}`)
      }
      fs.rmSync(previous, { recursive: true, force: true })
      return ok(c, { files: report.files, bytes: report.bytes, shards: report.shards })
    } catch (error) {
      if (error instanceof BackupError) return ok(c, null, `Restore failed: ${error.message}`)
      throw error
    } finally {
      fs.rmSync(upload, { force: true })
      fs.rmSync(staged, { recursive: true, force: true })
      restoring = false
    }
  })

  return app
}

function shardStats(dataDir: string, shard: ShardAdminResult) {
  const log = shard.log
  return {
    shard: shard.shardIndex,
    segments: segmentCount(dataDir, shard.shardIndex),
    bytes_total: log?.diskBytes ?? 0,
    bytes_live: log?.liveBytes ?? 0,
    bytes_written: log?.stats.writeBytes ?? 0,
    commits: log?.stats.writes ?? 0,
    syncs: log?.stats.syncs ?? 0,
    records: log?.stats.records ?? 0,
    appended_lsn: log?.appendedLsn ?? 0,
    durable_lsn: log?.durableLsn ?? 0,
    last_checkpoint_lsn: log?.checkpointLsn ?? 0,
    last_checkpoint_at: log && log.stats.lastCheckpointAtMs > 0 ? new Date(log.stats.lastCheckpointAtMs).toISOString() : null,
    last_checkpoint_duration_ms: log ? log.stats.lastCheckpointUs / usPerMs : 0,
    checkpoint_duration_ms_total: log ? log.stats.checkpointUs / usPerMs : 0,
    last_checkpoint_error: log?.lastCheckpointError ?? null,
    disk_full: log?.diskFull ?? false,
  }
}

/**
 * A histogram summed over shards: `buckets` pairs each inclusive upper bound (`le`, null = +Inf)
 * with the observations in that bucket alone (not cumulative, unlike Prometheus).
 */
function histogramJson(histograms: Histogram[]) {
  const total = newHistogram(histograms[0]?.bounds ?? [])
  for (const histogram of histograms) histogramAdd(total, histogram)
  const buckets = total.counts.map((count, i) => ({ le: total.bounds[i] ?? null, count }))
  return { count: histogramCount(total), sum: total.sum, buckets }
}

const uploadTooLarge = `backup too large for an upload (max ${storageRestoreBodyBytesMax} bytes): use flashq restore <file> --data-dir <dir>`

function ok(c: Context, data: unknown, error?: string): Response {
  return error === undefined ? c.json({ ok: true, data }) : c.json({ ok: false, error })
}

async function jsonObject(c: Context): Promise<Record<string, unknown> | Response> {
  const type = c.req.header('content-type')
  if (type !== undefined && !/^application\/json\b/i.test(type)) return c.text(`unsupported Content-Type '${type}': expected application/json`, 415)
  const text = await readBodyText(c.req.raw, httpBodyBytesMax, bodyErrors)
  if (text.trim() === '') return {}
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (error) {
    return c.text(`malformed JSON body: ${(error as Error).message}`, 400)
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return c.text('the request body must be a JSON object', 422)
  return body as Record<string, unknown>
}
