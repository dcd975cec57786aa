/**
 * `flashq inspect <data-dir> [--json]`: what a data directory holds, read-only (it never writes, so it
 * is safe beside a running server or on a copy). Per shard: segments and checkpoints on disk, what
 * recovery would do (torn tail, or corruption with file and offset), record counts by type, and the
 * jobs a start would load, by state. Exit code 1 when any shard is corrupt, so scripts can check.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Engine } from '../engine/engine.ts'
import { PwriteBackend } from '../io/pwrite.ts'
import { stateOf } from '../engine/job.ts'
import type { LogRecord } from '../engine/types.ts'
import { checkpointFileName, listDirectory, segmentFileName } from '../storage/directory.ts'
import { LogCorruptionError } from '../storage/errors.ts'
import { manifestFileName } from '../storage/manifest.ts'
import { recoverDirectory, type RecoveredLog } from '../storage/recovery.ts'
import { UsageError } from './args.ts'

export type ShardInspection = {
  shard: number
  dir: string
  segments: { file: string; bytes: number }[]
  checkpoint: { file: string; lsn: number; bytes: number; writtenAt: string } | null
  lastLsn: number
  /** `file@offset` of a torn tail the next start will cut (normal after a crash), or null. */
  tornTail: string | null
  /** Damage that stops a start without --repair: file, offset and reason. */
  corruption: { file: string; offset: number; reason: string; dropsWithRepair: string[] } | null
  records: { checkpoint: Record<string, number>; log: Record<string, number> }
  jobs: Record<string, number>
  queues: number
  leftoverTemporaries: string[]
}

export type Inspection = { dataDir: string; manifest: Record<string, unknown> | null; manifestError: string | null; shards: ShardInspection[] }

export function inspectDataDir(dataDir: string, nowMs = Date.now()): Inspection {
  if (!existsSync(dataDir)) throw new UsageError(`inspect: ${dataDir} does not exist`)
  let manifest: Record<string, unknown> | null = null
  let manifestError: string | null = null
  try {
    manifest = JSON.parse(readFileSync(join(dataDir, manifestFileName), 'utf8')) as Record<string, unknown>
  } catch (error) {
    manifestError = `${manifestFileName}: ${(error as Error).message}`
  }
  const shardDirs = readdirSync(dataDir).filter((name) => /^shard-\d+$/.test(name)).sort()
  const shardCount = typeof manifest?.shardCount === 'number' ? manifest.shardCount : shardDirs.length
  const shards = shardDirs.map((name) => inspectShard(join(dataDir, name), Number(name.slice(6)), shardCount, nowMs))
  return { dataDir, manifest, manifestError, shards }
}

/** inspect only reads: the plain synchronous backend is enough, whatever the server runs on. */
const readIo = new PwriteBackend(null)

function inspectShard(dir: string, shard: number, shardCount: number, nowMs: number): ShardInspection {
  const listing = listDirectory(readIo, dir)
  let recovered: RecoveredLog
  let corruption: ShardInspection['corruption'] = null
  try {
    recovered = recoverDirectory(readIo, dir, false)
  } catch (error) {
    if (!(error instanceof LogCorruptionError)) throw error
    // What a start with --repair would keep: everything valid before the damage.
    recovered = recoverDirectory(readIo, dir, true)
    corruption = { file: error.file, offset: error.offset, reason: error.reason, dropsWithRepair: recovered.repaired }
  }
  const checkpointLsn = recovered.checkpointLsn
  const checkpointFile = join(dir, checkpointFileName(checkpointLsn))
  const engine = new Engine({ shardIndex: shard, shardCount, recordsEnabled: false })
  const records = { checkpoint: countTypes(recovered.checkpointBodies, engine), log: countTypes(recovered.tailBodies, engine) }
  engine.finishReplay(nowMs)
  const jobs: Record<string, number> = {}
  const queues = new Set<string>()
  for (const job of engine.core.jobs.values()) {
    const state = stateOf(job, nowMs)
    jobs[state] = (jobs[state] ?? 0) + 1
    queues.add(job.queue)
  }
  return {
    shard,
    dir,
    segments: listing.segments.map((lsn) => {
      const file = join(dir, segmentFileName(lsn))
      return { file, bytes: statSync(file).size }
    }),
    checkpoint: checkpointLsn === 0 || !existsSync(checkpointFile) ? null : {
      file: checkpointFile,
      lsn: checkpointLsn,
      bytes: recovered.checkpointFileBytes,
      writtenAt: statSync(checkpointFile).mtime.toISOString(),
    },
    lastLsn: recovered.lastLsn,
    tornTail: recovered.truncatedTail,
    corruption,
    records,
    jobs,
    queues: queues.size,
    leftoverTemporaries: listing.temporaries,
  }
}

/** Counts records by their `t` and replays them into `engine` (in order: checkpoint, then log). */
function countTypes(bodies: Uint8Array[], engine: Engine): Record<string, number> {
  const decoder = new TextDecoder()
  const counts: Record<string, number> = {}
  for (const body of bodies) {
    const record = JSON.parse(decoder.decode(body)) as LogRecord
    const type = typeof record.t === 'string' ? record.t : '?'
    counts[type] = (counts[type] ?? 0) + 1
    engine.replay(record)
  }
  return counts
}

export function formatInspection(inspection: Inspection): string {
  const lines = [`data directory ${inspection.dataDir}`]
  if (inspection.manifest !== null) {
    const m = inspection.manifest
    lines.push(`manifest: format ${m.formatVersion}, ${m.shardCount} shards, frames v${m.frameVersion}, created ${m.createdAt}`)
  } else lines.push(`manifest: MISSING OR UNREADABLE (${inspection.manifestError})`)
  const totals: Record<string, number> = {}
  for (const shard of inspection.shards) {
    const diskBytes = shard.segments.reduce((sum, segment) => sum + segment.bytes, 0) + (shard.checkpoint?.bytes ?? 0)
    lines.push('', `shard ${shard.shard} (${shard.dir}): ${shard.segments.length} segments, ${mib(diskBytes)} on disk, last LSN ${shard.lastLsn}`)
    for (const segment of shard.segments) lines.push(`  segment ${segment.file} ${mib(segment.bytes)}`)
    lines.push(shard.checkpoint === null ? '  last checkpoint: none (the whole log is replayed)'
      : `  last checkpoint: LSN ${shard.checkpoint.lsn}, ${mib(shard.checkpoint.bytes)}, written ${shard.checkpoint.writtenAt} (${shard.checkpoint.file})`)
    lines.push(`  records in checkpoint: ${formatCounts(shard.records.checkpoint, recordNames)}`)
    lines.push(`  records in log after it: ${formatCounts(shard.records.log, recordNames)}`)
    lines.push(`  jobs: ${formatCounts(shard.jobs)} in ${shard.queues} queues`)
    if (shard.tornTail !== null) lines.push(`  torn tail at ${shard.tornTail} (normal after a crash: the next start cuts it)`)
    if (shard.corruption !== null) {
      const c = shard.corruption
      lines.push(`  CORRUPT at ${c.file}@${c.offset}: ${c.reason}`)
      lines.push('  a start refuses this log; --repair would keep what is above and drop:')
      for (const drop of c.dropsWithRepair) lines.push(`    ${drop}`)
    }
    if (shard.leftoverTemporaries.length > 0) lines.push(`  temporary files (spare segments, unfinished checkpoints; the next start removes them): ${shard.leftoverTemporaries.join(', ')}`)
    for (const [state, count] of Object.entries(shard.jobs)) totals[state] = (totals[state] ?? 0) + count
  }
  const corrupt = inspection.shards.filter((shard) => shard.corruption !== null).length
  lines.push('', `all shards: jobs ${formatCounts(totals)}; ${corrupt === 0 ? 'no corruption' : `${corrupt} CORRUPT shard(s)`}`)
  return `${lines.join('\n')}\n`
}

/** Record type `t` → what it means (engine/records.ts has the full table). */
const recordNames: Record<string, string> = {
  j: 'job', a: 'ack', f: 'retry', x: 'dlq', rm: 'removed', pr: 'progress', cp: 'priority', md: 'delay', pm: 'promote',
  u: 'update', par: 'parent', fq: 'flow-request', fci: 'flow-created', rd: 'dlq-retry', dc: 'discard', l: 'job-log',
  hb: 'heartbeat', st: 'stall', dd: 'dependency-done', cd: 'child-done', w: 'watch', wd: 'watch-done', qs: 'queue-setting',
  seq: 'sequence', res: 'result', logs: 'job-logs', deb: 'debounce',
}

function formatCounts(counts: Record<string, number>, names: Record<string, string> = {}): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b))
  const label = (key: string) => (names[key] === undefined ? key : `${names[key]}(${key})`)
  return entries.length === 0 ? 'none' : entries.map(([key, count]) => `${label(key)}=${count}`).join(' ')
}

function mib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/** `flashq inspect <data-dir> [--json]`. */
export function runInspect(argv: string[]): void {
  const json = argv.includes('--json')
  const rest = argv.filter((arg) => arg !== '--json')
  if (rest.length !== 1 || rest[0]!.startsWith('-')) throw new UsageError('usage: flashq inspect <data-dir> [--json]')
  const inspection = inspectDataDir(rest[0]!)
  process.stdout.write(json ? `${JSON.stringify(inspection, null, 2)}\n` : formatInspection(inspection))
  if (inspection.shards.some((shard) => shard.corruption !== null)) process.exitCode = 1
}
