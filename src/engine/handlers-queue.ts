/** Queue control and stats commands (spec §3.3, §3.4). */
import type { CommandOf } from '../protocol/commands.ts'
import * as errors from '../protocol/errors.ts'
import type { Token } from './types.ts'
import type { HandlerTable } from './engine.ts'
import type { Core } from './core.ts'
import {
  Job, LOC_ACTIVE, LOC_DELAYED, LOC_GROUP_WAIT, LOC_PARENT, LOC_PARKED, LOC_READY,
  type JobState, jobToBrowserItem, stateOf,
} from './job.ts'
import type { QueueState } from './queue-state.ts'
import { isListed, newestFirst } from './job-index.ts'
import { type QueueSettings, applyQueueSettings } from './records.ts'
import { cleanReplyIdsMax, getJobsAcrossShardsDepthMax, getJobsLimitMax } from '../base/limits.ts'
import { ReplyBudget } from '../protocol/reply-budget.ts'
import { removedEventsPerCommandMax } from './engine-limits.ts'
import { JobReplyBudget, listedIdBytesMax } from './reply-size.ts'
import { obliterateCron, obliterateRefusal } from './links.ts'

const ok = { ok: true } as const

/** A queue setting, applied (the same transition as replay of its `qs` record), recorded, and pullers woken. */
function setting(core: Core, name: string, change: QueueSettings, token: Token, nowMs: number): void {
  const q = core.queue(name)
  applyQueueSettings(q, change, nowMs)
  if (core.recording) core.record({ t: 'qs', q: q.name, ...change })
  if (core.waitingQueues.has(q)) core.dirty.add(q)
  core.reply(token, ok)
}

function pause(core: Core, command: CommandOf<'PAUSE'>, token: Token, nowMs: number) {
  setting(core, command.queue, { p: true }, token, nowMs)
}

function resume(core: Core, command: CommandOf<'RESUME'>, token: Token, nowMs: number) {
  setting(core, command.queue, { p: false }, token, nowMs)
}

function isPaused(core: Core, command: CommandOf<'ISPAUSED'>, token: Token) {
  core.reply(token, { ok: true, paused: core.queues.get(command.queue)?.paused ?? false })
}

function rateLimit(core: Core, command: CommandOf<'RATELIMIT'>, token: Token, nowMs: number) {
  setting(core, command.queue, { r: command.limit }, token, nowMs)
}

function rateLimitClear(core: Core, command: CommandOf<'RATELIMITCLEAR'>, token: Token, nowMs: number) {
  setting(core, command.queue, { r: null }, token, nowMs)
}

function setConcurrency(core: Core, command: CommandOf<'SETCONCURRENCY'>, token: Token, nowMs: number) {
  setting(core, command.queue, { k: command.limit }, token, nowMs)
}

function clearConcurrency(core: Core, command: CommandOf<'CLEARCONCURRENCY'>, token: Token, nowMs: number) {
  setting(core, command.queue, { k: null }, token, nowMs)
}

function counts(core: Core, q: QueueState, nowMs: number) {
  if (q.delayed.size > 0) core.promoteDue(q, nowMs)
  return {
    waiting: q.ready.size + q.groupWaitCount,
    active: q.activeCount,
    delayed: q.delayed.size,
    completed: q.completedCount,
    failed: q.dlq.size,
  }
}

function count(core: Core, command: CommandOf<'COUNT'>, token: Token) {
  const q = core.queues.get(command.queue)
  core.reply(token, { ok: true, count: q === undefined ? 0 : q.queuedCount })
}

function getJobCounts(core: Core, command: CommandOf<'GETJOBCOUNTS'>, token: Token, nowMs: number) {
  const q = core.queues.get(command.queue)
  const c = q === undefined ? { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 } : counts(core, q, nowMs)
  core.reply(token, { ok: true, ...c })
}

function listQueues(core: Core, _command: CommandOf<'LISTQUEUES'>, token: Token, nowMs: number) {
  const queues = []
  for (const q of core.queues.values()) {
    if (q.isEmpty) continue
    const c = counts(core, q, nowMs)
    queues.push({
      name: q.name, pending: c.waiting, processing: c.active, completed: c.completed, delayed: c.delayed,
      dlq: c.failed, paused: q.paused, rate_limit: q.rateLimit, concurrency_limit: q.concurrencyLimit,
    })
  }
  core.reply(token, { ok: true, queues })
}

/** GETJOBS state filter: case-insensitive, `waiting-children` / `waiting_children` spellings. */
export function parseStateFilter(state: string | undefined): JobState | null {
  if (state === undefined) return null
  const name = state.toLowerCase().replace(/[-_]/g, '')
  const states: JobState[] = ['waiting', 'delayed', 'active', 'completed', 'failed', 'waitingchildren', 'waitingparent']
  return states.includes(name as JobState) ? (name as JobState) : null
}

/**
 * GETJOBS (spec: sorted by id, descending; `total` counts the matches before paging). A page comes
 * from one of two places, whichever is expected to visit fewer jobs:
 *  - the id-ordered list (job-index.ts), newest first: (offset + page) × listed / matches entries
 *    when the matches are spread evenly (always, without a state filter);
 *  - the state's own home (ready/delayed heaps, DLQ, parked set, active set, history): all m jobs
 *    of the state, of which the newest offset + page are selected (O(m), then sorted).
 * A gathered job counts as gatheredJobCost list entries. So a page costs at most about
 * √(gatheredJobCost × (offset + page) × listed) entries, and a walk of the list that meets far more
 * non-matching jobs than expected (the matches are clustered among old ids) stops at the gather's
 * cost and gathers instead.
 */
/**
 * What gathering one job costs, in entries of the id-ordered list: the list is walked in id order,
 * which is allocation order (neighbouring jobs in memory), while a state's home is visited in heap
 * or insertion order, and the gathered jobs then go through the selection.
 */
const gatheredJobCost = 4

function getJobs(core: Core, command: CommandOf<'GETJOBS'>, token: Token, nowMs: number) {
  const { page, total } = selectJobs(core, command.queue, command.state, command.offset, Math.min(command.limit, getJobsLimitMax), nowMs)
  const items = []
  const budget = new JobReplyBudget(2) // a browser item holds the job twice
  for (const job of page) {
    if (!budget.admit(job)) break
    items.push(jobToBrowserItem(job, nowMs))
  }
  core.reply(token, { ok: true, jobs: items, total })
}

/** _GETJOBKEYS: the ids and created_at of the newest `window` GETJOBS matches, newest first. */
export function getJobKeys(core: Core, command: CommandOf<'_GETJOBKEYS'>, token: Token, nowMs: number) {
  const window = Math.min(command.window, getJobsAcrossShardsDepthMax)
  const { page, total } = selectJobs(core, command.queue, command.state, 0, window, nowMs)
  core.reply(token, { ok: true, ids: page.map((job) => job.id), created: page.map((job) => job.createdAt), total })
}

/** The GETJOBS matches at [offset, offset + limit) by id descending, and how many match in all. */
function selectJobs(core: Core, queue: string | undefined, state: string | undefined, offset: number, limit: number, nowMs: number): { page: Job[]; total: number } {
  const filter = parseStateFilter(state)
  let queues: QueueState[]
  if (queue === undefined) queues = [...core.queues.values()]
  else {
    const q = core.queues.get(queue)
    queues = q === undefined ? [] : [q]
  }
  let total = 0
  let listed = 0
  for (const q of queues) {
    if (q.delayed.size > 0) core.promoteDue(q, nowMs)
    total += filter === null ? q.listedCount : stateCount(q, filter)
    listed += q.listedCount
  }
  const index = queue === undefined ? core.jobs : queues[0]?.byId
  let page: Job[] | null = null
  if (index !== undefined && total > 0 && offset < total) {
    const wanted = offset + limit
    const gatherCost = filter === null ? Infinity : gatheredJobCost * homeSize(core, filter, total)
    if (gatherCost > (wanted * listed) / total) {
      page = index.page((job) => filter === null || stateOf(job, nowMs) === filter, offset, limit, gatherCost)
    }
    if (page === null) page = gather(core, queues, filter as JobState, nowMs, offset, limit)
  }
  return { page: page ?? [], total }
}

/** Jobs of a queue in `state` (delayed jobs due at `nowMs` promoted first). */
function stateCount(q: QueueState, state: JobState): number {
  switch (state) {
    case 'waiting': return q.ready.size + q.groupWaitCount
    case 'delayed': return q.delayed.size
    case 'active': return q.activeCount
    case 'completed': return q.completedCount
    case 'failed': return q.dlq.size
    case 'waitingchildren': return q.parkedCount - q.parentCount
    case 'waitingparent': return q.parentCount
    default: return 0
  }
}

/** Jobs gather() visits for `state`: the shard's active set or history, or the queues' own lists. */
function homeSize(core: Core, state: JobState, total: number): number {
  if (state === 'active') return core.activeJobs.size
  if (state === 'completed') return core.history.size
  return total
}

/** A page of one state, gathered from where the state lives: the newest offset + limit of them. */
function gather(core: Core, queues: QueueState[], state: JobState, nowMs: number, offset: number, limit: number): Job[] {
  const found: Job[] = []
  const names = new Set(queues.map((q) => q.name))
  const take = (job: Job) => {
    if (isListed(job) && stateOf(job, nowMs) === state) found.push(job)
  }
  if (state === 'active') {
    for (const job of core.activeJobs) if (names.has(job.queue)) take(job)
  } else if (state === 'completed') {
    for (const job of core.history.values()) if (names.has(job.queue)) take(job)
  } else {
    for (const q of queues) {
      if (state === 'failed') for (const job of q.dlq.values()) take(job)
      else if (state === 'delayed') for (const job of q.delayed.jobs()) take(job)
      else if (state === 'waitingchildren' || state === 'waitingparent') for (const job of q.parked) take(job)
      else {
        for (const job of q.ready.jobs()) take(job)
        for (const list of q.groupWait.values()) for (const job of list) take(job)
      }
    }
  }
  return newestFirst(found, offset + limit).slice(offset)
}

function removeAll(core: Core, q: QueueState, jobs: Job[], nowMs: number): number {
  if (jobs.length === 0) return 0
  if (core.eventsEnabled) removedEvents(core, q, jobs, nowMs)
  if (core.recording) core.record({ t: 'rm', i: jobs.map((job) => job.id) })
  // Last first: the jobs of a DRAIN or OBLITERATE come in heap order, and a heap gives up its last
  // item without moving another, while its first costs a sift through the whole heap
  // (test/bench/queue-remove.ts, 300,000 waiting jobs: OBLITERATE in memory 764 → 432 ms, durable
  // 1150 → 719 ms, the thread blocked all along). Half of what is left is thawing frozen jobs.
  for (let index = jobs.length - 1; index >= 0; index--) core.remove(jobs[index] as Job, q, errors.waitJobNotFound)
  return jobs.length
}

/**
 * A `removed` event per job of a DRAIN, CLEAN or OBLITERATE (BullMQ listeners wait on them), for the
 * first removedEventsPerCommandMax jobs: a subscriber buffers far fewer anyway (eventBufferEventsMax).
 */
function removedEvents(core: Core, q: QueueState, jobs: Job[], nowMs: number): void {
  const count = Math.min(jobs.length, removedEventsPerCommandMax)
  for (let index = 0; index < count; index++) {
    const job = jobs[index] as Job
    core.event({ event_type: 'removed', queue: q.name, job_id: job.id, timestamp: nowMs, data: { prev: stateOf(job, nowMs) } }, job)
  }
}

function queuedJobs(q: QueueState): Job[] {
  const jobs = [...q.ready.jobs(), ...q.delayed.jobs()]
  for (const list of q.groupWait.values()) jobs.push(...list)
  return jobs
}

function clean(core: Core, command: CommandOf<'CLEAN'>, token: Token, nowMs: number) {
  const state = command.state.toLowerCase()
  if (state !== 'waiting' && state !== 'delayed' && state !== 'completed' && state !== 'failed') {
    return core.reply(token, { ok: false, error: errors.cleanStateInvalid })
  }
  const q = core.queues.get(command.queue)
  if (command.ids === true) return cleanListed(core, q, command, state, token, nowMs)
  const victims = q === undefined ? [] : cleanVictims(core, q, state, nowMs - command.grace, command.limit ?? Infinity, nowMs)
  core.reply(token, { ok: true, count: q === undefined ? 0 : removeAll(core, q, victims, nowMs) })
}

/**
 * CLEAN with `ids: true` (the SDK's Queue.clean, which must return exactly the removed jobs' ids):
 * at most cleanReplyIdsMax jobs, and no more than their ids fit in one reply (a custom id may be
 * 1024 characters), so a clean of 270,000 jobs never becomes one unbounded reply. One victim past
 * the cap tells whether matching jobs remain (`more`).
 */
function cleanListed(core: Core, q: QueueState | undefined, command: CommandOf<'CLEAN'>, state: CleanState, token: Token, nowMs: number) {
  const limit = Math.min(command.limit ?? Infinity, cleanReplyIdsMax + 1)
  const victims = q === undefined ? [] : cleanVictims(core, q, state, nowMs - command.grace, limit, nowMs)
  const taken = victims.slice(0, listedCount(victims))
  // Read before the removal, which forgets the jobs.
  const listed = { ids: taken.map((job) => job.id), custom_ids: customIdsOf(taken), more: taken.length < victims.length }
  if (q !== undefined) removeAll(core, q, taken, nowMs)
  core.reply(token, { ok: true, count: taken.length, ...listed })
}

type CleanState = 'waiting' | 'delayed' | 'completed' | 'failed'

/** The jobs a CLEAN removes, oldest first: up to `limit` of `state` in `q` created at or before `cutoff`. */
function cleanVictims(core: Core, q: QueueState, state: CleanState, cutoff: number, limit: number, nowMs: number): Job[] {
  const victims: Job[] = []
  const consider = (job: Job) => {
    if (victims.length < limit && job.createdAt <= cutoff && stateOf(job, nowMs) === state) victims.push(job)
  }
  if (state === 'failed') for (const job of q.dlq.values()) consider(job)
  else if (state === 'completed') {
    for (const job of core.history.values()) if (job.inHistory && job.queue === q.name) consider(job)
  } else for (const id of queuedVictims(core, q, state, cutoff, limit, nowMs)) victims.push(core.jobs.get(id) as Job)
  return victims
}

/** How many of `victims` one listed CLEAN reply carries: the first cleanReplyIdsMax, or fewer if their ids pass its bytes. */
function listedCount(victims: Job[]): number {
  const count = Math.min(victims.length, cleanReplyIdsMax)
  const budget = new ReplyBudget()
  for (let index = 0; index < count; index++) {
    if (!budget.admit(listedIdBytesMax(victims[index] as Job))) return index
  }
  return count
}

/** Custom id by job id, for the jobs that have one (most have none: the map stays small). */
function customIdsOf(jobs: Job[]): Record<string, string> {
  const found: Record<string, string> = {}
  for (const job of jobs) if (job.customId !== null) found[job.id] = job.customId
  return found
}

/**
 * The ids CLEAN takes of a queue's waiting or delayed jobs, oldest first: its id-ordered list walked
 * until `limit` are found, reading each job without thawing it (JobTable.glance). Materialising the
 * queue's heaps thawed every frozen job first: CLEAN with a limit of 100 on 500,000 waiting jobs
 * blocked the shard ~0.8 s, even when no job was old enough (test/bench/queue-remove.ts).
 */
function queuedVictims(core: Core, q: QueueState, state: 'waiting' | 'delayed', cutoff: number, limit: number, nowMs: number): number[] {
  const delayed = state === 'delayed'
  return q.byId.oldest((id) => {
    const job = core.jobs.glance(id)
    if (job === null || job.queue !== q.name || job.createdAt > cutoff) return false
    return (job.loc === LOC_READY || job.loc === LOC_DELAYED || job.loc === LOC_GROUP_WAIT) && job.runAt > nowMs === delayed
  }, limit)
}

function drain(core: Core, command: CommandOf<'DRAIN'>, token: Token, nowMs: number) {
  const q = core.queues.get(command.queue)
  core.reply(token, { ok: true, count: q === undefined ? 0 : removeAll(core, q, queuedJobs(q), nowMs) })
}

function obliterate(core: Core, command: CommandOf<'OBLITERATE'>, token: Token, nowMs: number) {
  const refusal = obliterateRefusal(core)
  if (refusal !== null) return core.reply(token, { ok: false, error: refusal })
  // Cron entries live on the shards of their names: local ones go now, the others by message.
  const group = core.beginGroup()
  obliterateCron(core, command.queue, nowMs)
  core.endGroup(group)
  const q = core.queues.get(command.queue)
  if (q === undefined) return core.reply(token, { ok: true, count: 0 })
  core.touched.add(q)
  const victims = queuedJobs(q)
  for (const job of q.dlq.values()) victims.push(job)
  for (const job of q.byId.listed()) {
    if (job.loc === LOC_ACTIVE || job.loc === LOC_PARKED || job.loc === LOC_PARENT) victims.push(job)
  }
  const removed = removeAll(core, q, victims, nowMs)
  const cleared: QueueSettings = { p: false, r: null, k: null }
  applyQueueSettings(q, cleared, nowMs)
  q.uniqueKeys.clear()
  q.busyGroups.clear()
  if (core.recording) core.record({ t: 'qs', q: q.name, ...cleared })
  core.reply(token, { ok: true, count: removed })
}

function metrics(core: Core, _command: CommandOf<'METRICS'>, token: Token, nowMs: number) {
  const queues = []
  for (const q of core.queues.values()) {
    if (q.isEmpty) continue
    queues.push({ name: q.name, pending: q.queuedCount, processing: q.activeCount, dlq: q.dlq.size, rate_limit: q.rateLimit })
  }
  core.reply(token, {
    ok: true,
    metrics: {
      total_pushed: core.metrics.totalPushed,
      total_completed: core.metrics.totalCompleted,
      total_failed: core.metrics.totalFailed,
      // Completions per second over the last closed 5-s point of the history (spec §4.18).
      jobs_per_second: core.metrics.jobsPerSecond(nowMs),
      // Push → ack, over every completion this shard has seen since it started.
      avg_latency_ms: core.metrics.averageLatencyMs(),
      queues,
    },
  })
}

export const queueHandlers: HandlerTable = {
  PAUSE: pause,
  RESUME: resume,
  ISPAUSED: isPaused,
  RATELIMIT: rateLimit,
  RATELIMITCLEAR: rateLimitClear,
  SETCONCURRENCY: setConcurrency,
  CLEARCONCURRENCY: clearConcurrency,
  COUNT: count,
  GETJOBCOUNTS: getJobCounts,
  LISTQUEUES: listQueues,
  GETJOBS: getJobs,
  CLEAN: clean,
  DRAIN: drain,
  OBLITERATE: obliterate,
  METRICS: metrics,
}
