/**
 * Job links: depends_on, flows and the cross-shard outbox that carries both when the two ends live
 * on different shards (contract in outbox.ts). State in `Links`, transitions as functions over Core,
 * used by live handlers and by replay alike.
 *
 * depends_on across shards: the dependent's shard sends `watch`; the dependency's shard remembers the
 * watcher (`w`) or answers at once, and sends `dependencyDone` when the dependency completes (`wd`).
 * Flows across shards: the parent's shard sends `flowChild`; the child's shard creates the child and
 * answers `flowChildId` (`fci` on the parent's shard); a completed child sends `childDone` (`cd`).
 * Every one of these is an outbox message: numbered, recorded with its cause, re-sent until
 * acknowledged, applied once.
 */
import { shardOfJobId } from '../base/ids.ts'
import { shardOfName } from '../base/hash.ts'
import * as errors from '../protocol/errors.ts'
import { fitToReplyBytes } from '../protocol/reply-budget.ts'
import type { Reply, Token } from './types.ts'
import type { Core } from './core.ts'
import { LOC_COMPLETED, LOC_GONE, LOC_PARENT, LOC_PARKED, jobToWire } from './job.ts'
import { Outbox, type LinkMessage, type ShardMessage, sealRecords, shardMessageVersion } from './outbox.ts'
import { flowChildKeysMax, flowReplyTimeoutMs } from './engine-limits.ts'
import { noRequest, plainJobInput, pushJob } from './handlers-core.ts'

/** A FLOW whose reply waits for the ids of its remote children (not persisted: a restart drops it). */
export type FlowReply = { token: Token; ids: number[]; waiting: Map<number, number>; deadline: number }

/** A GETCHILDREN waiting for the children that live on other shards (not persisted). */
export type ChildQuery = {
  token: Token
  reply: Reply
  /** Children found so far, by id. */
  found: Map<number, unknown>
  order: number[]
  shardsPending: number
  deadline: number
}

export class Links {
  /** Local depends_on: dependency id → parked job ids of this shard. */
  readonly dependents = new Map<number, number[]>()
  /** Dependencies of this shard watched by jobs of other shards. */
  readonly remoteWatchers = new Map<number, Array<{ shard: number; jobId: number }>>()
  readonly outbox = new Outbox()
  readonly flowReplies = new Map<number, FlowReply>()
  /**
   * Older logs only: remote flow children created here by `parent:index`, so a request from before
   * the outbox that is re-sent maps to the child it already created. Bounded, oldest dropped first.
   */
  readonly legacyFlowChildKeys = new Map<string, number>()
  readonly childQueries = new Map<number, ChildQuery>()
  lastChildQuery = 0

  addDependent(dependencyId: number, jobId: number): void {
    const list = this.dependents.get(dependencyId)
    if (list === undefined) this.dependents.set(dependencyId, [jobId])
    else list.push(jobId)
  }

  removeDependent(dependencyId: number, jobId: number): void {
    const list = this.dependents.get(dependencyId)
    if (list === undefined) return
    const rest = list.filter((id) => id !== jobId)
    if (rest.length === 0) this.dependents.delete(dependencyId)
    else this.dependents.set(dependencyId, rest)
  }

  addRemoteWatcher(dependencyId: number, shard: number, jobId: number): void {
    const list = this.remoteWatchers.get(dependencyId)
    if (list === undefined) this.remoteWatchers.set(dependencyId, [{ shard, jobId }])
    else list.push({ shard, jobId })
  }

  noteLegacyFlowChildKey(key: string, childId: number): void {
    this.legacyFlowChildKeys.set(key, childId)
    if (this.legacyFlowChildKeys.size > flowChildKeysMax) {
      this.legacyFlowChildKeys.delete(this.legacyFlowChildKeys.keys().next().value as string)
    }
  }
}

// -------------------------------------------------------------------------------------------------
// The outbox

/** Sends `body` to `target` durably: numbered, recorded (`ob`), pending until acknowledged. */
export function sendLink(core: Core, target: number, body: LinkMessage, nowMs: number): void {
  if (core.replaying) return // replay restores pending messages from their `ob` records
  const outbox = core.links.outbox
  const seq = outbox.add(target, body, nowMs)
  if (core.recording) core.record({ t: 'ob', to: target, n: seq, m: body })
  core.message(target, { t: 'outbox', v: shardMessageVersion, from: core.shardIndex, seq, body })
}

/**
 * The refusal of a command that would start new links to `targets` (one entry per message, a shard
 * may repeat) when that would pass a lane's pendingMessagesMax, or null. Checked before the command
 * changes anything; answers and completions of accepted links are never refused (see outbox.ts).
 */
export function linkRefusal(core: Core, targets: Iterable<number>): string | null {
  const outbox = core.links.outbox
  const adding = new Map<number, number>()
  for (const target of targets) adding.set(target, (adding.get(target) ?? 0) + 1)
  for (const [target, count] of adding) {
    if (outbox.pendingFor(target) + count > outbox.pendingMessagesMax) {
      return errors.tooManyPendingShardMessages(target, outbox.pendingMessagesMax)
    }
  }
  return null
}

/** Re-sends the pending messages of every lane that is due (after a restart, or unacknowledged too long). */
export function resendDueLinks(core: Core, nowMs: number): void {
  for (const [target, pending] of core.links.outbox.due(nowMs)) {
    for (const [seq, body] of pending) {
      core.message(target, { t: 'outbox', v: shardMessageVersion, from: core.shardIndex, seq, body })
    }
  }
}

/** A message from another shard engine. */
export function receiveShardMessage(core: Core, message: ShardMessage, nowMs: number): void {
  if (message.v !== shardMessageVersion) throw new Error(`shard message '${message.t}' has version ${message.v}, expected ${shardMessageVersion}`)
  if (message.t === 'outbox') receiveLink(core, message.from, message.seq, message.body, nowMs)
  else if (message.t === 'outboxAck') {
    const released = core.links.outbox.acknowledge(message.from, message.seq, nowMs)
    if (released && core.recording) core.record({ t: 'oa', to: message.from, n: message.seq })
  } else if (message.t === 'childrenQuery') receiveChildrenQuery(core, message.from, message.queryId, message.ids)
  else if (message.t === 'childrenFound') childrenFound(core, message.queryId, message.jobs)
  else throw new Error(`unknown shard message '${(message as { t: string }).t}'`)
}

/** Outbox message `seq` from `from`: applied once, in order, with its effects in one `in` record. */
function receiveLink(core: Core, from: number, seq: number, body: LinkMessage, nowMs: number): void {
  const applied = core.links.outbox.applied.get(from) ?? 0
  if (seq > applied + 1) return // an earlier message was lost: the sender re-sends from it
  if (seq === applied + 1) {
    const mark = core.out.records.length
    core.links.outbox.applied.set(from, seq)
    applyLink(core, from, body, nowMs)
    if (core.recording) sealRecords(core.out.records, mark, (records) => ({ t: 'in', from, n: seq, r: records }))
  }
  core.message(from, { t: 'outboxAck', v: shardMessageVersion, from: core.shardIndex, seq: Math.max(seq, applied) })
}

function applyLink(core: Core, from: number, body: LinkMessage, nowMs: number): void {
  switch (body.type) {
    case 'watch': return receiveWatch(core, from, body.dependencyId, body.jobId, nowMs)
    case 'dependencyDone': return dependencyDone(core, body.jobId, body.dependencyId, nowMs)
    case 'childDone': return childCompleted(core, body.parentId, body.childId, nowMs)
    case 'cronPush': return cronPushHere(core, body.queue, body.data, body.priority, nowMs)
    case 'cronObliterate':
      core.cron.deleteQueue(body.queue, core.sink)
      return
    case 'flowChild': return receiveFlowChild(core, from, body, nowMs)
    case 'flowChildId': return flowChildCreated(core, body.parentId, body.index, body.childId)
  }
}

// -------------------------------------------------------------------------------------------------
// depends_on

/** The refusal of a push whose remote dependencies would need a `watch` to a full lane, or null. */
export function dependencyLinkRefusal(core: Core, deps: number[]): string | null {
  const remote = new Set<number>()
  for (const dep of deps) if (!core.isLocal(dep)) remote.add(dep)
  if (remote.size === 0) return null
  return linkRefusal(core, [...remote].map((dep) => shardOfJobId(dep, core.shardCount)))
}

/** A new parked job waits for its pending dependencies: local ones here, remote ones by `watch`. */
export function watchDependencies(core: Core, jobId: number, pendingDeps: number[], nowMs: number): void {
  for (const dep of pendingDeps) {
    if (core.isLocal(dep)) core.links.addDependent(dep, jobId)
    else sendLink(core, shardOfJobId(dep, core.shardCount), { type: 'watch', dependencyId: dep, jobId }, nowMs)
  }
}

/** `watch`: answers at once when the dependency already completed, else remembers the watcher (`w`). */
function receiveWatch(core: Core, shard: number, dependencyId: number, jobId: number, nowMs: number): void {
  if (core.isCompletedId(dependencyId)) {
    sendLink(core, shard, { type: 'dependencyDone', dependencyId, jobId }, nowMs)
    return
  }
  if (core.recording) core.record({ t: 'w', d: dependencyId, s: shard, w: jobId })
  core.links.addRemoteWatcher(dependencyId, shard, jobId)
}

/** Job `id` completed: its local dependents move on, its remote watchers are told (`wd`). */
export function notifyDependents(core: Core, id: number, nowMs: number): void {
  const links = core.links
  const local = links.dependents.get(id)
  if (local !== undefined) {
    links.dependents.delete(id)
    for (const waiterId of local) dependencyDone(core, waiterId, id, nowMs)
  }
  const remote = links.remoteWatchers.get(id)
  if (remote !== undefined) {
    links.remoteWatchers.delete(id)
    if (core.recording) core.record({ t: 'wd', d: id })
    for (const watcher of remote) sendLink(core, watcher.shard, { type: 'dependencyDone', dependencyId: id, jobId: watcher.jobId }, nowMs)
  }
}

/** Dependency `dependencyId` of parked job `jobId` completed (`dd`). Releases the job on its last one. */
export function dependencyDone(core: Core, jobId: number, dependencyId: number, nowMs: number): void {
  const job = core.jobs.get(jobId)
  if (job === undefined || job.loc !== LOC_PARKED) return
  if (!job.pendingDeps.includes(dependencyId)) return
  core.willChange(job)
  job.pendingDeps = job.pendingDeps.filter((dep) => dep !== dependencyId)
  if (core.recording) core.record({ t: 'dd', i: jobId, d: dependencyId, c: nowMs })
  if (job.pendingDeps.length === 0) {
    const q = core.queue(job.queue)
    core.unpark(job, q)
    core.enqueue(job, q, nowMs)
  }
}

// -------------------------------------------------------------------------------------------------
// Flows

/** Child `childId` of flow parent `parentId` completed (`cd` on the parent's shard). */
export function childCompleted(core: Core, parentId: number, childId: number, nowMs: number): void {
  if (!core.isLocal(parentId)) {
    sendLink(core, shardOfJobId(parentId, core.shardCount), { type: 'childDone', parentId, childId }, nowMs)
    return
  }
  const parent = core.jobs.get(parentId)
  if (parent === undefined || parent.loc !== LOC_PARENT) return
  core.willChange(parent)
  parent.childrenCompleted++
  if (core.recording) core.record({ t: 'cd', i: parentId, c: nowMs })
  if (parent.childrenCompleted >= parent.childrenIds.length) {
    const q = core.queue(parent.queue)
    core.unpark(parent, q)
    core.appendLog(parent.id, { timestamp: nowMs, message: 'All children completed, parent job ready', level: 'info' })
    core.enqueue(parent, q, nowMs)
  }
}

/** A child of a FLOW on this shard whose queue lives on another shard. */
export type RemoteChild = { index: number; queue: string; data: unknown; priority: number; delay: number | null }

/** Asks the shards of the remote children to create them; the FLOW reply waits for their ids. */
export function requestFlowChildren(
  core: Core, parentId: number, childIds: number[], remote: RemoteChild[], token: Token, nowMs: number,
): void {
  const waiting = new Map<number, number>()
  for (const child of remote) {
    const shard = shardOfName(child.queue, core.shardCount)
    waiting.set(child.index, shard)
    sendLink(core, shard, { type: 'flowChild', parentId, ...child }, nowMs)
  }
  core.links.flowReplies.set(parentId, { token, ids: [...childIds], waiting, deadline: nowMs + flowReplyTimeoutMs })
}

/** `flowChild`: creates a remote parent's child here and answers its id. */
function receiveFlowChild(core: Core, from: number, m: Extract<LinkMessage, { type: 'flowChild' }>, nowMs: number): void {
  let childId = core.links.legacyFlowChildKeys.get(`${m.parentId}:${m.index}`)
  if (childId === undefined) {
    childId = pushJob(core, core.queue(m.queue), plainJobInput(m.data, m.priority, m.delay), nowMs, noRequest, m.parentId) as number
  }
  sendLink(core, from, { type: 'flowChildId', parentId: m.parentId, index: m.index, childId }, nowMs)
}

/** The id of remote child `index` of parent `parentId` is known (`fci`); answers a waiting FLOW. */
export function flowChildCreated(core: Core, parentId: number, index: number, childId: number): void {
  const parent = core.jobs.get(parentId)
  if (parent !== undefined && parent.childrenIds[index] === 0) {
    core.willChange(parent)
    parent.childrenIds[index] = childId
    if (core.recording) core.record({ t: 'fci', i: parentId, x: index, c: childId })
  }
  const pending = core.links.flowReplies.get(parentId)
  if (pending === undefined || !pending.waiting.delete(index)) return
  pending.ids[index] = childId
  if (pending.waiting.size > 0) return
  core.links.flowReplies.delete(parentId)
  core.reply(pending.token, { ok: true, parent_id: parentId, children_ids: pending.ids })
}

/** FLOW replies whose remote children were not confirmed in time get an error (the flow goes on). */
export function expireFlowReplies(core: Core, nowMs: number): void {
  for (const [parentId, pending] of core.links.flowReplies) {
    if (pending.deadline > nowMs) continue
    core.links.flowReplies.delete(parentId)
    const shards = [...new Set(pending.waiting.values())]
    core.reply(pending.token, { ok: false, error: errors.flowChildrenNotConfirmed(parentId, shards, flowReplyTimeoutMs) })
  }
}

// -------------------------------------------------------------------------------------------------
// GETCHILDREN across shards (a query: not durable, bounded in time)

export function askForChildren(core: Core, query: ChildQuery, remote: Map<number, number[]>): void {
  const queryId = ++core.links.lastChildQuery
  if (remote.size === 0 || query.token === 0) return answerChildQuery(core, queryId, query)
  core.links.childQueries.set(queryId, query)
  for (const [shard, ids] of remote) {
    core.message(shard, { t: 'childrenQuery', v: shardMessageVersion, from: core.shardIndex, queryId, ids })
  }
}

/** `childrenQuery`: the asked-for children that are still retrievable here, as wire jobs. */
function receiveChildrenQuery(core: Core, from: number, queryId: number, ids: number[]): void {
  const jobs = []
  for (const id of ids) {
    const child = core.jobs.get(id)
    if (child !== undefined && child.loc !== LOC_COMPLETED && child.loc !== LOC_GONE) jobs.push({ ...jobToWire(child), data: child.data }) // a message is cloned: no RawJson
  }
  core.message(from, { t: 'childrenFound', v: shardMessageVersion, queryId, jobs })
}

/** One shard answered a GETCHILDREN; the reply goes out after the last one. */
function childrenFound(core: Core, queryId: number, jobs: Array<{ id: number }>): void {
  const query = core.links.childQueries.get(queryId)
  if (query === undefined) return
  for (const job of jobs) query.found.set(job.id, job)
  if (--query.shardsPending === 0) answerChildQuery(core, queryId, query)
}

export function answerChildQuery(core: Core, queryId: number, query: ChildQuery): void {
  core.links.childQueries.delete(queryId)
  const children: unknown[] = []
  for (const id of query.order) if (query.found.has(id)) children.push(query.found.get(id))
  // Bounded like the job lists (a flow's children may hold 10 MiB of data each).
  core.reply(query.token, { ...query.reply, children: fitToReplyBytes(children) })
}

/** GETCHILDREN replies past their deadline go out with what arrived (a shard that never answers). */
export function expireChildQueries(core: Core, nowMs: number): void {
  for (const [queryId, query] of core.links.childQueries) if (query.deadline <= nowMs) answerChildQuery(core, queryId, query)
}

// -------------------------------------------------------------------------------------------------
// Cron across shards

/** A cron push for `queue`: here through pushJob, or on the queue's shard by `cronPush`. */
export function cronPush(core: Core, queue: string, data: unknown, priority: number, nowMs: number): void {
  const owner = shardOfName(queue, core.shardCount)
  if (owner === core.shardIndex) return cronPushHere(core, queue, data, priority, nowMs)
  // A full lane (the queue's shard is down or slow) drops this execution, like a refused push does.
  if (linkRefusal(core, [owner]) === null) sendLink(core, owner, { type: 'cronPush', queue, data, priority }, nowMs)
}

function cronPushHere(core: Core, queue: string, data: unknown, priority: number, nowMs: number): void {
  // A refusal (jobs limit) drops this execution; the entry fires again at its next run.
  pushJob(core, core.queue(queue), plainJobInput(data, priority), nowMs, noRequest)
}

/** The refusal of an OBLITERATE whose `cronObliterate` to every other shard would pass a full lane, or null. */
export function obliterateRefusal(core: Core): string | null {
  const others: number[] = []
  for (let shard = 0; shard < core.shardCount; shard++) if (shard !== core.shardIndex) others.push(shard)
  return linkRefusal(core, others)
}

/** OBLITERATE's cron part: local entries now, the other shards' entries by `cronObliterate`. */
export function obliterateCron(core: Core, queue: string, nowMs: number): void {
  core.cron.deleteQueue(queue, core.sink)
  for (let shard = 0; shard < core.shardCount; shard++) {
    if (shard !== core.shardIndex) sendLink(core, shard, { type: 'cronObliterate', queue }, nowMs)
  }
}
