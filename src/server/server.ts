/**
 * Starts the whole server: shard hosts first (they recover their logs), then the TCP and HTTP
 * listeners. Returns the bound ports and a graceful stop.
 */
import { lstatSync, rmSync } from 'node:fs'
import type { Config } from '../base/config.ts'
import { dataModeLabel } from '../base/config.ts'
import { Front } from './front.ts'
import { metricsHistoryIntervalMs } from '../base/limits.ts'
import { EventHub } from './events.ts'
import { sampleHistory } from './http/dashboard.ts'
import type { HttpDeps } from './http/deps.ts'
import { MetricsHistory, WorkerRegistry } from './http/live-state.ts'
import { serveHttp } from './http/serve.ts'
import { ShardPool, type PoolReady } from './shard-pool.ts'
import { TcpServer, hostPort, listenFailure } from './tcp.ts'
import { warmUp } from './warmup.ts'
import { log } from '../base/log.ts'

export type RunningServer = {
  tcpPort: number
  httpPort: number | null
  ready: PoolReady
  startupLine: string
  /** How long the start-up warm-up took (server/warmup.ts), or null when it was off or failed. */
  warmupMs: number | null
  /**
   * Graceful shutdown, first half: stop accepting connections and handing out jobs, then wait until
   * no job is active (connected workers ack or fail theirs) or `graceMs` passes. Resolves with the
   * number of jobs still active. stop() follows.
   */
  drain(graceMs: number): Promise<number>
  stop(): Promise<void>
  /** `POST /server/shutdown` (0) and `/server/restart` (100) call this with the exit code. */
  onStopRequest(handler: (exitCode: number) => void): void
  /** Engine events of every shard (SSE, WebSocket, webhooks, the SDK's QueueEvents subscribe here). */
  hub: EventHub
}

export type ServerShape = { shardCount: number; workerCount: number; workerUrl: string; version: string }

export async function startServer(config: Config, shape: ServerShape): Promise<RunningServer> {
  const startedAtMs = Date.now()
  const warmupMs = config.warmup ? await warmUpOrWarn(config, shape) : null
  const pool = new ShardPool(config, shape.shardCount, shape.workerCount, shape.workerUrl)
  const ready = await pool.start(false)
  const front = new Front(pool, config)
  const tcp = new TcpServer(front, pool)
  if (config.unixSocketPath !== null) await removeStaleUnixSocket(config.unixSocketPath)
  tcp.listen(config.host, config.tcpPort, config.unixSocketPath)
  const io = config.memory ? 'none' : ready.io + (ready.ioFallbackReason ? ` (${ready.ioFallbackReason})` : '')
  const health = () => ({
    status: pool.deadHosts().length === 0 ? 'ok' : 'degraded',
    version: shape.version,
    uptime_ms: Date.now() - startedAtMs,
    tcp_port: tcp.port,
    data: dataModeLabel(config),
    durable: !config.memory,
    fsync: config.memory ? null : config.fsync.kind === 'always' ? 'always' : `interval:${config.fsync.intervalMs}`,
    io,
    shards: shape.shardCount,
    workers: shape.workerCount,
    errors: pool.deadHosts(),
  })
  const hub = new EventHub(pool)
  let stopRequested: ((exitCode: number) => void) | null = null
  let http: ReturnType<typeof serveHttp> | null = null
  const deps: HttpDeps = {
    front, hub, pool, config, version: shape.version, startedAtMs, health,
    tcpConnections: () => tcp.connections,
    tcpPort: () => tcp.port,
    httpPort: () => http?.port ?? 0,
    metricsProviders: [],
    requestStop: (exitCode) => stopRequested?.(exitCode),
    workers: new WorkerRegistry(),
    history: new MetricsHistory(),
  }
  if (config.httpPort !== null) {
    try {
      http = serveHttp(deps, config.host, config.httpPort)
    } catch (error) {
      throw listenFailure('HTTP', hostPort(config.host, config.httpPort), error)
    }
  }
  const historyTimer = http === null ? null : setInterval(() => {
    void sampleHistory(deps).then((point) => point && deps.history.add(point))
  }, metricsHistoryIntervalMs)
  const tcpWhere = config.unixSocketPath ?? hostPort(config.host, tcp.port)
  const startupLine = `flashq ${shape.version} listening tcp=${tcpWhere} http=${http ? hostPort(config.host, http.port as number) : 'off'}`
    + ` data=${dataModeLabel(config)} io=${io} shards=${shape.shardCount} workers=${shape.workerCount}`
  return {
    tcpPort: tcp.port,
    httpPort: http?.port ?? null,
    ready,
    startupLine,
    warmupMs,
    async drain(graceMs) {
      tcp.stopAccepting()
      void http?.stop(false)
      pool.stopDelivery()
      const deadlineMs = Date.now() + graceMs
      let active = await activeJobCount(front)
      while (active > 0 && Date.now() < deadlineMs) {
        await Bun.sleep(Math.min(drainPollMs, Math.max(0, deadlineMs - Date.now())))
        active = await activeJobCount(front)
      }
      return active
    },
    onStopRequest(handler) {
      stopRequested = handler
    },
    hub,
    async stop() {
      if (historyTimer !== null) clearInterval(historyTimer)
      tcp.stop()
      if (config.unixSocketPath !== null) rmSync(config.unixSocketPath, { force: true })
      await http?.stop(true)
      await pool.stop()
    },
  }
}

/** A warm-up that fails costs only speed: the server starts anyway, and says why. */
async function warmUpOrWarn(config: Config, shape: ServerShape): Promise<number | null> {
  try {
    return await warmUp(config, shape.shardCount, shape.workerUrl)
  } catch (error) {
    log.warn('warm-up', `skipped: ${(error as Error).message}`)
    return null
  }
}

/**
 * A socket file left by a server that was killed would make the listen fail. Remove it, but only if
 * it is a socket that nobody answers on: never another server's live socket, never a regular file.
 */
async function removeStaleUnixSocket(path: string): Promise<void> {
  let stat: ReturnType<typeof lstatSync>
  try {
    stat = lstatSync(path)
  } catch {
    return // absent: nothing to clear
  }
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket; remove it or unset UNIX_SOCKET`)
  const live = await Bun.connect({ unix: path, socket: { data() {} } }).then(
    (socket) => (socket.end(), true),
    () => false,
  )
  if (live) throw new Error(`another server is listening on ${path}`)
  rmSync(path, { force: true })
}

/** How often a graceful shutdown asks the shards how many jobs are still active. */
const drainPollMs = 100

/** STATS over every shard, as a client would ask it; a failed shard counts as nothing to wait for. */
function activeJobCount(front: Front): Promise<number> {
  const { promise, resolve } = Promise.withResolvers<number>()
  const target = {
    tokens: [],
    deliver: (_token: number, replyJson: string) => {
      const reply = JSON.parse(replyJson) as { ok: boolean; processing?: number }
      resolve(reply.ok && typeof reply.processing === 'number' ? reply.processing : 0)
    },
  }
  front.submit({ cmd: 'STATS' }, '{"cmd":"STATS"}', target)
  return promise
}
