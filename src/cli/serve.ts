/**
 * `flashq [serve]`: resolves the shard count against the data directory's manifest, starts the
 * server, prints one start-up line, and stops cleanly on SIGINT/SIGTERM (flushing every log).
 */
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../base/config.ts'
import { defaultShardCount, defaultWorkerCount } from '../base/config.ts'
import { manifestFileName, openManifest } from '../storage/manifest.ts'
import { startServer } from '../server/server.ts'
import { UsageError } from './args.ts'
import { version } from './version.ts'

export async function serve(config: Config, workerUrl: string): Promise<void> {
  const shardCount = resolveShardCount(config)
  const workerCount = config.workers ?? defaultWorkerCount(shardCount)
  if (workerCount > shardCount) throw new UsageError(`--workers ${workerCount} is more than the ${shardCount} shards`)
  const server = await startServer(config, { shardCount, workerCount, workerUrl, version })
  // Recovery notes first: whoever waits for the start-up line has seen them by then.
  for (const report of server.ready.shards) {
    if (report.report?.truncatedTail) process.stdout.write(`shard ${report.shardIndex}: truncated torn tail at ${report.report.truncatedTail}\n`)
    for (const line of report.report?.repaired ?? []) process.stdout.write(`shard ${report.shardIndex}: --repair ${line}\n`)
  }
  process.stdout.write(`${server.startupLine}\n`)
  // Spec §6: stop accepting, wait up to the grace period for active jobs, then flush and stop. A
  // second signal skips the wait (every acknowledged change is on disk either way).
  let signals = 0
  const stop = async () => {
    if (++signals > 1) return finish()
    process.stdout.write(`flashq: stopping; waiting up to ${config.shutdownGraceMs} ms for active jobs (signal again to skip)\n`)
    const active = await server.drain(config.shutdownGraceMs)
    const fate = config.memory ? 'lost (in-memory server)' : 'waiting again after a restart'
    if (active > 0) process.stdout.write(`flashq: ${active} jobs still active; they will be ${fate}\n`)
    await finish()
  }
  let finishing: Promise<never> | null = null
  const finish = () => (finishing ??= server.stop().then(() => process.exit(0)))
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  // `POST /server/shutdown` exits 0, `/server/restart` exits 100 (a supervisor restarts the process).
  server.onStopRequest((exitCode) => {
    if (signals++ > 0) return
    void server.drain(config.shutdownGraceMs).then(() => server.stop()).then(() => process.exit(exitCode))
  })
}

/**
 * An explicit --shards must match the data directory (openManifest refuses otherwise); without it an
 * existing directory keeps its own count, so moving data to a machine with more cores just works.
 */
function resolveShardCount(config: Config): number {
  if (config.memory) return config.shards ?? defaultShardCount()
  mkdirSync(config.dataDir, { recursive: true })
  const wanted = config.shards ?? existingShardCount(config.dataDir) ?? defaultShardCount()
  return openManifest(config.dataDir, wanted).shardCount
}

function existingShardCount(dataDir: string): number | null {
  try {
    const manifest = JSON.parse(readFileSync(join(dataDir, manifestFileName), 'utf8')) as { shardCount?: unknown }
    return typeof manifest.shardCount === 'number' ? manifest.shardCount : null
  } catch {
    return null // no manifest yet (or unreadable: openManifest then reports it)
  }
}
