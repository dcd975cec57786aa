/** Queue control and stats commands (spec §3.3, §3.4). */
import type { CommandOf } from '../protocol/commands.ts'
import * as errors from '../protocol/errors.ts'
import type { Token } from './types.ts'
import type { HandlerTable } from './engine.ts'
import type { Core } from './core.ts'
import {
  Job, LOC_ACTIVE, LOC_COMPLETED, LOC_PARENT, LOC_PARKED,
  type JobState, jobToBrowserItem, stateOf,
} from './job.ts'
import type { QueueState } from './queue-state.ts'
import { getJobsLimitMax } from './engine-limits.ts'
import { JobReplyBudget } from './reply-size.ts'
import { obliterateCron } from './handlers-store.ts'

const ok = { ok: true } as const

function setting(core: Core, q: QueueState, field: 'p' | 'r' | 'k', value: unknown): void {
  if (core.recording) core.record({ t: 'qs', q: q.name, [field]: value })
  if (core.waitingQueues.has(q)) core.dirty.add(q)
}

function pause(core: Core, command: CommandOf<'PAUSE'>, token: Token) {
  const q = core.queue(command.queue)
  q.paused = true
  setting(core, q, 'p', true)
  core.reply(token, ok)
}

function resume(core: Core, command: CommandOf<'RESUME'>, token: Token) {
  const q = core.queue(command.queue)
  q.paused = false
  setting(core, q, 'p', false)
  core.reply(token, ok)
}

function isPaused(core: Core, command: CommandOf<'ISPAUSED'>, token: Token) {
  core.reply(token, { ok: true, paused: core.queues.get(command.queue)?.paused ?? false })
}

function rateLimit(core: Core, command: CommandOf<'RATELIMIT'>, token: Token, nowMs: number) {
  const q = core.queue(command.queue)
  q.rateLimit = command.limit
  q.tokens = command.limit
  q.tokensAtMs = nowMs
  setting(core, q, 'r', command.limit)
  core.reply(token, ok)
}

function rateLimitClear(core: Core, command: CommandOf<'RATELIMITCLEAR'>, token: Token) {
  const q = core.queue(command.queue)
  q.rateLimit = null
  setting(core, q, 'r', null)
  core.reply(token, ok)
}

function setConcurrency(core: Core, command: CommandOf<'SETCONCURRENCY'>, token: Token) {
  const q = core.queue(command.queue)
  q.concurrencyLimit = command.limit
  setting(core, q, 'k', command.limit)
  core.reply(token, ok)
}

function clearConcurrency(core: Core, command: CommandOf<'CLEARCONCURRENCY'>, token: Token) {
  const q = core.queue(command.queue)
  q.concurrencyLimit = null
  setting(core, q, 'k', null)
  core.reply(token, ok)
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

function getJobs(core: Core, command: CommandOf<'GETJOBS'>, token: Token, nowMs: number) {
  const filter = parseStateFilter(command.state)
  const matches: Job[] = []
  for (const job of core.jobs.values()) {
    if (command.queue !== undefined && job.queue !== command.queue) continue
    if (job.loc === LOC_COMPLETED && !job.inHistory) continue
    if (filter !== null && stateOf(job, nowMs) !== filter) continue
    matches.push(job)
  }
  matches.sort((a, b) => b.id - a.id)
  const limit = Math.min(command.limit, getJobsLimitMax)
  const page = []
  const budget = new JobReplyBudget(2) // a browser item holds the job twice
  for (const job of matches.slice(command.offset, command.offset + limit)) {
    if (!budget.admit(job)) break
    page.push(jobToBrowserItem(job, nowMs))
  }
  core.reply(token, { ok: true, jobs: page, total: matches.length })
}

function removeAll(core: Core, q: QueueState, jobs: Job[]): number {
  if (jobs.length === 0) return 0
  if (core.recording) core.record({ t: 'rm', i: jobs.map((job) => job.id) })
  for (const job of jobs) core.remove(job, q, errors.waitJobNotFound)
  return jobs.length
}

function queuedJobs(q: QueueState): Job[] {
  const jobs = [...q.ready.items, ...q.delayed.items]
  for (const list of q.groupWait.values()) jobs.push(...list)
  return jobs
}

function clean(core: Core, command: CommandOf<'CLEAN'>, token: Token, nowMs: number) {
  const state = command.state.toLowerCase()
  if (state !== 'waiting' && state !== 'delayed' && state !== 'completed' && state !== 'failed') {
    return core.reply(token, { ok: false, error: errors.cleanStateInvalid })
  }
  const q = core.queues.get(command.queue)
  if (q === undefined) return core.reply(token, { ok: true, count: 0 })
  const cutoff = nowMs - command.grace
  const limit = command.limit ?? Infinity
  const victims: Job[] = []
  const consider = (job: Job) => {
    if (victims.length < limit && job.createdAt <= cutoff && stateOf(job, nowMs) === state) victims.push(job)
  }
  if (state === 'failed') for (const job of q.dlq.values()) consider(job)
  else if (state === 'completed') {
    for (const job of core.history.values()) if (job.inHistory && job.queue === q.name) consider(job)
  } else for (const job of queuedJobs(q)) consider(job)
  core.reply(token, { ok: true, count: removeAll(core, q, victims) })
}

function drain(core: Core, command: CommandOf<'DRAIN'>, token: Token) {
  const q = core.queues.get(command.queue)
  core.reply(token, { ok: true, count: q === undefined ? 0 : removeAll(core, q, queuedJobs(q)) })
}

function obliterate(core: Core, command: CommandOf<'OBLITERATE'>, token: Token) {
  // Cron entries live on the shards of their names: local ones go now, the others by message.
  obliterateCron(core, command.queue)
  const q = core.queues.get(command.queue)
  if (q === undefined) return core.reply(token, { ok: true, count: 0 })
  core.touched.add(q)
  const victims = queuedJobs(q)
  for (const job of q.dlq.values()) victims.push(job)
  for (const job of core.jobs.values()) {
    if (job.queue === q.name && (job.loc === LOC_ACTIVE || job.loc === LOC_PARKED || job.loc === LOC_PARENT)) victims.push(job)
  }
  const removed = removeAll(core, q, victims)
  q.paused = false
  q.rateLimit = null
  q.concurrencyLimit = null
  q.uniqueKeys.clear()
  q.busyGroups.clear()
  if (core.recording) core.record({ t: 'qs', q: q.name, p: false, r: null, k: null })
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
      total_pushed: core.totalPushed,
      total_completed: core.totalCompleted,
      total_failed: core.totalFailed,
      // Completions per second over the last closed 5-s point of the history (spec §4.18).
      jobs_per_second: core.jobsPerSecond(nowMs),
      // Push → ack, over every completion this shard has seen since it started.
      avg_latency_ms: core.latencyCount === 0 ? 0 : core.latencySumMs / core.latencyCount,
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
