/**
 * Time in a shard: what is due at a given moment (blocking waits, TTLs, processing timeouts, stall
 * checks, housekeeping, outbox re-sends) and when the host must wake the engine next (DESIGN §7).
 */
import * as errors from '../protocol/errors.ts'
import type { Core } from './core.ts'
import { type Job, expiresAt } from './job.ts'
import { WAIT_JOB, WAIT_PULL } from './waiters.ts'
import { stallCheckIntervalMs, stallStrikesMax, stallTimeoutDefaultMs } from './engine-limits.ts'
import { expireChildQueries, expireFlowReplies, resendDueLinks } from './links.ts'

/** Everything due at `nowMs`. */
export function tick(core: Core, nowMs: number): void {
  const deadlines = core.waiters.deadlines
  for (;;) {
    const waiter = deadlines.peek()
    if (waiter === undefined || waiter.deadline > nowMs) break
    core.waiters.finish(waiter)
    if (waiter.kind !== WAIT_JOB) {
      const q = core.queues.get(waiter.queue)
      if (q !== undefined) core.touched.add(q)
    }
    if (waiter.kind === WAIT_PULL) core.reply(waiter.token, { ok: true, job: null })
    else if (waiter.kind === WAIT_JOB) {
      core.reply(waiter.token, { ok: false, error: errors.waitJobTimeout(waiter.jobId, waiter.timeoutMs) })
    } else core.reply(waiter.token, { ok: true, jobs: [] })
  }
  for (;;) {
    const job = core.ttlHeap.peek()
    if (job === undefined || expiresAt(job) > nowMs) break
    core.expire(job, core.queue(job.queue))
  }
  for (;;) {
    const job = core.timeoutHeap.peek()
    if (job === undefined || nowMs - job.startedAt <= job.timeout) break
    core.fail(job, core.queue(job.queue), 'Job timed out', nowMs, 'timeout')
  }
  if (nowMs >= core.nextStallCheckMs) checkStalls(core, nowMs)
  if (nowMs >= housekeepingDueMs(core)) housekeeping(core, nowMs)
  resendDueLinks(core, nowMs)
  if (core.links.flowReplies.size > 0) expireFlowReplies(core, nowMs)
  // A shard that never answers (stopped after a storage failure) leaves its children out.
  if (core.links.childQueries.size > 0) expireChildQueries(core, nowMs)
  for (const q of core.waitingQueues) core.dirty.add(q)
  core.serveDirty(nowMs)
}

/** When housekeeping must run: every interval (5 s by default) while there are debounce entries, KV expiries or a retention trim due. */
export function housekeepingDueMs(core: Core): number {
  const next = core.lastHousekeepingMs + core.housekeepingIntervalMs
  let due = core.debounceQueues.size > 0 ? next : core.retentionTrimDueMs
  const kvExpiry = core.kv.nextExpiryMs()
  if (kvExpiry < due) due = Math.max(kvExpiry, next)
  return due
}

/**
 * Purges expired KV entries and debounce entries (spec §3.9, §4.9: at least every 10 s) and trims
 * retention to lowered limits. Returns how many retained entries the trim dropped.
 */
export function housekeeping(core: Core, nowMs: number): number {
  core.lastHousekeepingMs = nowMs
  core.retentionTrimDueMs = Infinity
  const trimmed = core.trimRetention()
  core.metrics.trimPoints()
  core.kv.purgeExpired(nowMs)
  for (const q of core.debounceQueues) {
    for (const [debounceId, untilMs] of q.debounce) if (untilMs <= nowMs) q.debounce.delete(debounceId)
    if (q.debounce.size === 0) {
      core.debounceQueues.delete(q)
      core.touched.add(q)
    }
  }
  return trimmed
}

export function checkStalls(core: Core, nowMs: number): void {
  core.nextStallCheckMs = core.activeJobs.size > 0 ? nowMs + stallCheckIntervalMs : Infinity
  let stalled: Job[] | undefined
  for (const job of core.activeJobs) {
    const limit = job.stallTimeout > 0 ? job.stallTimeout : stallTimeoutDefaultMs
    if (nowMs - (job.lastHeartbeat || job.startedAt) > limit) (stalled ??= []).push(job)
  }
  if (stalled === undefined) return
  for (const job of stalled) stallStrike(core, job, nowMs)
}

export function stallStrike(core: Core, job: Job, nowMs: number): void {
  core.willChange(job)
  job.lastHeartbeat = nowMs
  job.stallCount++
  const count = job.stallCount
  core.appendLog(job.id, { timestamp: nowMs, message: `Job stall detected (count: ${count})`, level: 'warn' })
  if (!core.replaying) core.event({ event_type: 'stalled', queue: job.queue, job_id: job.id, timestamp: nowMs }, job)
  if (count < stallStrikesMax) {
    if (core.recording) core.record({ t: 'st', i: job.id, c: nowMs })
    return
  }
  core.appendLog(job.id, { timestamp: nowMs, message: `Job moved to DLQ after ${count} stalls`, level: 'error' })
  if (core.recording) core.record({ t: 'st', i: job.id, c: nowMs })
  core.deadLetter(job, core.queue(job.queue), `Job stalled ${count} times`, nowMs, false)
}

export function nextWakeMs(core: Core): number {
  let wake = Math.min(core.nextStallCheckMs, core.links.outbox.nextDueMs())
  const housekeeping = housekeepingDueMs(core)
  if (housekeeping < wake) wake = housekeeping
  const cron = core.cron.nextDueMs()
  if (cron < wake) wake = cron
  // Runs after every request batch: the size checks save an iterator object per empty collection.
  const { flowReplies, childQueries } = core.links
  if (flowReplies.size > 0) for (const pending of flowReplies.values()) if (pending.deadline < wake) wake = pending.deadline
  if (childQueries.size > 0) for (const query of childQueries.values()) if (query.deadline < wake) wake = query.deadline
  const waiter = core.waiters.deadlines.peek()
  if (waiter !== undefined && waiter.deadline < wake) wake = waiter.deadline
  const expiring = core.ttlHeap.peek()
  if (expiring !== undefined && expiresAt(expiring) < wake) wake = expiresAt(expiring)
  const timed = core.timeoutHeap.peek()
  if (timed !== undefined && timed.startedAt + timed.timeout + 1 < wake) wake = timed.startedAt + timed.timeout + 1
  if (core.waitingQueues.size > 0) for (const q of core.waitingQueues) {
    if (q.paused || core.deliveryStopped) continue
    const due = q.delayed.peek()
    if (due !== undefined && due.runAt < wake) wake = due.runAt
    if (q.rateLimit !== null && q.tokens < 1 && q.queuedCount > 0) {
      const token = q.nextTokenMs()
      if (token < wake) wake = token
    }
  }
  return wake
}

