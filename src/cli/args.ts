/**
 * argv + environment → Config. Flags win over environment variables. Any bad flag or value throws
 * UsageError with a one-line reason; main.ts prints it and exits with code 2.
 */
import { type Config, ioPreferences, type PresetName } from '../base/config.ts'
import { logFormats, logLevels, type LogLevel } from '../base/log.ts'
import { shardsMax, shutdownGraceMsDefault, shutdownGraceMsMax, workersMax } from '../base/limits.ts'
import { compilerNiceDefault, compilerNiceMax } from '../server/compiler-threads.ts'

export class UsageError extends Error {
  override name = 'UsageError'
}

type Env = Record<string, string | undefined>

const valueFlags = new Set([
  '--port', '--http-port', '--host', '--shards', '--workers', '--data-dir', '--fsync', '--io',
  '--auth-token', '--preset', '--shutdown-grace-ms', '--log-format', '--log-level', '--compiler-nice',
])
const booleanFlags = new Set(['--memory', '--repair', '--no-http', '--no-warmup'])

export const usage = `usage: flashq [serve] [options]
  --port <n>            TCP port (default 6789, env TCP_PORT; 0 = any free port)
  --http-port <n>       HTTP port (default 6790, env HTTP_PORT; 0 = any free port)
  --no-http             no HTTP listener (env NO_HTTP)
  --host <addr>         bind address (default :: = all interfaces, IPv4 and IPv6)
  --data-dir <path>     data directory (default ./flashq-data, env DATA_PATH)
  --memory              keep everything in memory, no disk
  --fsync <mode>        always (default) | interval:<ms>  (env SYNC_PERSISTENCE=0 → interval:10)
  --shards <n>          shard count, fixed when the data directory is created (default: cores, min 2)
  --workers <n>         shard worker threads (default: 0 = stores in the main thread on 1–2 cores,
                        else one per core)
  --io <backend>        auto (default: liburing, else raw io_uring, else pwrite) | uring | liburing | uring-raw | pwrite
  --repair              start on a corrupt log, dropping what is invalid
  --auth-token <t>      require AUTH with this token (repeatable; env AUTH_TOKENS=a,b)
  --shutdown-grace-ms <n>  on SIGINT/SIGTERM, wait up to this long for active jobs (default 30000)
  --log-format <f>      text (default) | json: one line per event (start, stop, recovery, checkpoint, ...)
  --log-level <l>       debug | info (default) | warn | error (env LOG_LEVEL, or RUST_LOG)
  --preset <name>       production (default) | testMin
  --no-warmup           skip the start-up JIT warm-up (a scratch run of the hot paths, 0.5–2.6 s by machine)
  --compiler-nice <n>   nice value of the JIT compiler threads, 0–19 (default 19: compiles yield to requests)
       flashq restore <backup.tar> --data-dir <dir>   unpack a backup (GET /storage/backup) into an empty directory`

export function parseArgs(argv: string[], env: Env): Config {
  const flags = collectFlags(argv)
  const config: Config = {
    host: flags.get('--host')?.[0] ?? '::',
    tcpPort: port('--port', flags.get('--port')?.[0] ?? env.TCP_PORT ?? '6789'),
    httpPort: flags.has('--no-http') || env.NO_HTTP !== undefined ? null
      : port('--http-port', flags.get('--http-port')?.[0] ?? env.HTTP_PORT ?? '6790'),
    unixSocketPath: env.UNIX_SOCKET !== undefined ? '/tmp/flashq.sock' : null,
    dataDir: flags.get('--data-dir')?.[0] ?? env.DATA_PATH ?? './flashq-data',
    memory: flags.has('--memory'),
    fsync: fsync(flags.get('--fsync')?.[0] ?? syncPersistenceDefault(env)),
    shards: optionalCount('--shards', flags.get('--shards')?.[0], 1, shardsMax),
    workers: optionalCount('--workers', flags.get('--workers')?.[0], 0, workersMax),
    io: oneOf('--io', flags.get('--io')?.[0] ?? env.FLASHQ_IO ?? 'auto', ioPreferences),
    repair: flags.has('--repair'),
    authTokens: authTokens(flags.get('--auth-token') ?? [], env.AUTH_TOKENS),
    shutdownGraceMs: integer('--shutdown-grace-ms', flags.get('--shutdown-grace-ms')?.[0] ?? String(shutdownGraceMsDefault), 0, shutdownGraceMsMax),
    preset: oneOf('--preset', flags.get('--preset')?.[0] ?? 'production', ['production', 'testMin'] as const) as PresetName,
    logFormat: oneOf('--log-format', flags.get('--log-format')?.[0] ?? 'text', logFormats),
    logLevel: oneOf('--log-level', flags.get('--log-level')?.[0] ?? envLogLevel(env) ?? 'info', logLevels),
    warmup: !flags.has('--no-warmup'),
    compilerNice: integer('--compiler-nice', flags.get('--compiler-nice')?.[0] ?? String(compilerNiceDefault), 0, compilerNiceMax),
  }
  if (config.shards !== null && config.workers !== null && config.workers > config.shards) {
    throw new UsageError(`--workers ${config.workers} is more than --shards ${config.shards}`)
  }
  return config
}

function collectFlags(argv: string[]): Map<string, string[]> {
  const flags = new Map<string, string[]>()
  const args = argv[0] === 'serve' ? argv.slice(1) : argv
  for (let i = 0; i < args.length; i++) {
    const raw = args[i] as string
    const eq = raw.indexOf('=')
    const name = eq > 0 && raw.startsWith('--') ? raw.slice(0, eq) : raw
    if (booleanFlags.has(name) && eq < 0) {
      flags.set(name, [])
      continue
    }
    if (!valueFlags.has(name)) throw new UsageError(`unknown argument '${raw}' (see flashq --help)`)
    const value = eq > 0 ? raw.slice(eq + 1) : args[++i]
    if (value === undefined) throw new UsageError(`${name} needs a value`)
    flags.set(name, [...(flags.get(name) ?? []), value])
  }
  return flags
}

function integer(flag: string, text: string, min: number, max: number): number {
  const value = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got '${text}'`)
  }
  return value
}

function port(flag: string, text: string): number {
  return integer(flag, text, 0, 65535)
}

function optionalCount(flag: string, text: string | undefined, min: number, max: number): number | null {
  return text === undefined ? null : integer(flag, text, min, max)
}

function oneOf<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`${flag} must be one of ${choices.join(', ')}, got '${text}'`)
  }
  return text as T
}

/**
 * LOG_LEVEL, or the reference's RUST_LOG (spec §6): `debug`, or env_logger directives such as
 * `warn,flashq=debug` (the bare level wins, else the first). Unknown text leaves the default, with
 * a note (envNotes): these variables are often set for other programs too.
 */
function envLogLevel(env: Env): LogLevel | null {
  const text = env.LOG_LEVEL ?? env.RUST_LOG
  if (text === undefined) return null
  const directives = text.toLowerCase().split(',').map((part) => part.trim()).filter((part) => part !== '')
  const chosen = directives.find((part) => !part.includes('=')) ?? directives[0] ?? ''
  const level = logLevelAliases[chosen.slice(chosen.indexOf('=') + 1)]
  return level ?? null
}

const logLevelAliases: Record<string, LogLevel> = {
  trace: 'debug', debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', error: 'error', off: 'error',
}

/** The reference's storage variables, which our store replaces (spec §6: ignored with a warning). */
const referenceOnlyEnv = [/^SQLITE_PATH$/, /^SQLITE_SYNCHRONOUS$/, /^SQLITE_CACHE_SIZE$/, /^SNAPSHOT_/, /^S3_/]

/** Warnings about the environment, logged at start-up (serve.ts). */
export function envNotes(env: Env): string[] {
  const notes: string[] = []
  for (const name of Object.keys(env).sort()) {
    if (referenceOnlyEnv.some((pattern) => pattern.test(name))) notes.push(`${name} is ignored: it configures the reference's storage, which flashq's log-based store replaces`)
  }
  const level = env.LOG_LEVEL ?? env.RUST_LOG
  if (level !== undefined && envLogLevel(env) === null) {
    notes.push(`${env.LOG_LEVEL !== undefined ? 'LOG_LEVEL' : 'RUST_LOG'} '${level}' names no log level (${logLevels.join(', ')}); logging at info`)
  }
  return notes
}

function syncPersistenceDefault(env: Env): string {
  const value = env.SYNC_PERSISTENCE?.toLowerCase()
  return value === '0' || value === 'false' ? 'interval:10' : 'always'
}

function fsync(text: string): Config['fsync'] {
  if (text === 'always') return { kind: 'always' }
  const match = /^interval:(\d+)$/.exec(text)
  if (!match) throw new UsageError(`--fsync must be 'always' or 'interval:<ms>', got '${text}'`)
  return { kind: 'interval', intervalMs: integer('--fsync interval', match[1] as string, 1, 60_000) }
}

function authTokens(fromFlags: string[], fromEnv: string | undefined): string[] {
  // An empty token would silently leave the server open: refuse it (AUTH_TOKENS may have empty
  // items between commas, as in the reference).
  if (fromFlags.some((token) => token.trim().length === 0)) {
    throw new UsageError('--auth-token must not be empty (omit the flag to run without authentication)')
  }
  const all = [...fromFlags, ...(fromEnv ?? '').split(',')]
  return all.map((token) => token.trim()).filter((token) => token.length > 0)
}
