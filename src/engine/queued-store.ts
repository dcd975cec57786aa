/**
 * The queued-compatible simple-queue API (spec queued-api.md) inside the engine. A message is an
 * engine job (§1.4): data = contents, created_at = push time, run_at = visible-at, so its queue shows
 * in flashQ listings and its id comes from the shard's id counter. A poll is a lease: the job moves to
 * the delay heap until visible-at, with a higher poll count and a fresh poll tag. Unlike a flashQ
 * PULL, a poll is recorded, so a lease survives a restart (§1.5).
 *
 * Selection (§1.6): earliest visible-at, then lowest id. The ready heap orders priority desc, then
 * run_at asc, id asc, and queued messages all have priority 0 and lifo false, so its top is the
 * answer once due delayed jobs are promoted.
 *
 * The front (server/http/queued/) validates the HTTP request with the spec's exact texts, generates
 * the poll tags from a CSPRNG (the engine stays deterministic) and counts the queued_* counters.
 *
 * Records:
 *   j    a message: the job record with `qn` poll count (0 = never polled) and `qg` poll tag
 *   qp   poll: i id, r visible-at, n poll count, g poll tag
 *   qu   update: i id, r visible-at (tag and count unchanged)
 *   rm   delete (the engine's removal record)
 */
import type { CommandOf } from '../protocol/commands.ts'
import type { LogRecord, Token } from './types.ts'
import type { Core } from './core.ts'
import type { HandlerTable } from './engine.ts'
import { Job, LOC_DELAYED, LOC_READY, rawData } from './job.ts'
import type { QueueState } from './queue-state.ts'
import { encodeJob } from './records.ts'
import { queuesMax } from './engine-limits.ts'
import { queuedStoreFull } from '../protocol/queued-commands.ts'


/** A polled message as the front needs it (it adds the tag it generated and formats `created`). */
export type PolledMessage = { id: number; created_at: number; poll_count: number; contents: string }

function push(core: Core, command: CommandOf<'_QPUSH'>, token: Token, nowMs: number): void {
  const messages = command.messages
  if (core.jobs.size + messages.length > core.jobsMax) return core.reply(token, { ok: false, error: queuedStoreFull })
  const q = core.queue(command.queue)
  noteQueuedQueue(core, q.name)
  const ids: number[] = new Array(messages.length)
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as { contents: string; delay_ms: number }
    const job = new Job(core.nextId(), q.name, nowMs, nowMs + message.delay_ms)
    job.data = message.contents
    job.pollCount = 0
    core.addJob(job, q)
    if (core.recording) core.record(encodeJob(job) as LogRecord)
    core.enqueue(job, q, nowMs)
    core.metrics.totalPushed++
    // As PUSH does: nothing built while no one subscribes, and the payload spliced as its JSON text.
    if (core.eventsEnabled) core.event({ event_type: 'pushed', queue: q.name, job_id: job.id, timestamp: nowMs, data: rawData(job) }, job)
    ids[i] = job.id
  }
  core.reply(token, { ok: true, ids })
}

function poll(core: Core, command: CommandOf<'_QPOLL'>, token: Token, nowMs: number): void {
  const q = core.queues.get(command.queue)
  if (q === undefined) return core.reply(token, { ok: true, messages: [] })
  core.promoteDue(q, nowMs)
  // Taken first, re-placed after: a timeout of 0 makes a message visible at once, and the same poll
  // must not hand it out twice.
  const taken: Job[] = []
  while (taken.length < command.tags.length) {
    const job = q.ready.peek()
    if (job === undefined) break
    core.unqueue(job, q)
    taken.push(job)
  }
  const visibleAt = nowMs + command.visibility_ms
  const messages: PolledMessage[] = new Array(taken.length)
  for (let i = 0; i < taken.length; i++) {
    const job = taken[i] as Job
    // A flashQ job polled here (mixed use, unspecified by the spec) becomes a message from now on.
    lease(core, job, q, visibleAt, Math.max(0, job.pollCount) + 1, command.tags[i] as string, nowMs)
    messages[i] = { id: job.id, created_at: job.createdAt, poll_count: job.pollCount, contents: contentsOf(job) }
  }
  core.reply(token, { ok: true, messages })
}

/** The message with this id in this queue, polled at least once, whose current tag is `tag`. */
function leased(core: Core, queue: string, id: number, tag: string): { job: Job; q: QueueState } | null {
  const job = core.jobs.get(id)
  if (job === undefined || job.queue !== queue || job.pollTag !== tag) return null
  if (job.loc !== LOC_READY && job.loc !== LOC_DELAYED) return null
  return { job, q: core.queue(queue) }
}

function remove(core: Core, command: CommandOf<'_QDELETE'>, token: Token): void {
  const deleted: boolean[] = new Array(command.items.length)
  const removedIds: number[] = []
  for (let i = 0; i < command.items.length; i++) {
    const item = command.items[i] as { id: number; tag: string }
    const found = leased(core, command.queue, item.id, item.tag)
    deleted[i] = found !== null
    if (found === null) continue
    core.remove(found.job, found.q, null)
    removedIds.push(item.id)
  }
  if (removedIds.length > 0 && core.recording) core.record({ t: 'rm', i: removedIds })
  core.reply(token, { ok: true, deleted })
}

function update(core: Core, command: CommandOf<'_QUPDATE'>, token: Token, nowMs: number): void {
  const found = leased(core, command.queue, command.id, command.tag)
  if (found === null) return core.reply(token, { ok: true, updated: false })
  setVisibleAt(core, found.job, found.q, nowMs + command.visibility_ms, nowMs)
  core.reply(token, { ok: true, updated: true })
}

/** The queued_available / visible / invisible gauges of this shard (§4.3). */
function stats(core: Core, _command: unknown, token: Token, nowMs: number): void {
  let visible = 0
  let invisible = 0
  for (const name of core.queuedQueues) {
    const q = core.queues.get(name)
    if (q === undefined) {
      core.queuedQueues.delete(name) // emptied and forgotten by the engine
      continue
    }
    core.promoteDue(q, nowMs)
    visible += q.ready.size + q.groupWaitCount
    invisible += q.delayed.size
  }
  core.reply(token, { ok: true, available: visible + invisible, visible, invisible })
}

/** Remembers a queue used through the API; forgotten queues are pruned when the set grows too big. */
function noteQueuedQueue(core: Core, name: string): void {
  const names = core.queuedQueues
  if (names.has(name)) return
  if (names.size >= queuesMax) for (const old of names) if (!core.queues.has(old)) names.delete(old)
  names.add(name)
}

function contentsOf(job: Job): string {
  return typeof job.data === 'string' ? job.data : JSON.stringify(job.data) ?? 'null'
}

export const queuedHandlers: HandlerTable = {
  _QPUSH: push,
  _QPOLL: poll,
  _QDELETE: remove,
  _QUPDATE: update,
  _QSTATS: stats,
}

export function isQueuedRecord(r: LogRecord): boolean {
  return r.t === 'qp' || r.t === 'qu'
}

/** A poll leases a message (already taken out of its heap) until `visibleAt` (`qp`). */
function lease(core: Core, job: Job, q: QueueState, visibleAt: number, pollCount: number, tag: string, nowMs: number): void {
  core.willChange(job)
  job.pollCount = pollCount
  job.pollTag = tag
  job.runAt = visibleAt
  noteQueuedQueue(core, q.name)
  core.enqueue(job, q, nowMs)
  if (core.recording) core.record({ t: 'qp', i: job.id, r: visibleAt, n: pollCount, g: tag })
}

/** A leased message becomes visible at `visibleAt` instead (`qu`); tag and count stay. */
function setVisibleAt(core: Core, job: Job, q: QueueState, visibleAt: number, nowMs: number): void {
  core.unqueue(job, q)
  job.runAt = visibleAt
  core.enqueue(job, q, nowMs)
  if (core.recording) core.record({ t: 'qu', i: job.id, r: visibleAt })
}

/** Replay of `qp` and `qu`: the live transitions (finishReplay promotes what is due). */
export function applyQueuedRecord(core: Core, r: LogRecord): void {
  const job = core.jobs.get(r.i as number)
  if (job === undefined || !core.isQueued(job)) return
  const q = core.queue(job.queue)
  if (r.t === 'qu') return setVisibleAt(core, job, q, r.r as number, r.r as number)
  core.unqueue(job, q)
  lease(core, job, q, r.r as number, r.n as number, r.g as string, r.r as number)
}
