/**
 * The one configuration object. Flags and the flashQ environment variables map onto it (cli/args.ts);
 * everything else is a preset. Two presets exist: `production`, and `testMin` with tiny segments so
 * tests reach rotation, checkpoints and limits in milliseconds.
 */
import { availableParallelism } from 'node:os'
import { KiB, MiB } from './units.ts'
import { shardsMax } from './limits.ts'
import type { LogFormat, LogLevel } from './log.ts'

export type FsyncSetting = { kind: 'always' } | { kind: 'interval'; intervalMs: number }

export type Config = {
  host: string
  tcpPort: number
  /** null when NO_HTTP is set. */
  httpPort: number | null
  /** Serve TCP on this Unix socket instead (flashQ's UNIX_SOCKET). */
  unixSocketPath: string | null
  dataDir: string
  memory: boolean
  fsync: FsyncSetting
  /** null = take it from the data directory's manifest, or the default for a new one. */
  shards: number | null
  workers: number | null
  io: (typeof ioPreferences)[number]
  repair: boolean
  authTokens: string[]
  /** On SIGINT/SIGTERM: how long to wait for active jobs to be acked or failed before stopping. */
  shutdownGraceMs: number
  preset: PresetName
  logFormat: LogFormat
  logLevel: LogLevel
  /** Run the hot paths on a scratch stack before opening (server/warmup.ts); off with --no-warmup. */
  warmup: boolean
  /** The nice value of JSC's compiler threads (server/compiler-threads.ts); 0 leaves them as they are. */
  compilerNice: number
}

/**
 * `--io`: `auto` tries liburing, then io_uring through raw system calls, then pwrite; `uring` is
 * io_uring either way; `liburing`, `uring-raw` and `pwrite` force one backend.
 */
export const ioPreferences = ['auto', 'uring', 'liburing', 'uring-raw', 'pwrite'] as const

export type Preset = { segmentBytes: number; flushBytesMax: number }
export type PresetName = 'production' | 'testMin'

export const presets: Record<PresetName, Preset> = {
  production: { segmentBytes: 32 * MiB, flushBytesMax: 4 * MiB },
  testMin: { segmentBytes: 64 * KiB, flushBytesMax: 16 * KiB },
}

/** One shard per core (at least 2, so queues spread), at most shardsMax. */
export function defaultShardCount(): number {
  return Math.min(shardsMax, Math.max(2, availableParallelism()))
}

/** Up to this many cores, the stores run in the main thread by default (defaultWorkerCount). */
export const mainThreadStoresCoresMax = 2

/**
 * Shard workers: one per core, never more than shards. 0 means stores run in the main thread, the
 * default on a machine of mainThreadStoresCoresMax cores or fewer: there every request to a Worker
 * paid two thread wake-ups (~40 µs each, measured on the 2-core reference VM) that its parallelism
 * did not win back — README, "Where the stores run". Not when the log's fdatasync would
 * block the main thread (`storesBlock`: the pwrite backend), which stalls every connection.
 */
export function defaultWorkerCount(shardCount: number, storesBlock = false, cores = availableParallelism()): number {
  if (cores <= mainThreadStoresCoresMax && !storesBlock) return 0
  return Math.min(shardCount, Math.max(1, cores))
}

export function dataModeLabel(config: Config): string {
  if (config.memory) return 'memory (no persistence)'
  const fsync = config.fsync.kind === 'always' ? 'fsync=always' : `fsync=interval:${config.fsync.intervalMs}ms`
  return `durable (${config.dataDir}, ${fsync})`
}
