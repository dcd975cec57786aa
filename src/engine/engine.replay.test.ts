/**
 * Replay equals live for every state-changing command: a seeded random mix of all of them (jobs,
 * queue control, flows, dependencies, stalls and timeouts through time, KV, cron, queue defaults,
 * the queued API) on one shard, then the observable state of the live engine, of an engine that
 * replayed the records, and of one rebuilt from a snapshot must be equal. The mix is checked against
 * the command table: a new command that changes state and is missing here fails the test, and so does
 * one listed as read-only that writes a record. SEED=… reproduces a failure.
 */
import { expect, test } from 'bun:test'
import { prng, seedFromEnv } from '../base/prng.ts'
import { Engine } from './engine.ts'
import { Harness, replayed } from './test-helpers.ts'
import type { LogRecord } from './types.ts'
import { commandTable } from '../protocol/table.ts'
import type { CommandName } from '../protocol/commands.ts'

const seed = seedFromEnv()
const queues = ['a', 'b', 'c']

/**
 * Commands that change nothing durable: they must write no record (checked), so they need no replay.
 * _RESETMETRICS and _SETCLEANUP change runtime-only state (metrics, retention settings; see
 * handlers-internal.ts); _RUNCLEANUP purges what is past its time, which replay purges alike.
 */
const readOnly = new Set<CommandName>([
  'GETRESULT', 'GETJOB', 'GETSTATE', 'WAITJOB', 'GETJOBBYCUSTOMID', 'GETPROGRESS', 'DLQ', 'GETJOBSBATCH', 'GETLOGS',
  'PARTIAL', 'ISPAUSED', 'LISTQUEUES', 'COUNT', 'GETJOBCOUNTS', 'GETJOBS', 'STATS', 'METRICS', 'CRONLIST', 'GETCHILDREN',
  'KVGET', 'KVMGET', 'KVEXISTS', 'KVTTL', 'KVKEYS', '_RESETMETRICS', '_SETCLEANUP', '_RUNCLEANUP', '_QSTATS', '_GETJOBKEYS', '_CUSTOMIDS',
])

/** State changes written to no record by design (records.ts, DECISION): a restart brings active jobs back waiting. */
const unrecorded = new Set<CommandName>(['PULL', 'PULLB'])

/** A queued-API poll tag (60 hex digits; the front draws them from a CSPRNG). */
const tagOf = (n: number) => n.toString(16).padStart(60, '0')

/** Everything a client can read, with what a restart legitimately changes (leases) normalised. */
function observe(engine: Engine, ids: number[], nowMs: number) {
  const h = new Harness()
  h.engine = engine
  h.clock.advance(nowMs - h.now)
  const jobs = ids.map((id) => {
    const reply = h.call({ cmd: 'GETJOB', id })
    const job = reply.job as Record<string, unknown> | null
    let state = reply.state as string
    // Pulls are not recorded: an active job comes back waiting (or delayed), its lease fields reset.
    if (job !== null && state === 'active') state = (job.run_at as number) > nowMs ? 'delayed' : 'waiting'
    if (job !== null && state !== 'failed') {
      job.started_at = 0
      job.last_heartbeat = 0
    }
    // A queued-API message's lease (poll count and tag) is not part of the wire job.
    const lease = engine.core.jobs.get(id)
    const message = lease === undefined || lease.pollCount < 0 ? null : [lease.pollCount, lease.pollTag]
    return { id, state, job, message, result: h.call({ cmd: 'GETRESULT', id }).result, logs: h.call({ cmd: 'GETLOGS', id }).logs ?? null }
  })
  const perQueue = queues.map((queue) => {
    const counts = h.call({ cmd: 'GETJOBCOUNTS', queue })
    return {
      queue,
      counts: { ...counts, waiting: (counts.waiting as number) + (counts.active as number), active: 0 },
      paused: h.call({ cmd: 'ISPAUSED', queue }).paused,
      dlq: (h.call({ cmd: 'DLQ', queue, count: 1000 }).jobs as Array<{ id: number }>).map((job) => job.id),
    }
  })
  const listed = (h.call({ cmd: 'LISTQUEUES' }).queues as Array<Record<string, unknown>>).map((q) => ({
    ...q, pending: (q.pending as number) + (q.processing as number), processing: 0,
  })).sort((x, y) => String((x as { name?: string }).name).localeCompare(String((y as { name?: string }).name)))
  const stats = h.call({ cmd: 'STATS' })
  const keys = (h.call({ cmd: 'KVKEYS' }).keys as string[]).sort()
  const kv = keys.map((key) => [key, h.call({ cmd: 'KVGET', key }).value, h.call({ cmd: 'KVTTL', key }).ttl])
  const crons = (h.call({ cmd: 'CRONLIST' }).crons as Array<{ name: string }>).sort((a, b) => a.name.localeCompare(b.name))
  // (The _QSTATS gauges are left out: which queues count as used through the queued API is runtime
  // state of mixed use, pruned when a queue is freed; the messages themselves are compared above.)
  // Queue defaults show in what a plain push gets (the probes are pushed after everything else is read).
  const defaults = queues.map((queue) => {
    const probe = h.call({ cmd: '_PUSHJOB', queue, data: 'probe' }).job as Record<string, unknown>
    return { queue, timeout: probe.timeout, max_attempts: probe.max_attempts, backoff: probe.backoff, ttl: probe.ttl }
  })
  return {
    jobs, perQueue, listed, kv, crons, defaults,
    stats: { ...stats, queued: (stats.queued as number) + (stats.processing as number), processing: 0 },
  }
}

test(`replay of records and of a snapshot equals live, for every state-changing command (SEED=${seed})`, () => {
  const rng = prng(seed + 3)
  const h = new Harness()
  const ids: number[] = []
  const note = (id: unknown) => {
    if (typeof id === 'number' && !ids.includes(id)) ids.push(id)
  }
  const anyId = () => (ids.length === 0 ? 1 : (ids[rng.int(ids.length)] as number))
  const active = () => [...h.engine.core.activeJobs].map((job) => job.id)
  const activeId = () => {
    const list = active()
    return list.length === 0 ? anyId() : (list[rng.int(list.length)] as number)
  }
  const delayedId = () => {
    const delayed = [...h.engine.core.queues.values()].flatMap((q) => q.delayed.jobs().filter((job) => job.runAt > h.now))
    return delayed.length === 0 ? anyId() : (delayed[rng.int(delayed.length)] as { id: number }).id
  }
  /** A job parked on dependencies and one of them (DROPDEP), else any two ids. */
  const parkedDependency = () => {
    const parked = ids.map((id) => h.engine.core.jobs.get(id)).filter((job) => job !== undefined && job.pendingDeps.length > 0)
    const job = parked.length === 0 ? undefined : parked[rng.int(parked.length)]
    return job === undefined ? { id: anyId(), dependency: anyId() } : { id: job.id, dependency: job.pendingDeps[rng.int(job.pendingDeps.length)] }
  }
  /** Messages handed out by _QPOLL: id, queue and the tag that leases them. */
  const polled: Array<{ id: number; queue: string; tag: string }> = []
  let tags = 0
  // Half the time the newest lease, which is most likely still held: with only old ones, some seeds
  // never sent an _QUPDATE that held its lease (SEED=1900249557 wrote none).
  const leased = () => {
    if (polled.length === 0) return { id: anyId(), queue: rng.pick(queues), tag: tagOf(0) }
    return polled[rng.int(2) === 0 ? polled.length - 1 : rng.int(polled.length)]!
  }
  const key = () => `k${rng.int(6)}`
  const commands: Array<readonly [CommandName, () => Record<string, unknown>]> = [
    ['PUSH', () => ({
      cmd: 'PUSH', queue: rng.pick(queues), data: { n: rng.int(100) }, priority: rng.int(3), delay: rng.int(4) === 0 ? rng.int(500) : 0,
      max_attempts: rng.pick([0, 1, 2]), backoff: rng.pick([0, 20]), ttl: rng.int(10) === 0 ? 300 : 0,
      timeout: rng.int(8) === 0 ? 100 : 0, stall_timeout: rng.int(3) === 0 ? 200 : 0,
      unique_key: rng.int(5) === 0 ? `u${rng.int(5)}` : null, job_id: rng.int(6) === 0 ? `c${rng.int(10)}` : null,
      remove_on_complete: rng.int(8) === 0, remove_on_fail: rng.int(8) === 0, group_id: rng.int(6) === 0 ? 'g' : undefined,
      depends_on: rng.int(4) === 0 ? [activeId()] : undefined, lifo: rng.int(7) === 0,
      debounce_id: rng.int(10) === 0 ? `d${rng.int(3)}` : undefined, debounce_ttl: 300,
    })],
    ['PUSHB', () => ({ cmd: 'PUSHB', queue: rng.pick(queues), jobs: [{ data: 1 }, { data: 2, priority: 2 }] })],
    ['_PUSHJOB', () => ({ cmd: '_PUSHJOB', queue: rng.pick(queues), data: 'http', job_id: rng.int(3) === 0 ? `c${rng.int(10)}` : undefined })],
    ['FLOW', () => ({ cmd: 'FLOW', queue: rng.pick(queues), data: 'p', children: [{ queue: rng.pick(queues), data: 1 }, { queue: rng.pick(queues), data: 2 }] })],
    ['PULL', () => ({ cmd: 'PULL', queue: rng.pick(queues), timeout: 0 })],
    ['PULLB', () => ({ cmd: 'PULLB', queue: rng.pick(queues), count: 1 + rng.int(3), timeout: 0 })],
    ['ACK', () => ({ cmd: 'ACK', id: activeId(), result: rng.int(2) === 0 ? { r: 1 } : undefined })],
    ['ACKB', () => ({ cmd: 'ACKB', ids: active().slice(0, 2) })],
    ['FAIL', () => ({ cmd: 'FAIL', id: activeId(), error: 'boom' })],
    ['CANCEL', () => ({ cmd: 'CANCEL', id: anyId() })],
    // Any state, completed and failed included; now and then guarded by a queue that may not be the job's.
    ['REMOVEJOB', () => ({ cmd: 'REMOVEJOB', id: anyId(), queue: rng.int(4) === 0 ? rng.pick(queues) : undefined })],
    ['PROGRESS', () => ({ cmd: 'PROGRESS', id: activeId(), progress: rng.int(100), message: rng.int(2) === 0 ? 'half' : undefined })],
    ['CHANGEPRIORITY', () => ({ cmd: 'CHANGEPRIORITY', id: anyId(), priority: rng.int(9) })],
    ['MOVETODELAYED', () => ({ cmd: 'MOVETODELAYED', id: activeId(), delay: rng.int(400) })],
    ['PROMOTE', () => ({ cmd: 'PROMOTE', id: delayedId() })],
    ['UPDATEJOB', () => ({ cmd: 'UPDATEJOB', id: anyId(), data: { updated: rng.int(9) } })],
    ['DISCARD', () => ({ cmd: 'DISCARD', id: anyId() })],
    ['DROPDEP', () => ({ cmd: 'DROPDEP', ...parkedDependency() })],
    ['CHANGEDELAY', () => ({ cmd: 'CHANGEDELAY', id: delayedId(), delay: rng.int(600) })],
    ['LOG', () => ({ cmd: 'LOG', id: anyId(), message: 'hello', level: 'warn' })],
    ['HEARTBEAT', () => ({ cmd: 'HEARTBEAT', id: activeId() })],
    ['RETRYDLQ', () => ({ cmd: 'RETRYDLQ', queue: rng.pick(queues), id: rng.int(2) === 0 ? anyId() : undefined })],
    ['PURGEDLQ', () => ({ cmd: 'PURGEDLQ', queue: rng.pick(queues) })],
    ['PAUSE', () => ({ cmd: 'PAUSE', queue: rng.pick(queues) })],
    ['RESUME', () => ({ cmd: 'RESUME', queue: rng.pick(queues) })],
    ['RATELIMIT', () => ({ cmd: 'RATELIMIT', queue: rng.pick(queues), limit: 1 + rng.int(50) })],
    ['RATELIMITCLEAR', () => ({ cmd: 'RATELIMITCLEAR', queue: rng.pick(queues) })],
    ['SETCONCURRENCY', () => ({ cmd: 'SETCONCURRENCY', queue: rng.pick(queues), limit: 1 + rng.int(3) })],
    ['CLEARCONCURRENCY', () => ({ cmd: 'CLEARCONCURRENCY', queue: rng.pick(queues) })],
    ['CLEAN', () => ({ cmd: 'CLEAN', queue: rng.pick(queues), grace: rng.int(300), state: rng.pick(['waiting', 'delayed', 'completed', 'failed']), limit: 2, ids: rng.int(2) === 0 })],
    ['DRAIN', () => ({ cmd: rng.int(4) === 0 ? 'DRAIN' : 'COUNT', queue: rng.pick(queues) })],
    ['OBLITERATE', () => ({ cmd: rng.int(8) === 0 ? 'OBLITERATE' : 'COUNT', queue: rng.pick(queues) })],
    ['_QUEUEDEFAULTS', () => ({
      cmd: '_QUEUEDEFAULTS', queue: rng.pick(queues), ...(rng.int(3) === 0 ? {} : { timeout: rng.pick([0, 100]), max_attempts: rng.int(3), ttl: rng.pick([0, 900]) }),
    })],
    ['CRON', () => ({ cmd: 'CRON', name: `cron${rng.int(3)}`, queue: rng.pick(queues), data: 'tick', repeat_every: 2000 + rng.int(5000), limit: rng.int(2) === 0 ? 1 + rng.int(3) : undefined })],
    ['CRONDELETE', () => ({ cmd: 'CRONDELETE', name: `cron${rng.int(3)}` })],
    ['KVSET', () => ({ cmd: 'KVSET', key: key(), value: { v: rng.int(9) }, ttl: rng.int(3) === 0 ? rng.int(5000) : undefined })],
    ['KVMSET', () => ({ cmd: 'KVMSET', entries: [{ key: key(), value: 1 }, { key: key(), value: 2, ttl: 3000 }] })],
    ['KVDEL', () => ({ cmd: 'KVDEL', key: key() })],
    ['KVEXPIRE', () => ({ cmd: 'KVEXPIRE', key: key(), ttl: rng.int(4000) })],
    ['KVINCR', () => ({ cmd: 'KVINCR', key: `n${rng.int(2)}`, by: rng.int(5) })],
    ['_QPUSH', () => ({ cmd: '_QPUSH', queue: rng.pick(queues), messages: [{ contents: 'm', delay_ms: rng.pick([0, 0, 300]) }] })],
    ['_QPOLL', () => ({ cmd: '_QPOLL', queue: rng.pick(queues), visibility_ms: rng.pick([0, 500, 5000]), tags: [tagOf(++tags), tagOf(++tags)] })],
    ['_QUPDATE', () => {
      const message = leased()
      return { cmd: '_QUPDATE', queue: message.queue, id: message.id, tag: message.tag, visibility_ms: rng.pick([0, 800]) }
    }],
    ['_QDELETE', () => {
      const message = leased()
      return { cmd: '_QDELETE', queue: message.queue, items: [{ id: message.id, tag: message.tag }] }
    }],
    // Reads, checked to write nothing.
    ...(['GETJOB', 'GETSTATE', 'GETRESULT', 'GETPROGRESS', 'GETLOGS'] as const).map((cmd) => [cmd, () => ({ cmd, id: anyId() })] as const),
    ['GETCHILDREN', () => ({ cmd: 'GETCHILDREN', parent_id: anyId() })],
    ['WAITJOB', () => ({ cmd: 'WAITJOB', id: anyId(), timeout: 0 })],
    ['GETJOBBYCUSTOMID', () => ({ cmd: 'GETJOBBYCUSTOMID', job_id: `c${rng.int(10)}` })],
    ['GETJOBSBATCH', () => ({ cmd: 'GETJOBSBATCH', ids: [anyId(), anyId()] })],
    ['PARTIAL', () => ({ cmd: 'PARTIAL', id: activeId(), data: 'chunk' })],
    ['DLQ', () => ({ cmd: 'DLQ', queue: rng.pick(queues), count: 5 })],
    ['_GETJOBKEYS', () => ({ cmd: '_GETJOBKEYS', queue: rng.pick(queues), window: 5 })],
    ['_CUSTOMIDS', () => ({ cmd: '_CUSTOMIDS', queue: rng.pick(queues), job_ids: [`c${rng.int(10)}`, `c${rng.int(10)}`] })],
    ...(['ISPAUSED', 'COUNT', 'GETJOBCOUNTS', 'GETJOBS'] as const).map((cmd) => [cmd, () => ({ cmd, queue: rng.pick(queues) })] as const),
    ...(['LISTQUEUES', 'STATS', 'METRICS', 'CRONLIST', 'KVKEYS', '_QSTATS', '_RESETMETRICS', '_RUNCLEANUP'] as const)
      .map((cmd) => [cmd, () => ({ cmd })] as const),
    ['_SETCLEANUP', () => ({ cmd: '_SETCLEANUP', cleanup_interval_secs: 5 })],
    ...(['KVGET', 'KVEXISTS', 'KVTTL'] as const).map((cmd) => [cmd, () => ({ cmd, key: key() })] as const),
    ['KVMGET', () => ({ cmd: 'KVMGET', keys: [key(), key()] })],
  ]
  // Weights: more pushes, pulls and failures, so jobs live long enough to reach every state.
  const weighted = ['PUSH', 'PUSH', 'PUSH', 'PUSH', 'PUSH', 'FLOW', 'FLOW', 'PULLB', 'PULLB', 'PULLB', 'ACK', 'ACK', 'FAIL', 'FAIL', 'FAIL', 'HEARTBEAT', 'HEARTBEAT', 'HEARTBEAT', '_QPOLL']
  for (const name of weighted) commands.push(commands.find(([command]) => command === name)!)
  /** Commands sent, and the ones that wrote at least one record. */
  const sent = new Set<string>()
  const wrote = new Set<string>()
  for (let step = 0; step < 6000; step++) {
    if (rng.int(8) === 0) {
      h.advance(rng.int(3) === 0 ? 400 + rng.int(40_000) : rng.int(100))
      continue
    }
    const request = commands[rng.int(commands.length)]![1]()
    const recordsBefore = h.records.length
    const reply = h.call(request)
    sent.add(request.cmd as string)
    if (h.records.length > recordsBefore) wrote.add(request.cmd as string)
    note(reply.id)
    note(reply.parent_id)
    for (const id of (reply.ids as unknown[] | undefined) ?? []) note(id)
    for (const id of (reply.children_ids as unknown[] | undefined) ?? []) note(id)
    if (request.cmd === '_QPOLL') {
      for (const message of reply.messages as Array<{ id: number }>) {
        const tag = (request.tags as string[])[(reply.messages as unknown[]).indexOf(message)] as string
        polled.push({ id: message.id, queue: request.queue as string, tag })
        note(message.id)
      }
    }
  }
  // Every command a client can send to a shard is in the mix; the read-only ones wrote nothing, and
  // every other one wrote a record at least once (a state change replay must reproduce).
  const shardCommands = (Object.keys(commandTable) as CommandName[]).filter((name) => commandTable[name].route !== 'front')
  expect(shardCommands.filter((name) => !sent.has(name)), `commands missing from the mix (SEED=${seed})`).toEqual([])
  expect([...wrote].filter((name) => readOnly.has(name as CommandName)), `read-only commands that wrote records (SEED=${seed})`).toEqual([])
  expect(shardCommands.filter((name) => !readOnly.has(name) && !unrecorded.has(name) && !wrote.has(name)), `state-changing commands that never wrote (SEED=${seed})`).toEqual([])
  const kinds = new Set(h.records.flatMap(function types(r: LogRecord): string[] {
    return r.t === 'tx' || r.t === 'in' ? [r.t, ...(r.r as LogRecord[]).flatMap(types)] : [r.t]
  }))
  // The mix reaches the transitions it is meant to check.
  const expectedKinds = ['j', 'a', 'f', 'x', 'rm', 'pr', 'cp', 'md', 'pm', 'u', 'rd', 'dc', 'l', 'hb', 'st', 'dd', 'cd', 'qs', 'qd', 'qp', 'qu', 'tx']
  for (const kind of expectedKinds) expect(kinds.has(kind), `record kind ${kind} (SEED=${seed})`).toBe(true)
  const snapshot = [...h.engine.snapshot()]
  const records = [...h.records]
  const expected = observe(h.engine, ids, h.now)
  expect(observe(replayed(records, h.now), ids, h.now)).toEqual(expected)
  expect(observe(replayed(snapshot, h.now), ids, h.now)).toEqual(expected)
}, 60_000)
