/**
 * GETJOBS over every shard past one shard page (offset + limit > getJobsLimitMax). A shard returns at
 * most getJobsLimitMax jobs, so the merge of its newest pages cannot reach deeper positions. Instead,
 * in two rounds: each shard sends the sort keys of its newest offset + limit matches (_GETJOBKEYS);
 * the front merges the keys, picks the page, and asks each shard for the stretch of its own list
 * that holds its part of the page. Pure functions; front.ts does the sending.
 */
import { getJobsAcrossShardsDepthMax, getJobsLimitMax } from '../base/limits.ts'
import { fitToReplyBytes } from '../protocol/reply-budget.ts'
import { getJobsNewestFirst, isCount } from './merge.ts'

type Reply = { ok: boolean; error?: string; [field: string]: unknown }

/** The page of a GETJOBS request whose numbers are valid (the shards answer the invalid ones). */
function pageOf(request: Record<string, unknown>): { offset: number; limit: number } | null {
  const offset = request.offset ?? 0
  const limit = request.limit ?? 100
  if (!isCount(offset) || !isCount(limit)) return null
  return { offset, limit: Math.min(limit, getJobsLimitMax) }
}

/** Whether a GETJOBS over every shard needs the two rounds. */
export function needsDeepPage(request: Record<string, unknown>): boolean {
  const page = pageOf(request)
  return page !== null && page.offset + page.limit > getJobsLimitMax
}

/** Round one: the same request to every shard, for its keys. */
export function keysRequest(request: Record<string, unknown>): Record<string, unknown> {
  const { offset, limit } = pageOf(request) as { offset: number; limit: number }
  return { cmd: '_GETJOBKEYS', state: request.state, window: offset + limit }
}

export type PagePlan =
  | { reply: Reply }
  /** Round two: per shard, the GETJOBS of its stretch; `order` is the page's ids in page order. */
  | { parts: Map<number, Record<string, unknown>>; order: number[]; total: number }

/** Merges the shards' keys (replies in the order of `shards`) and plans round two. */
export function planPage(request: Record<string, unknown>, shards: number[], replies: Reply[]): PagePlan {
  const failed = replies.find((reply) => !reply.ok)
  if (failed !== undefined) return { reply: failed }
  const { offset, limit } = pageOf(request) as { offset: number; limit: number }
  const total = replies.reduce((sum, reply) => sum + (reply.total as number), 0)
  if (offset >= total || limit === 0) return { reply: { ok: true, jobs: [], total } }
  if (offset + limit > getJobsAcrossShardsDepthMax) {
    return { reply: { ok: false, error: `Invalid: GETJOBS without a queue pages at most ${getJobsAcrossShardsDepthMax} jobs deep (offset + limit); name a queue to go deeper` } }
  }
  type Key = { shard: number; position: number; id: number; created: number }
  const keys: Key[] = []
  replies.forEach((reply, slot) => {
    const ids = reply.ids as number[]
    const created = reply.created as number[]
    ids.forEach((id, position) => keys.push({ shard: shards[slot] as number, position, id, created: created[position] as number }))
  })
  if (request[getJobsNewestFirst] === true) keys.sort((a, b) => b.created - a.created || b.id - a.id)
  else keys.sort((a, b) => b.id - a.id)
  const page = keys.slice(offset, offset + limit)
  // Each shard's part of the page is one stretch of its own list (positions first..last).
  const stretches = new Map<number, { first: number; last: number }>()
  for (const key of page) {
    const stretch = stretches.get(key.shard)
    if (stretch === undefined) stretches.set(key.shard, { first: key.position, last: key.position })
    else {
      stretch.first = Math.min(stretch.first, key.position)
      stretch.last = Math.max(stretch.last, key.position)
    }
  }
  const parts = new Map<number, Record<string, unknown>>()
  for (const [shard, { first, last }] of stretches) {
    parts.set(shard, { cmd: 'GETJOBS', state: request.state, offset: first, limit: Math.min(last - first + 1, getJobsLimitMax) })
  }
  return { parts, order: page.map((key) => key.id), total }
}

/** Round two's replies as the page, in merged order; jobs gone since round one are left out. */
export function assemblePage(plan: { order: number[]; total: number }, replies: Reply[]): Reply {
  const failed = replies.find((reply) => !reply.ok)
  if (failed !== undefined) return failed
  const byId = new Map<number, unknown>()
  for (const reply of replies) for (const item of reply.jobs as Array<{ id: number }>) byId.set(item.id, item)
  const jobs: unknown[] = []
  for (const id of plan.order) {
    const item = byId.get(id)
    if (item !== undefined) jobs.push(item)
  }
  return { ok: true, jobs: fitToReplyBytes(jobs), total: plan.total }
}
