/**
 * Which shard a request goes to, read from the decoded request without validating it (the shard
 * validates; anything unroutable goes to shard 0, whose validation then names the problem).
 *
 *   queue   hash(queue)          job     id → shard encoded in the id      name   hash(cron name)
 *   key     hash(KV key)         split   the request is split per shard (ids, KV keys) and merged
 *   all     every shard, merged  front   answered by the front itself (AUTH, PING, SUBSCRIBE)
 */
import { shardOfName } from '../base/hash.ts'
import { shardOfJobId } from '../base/ids.ts'
import { ackBatchIdsMax, kvBatchEntriesMax } from '../base/limits.ts'

export type RouteKind = 'queue' | 'job' | 'name' | 'key' | 'split' | 'all' | 'front'

const routeKinds: Record<string, RouteKind> = {
  PUSH: 'queue', PUSHB: 'queue', PULL: 'queue', PULLB: 'queue', DLQ: 'queue', RETRYDLQ: 'queue',
  PURGEDLQ: 'queue', PAUSE: 'queue', RESUME: 'queue', ISPAUSED: 'queue', RATELIMIT: 'queue',
  RATELIMITCLEAR: 'queue', SETCONCURRENCY: 'queue', CLEARCONCURRENCY: 'queue', COUNT: 'queue',
  GETJOBCOUNTS: 'queue', CLEAN: 'queue', DRAIN: 'queue', OBLITERATE: 'queue', FLOW: 'queue',
  GETJOBS: 'queue',
  ACK: 'job', FAIL: 'job', GETRESULT: 'job', GETJOB: 'job', GETSTATE: 'job', WAITJOB: 'job',
  CANCEL: 'job', PROGRESS: 'job', GETPROGRESS: 'job', CHANGEPRIORITY: 'job', MOVETODELAYED: 'job',
  PROMOTE: 'job', UPDATEJOB: 'job', DISCARD: 'job', LOG: 'job', GETLOGS: 'job', HEARTBEAT: 'job',
  PARTIAL: 'job', GETCHILDREN: 'job',
  CRON: 'name', CRONDELETE: 'name',
  KVSET: 'key', KVGET: 'key', KVDEL: 'key', KVEXISTS: 'key', KVEXPIRE: 'key', KVTTL: 'key', KVINCR: 'key',
  ACKB: 'split', GETJOBSBATCH: 'split', KVMSET: 'split', KVMGET: 'all',
  STATS: 'all', METRICS: 'all', LISTQUEUES: 'all', GETJOBBYCUSTOMID: 'all', CRONLIST: 'all', KVKEYS: 'all',
  AUTH: 'front', PING: 'front', SUBSCRIBE: 'front', UNSUBSCRIBE: 'front',
  QUEUED_PUSH: 'queue', QUEUED_POLL: 'queue', QUEUED_DELETE: 'queue', QUEUED_UPDATE: 'queue', QUEUED_STATS: 'all',
}

export function routeKindOf(request: Record<string, unknown>): RouteKind | undefined {
  const kind = routeKinds[request.cmd as string]
  // GETJOBS without a queue browses every shard.
  if (kind === 'queue' && request.cmd === 'GETJOBS' && typeof request.queue !== 'string') return 'all'
  return kind
}

/** The single shard of a 'queue', 'job', 'name' or 'key' request. */
export function shardOf(kind: RouteKind, request: Record<string, unknown>, shardCount: number): number {
  switch (kind) {
    case 'queue': return nameShard(request.queue, shardCount)
    case 'name': return nameShard(request.name, shardCount)
    case 'key': return nameShard(request.key, shardCount)
    case 'job': return idShard(jobIdField(request), shardCount)
    default: return 0
  }
}

function jobIdField(request: Record<string, unknown>): unknown {
  if (request.cmd === 'GETCHILDREN') return request.parent_id
  return request.id ?? request.job_id
}

function nameShard(name: unknown, shardCount: number): number {
  return typeof name === 'string' ? shardOfName(name, shardCount) : 0
}

export function idShard(id: unknown, shardCount: number): number {
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? shardOfJobId(id, shardCount) : 0
}

/**
 * Splits an ACKB / GETJOBSBATCH / KVMSET request into one request per shard that owns part of it.
 * Returns null when the request is malformed: the caller then sends it whole to shard 0 to get the
 * validation error.
 */
export function splitRequest(request: Record<string, unknown>, shardCount: number): Map<number, Record<string, unknown>> | null {
  const parts = new Map<number, Record<string, unknown>>()
  if (request.cmd === 'KVMSET') {
    // Over the limit: sent whole, so the shard's validation refuses the whole batch.
    if (!Array.isArray(request.entries) || request.entries.length > kvBatchEntriesMax) return null
    const byShard = groupBy(request.entries, (entry) => nameShard((entry as { key?: unknown } | null)?.key, shardCount))
    for (const [shard, entries] of byShard) parts.set(shard, { ...request, entries })
    if (parts.size === 0) parts.set(0, request)
    return parts
  }
  if (!Array.isArray(request.ids) || request.ids.length > ackBatchIdsMax) return null
  const byShard = groupBy(request.ids, (id) => idShard(id, shardCount))
  for (const [shard, ids] of byShard) parts.set(shard, { ...request, ids })
  if (parts.size === 0) parts.set(0, request)
  return parts
}

function groupBy<T>(items: T[], keyOf: (item: T) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>()
  for (const item of items) {
    const key = keyOf(item)
    const group = groups.get(key)
    if (group === undefined) groups.set(key, [item])
    else group.push(item)
  }
  return groups
}
