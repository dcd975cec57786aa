/** Job management commands (spec §3.2) and flows (§3.6). */
import type { CommandOf } from '../protocol/commands.ts'
import * as errors from '../protocol/errors.ts'
import type { Token } from './types.ts'
import type { HandlerTable } from './engine.ts'
import type { Core } from './core.ts'
import {
  Job, LOC_ACTIVE, LOC_COMPLETED, LOC_DLQ, LOC_GONE, LOC_PARENT, LOC_PARKED, jobToBrowserItem, jobToWire, stateOf,
} from './job.ts'
import {
  encodeJob, moveToDelayed, noteHeartbeat, promoteJob, rescheduleJob, retryFromDlq, setPriority, setProgress, updateData,
} from './records.ts'
import { noRequest, plainJobInput, pushJob } from './handlers-core.ts'
import { JobReplyBudget } from './reply-size.ts'
import { type RemoteChild, askForChildren, dependencyDone, linkRefusal, requestFlowChildren } from './links.ts'
import { jobDataBytesMax } from '../base/limits.ts'
import { shardOfName } from '../base/hash.ts'
import { shardOfJobId } from '../base/ids.ts'
import { flowReplyTimeoutMs } from './engine-limits.ts'

const ok = { ok: true } as const

function known(core: Core, id: number): Job | undefined {
  const job = core.jobs.get(id)
  return job !== undefined && job.loc !== LOC_GONE ? job : undefined
}

function active(core: Core, id: number): Job | undefined {
  const job = core.jobs.get(id)
  return job !== undefined && job.loc === LOC_ACTIVE ? job : undefined
}

function cancel(core: Core, command: CommandOf<'CANCEL'>, token: Token, nowMs: number) {
  const job = known(core, command.id)
  if (job === undefined) return core.reply(token, { ok: false, error: errors.jobNotFound(command.id) })
  if (job.loc === LOC_COMPLETED || job.loc === LOC_DLQ) {
    return core.reply(token, { ok: false, error: errors.jobCannotBeCancelled(command.id) })
  }
  removeKnown(core, job, token, nowMs)
}

/**
 * Extension (BullMQ's job.remove() and queue.remove(id)): CANCEL that also takes a completed job
 * (its history entry and result) or a failed one (its DLQ entry). The same removal and `rm` record as
 * CANCEL and CLEAN, so replay needs nothing new.
 */
function removeJob(core: Core, command: CommandOf<'REMOVEJOB'>, token: Token, nowMs: number) {
  const job = known(core, command.id)
  if (job === undefined || (command.queue !== undefined && job.queue !== command.queue)) {
    return core.reply(token, { ok: false, error: errors.jobNotFound(command.id) })
  }
  removeKnown(core, job, token, nowMs)
}

/** Removes a job in any state (its WAITJOB waiters get `Job not found`), with its `removed` event. */
function removeKnown(core: Core, job: Job, token: Token, nowMs: number): void {
  if (core.eventsEnabled) {
    core.event({ event_type: 'removed', queue: job.queue, job_id: job.id, timestamp: nowMs, data: { prev: stateOf(job, nowMs) } }, job)
  }
  core.remove(job, core.queue(job.queue), errors.waitJobNotFound)
  if (core.recording) core.record({ t: 'rm', i: [job.id] })
  core.reply(token, ok)
}

function progress(core: Core, command: CommandOf<'PROGRESS'>, token: Token, nowMs: number) {
  const job = active(core, command.id)
  if (job === undefined) return core.reply(token, { ok: false, error: errors.jobNotFoundInProcessing(command.id) })
  setProgress(core, job, command.progress, command.message ?? null)
  // Spec §5.4: `data` is {message} when a message was given.
  core.event(command.message === undefined
    ? { event_type: 'progress', queue: job.queue, job_id: job.id, timestamp: nowMs, progress: job.progress }
    : { event_type: 'progress', queue: job.queue, job_id: job.id, timestamp: nowMs, data: { message: command.message }, progress: job.progress }, job)
  core.reply(token, ok)
}

function getProgress(core: Core, command: CommandOf<'GETPROGRESS'>, token: Token) {
  const job = known(core, command.id)
  if (job === undefined) return core.reply(token, { ok: false, error: errors.jobNotFound(command.id) })
  core.reply(token, { ok: true, progress: { id: job.id, progress: job.progress, message: job.progressMsg } })
}

function getJobsBatch(core: Core, command: CommandOf<'GETJOBSBATCH'>, token: Token, nowMs: number) {
  const jobs = []
  const budget = new JobReplyBudget(2) // a browser item holds the job twice
  for (const id of command.ids) {
    const job = known(core, id)
    if (job === undefined || job.loc === LOC_COMPLETED) continue
    if (!budget.admit(job)) break
    jobs.push(jobToBrowserItem(job, nowMs))
  }
  core.reply(token, { ok: true, jobs })
}

function changePriority(core: Core, command: CommandOf<'CHANGEPRIORITY'>, token: Token) {
  const job = known(core, command.id)
  if (job === undefined || job.loc === LOC_COMPLETED) {
    return core.reply(token, { ok: false, error: errors.jobCannotChangePriority(command.id) })
  }
  setPriority(core, job, command.priority)
  if (core.recording) core.record({ t: 'cp', i: job.id, v: command.priority })
  core.reply(token, ok)
}

function moveToDelayedCommand(core: Core, command: CommandOf<'MOVETODELAYED'>, token: Token, nowMs: number) {
  const job = active(core, command.id)
  if (job === undefined) return core.reply(token, { ok: false, error: errors.jobNotInProcessing(command.id) })
  core.leaveActive(job, core.queue(job.queue))
  const runAt = nowMs + command.delay
  if (core.recording) core.record({ t: 'md', i: job.id, r: runAt })
  moveToDelayed(core, job, runAt, nowMs)
  if (command.delay > 0) core.event({ event_type: 'delayed', queue: job.queue, job_id: job.id, timestamp: nowMs, data: { run_at: runAt } }, job)
  core.reply(token, ok)
}

function promote(core: Core, command: CommandOf<'PROMOTE'>, token: Token, nowMs: number) {
  const job = known(core, command.id)
  if (job === undefined) return core.reply(token, { ok: false, error: errors.jobNotFoundOrNotDelayed(command.id) })
  if (!core.isQueued(job)) return core.reply(token, { ok: false, error: errors.jobNotFoundInQueue(command.id) })
  if (job.runAt <= nowMs) return core.reply(token, { ok: false, error: errors.jobNotDelayed(command.id) })
  if (core.recording) core.record({ t: 'pm', i: job.id, r: nowMs })
  promoteJob(core, job, nowMs)
  core.reply(token, ok)
}

/** Extension (BullMQ's job.changeDelay): a delayed job becomes due `delay` ms from now. */
function changeDelay(core: Core, command: CommandOf<'CHANGEDELAY'>, token: Token, nowMs: number) {
  const job = known(core, command.id)
  if (job === undefined || !core.isQueued(job) || job.runAt <= nowMs) {
    return core.reply(token, { ok: false, error: errors.jobNotFoundOrNotDelayed(command.id) })
  }
  const runAt = nowMs + command.delay
  if (core.recording) core.record({ t: 'pm', i: job.id, r: runAt })
  rescheduleJob(core, job, runAt, nowMs)
  if (command.delay > 0) core.event({ event_type: 'delayed', queue: job.queue, job_id: job.id, timestamp: nowMs, data: { run_at: runAt } }, job)
  core.reply(token, ok)
}

function updateJob(core: Core, command: CommandOf<'UPDATEJOB'>, token: Token, _nowMs: number, requestBytes: number) {
  const job = known(core, command.id)
  if (job === undefined || job.loc === LOC_COMPLETED) return core.reply(token, { ok: false, error: errors.jobNotFound(command.id) })
  if (requestBytes > jobDataBytesMax) {
    const bytes = Buffer.byteLength(JSON.stringify(command.data) ?? '')
    if (bytes > jobDataBytesMax) return core.reply(token, { ok: false, error: errors.jobDataTooLarge(bytes) })
  }
  updateData(core, job, command.data)
  core.reply(token, ok)
}

function discard(core: Core, command: CommandOf<'DISCARD'>, token: Token, nowMs: number) {
  const job = known(core, command.id)
  if (job === undefined || job.loc === LOC_COMPLETED || job.loc === LOC_DLQ) {
    return core.reply(token, { ok: false, error: errors.jobNotFoundOrAlreadyFinished(command.id) })
  }
  // Extension: a parked job (waitingchildren / waitingparent) may be discarded too.
  if (job.loc !== LOC_ACTIVE && !core.isQueued(job) && !core.isParked(job)) {
    return core.reply(token, { ok: false, error: errors.jobNotInProcessing(command.id) })
  }
  if (core.recording) core.record({ t: 'dc', i: job.id })
  core.deadLetter(job, core.queue(job.queue), errors.jobDiscarded, nowMs, false)
  core.reply(token, ok)
}

/**
 * Extension: the parked job stops waiting for one dependency, as if it had completed; it runs once
 * nothing else is pending. The SDK sends it when a flow child with ignoreDependencyOnFailure or
 * removeDependencyOnFailure fails for good. Recorded as that dependency's `dd`, so replay is the same.
 */
function dropDependency(core: Core, command: CommandOf<'DROPDEP'>, token: Token, nowMs: number) {
  const job = known(core, command.id)
  if (job === undefined || job.loc !== LOC_PARKED || !job.pendingDeps.includes(command.dependency)) {
    return core.reply(token, { ok: false, error: errors.jobNotWaitingForDependency(command.id, command.dependency) })
  }
  core.links.removeDependent(command.dependency, job.id)
  dependencyDone(core, job.id, command.dependency, nowMs)
  core.reply(token, ok)
}

function log(core: Core, command: CommandOf<'LOG'>, token: Token, nowMs: number) {
  if (known(core, command.id) === undefined) return core.reply(token, { ok: false, error: errors.jobNotFound(command.id) })
  core.appendLog(command.id, { timestamp: nowMs, message: command.message, level: command.level })
  if (core.recording) core.record({ t: 'l', i: command.id, c: nowMs, m: command.message, v: command.level })
  core.reply(token, ok)
}

function getLogs(core: Core, command: CommandOf<'GETLOGS'>, token: Token) {
  if (known(core, command.id) === undefined) return core.reply(token, { ok: false, error: errors.jobNotFound(command.id) })
  core.reply(token, { ok: true, id: command.id, logs: core.logs.get(command.id) ?? [] })
}

function heartbeat(core: Core, command: CommandOf<'HEARTBEAT'>, token: Token, nowMs: number) {
  const job = active(core, command.id)
  if (job === undefined) return core.reply(token, { ok: false, error: errors.jobNotInProcessing(command.id) })
  noteHeartbeat(core, job, nowMs)
  core.reply(token, ok)
}

function partial(core: Core, command: CommandOf<'PARTIAL'>, token: Token, nowMs: number, requestBytes: number) {
  const job = active(core, command.id)
  if (job === undefined) return core.reply(token, { ok: false, error: errors.jobNotFoundInProcessing(command.id) })
  if (requestBytes > jobDataBytesMax) {
    const bytes = Buffer.byteLength(JSON.stringify(command.data) ?? '')
    if (bytes > jobDataBytesMax) return core.reply(token, { ok: false, error: errors.valueTooLarge('data', bytes) })
  }
  const data = command.index === undefined ? { chunk: command.data } : { chunk: command.data, index: command.index }
  core.event({ event_type: 'partial', queue: job.queue, job_id: job.id, timestamp: nowMs, data }, job)
  core.reply(token, ok)
}

function dlq(core: Core, command: CommandOf<'DLQ'>, token: Token) {
  const q = core.queues.get(command.queue)
  const jobs = []
  if (q !== undefined) {
    const budget = new JobReplyBudget()
    for (const job of q.dlq.values()) {
      if (jobs.length >= command.count || !budget.admit(job)) break
      jobs.push(jobToWire(job))
    }
  }
  core.reply(token, { ok: true, jobs })
}

function retryDlq(core: Core, command: CommandOf<'RETRYDLQ'>, token: Token, nowMs: number) {
  const q = core.queues.get(command.queue)
  const ids: number[] = []
  if (q !== undefined) {
    if (command.id !== undefined) {
      if (q.dlq.has(command.id)) ids.push(command.id)
    } else ids.push(...q.dlq.keys())
    if (ids.length > 0 && core.recording) core.record({ t: 'rd', i: ids, r: nowMs })
    for (const id of ids) retryFromDlq(core, q.dlq.get(id) as Job, nowMs)
  }
  core.reply(token, { ok: true, ids: [ids.length], count: ids.length })
}

function purgeDlq(core: Core, command: CommandOf<'PURGEDLQ'>, token: Token) {
  const q = core.queues.get(command.queue)
  const ids = q === undefined ? [] : [...q.dlq.keys()]
  if (ids.length > 0 && core.recording) core.record({ t: 'rm', i: ids })
  for (const id of ids) core.remove(q!.dlq.get(id) as Job, q!, null)
  core.reply(token, { ok: true, count: ids.length })
}

/**
 * FLOW (spec §3.6, §4.12). The parent and the children of this shard's queues are created here; a
 * child whose queue lives on another shard is created there (`flowChild` outbox message, answered by
 * `flowChildId`), and the reply waits until every child id is known (links.ts).
 */
function flow(core: Core, command: CommandOf<'FLOW'>, token: Token, nowMs: number, requestBytes: number) {
  const checkSize = requestBytes > jobDataBytesMax
  if (checkSize) {
    const sizes = [command.data, ...command.children.map((child) => child.data)]
    for (const data of sizes) {
      const bytes = Buffer.byteLength(JSON.stringify(data) ?? '')
      if (bytes > jobDataBytesMax) return core.reply(token, { ok: false, error: errors.jobDataTooLarge(bytes) })
    }
  }
  if (core.jobs.size + 1 + command.children.length > core.jobsMax) {
    return core.reply(token, { ok: false, error: errors.tooManyJobs(core.jobsMax) })
  }
  const remoteShards = command.children.map((child) => shardOfName(child.queue, core.shardCount)).filter((shard) => shard !== core.shardIndex)
  const refusal = linkRefusal(core, remoteShards)
  if (refusal !== null) return core.reply(token, { ok: false, error: refusal })
  const pq = core.queue(command.queue)
  const parent = new Job(core.nextId(), pq.name, nowMs)
  parent.data = command.data
  parent.priority = command.priority
  // The parent is recorded before its children (its record is slotted in front of theirs below).
  const recordsAt = core.out.records.length
  const childIds: number[] = []
  const remote: RemoteChild[] = []
  command.children.forEach((child, index) => {
    const shard = shardOfName(child.queue, core.shardCount)
    if (shard === core.shardIndex) {
      const input = plainJobInput(child.data, child.priority, child.delay)
      childIds.push(pushJob(core, core.queue(child.queue), input, nowMs, noRequest, parent.id) as number)
    } else {
      childIds.push(0) // not known yet
      remote.push({ index, queue: child.queue, data: child.data, priority: child.priority, delay: child.delay ?? null })
    }
  })
  parent.childrenIds = childIds
  core.addJob(parent, pq)
  core.park(parent, pq, LOC_PARENT)
  if (core.recording) core.out.records.splice(recordsAt, 0, encodeJob(parent) as { t: string })
  if (remote.length > 0) requestFlowChildren(core, parent.id, childIds, remote, token, nowMs)
  // The parent, its children and the outbox messages for the remote ones are durable together.
  core.endGroup(recordsAt)
  core.event({ event_type: 'pushed', queue: pq.name, job_id: parent.id, timestamp: nowMs }, parent)
  if (remote.length === 0) core.reply(token, { ok: true, parent_id: parent.id, children_ids: childIds })
}

/**
 * GETCHILDREN. Children on this shard are read here; children in queues of other shards are asked
 * for (`childrenQuery` → `childrenFound`) and the reply waits for them (at most flowReplyTimeoutMs).
 */
function getChildren(core: Core, command: CommandOf<'GETCHILDREN'>, token: Token, nowMs: number) {
  const parent = core.jobs.get(command.parent_id)
  if (parent === undefined || parent.loc !== LOC_PARENT) {
    return core.reply(token, { ok: false, error: errors.parentJobNotFound(command.parent_id) })
  }
  const found = new Map<number, unknown>()
  const remote = new Map<number, number[]>()
  for (const id of parent.childrenIds) {
    if (id === 0) continue // a remote child whose id is not known yet
    if (!core.isLocal(id)) {
      const shard = shardOfJobId(id, core.shardCount)
      const ids = remote.get(shard)
      if (ids === undefined) remote.set(shard, [id])
      else ids.push(id)
      continue
    }
    const child = core.jobs.get(id)
    if (child !== undefined && child.loc !== LOC_COMPLETED && child.loc !== LOC_GONE) found.set(id, jobToWire(child))
  }
  const reply = {
    ok: true, parent_id: parent.id, children: [] as unknown[], children_ids: parent.childrenIds,
    completed: parent.childrenCompleted, total: parent.childrenIds.length,
  }
  const query = {
    token, reply, found, order: [...parent.childrenIds], shardsPending: remote.size, deadline: nowMs + flowReplyTimeoutMs,
  }
  askForChildren(core, query, remote)
}

export const jobHandlers: HandlerTable = {
  CANCEL: cancel,
  REMOVEJOB: removeJob,
  PROGRESS: progress,
  GETPROGRESS: getProgress,
  GETJOBSBATCH: getJobsBatch,
  CHANGEPRIORITY: changePriority,
  MOVETODELAYED: moveToDelayedCommand,
  PROMOTE: promote,
  UPDATEJOB: updateJob,
  DISCARD: discard,
  DROPDEP: dropDependency,
  CHANGEDELAY: changeDelay,
  LOG: log,
  GETLOGS: getLogs,
  HEARTBEAT: heartbeat,
  PARTIAL: partial,
  DLQ: dlq,
  RETRYDLQ: retryDlq,
  PURGEDLQ: purgeDlq,
  FLOW: flow,
  GETCHILDREN: getChildren,
}
