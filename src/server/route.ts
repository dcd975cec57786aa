/**
 * Which shard a request goes to, read from the decoded request after the front validated it. The
 * route kind of each command is in the command table (protocol/table.ts).
 */
import { shardOfName } from '../base/hash.ts'
import { shardOfJobId } from '../base/ids.ts'
import { ackBatchIdsMax, kvBatchEntriesMax } from '../base/limits.ts'
import { clientSpecOf, specOf, type RouteKind } from '../protocol/table.ts'

export type { RouteKind }

/**
 * The route of a request from the command table; undefined for an unknown command (answered at the
 * front, never sent to a default shard). Internal commands route only when `internal` is set.
 */
export function routeKindOf(request: Record<string, unknown>, internal = false): RouteKind | undefined {
  const spec = internal ? specOf(request.cmd) : clientSpecOf(request.cmd)
  if (spec === undefined) return undefined
  // GETJOBS without a queue browses every shard.
  if (spec.route === 'queueOrAll') return typeof request.queue === 'string' ? 'queue' : 'all'
  return spec.route
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
 * The one shard a 'split' request goes to whole: the shard of all its ids (or keys), or 0 when it is
 * malformed (the shard's validation answers it) or empty; null when it spans shards (splitRequest).
 * A worker's ACKB is nearly always for one shard's jobs: that case is found without building the
 * parts (two Maps, a closure, a copy of the request per ACKB).
 */
export function wholeRequestShard(request: Record<string, unknown>, shardCount: number): number | null {
  const kv = request.cmd === 'KVMSET'
  const items = kv ? request.entries : request.ids
  if (!Array.isArray(items) || items.length > (kv ? kvBatchEntriesMax : ackBatchIdsMax)) return 0
  let shard = -1
  for (let index = 0; index < items.length; index++) {
    const item: unknown = items[index]
    const itemShard = kv ? nameShard((item as { key?: unknown } | null)?.key, shardCount) : idShard(item, shardCount)
    if (shard === -1) shard = itemShard
    else if (itemShard !== shard) return null
  }
  return shard === -1 ? 0 : shard
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
