/**
 * Custom ids (`job_id`) are unique across the server (spec §4.10: "a global map links each custom id
 * to an internal id"), but a job lives in its queue's shard and each shard maps only its own jobs'
 * custom ids (engine core.customIds). So before a push carrying custom ids goes to its queue's shard,
 * the front asks every other shard which of them name a live job there (_CUSTOMIDS). Those items are
 * answered as the owning shard would answer them (the existing id; that shard emits `duplicated`)
 * and only the rest is pushed. With one shard, or a push without custom ids, nothing changes.
 *
 * Two pushes of one custom id into queues of different shards must not both miss. Shards execute in
 * the order the front sends to them, so it is enough that a push holds its custom ids from its
 * question until the push itself is sent: a push of one of them that comes meanwhile waits
 * (CustomIdGate), and its question then reaches the first push's shard after that push.
 */
import { pushBatchJobsMax } from '../base/limits.ts'

type Fields = Record<string, unknown>
type Reply = { ok: boolean; error?: string; [field: string]: unknown }

/** A push's custom id as its shard will read it: `job_id`, else its camelCase alias (commands-fast.ts). */
function customIdOf(fields: unknown): string | undefined {
  if (typeof fields !== 'object' || fields === null) return undefined
  const { job_id: snake, jobId: camel } = fields as Fields
  if (snake !== undefined && snake !== null) return typeof snake === 'string' ? snake : undefined
  return typeof camel === 'string' ? camel : undefined
}

/** Shared by every push without custom ids (almost all of them; asked for each push with shards > 1). */
const noCustomIds: readonly string[] = []

/**
 * The distinct custom ids of a PUSH, _PUSHJOB or PUSHB request; none for a request its shard will
 * refuse whole (no queue, a PUSHB over the batch limit): asking first would change nothing.
 */
export function customIdsOfPush(request: Fields): readonly string[] {
  if (typeof request.queue !== 'string') return noCustomIds
  if (request.cmd !== 'PUSHB') {
    const customId = customIdOf(request)
    return customId === undefined ? noCustomIds : [customId]
  }
  const items = request.jobs
  if (!Array.isArray(items) || items.length > pushBatchJobsMax) return noCustomIds
  const customIds = new Set<string>()
  for (const item of items) {
    const customId = customIdOf(item)
    if (customId !== undefined) customIds.add(customId)
  }
  return [...customIds]
}

/** The question each other shard gets. */
export function customIdsQuestion(queue: string, customIds: readonly string[]): Fields {
  return { cmd: '_CUSTOMIDS', queue, job_ids: customIds }
}

/**
 * Custom id → the existing job's id, from the other shards' answers (aligned with `customIds`). A
 * shard that could not answer (a dead shard) counts as knowing none: the push goes ahead.
 */
export function foundElsewhere(customIds: readonly string[], replies: Reply[]): Map<string, number> {
  const found = new Map<string, number>()
  for (const reply of replies) {
    if (!reply.ok || !Array.isArray(reply.ids)) continue
    reply.ids.forEach((id, index) => {
      if (typeof id === 'number') found.set(customIds[index] as string, id)
    })
  }
  return found
}

/**
 * What to do with a push once the other shards answered: answer it at the front (every item is a
 * duplicate elsewhere), send it as it is (none is), or send the items that are not and merge them
 * back into one reply in the request's order (PUSHB).
 */
export type PushPlan =
  | { kind: 'answer'; reply: Fields }
  | { kind: 'existingJob'; id: number }
  | { kind: 'send'; request: Fields; merge: ((reply: Reply) => Fields) | null }

export function planPush(request: Fields, found: Map<string, number>): PushPlan {
  if (found.size === 0) return { kind: 'send', request, merge: null }
  if (request.cmd !== 'PUSHB') {
    const id = found.get(customIdOf(request) as string) as number
    // _PUSHJOB answers the whole job, which its own shard reads.
    return request.cmd === '_PUSHJOB' ? { kind: 'existingJob', id } : { kind: 'answer', reply: { ok: true, id } }
  }
  const items = request.jobs as unknown[]
  const existing = items.map((item) => {
    const customId = customIdOf(item)
    return customId === undefined ? undefined : found.get(customId)
  })
  const kept = items.filter((_item, index) => existing[index] === undefined)
  if (kept.length === 0) return { kind: 'answer', reply: { ok: true, ids: existing, errors: [] } }
  return { kind: 'send', request: { ...request, jobs: kept }, merge: (reply) => mergeBatchReply(existing, reply) }
}

/**
 * The PUSHB reply for the whole request: `ids` lists the accepted items' ids in input order (the
 * duplicates found elsewhere among them), `errors` the refused ones by their index in the request.
 */
function mergeBatchReply(existing: Array<number | undefined>, reply: Reply): Fields {
  if (!reply.ok || !Array.isArray(reply.ids)) return reply
  const accepted: unknown[] = reply.ids
  const keptErrors = new Map<number, unknown>()
  for (const entry of (reply.errors ?? []) as Array<{ index: number; error: unknown }>) keptErrors.set(entry.index, entry.error)
  const ids: unknown[] = []
  const errors: Array<{ index: number; error: unknown }> = []
  let keptIndex = 0
  let acceptedIndex = 0
  existing.forEach((id, index) => {
    if (id !== undefined) return void ids.push(id)
    const error = keptErrors.get(keptIndex++)
    if (error !== undefined) errors.push({ index, error })
    else ids.push(accepted[acceptedIndex++])
  })
  return { ...reply, ids, errors }
}

/**
 * Custom ids whose push is between its question to the other shards and its own sending. A push
 * needing any of them waits in the queue of each id it needs, and starts once all are free, checked
 * as each is freed: a release looks only at the waiters of the ids it frees, so many pushes waiting
 * on one hot id cost each release one check, not a scan of every waiting push.
 */
export class CustomIdGate {
  private readonly busy = new Set<string>()
  private readonly waiters = new Map<string, { entries: GateEntry[]; head: number }>()
  private waitingEntries = 0

  /** Runs `start` now if none of `customIds` is busy, else once they all are free; marks them busy. */
  acquire(customIds: readonly string[], start: () => void): void {
    if (this.isFree(customIds)) return this.run(customIds, start)
    const entry: GateEntry = { customIds, start, started: false }
    this.waitingEntries++
    for (const customId of customIds) {
      const queue = this.waiters.get(customId)
      if (queue === undefined) this.waiters.set(customId, { entries: [entry], head: 0 })
      else queue.entries.push(entry)
    }
  }

  release(customIds: readonly string[]): void {
    for (const customId of customIds) this.busy.delete(customId)
    for (const customId of customIds) this.wakeWaitersOf(customId)
  }

  /** Pushes waiting for a custom id; each is a request in flight, which its connection's limit bounds. */
  get waitingCount(): number {
    return this.waitingEntries
  }

  /**
   * Starts waiters of a freed id, oldest first, whose other ids are free too, until the id is busy
   * again. A waiter started through another of its ids stays in this queue, marked, until it
   * reaches the head.
   */
  private wakeWaitersOf(customId: string): void {
    const queue = this.waiters.get(customId)
    if (queue === undefined) return
    const entries = queue.entries
    for (let index = queue.head; index < entries.length && !this.busy.has(customId); index++) {
      const entry = entries[index] as GateEntry
      if (entry.started || !this.isFree(entry.customIds)) continue
      entry.started = true
      this.waitingEntries--
      this.run(entry.customIds, entry.start)
    }
    while (queue.head < entries.length && (entries[queue.head] as GateEntry).started) queue.head++
    if (queue.head === entries.length) this.waiters.delete(customId)
    else if (queue.head > 1024 && queue.head * 2 > entries.length) {
      queue.entries = entries.slice(queue.head)
      queue.head = 0
    }
  }

  private isFree(customIds: readonly string[]): boolean {
    for (const customId of customIds) if (this.busy.has(customId)) return false
    return true
  }

  private run(customIds: readonly string[], start: () => void): void {
    for (const customId of customIds) this.busy.add(customId)
    start()
  }
}

type GateEntry = { customIds: readonly string[]; start: () => void; started: boolean }
