/**
 * Merges the per-shard replies of a fanned-out or split request into the one reply the client sees.
 * Pure functions over parsed replies; any shard's error is the answer (the shards validate alike).
 * Which merge a command uses is declared in the command table (protocol/table.ts).
 */
import { shardOfName } from '../base/hash.ts'
import { getJobsLimitMax, kvBatchEntriesMax, replyBytesMax } from '../base/limits.ts'
import { kvReplyTooLarge } from '../protocol/errors.ts'
import { fitToReplyBytes, jsonBytes } from '../protocol/reply-budget.ts'
import { specOf, type MergeKind } from '../protocol/table.ts'

type Reply = { ok: boolean; error?: string; [field: string]: unknown }

/** A GETJOBS field set only by HTTP `GET /jobs` (the shards ignore it): merge newest first. */
export const getJobsNewestFirst = '_newest_first'

export function mergeReplies(request: Record<string, unknown>, replies: Reply[], shardCount: number): Reply {
  const kind: MergeKind = specOf(request.cmd)?.merge ?? 'single'
  const failed = replies.find((reply) => !reply.ok)
  if (failed !== undefined && kind !== 'firstOk') return failed
  switch (kind) {
    case 'sumFields': return sumFields(replies)
    case 'ackBatch': return ackBatch(replies)
    case 'metrics': return metrics(replies)
    // Bounded like the job lists (replyBytesMax): a few crons of 10 MiB data, a million long keys or
    // 100 000 queues made a reply no MessagePack client could read.
    case 'concatQueues': return { ok: true, queues: fitToReplyBytes(concat(replies, 'queues')) }
    case 'concatCrons': return { ok: true, crons: fitToReplyBytes(concat(replies, 'crons')) }
    case 'keysSorted': return { ok: true, keys: fitToReplyBytes(concat(replies, 'keys').sort()) }
    case 'sumCount': return { ok: true, count: sum(replies, 'count') }
    case 'kvMget': return kvMget(request, replies, shardCount)
    case 'getJobs': return getJobs(request, replies)
    case 'getJobsBatch': return getJobsBatch(request, replies)
    case 'firstWithJob': return replies.find((reply) => reply.job !== null && reply.job !== undefined) ?? (replies[0] as Reply)
    case 'firstOk': return replies.find((reply) => reply.ok) ?? (replies[0] as Reply)
    case 'allOk': return { ok: true }
    case 'firstOf': return replies[0] as Reply
    case 'single': return replies[0] as Reply
  }
}

function sum(replies: Reply[], field: string): number {
  return replies.reduce((total, reply) => total + (Number(reply[field]) || 0), 0)
}

function concat(replies: Reply[], field: string): unknown[] {
  return replies.flatMap((reply) => (Array.isArray(reply[field]) ? (reply[field] as unknown[]) : []))
}

/** STATS: every numeric field is a count, so the total is the sum. */
function sumFields(replies: Reply[]): Reply {
  const merged: Reply = { ok: true }
  for (const reply of replies) {
    for (const [field, value] of Object.entries(reply)) {
      if (typeof value === 'number') merged[field] = ((merged[field] as number | undefined) ?? 0) + value
    }
  }
  return merged
}

function ackBatch(replies: Reply[]): Reply {
  const count = sum(replies, 'count')
  return { ok: true, ids: [count], count }
}

function metrics(replies: Reply[]): Reply {
  const parts = replies.map((reply) => (reply.metrics ?? {}) as Record<string, unknown>)
  const completed = parts.reduce((total, part) => total + (Number(part.total_completed) || 0), 0)
  const latencyWeighted = parts.reduce(
    (total, part) => total + (Number(part.avg_latency_ms) || 0) * (Number(part.total_completed) || 0), 0)
  return {
    ok: true,
    metrics: {
      total_pushed: parts.reduce((total, part) => total + (Number(part.total_pushed) || 0), 0),
      total_completed: completed,
      total_failed: parts.reduce((total, part) => total + (Number(part.total_failed) || 0), 0),
      jobs_per_second: parts.reduce((total, part) => total + (Number(part.jobs_per_second) || 0), 0),
      avg_latency_ms: completed > 0 ? latencyWeighted / completed : 0,
      queues: parts.flatMap((part) => (Array.isArray(part.queues) ? part.queues : [])),
    },
  }
}

/** Each shard answers for every key; the owner of a key has the real value. */
function kvMget(request: Record<string, unknown>, replies: Reply[], shardCount: number): Reply {
  // The shards read only the first 1000 keys (spec §3.9), so the reply lists only those.
  const keys = Array.isArray(request.keys) ? request.keys.slice(0, kvBatchEntriesMax) : []
  const values = keys.map((key, index) => {
    const owner = typeof key === 'string' ? shardOfName(key, shardCount) : 0
    const ownerValues = replies[owner]?.values
    return Array.isArray(ownerValues) ? (ownerValues[index] ?? null) : null
  })
  // Each shard kept its own part under the limit; together they may pass it.
  let bytes = 0
  for (const value of values) {
    if (typeof value === 'object' || typeof value === 'string') bytes += jsonBytes(value)
    if (bytes > replyBytesMax) return { ok: false, error: kvReplyTooLarge(replyBytesMax) }
  }
  return { ok: true, values }
}

/**
 * Each shard returned its newest offset+limit matches; merge by id descending (TCP GETJOBS), or
 * newest `created_at` first for HTTP `GET /jobs` (spec §5.2), then page. Ids count per shard, so
 * across shards a higher id is not a newer job; within a shard the two orders agree.
 */
function getJobs(request: Record<string, unknown>, replies: Reply[]): Reply {
  const offset = typeof request.offset === 'number' ? request.offset : 0
  const limit = typeof request.limit === 'number' ? Math.min(request.limit, getJobsLimitMax) : 100
  const jobs = concat(replies, 'jobs') as Array<{ id: number; created_at: number }>
  if (request[getJobsNewestFirst] === true) jobs.sort((a, b) => b.created_at - a.created_at || b.id - a.id)
  else jobs.sort((a, b) => b.id - a.id)
  return { ok: true, jobs: fitToReplyBytes(jobs.slice(offset, offset + limit)), total: sum(replies, 'total') }
}

function getJobsBatch(request: Record<string, unknown>, replies: Reply[]): Reply {
  const byId = new Map<number, unknown>()
  for (const item of concat(replies, 'jobs') as Array<{ id: number }>) byId.set(item.id, item)
  const ids = Array.isArray(request.ids) ? request.ids : []
  const jobs: unknown[] = []
  for (const id of ids) {
    const item = byId.get(id as number)
    if (item !== undefined) jobs.push(item)
  }
  return { ok: true, jobs: fitToReplyBytes(jobs) }
}

/** GETJOBS over all shards: each shard must return enough to fill the page after merging. */
export function fanOutRequest(request: Record<string, unknown>): Record<string, unknown> {
  if (request.cmd !== 'GETJOBS') return request
  const offset = request.offset ?? 0
  const limit = request.limit ?? 100
  // Invalid numbers go as they are: the shards answer them with the schema's error.
  if (!isCount(offset) || !isCount(limit)) return request
  return { ...request, offset: 0, limit: Math.min(offset + Math.min(limit, getJobsLimitMax), getJobsLimitMax) }
}

/** A GETJOBS offset or limit the schema accepts. */
export const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
