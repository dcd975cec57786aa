/**
 * Starts the whole server: shard hosts first (they recover their logs), then the TCP and HTTP
 * listeners. Returns the bound ports and a graceful stop.
 */
import type { Config } from '../base/config.ts'
import { dataModeLabel } from '../base/config.ts'
import { Front } from './front.ts'
import { createHttpApp } from './http/app.ts'
import { ShardPool, type PoolReady } from './shard-pool.ts'
import { TcpServer } from './tcp.ts'

export type RunningServer = {
  tcpPort: number
  httpPort: number | null
  ready: PoolReady
  startupLine: string
  stop(): Promise<void>
}

export type ServerShape = { shardCount: number; workerCount: number; workerUrl: string; version: string }

export async function startServer(config: Config, shape: ServerShape): Promise<RunningServer> {
  const startedAtMs = Date.now()
  const pool = new ShardPool(config, shape.shardCount, shape.workerCount, shape.workerUrl)
  const ready = await pool.start(false)
  const front = new Front(pool, config)
  const tcp = new TcpServer(front, pool)
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
  const http = config.httpPort === null ? null
    : Bun.serve({ hostname: config.host, port: config.httpPort, fetch: createHttpApp(health).fetch })
  const tcpWhere = config.unixSocketPath ?? hostPort(config.host, tcp.port)
  const startupLine = `flashq ${shape.version} listening tcp=${tcpWhere} http=${http ? hostPort(config.host, http.port as number) : 'off'}`
    + ` data=${dataModeLabel(config)} io=${io} shards=${shape.shardCount} workers=${shape.workerCount}`
  return {
    tcpPort: tcp.port,
    httpPort: http?.port ?? null,
    ready,
    startupLine,
    async stop() {
      tcp.stop()
      await http?.stop(true)
      await pool.stop()
    },
  }
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
