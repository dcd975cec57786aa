/**
 * `flashq [serve]`: resolves the shard count against the data directory's manifest, starts the
 * server, prints one start-up line, and stops cleanly on SIGINT/SIGTERM (flushing every log).
 */
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../base/config.ts'
import { defaultShardCount, defaultWorkerCount } from '../base/config.ts'
import { PwriteBackend } from '../io/pwrite.ts'
import { manifestFileName, openManifest } from '../storage/manifest.ts'
import { lockDataDir } from '../shard/data-dir-lock.ts'
import { startServer } from '../server/server.ts'
import { lowerCompilerThreads } from './compiler-nice.ts'
import { ioBlocksThread, ioUnavailableReason } from '../io/pick.ts'
import { UsageError, envNotes } from './args.ts'
import { version } from './version.ts'
import { sdNotify } from './sd-notify.ts'
import { configureLog, log, type LogFields } from '../base/log.ts'

export async function serve(config: Config, workerUrl: string): Promise<void> {
  configureLog(config)
  for (const note of envNotes(process.env)) log.warn('start', note)
  // A forced --io that cannot run stops the start here, with its reason, before any worker starts.
  const ioProblem = config.memory ? null : ioUnavailableReason(config.io)
  if (ioProblem !== null) throw new Error(`--io ${config.io}: ${ioProblem}`)
  if (!config.memory) {
    mkdirSync(config.dataDir, { recursive: true })
    // Before anything reads or writes the directory (the manifest, the warm-up's scratch logs).
    const lockProblem = lockDataDir(config.dataDir)
    if (lockProblem !== null) log.warn('start', lockProblem)
  }
  const shardCount = await resolveShardCount(config)
  const workerCount = config.workers ?? defaultWorkerCount(shardCount, !config.memory && ioBlocksThread(config.io))
  if (workerCount > shardCount) throw new UsageError(`--workers ${workerCount} is more than the ${shardCount} shards`)
  const startedMs = performance.now()
  const server = await startServer(config, { shardCount, workerCount, workerUrl, version })
  const niced = lowerCompilerThreads(config.compilerNice)
  if (niced.error !== null) log.warn('compiler-nice', `JIT compiler threads keep their priority: ${niced.error}`)
  // Spec §6: stop accepting, wait up to the grace period for active jobs, then flush and stop. A
  // second signal skips the wait (every acknowledged change is on disk either way).
  let signals = 0
  let stoppingMs = 0
  const stop = async (signal: string) => {
    if (++signals > 1) return finish()
    stoppingMs = performance.now()
    sdNotify('STOPPING=1')
    log.info('stop', `${signal}: stopping; waiting up to ${config.shutdownGraceMs} ms for active jobs (signal again to skip)`)
    const active = await server.drain(config.shutdownGraceMs)
    const fate = config.memory ? 'lost (in-memory server)' : 'waiting again after a restart'
    if (active > 0) log.warn('stop', `${active} jobs still active; they will be ${fate}`)
    await finish()
  }
  let finishing: Promise<never> | null = null
  const finish = () => (finishing ??= server.stop().then(() => {
    log.info('stop', config.memory ? 'stopped' : 'stopped: every log flushed', { stop_ms: Math.round(performance.now() - stoppingMs) })
    process.exit(0)
  }))
  // Installed before the start-up line: a supervisor may signal as soon as it reads it.
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  // `POST /server/shutdown` exits 0, `/server/restart` exits 100 (a supervisor restarts the process).
  server.onStopRequest((exitCode) => {
    if (signals++ > 0) return
    void server.drain(config.shutdownGraceMs).then(() => server.stop()).then(() => process.exit(exitCode))
  })
  // Recovery notes first: whoever waits for the start-up line has seen them by then.
  for (const { shardIndex, report } of server.ready.shards) {
    if (report === null) continue
    log.info('recovery', `shard ${shardIndex}: replayed ${report.recordsReplayed} records`, { shard: shardIndex, checkpoint_lsn: report.checkpointLsn, last_lsn: report.lastLsn })
    if (report.truncatedTail) log.warn('recovery', `shard ${shardIndex}: truncated torn tail at ${report.truncatedTail}`, { shard: shardIndex })
    for (const line of report.repaired) log.warn('recovery', `shard ${shardIndex}: --repair ${line}`, { shard: shardIndex })
    for (const line of report.notes) log.warn('recovery', `shard ${shardIndex}: ${line}`, { shard: shardIndex })
  }
  const fields: LogFields = { startup_ms: Math.round(performance.now() - startedMs) }
  if (server.warmupMs !== null) fields.warmup_ms = Math.round(server.warmupMs)
  log.startup(server.startupLine, fields)
  // Under systemd (Type=notify) the unit becomes active only now, when clients can connect.
  const notifyProblem = sdNotify(`READY=1\nSTATUS=${server.startupLine}`)
  if (notifyProblem !== null) log.warn('start', `cannot tell systemd we are ready: ${notifyProblem}`)
}

/**
 * An explicit --shards must match the data directory (openManifest refuses otherwise); without it an
 * existing directory keeps its own count, so moving data to a machine with more cores just works.
 */
async function resolveShardCount(config: Config): Promise<number> {
  if (config.memory) return config.shards ?? defaultShardCount()
  const wanted = config.shards ?? existingShardCount(config.dataDir) ?? defaultShardCount()
  // The manifest is written once, before any shard starts: the blocking backend is enough here.
  return (await openManifest(new PwriteBackend(null), config.dataDir, wanted)).shardCount
}

function existingShardCount(dataDir: string): number | null {
  try {
    const manifest = JSON.parse(readFileSync(join(dataDir, manifestFileName), 'utf8')) as { shardCount?: unknown }
    return typeof manifest.shardCount === 'number' ? manifest.shardCount : null
  } catch {
    return null // no manifest yet (or unreadable: openManifest then reports it)
  }
}
