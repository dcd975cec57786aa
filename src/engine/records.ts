/**
 * Log records: every durable state change is exactly one record, a compact JSON object with a short
 * discriminator `t`. replay() applies them in order through the same transitions as live commands.
 *
 * DECISION — a pull writes NO record. After a crash every job that was active comes back as waiting
 * (at-least-once delivery); started_at/last_heartbeat of such jobs are lost. Attempts only change
 * through FAIL, processing timeouts and stall strikes, which are recorded. Replay therefore applies
 * `a` (ack), `f` (retry) and `x` (DLQ) records to jobs that it sees as queued.
 *
 * Format versions (`recordFormatVersion`): 1 = before the cross-shard outbox (no `fmt` record);
 * 2 = the outbox (`ob` `oa` `in` `tx` `os` `is`), `fmt` first in every checkpoint and in a new log;
 * 3 = packed records of PUSHB and ACKB (`jb` `ab`).
 * A binary reads every version up to its own and refuses a newer one by name. Golden fixtures of
 * real records of each version: test/fixtures/records/v<N>/ (make-record-fixtures.ts).
 *
 * Records (times are ms since the epoch; `i` is a job id):
 *   fmt  format version v of the records that follow
 *   j    job: full job (push, flow, snapshot). Fields in `encodeJob`; `l` = location when not queued,
 *        `db`/`dx` = debounce id and window end (push only), `fk` = `parent:index` of a flow child
 *        created here for a parent of another shard (push only)
 *   a    ack: i, c completed_at, r result (absent = none)
 *   jb   jobs of one PUSHB (v3): `j` records that differ only in `i` and `d`, packed (packPushRecords):
 *        q, c, o the other fields they share, i ids[], d payloads[]; replayed as one `j` each
 *   ab   acks of one ACKB (v3): `a` records without a result and with the same c: c, i ids[]
 *   f    fail → retry: i, n attempts, r run_at, m reason
 *   x    fail → DLQ: i, n attempts, e reason, h last_heartbeat
 *   rm   removed (cancel, REMOVEJOB, expiry, drain, clean, obliterate, purge, remove_on_fail): i ids[]
 *   pr   progress: i, v progress, m message
 *   cp   change priority: i, v
 *   md   move to delayed: i, r run_at
 *   pm   promote, changed delay: i, r run_at
 *   u    update data: i, d
 *   par  flow child i gets its parent p (older logs only: FLOW now records the parent first, then
 *        its local children with `par` in their `j`)
 *   fci  child x of flow parent i was created on its shard with id c
 *   rd   DLQ retry: i ids[], r run_at (= now)
 *   dc   discard to DLQ: i
 *   l    log entry: i, c timestamp, m message, v level
 *   hb   heartbeat that reset stall strikes: i, c
 *   st   stall strike (the 3rd moves to the DLQ): i, c
 *   dd   a dependency of parked job i completed: i, d, c
 *   cd   a child of flow parent i completed: i, c
 *   w    remote shard s watches dependency d for its job w; wd: watchers of d were notified
 *   ob   outbox: message n to shard `to` is pending until acknowledged; m the LinkMessage (outbox.ts)
 *   oa   outbox: shard `to` acknowledged every message up to n
 *   in   inbox: message n from shard `from` was applied; r the records it produced (one frame)
 *   tx   the records r of one call that sent outbox messages (one frame: durable together)
 *   os   snapshot: n the last message number used for shard `to`
 *   is   snapshot: n the last message number applied from shard `from`
 *   qs   queue setting: q, p paused | r rate limit (null clears) | k concurrency (null clears)
 *   seq  snapshot: s last sequence handed out
 *   res  snapshot: i, r result
 *   logs snapshot: i, e entries[]
 *   deb  snapshot: q, k debounce id, x window end
 *   ci   completed id i whose job was forgotten at ACK (remove_on_complete; snapshot only — live,
 *        the `a` record of such a job does it)
 *   fq   older logs: a flow child request (replayed as a pending `flowChild` outbox message);
 *        fk: snapshot, k `parent:index` of a remote flow child created here by such a request, i its id
 *   qd   queue defaults: q, d {timeout, max_attempts, backoff, ttl} (null clears)
 *   qp qu  queued API poll / visibility update (engine/queued-store.ts header); its messages are `j`
 *        records with `qn` poll count and `qg` poll tag, and its deletes are `rm`
 *   kv.* KV store records, applied by KvStore (engine/kv.ts header)
 *   cron.* cron records, applied by CronTable (engine/cron.ts header)
 *
 * Cross-shard links (depends_on, flows, cron pushes across shards) go through the outbox; its crash
 * behaviour is described in outbox.ts. Older logs (before the outbox) stay readable: `fq` without
 * `fci` becomes a pending outbox message, and `fk` still maps a repeated request to its child.
 */
import type { LogRecord } from './types.ts'
import { RawJson, stringifyJson } from '../protocol/raw-json.ts'
import type { QueueState } from './queue-state.ts'
import type { Core, JobLogEntry, QueueDefaults } from './core.ts'
import { jobDiscarded } from '../protocol/errors.ts'
import { childCompleted, dependencyDone, flowChildCreated, watchDependencies } from './links.ts'
import { stallStrike } from './scheduling.ts'
import type { LinkMessage } from './outbox.ts'
import { applyQueuedRecord, isQueuedRecord } from './queued-store.ts'
import {
  Job, rawData, LOC_ACTIVE, LOC_COMPLETED, LOC_GONE, LOC_DELAYED, LOC_DLQ, LOC_GROUP_WAIT, LOC_PARENT, LOC_PARKED, LOC_READY,
} from './job.ts'

type Fields = { [field: string]: unknown }

/** Version of the record set below (see the header). */
export const recordFormatVersion = 3

/** The first record of a checkpoint and of a new log. */
export function formatRecord(): LogRecord {
  return { t: 'fmt', v: recordFormatVersion }
}

/**
 * A record's text for the log: stringifyJson, except that a job record (`j`, on the path of every
 * durable push) is written directly: the fields every job has (`t i q d c`, first as encodeJob makes
 * them) in one template with the queue's and creation time's texts reused (the jobs of one request
 * share them), then any other field by kind. The same text as stringifyJson, without its marker swap
 * and search; a field of a kind not written directly (a nested object, a non-finite number…) sends
 * the record the general way.
 */
export function recordJson(record: LogRecord): string {
  if (record.t === 'jb') return packedJobsJson(record as PackedJobs)
  if (record.t !== 'j') return stringifyJson(record)
  const fields = record as Fields
  const { i, q, d, c } = fields
  if (typeof i !== 'number' || typeof q !== 'string' || typeof c !== 'number' || !(d === undefined || d instanceof RawJson)) return stringifyJson(record)
  if (!Number.isFinite(i) || !Number.isFinite(c)) return stringifyJson(record)
  if (q !== lastQueue) {
    lastQueue = q
    lastQueueJson = JSON.stringify(q)
  }
  if (c !== lastCreatedAt) {
    lastCreatedAt = c
    lastCreatedAtJson = String(c)
  }
  let text = `{"t":"j","i":${i},"q":${lastQueueJson}${d === undefined ? '' : `,"d":${d.text}`},"c":${lastCreatedAtJson}`
  let index = 0
  for (const key in fields) {
    // The first five must be the common ones in encodeJob's order, or the text above has the wrong order.
    if (index < commonJobKeys.length) {
      if (key !== commonJobKeys[index++]) return stringifyJson(record)
      continue
    }
    const json = scalarJson(fields[key])
    if (json === null) return stringifyJson(record)
    if (json !== undefined) text += `,${keyJson(key)}:${json}`
  }
  return index < commonJobKeys.length ? stringifyJson(record) : `${text}}`
}
const commonJobKeys = ['t', 'i', 'q', 'd', 'c']
let lastQueue = ''
let lastQueueJson = '""'
let lastCreatedAt = 0
let lastCreatedAtJson = '0'

/** JSON of a job record's other field; undefined when JSON leaves it out, null when not written here. */
function scalarJson(value: unknown): string | undefined | null {
  if (typeof value === 'number') return Number.isFinite(value) ? `${value}` : null
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === undefined) return undefined
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (value instanceof RawJson) return value.text
  if (Array.isArray(value) && value.every(isPlainElement)) return JSON.stringify(value)
  return null
}

/** Numbers, strings and null in arrays (ids, tags) serialise the same wherever they stand. */
function isPlainElement(value: unknown): boolean {
  return typeof value === 'number' || typeof value === 'string' || value === null
}

/** JSON of record keys: the few fixed names of encodeJob and its callers. */
/** Keys whose JSON is kept: more than the record kinds have, a bound should a caller invent keys. */
const keyJsonsMax = 256
const keyJsons = new Map<string, string>()
function keyJson(key: string): string {
  let json = keyJsons.get(key)
  if (json === undefined) {
    json = JSON.stringify(key)
    if (keyJsons.size < keyJsonsMax) keyJsons.set(key, json)
  }
  return json
}

/**
 * Packing (format v3). A PUSHB of plain jobs used to write one `j` record per job: per job a record
 * text, a frame header and a CRC, and the repeated `"t":"j","q":…,"c":…` of jobs pushed together.
 * One `jb` record for the run writes each payload text once, joined (and one frame is durable or
 * not as a whole, like the batch it came from). Only jobs whose records differ in nothing but id and
 * payload are packed, so replaying a `jb` as its `j` records rebuilds exactly what they did.
 */
type PackedJobs = { t: 'jb'; q: string; c: number; o: Fields; i: number[]; d: RawJson[] }

/** Fields a packed job may share with the others of its run (scalars that replay reads from `j`). */
const packableJobFields = new Set(['t', 'i', 'q', 'd', 'c', 'r', 'p', 'ma', 'b', 'ttl', 'to', 'lf', 'rc', 'rf', 'sto', 'kca', 'kcc', 'g'])
/** Payload characters in one `jb` record: keeps a frame far below frameBodyBytesMax whatever the batch. */
const packedPayloadCharsMax = 256 * 1024

/** A `j` record of a new plain job: the fields above only, its payload as text. */
function isPackableJob(record: LogRecord): boolean {
  if (record.t !== 'j' || !(record.d instanceof RawJson)) return false
  for (const key in record) if (!packableJobFields.has(key)) return false
  return true
}

/** Whether two packable job records differ only in `i` and `d`. */
function sameButIdAndData(a: Fields, b: Fields): boolean {
  let keys = 0
  for (const key in a) {
    keys++
    if (key !== 'i' && key !== 'd' && a[key] !== b[key]) return false
  }
  for (const _ in b) keys--
  return keys === 0
}

/**
 * Replaces, in place, each run records[start…end) of 2 or more (`runEnd` says where the run that
 * starts at `start` ends) by the one record `pack` makes of it. Records outside runs stay.
 */
function packRuns(records: LogRecord[], from: number, runEnd: (start: number) => number, pack: (start: number, end: number) => LogRecord): void {
  let write = from
  let read = from
  while (read < records.length) {
    const end = runEnd(read)
    records[write++] = end - read > 1 ? pack(read, end) : (records[read] as LogRecord)
    read = end
  }
  records.length = write
}

/** Packs the runs (2 or more) of alike job records in records[from…] into `jb` records, in place. */
export function packPushRecords(records: LogRecord[], from: number): void {
  packRuns(records, from, (start) => {
    const first = records[start] as LogRecord
    let end = start + 1
    if (!isPackableJob(first)) return end
    let chars = (first.d as RawJson).text.length
    while (end < records.length && chars < packedPayloadCharsMax) {
      const next = records[end] as LogRecord
      if (!isPackableJob(next) || !sameButIdAndData(first, next)) break
      chars += (next.d as RawJson).text.length
      end++
    }
    return end
  }, (start, end) => packJobs(records, start, end))
}

function packJobs(records: LogRecord[], from: number, to: number): LogRecord {
  const first = records[from] as Fields
  const o: Fields = {}
  for (const key in first) if (key !== 't' && key !== 'i' && key !== 'q' && key !== 'd' && key !== 'c') o[key] = first[key]
  const ids: number[] = new Array(to - from)
  const data: RawJson[] = new Array(to - from)
  for (let index = from; index < to; index++) {
    const record = records[index] as Fields
    ids[index - from] = record.i as number
    data[index - from] = record.d as RawJson
  }
  const packed: PackedJobs = { t: 'jb', q: first.q as string, c: first.c as number, o, i: ids, d: data }
  return packed as unknown as LogRecord
}

/** The text of a `jb` record: what JSON.stringify writes for it, the payloads spliced unparsed. */
function packedJobsJson(record: PackedJobs): string {
  const texts: string[] = new Array(record.d.length)
  for (let index = 0; index < texts.length; index++) texts[index] = (record.d[index] as RawJson).text
  return `{"t":"jb","q":${JSON.stringify(record.q)},"c":${JSON.stringify(record.c)},"o":${JSON.stringify(record.o)},"i":${JSON.stringify(record.i)},"d":[${texts.join(',')}]}`
}

/**
 * The records of a PUSHB's plain jobs (handlers-core.ts isPlainItem: their `j` record would be
 * `t i q d c`, plus `ma` when max_attempts is set), packed as the jobs are made: the same `jb` (or,
 * for a run of one, `j`) records that packPushRecords makes of such a run — a run ends where
 * max_attempts changes or at packedPayloadCharsMax — without a `j` record per job nor comparing
 * them (a third of a durable PUSHB's engine time went there). Any other record must be preceded by flush().
 */
export class PlainPushRun {
  #first: Job | null = null
  #maxAttempts = 0
  #ids: number[] = []
  #data: RawJson[] = []
  #chars = 0

  constructor(private readonly records: LogRecord[]) {}

  /** A plain job whose payload text is `data`; it belongs after the jobs added before it. */
  add(job: Job, data: RawJson, maxAttempts: number): void {
    if (this.#first !== null && (this.#chars >= packedPayloadCharsMax || maxAttempts !== this.#maxAttempts)) this.flush()
    if (this.#first === null) {
      this.#first = job
      this.#maxAttempts = maxAttempts
    }
    this.#ids.push(job.id)
    this.#data.push(data)
    this.#chars += data.text.length
  }

  /** Appends the run's record and starts a new run. */
  flush(): void {
    const first = this.#first
    if (first === null) return
    if (this.#ids.length === 1) {
      this.records.push(encodeJob(first) as LogRecord)
      this.#ids.length = 0
      this.#data.length = 0
    } else {
      // packJobs' `o`: the first record's fields but t, i, q, d and c.
      const o: Fields = this.#maxAttempts === 0 ? {} : { ma: this.#maxAttempts }
      const packed: PackedJobs = { t: 'jb', q: first.queue, c: first.createdAt, o, i: this.#ids, d: this.#data }
      this.records.push(packed as unknown as LogRecord)
      this.#ids = [] // the record keeps these
      this.#data = []
    }
    this.#first = null
    this.#chars = 0
  }
}

/** Packs the runs (2 or more) of result-less acks with the same time in records[from…] into `ab` records, in place. */
export function packAckRecords(records: LogRecord[], from: number): void {
  packRuns(records, from, (start) => {
    const first = records[start] as LogRecord
    let end = start + 1
    if (isPlainAck(first)) while (end < records.length && isPlainAck(records[end] as LogRecord) && (records[end] as LogRecord).c === first.c) end++
    return end
  }, (start, end) => {
    const ids: number[] = new Array(end - start)
    for (let index = start; index < end; index++) ids[index - start] = (records[index] as LogRecord).i as number
    return { t: 'ab', c: (records[start] as LogRecord).c, i: ids } as LogRecord
  })
}

/** `{t:'a', i, c}` and nothing else (no result). */
function isPlainAck(record: LogRecord): boolean {
  if (record.t !== 'a' || typeof record.i !== 'number' || typeof record.c !== 'number') return false
  let keys = 0
  for (const _ in record) keys++
  return keys === 3
}

/** The job as a `j` record; default-valued fields are left out. */
export function encodeJob(job: Job): Fields {
  const r: Fields = { t: 'j', i: job.id, q: job.queue, d: rawData(job), c: job.createdAt }
  if (job.runAt !== job.createdAt) r.r = job.runAt
  if (job.priority !== 0) r.p = job.priority
  if (job.attempts !== 0) r.a = job.attempts
  if (job.maxAttempts !== 0) r.ma = job.maxAttempts
  if (job.backoff !== 0) r.b = job.backoff
  if (job.ttl !== 0) r.ttl = job.ttl
  if (job.timeout !== 0) r.to = job.timeout
  if (job.uniqueKey !== null) r.uk = job.uniqueKey
  if (job.holdsKey) r.hk = 1
  if (job.dependsOn.length > 0) r.dep = job.dependsOn
  if (job.pendingDeps.length > 0) r.pd = job.pendingDeps
  if (job.progress !== 0) r.pg = job.progress
  if (job.progressMsg !== null) r.pm = job.progressMsg
  if (job.tags.length > 0) r.tg = job.tags
  if (job.lifo) r.lf = 1
  if (job.removeOnComplete) r.rc = 1
  if (job.removeOnFail) r.rf = 1
  if (job.lastHeartbeat !== 0) r.hb = job.lastHeartbeat
  if (job.stallTimeout !== 0) r.sto = job.stallTimeout
  if (job.stallCount !== 0) r.sc = job.stallCount
  if (job.parentId !== null) r.par = job.parentId
  if (job.childrenIds.length > 0) r.ch = job.childrenIds
  if (job.childrenCompleted !== 0) r.cc = job.childrenCompleted
  if (job.customId !== null) r.cid = job.customId
  if (job.keepCompletedAge !== 0) r.kca = job.keepCompletedAge
  if (job.keepCompletedCount !== 0) r.kcc = job.keepCompletedCount
  if (job.completedAt !== 0) r.ca = job.completedAt
  if (job.groupId !== null) r.g = job.groupId
  if (job.failReason !== null) r.fr = job.failReason
  if (job.pollCount >= 0) r.qn = job.pollCount // queued API message (queued-store.ts)
  if (job.pollTag !== null) r.qg = job.pollTag
  // Active jobs come back as waiting (pulls are not recorded); a job being pushed is not placed yet.
  const loc =
    job.loc === LOC_ACTIVE || job.loc === LOC_DELAYED || job.loc === LOC_GROUP_WAIT || job.loc === LOC_GONE
      ? LOC_READY
      : job.loc
  if (loc !== LOC_READY) r.l = loc
  if (loc === LOC_COMPLETED && !job.inHistory) r.nh = 1
  return r
}

export function decodeJob(r: Fields): Job {
  const job = new Job(r.i as number, r.q as string, r.c as number, (r.r as number | undefined) ?? (r.c as number))
  job.data = r.d
  job.priority = (r.p as number | undefined) ?? 0
  job.attempts = (r.a as number | undefined) ?? 0
  job.maxAttempts = (r.ma as number | undefined) ?? 0
  job.backoff = (r.b as number | undefined) ?? 0
  job.ttl = (r.ttl as number | undefined) ?? 0
  job.timeout = (r.to as number | undefined) ?? 0
  job.uniqueKey = (r.uk as string | undefined) ?? null
  job.holdsKey = r.hk === 1
  if (r.dep !== undefined) job.dependsOn = r.dep as number[]
  if (r.pd !== undefined) job.pendingDeps = r.pd as number[]
  job.progress = (r.pg as number | undefined) ?? 0
  job.progressMsg = (r.pm as string | undefined) ?? null
  if (r.tg !== undefined) job.tags = r.tg as string[]
  job.lifo = r.lf === 1
  job.removeOnComplete = r.rc === 1
  job.removeOnFail = r.rf === 1
  job.lastHeartbeat = (r.hb as number | undefined) ?? 0
  job.stallTimeout = (r.sto as number | undefined) ?? 0
  job.stallCount = (r.sc as number | undefined) ?? 0
  job.parentId = (r.par as number | undefined) ?? null
  if (r.ch !== undefined) job.childrenIds = r.ch as number[]
  job.childrenCompleted = (r.cc as number | undefined) ?? 0
  job.customId = (r.cid as string | undefined) ?? null
  job.keepCompletedAge = (r.kca as number | undefined) ?? 0
  job.keepCompletedCount = (r.kcc as number | undefined) ?? 0
  job.completedAt = (r.ca as number | undefined) ?? 0
  job.groupId = (r.g as string | undefined) ?? null
  job.failReason = (r.fr as string | undefined) ?? null
  job.pollCount = (r.qn as number | undefined) ?? -1
  job.pollTag = (r.qg as string | undefined) ?? null
  return job
}

/** Applies one record (replay). Output produced meanwhile is discarded by the caller. */
export function applyRecord(core: Core, r: LogRecord): void {
  const apply = appliers[r.t]
  if (apply !== undefined) apply(core, r)
  else if (r.t.startsWith('kv.')) core.kv.replay(r)
  else if (r.t.startsWith('cron.')) core.cron.replay(r)
  else if (isQueuedRecord(r)) applyQueuedRecord(core, r)
  else throw new Error(`unknown record type '${r.t}'`)
}

function jobOf(core: Core, r: Fields): Job | undefined {
  return core.jobs.get(r.i as number)
}

/** Takes a job out of wherever it is (replay sees no active jobs, but be lenient). */
function detach(core: Core, job: Job): void {
  const q = core.queue(job.queue)
  if (core.isQueued(job)) core.unqueue(job, q)
  else if (job.loc === LOC_ACTIVE) core.leaveActive(job, q)
}

type Applier = (core: Core, r: Fields) => void

const appliers: Record<string, Applier> = {
  fmt(_core, r) {
    const version = r.v as number
    if (version > recordFormatVersion) {
      throw new Error(`log records are format ${version}, this flashq reads formats up to ${recordFormatVersion}: run a newer flashq`)
    }
  },
  j(core, r) {
    const job = decodeJob(r)
    core.noteId(job.id)
    const q = core.queue(job.queue)
    const loc = (r.l as number | undefined) ?? LOC_READY
    if (loc !== LOC_COMPLETED) {
      core.addJob(job, q)
      if (job.customId !== null) core.customIds.set(job.customId, job.id)
    } else {
      q.byId.add(job)
    }
    if (job.holdsKey) q.uniqueKeys.add(job.uniqueKey as string)
    if (r.db !== undefined) core.setDebounce(q, r.db as string, r.dx as number)
    if (r.fk !== undefined) core.links.noteLegacyFlowChildKey(r.fk as string, job.id)
    if (job.pollCount >= 0) core.queuedQueues.add(job.queue)
    if (loc === LOC_READY) core.enqueue(job, q, job.createdAt)
    else if (loc === LOC_DLQ) core.toDlq(job, q, job.failReason ?? '')
    else if (loc === LOC_PARKED || loc === LOC_PARENT) {
      core.park(job, q, loc)
      // Local dependencies as when pushed; the remote ones' `watch` messages are in the outbox already.
      watchDependencies(core, job.id, job.pendingDeps, job.createdAt)
    } else if (loc === LOC_COMPLETED) {
      core.markCompleted(job, q)
      if (r.nh === 1) core.leaveHistory(job)
    }
  },
  a(core, r) {
    const job = jobOf(core, r)
    if (job === undefined) return
    core.complete(job, core.queue(job.queue), r.r, r.r !== undefined, r.c as number)
  },
  jb(core, r) {
    const ids = r.i as number[]
    const data = r.d as unknown[]
    const applyJob = appliers.j as Applier
    for (let index = 0; index < ids.length; index++) applyJob(core, { ...(r.o as Fields), t: 'j', i: ids[index], q: r.q, d: data[index], c: r.c })
  },
  ab(core, r) {
    const applyAck = appliers.a as Applier
    for (const id of r.i as number[]) applyAck(core, { t: 'a', i: id, c: r.c })
  },
  f(core, r) {
    const job = jobOf(core, r)
    if (job === undefined) return
    detach(core, job)
    core.retry(job, core.queue(job.queue), r.n as number, r.r as number, r.m as string, r.r as number)
  },
  x(core, r) {
    const job = jobOf(core, r)
    if (job !== undefined) core.failFinally(job, core.queue(job.queue), r.e as string, r.h as number, r.n as number, r.h as number)
  },
  rm(core, r) {
    for (const id of r.i as number[]) {
      const job = core.jobs.get(id)
      if (job !== undefined) core.remove(job, core.queue(job.queue), null)
    }
  },
  pr(core, r) {
    const job = jobOf(core, r)
    if (job !== undefined) setProgress(core, job, r.v as number, (r.m as string | null | undefined) ?? null)
  },
  cp(core, r) {
    const job = jobOf(core, r)
    if (job !== undefined) setPriority(core, job, r.v as number)
  },
  md(core, r) {
    const job = jobOf(core, r)
    if (job === undefined) return
    detach(core, job)
    moveToDelayed(core, job, r.r as number, r.r as number)
  },
  pm(core, r) {
    const job = jobOf(core, r)
    if (job !== undefined && core.isQueued(job)) promoteJob(core, job, r.r as number)
  },
  par(core, r) {
    const job = jobOf(core, r)
    if (job !== undefined) job.parentId = r.p as number
  },
  u(core, r) {
    const job = jobOf(core, r)
    if (job !== undefined) updateData(core, job, r.d)
  },
  rd(core, r) {
    for (const id of r.i as number[]) {
      const job = core.jobs.get(id)
      if (job !== undefined && job.loc === LOC_DLQ) retryFromDlq(core, job, r.r as number)
    }
  },
  dc(core, r) {
    const job = jobOf(core, r)
    if (job !== undefined) core.deadLetter(job, core.queue(job.queue), jobDiscarded, 0, false)
  },
  l(core, r) {
    core.appendLog(r.i as number, { timestamp: r.c as number, message: r.m as string, level: r.v as string })
  },
  hb(core, r) {
    const job = jobOf(core, r)
    if (job !== undefined) noteHeartbeat(core, job, r.c as number)
  },
  st(core, r) {
    const job = jobOf(core, r)
    if (job !== undefined) stallStrike(core, job, r.c as number)
  },
  dd(core, r) {
    core.links.removeDependent(r.d as number, r.i as number)
    dependencyDone(core, r.i as number, r.d as number, r.c as number)
  },
  cd(core, r) {
    childCompleted(core, r.i as number, 0, r.c as number)
  },
  w(core, r) {
    core.links.addRemoteWatcher(r.d as number, r.s as number, r.w as number)
  },
  wd(core, r) {
    core.links.remoteWatchers.delete(r.d as number)
  },
  ob(core, r) {
    core.links.outbox.restore(r.to as number, r.n as number, r.m as LinkMessage)
  },
  oa(core, r) {
    core.links.outbox.acknowledge(r.to as number, r.n as number, 0)
  },
  os(core, r) {
    core.links.outbox.restoreLastSeq(r.to as number, r.n as number)
  },
  is(core, r) {
    core.links.outbox.applied.set(r.from as number, r.n as number)
  },
  in(core, r) {
    core.links.outbox.applied.set(r.from as number, r.n as number)
    for (const inner of r.r as LogRecord[]) applyRecord(core, inner)
  },
  tx(core, r) {
    for (const inner of r.r as LogRecord[]) applyRecord(core, inner)
  },
  qs(core, r) {
    applyQueueSettings(core.queue(r.q as string), r as QueueSettings, 0)
  },
  seq(core, r) {
    core.noteSequence(r.s as number)
  },
  res(core, r) {
    core.storeResult(r.i as number, r.r)
  },
  logs(core, r) {
    for (const entry of r.e as JobLogEntry[]) core.appendLog(r.i as number, entry)
  },
  deb(core, r) {
    core.setDebounce(core.queue(r.q as string), r.k as string, r.x as number)
  },
  ci(core, r) {
    core.markCompletedId(r.i as number)
  },
  fq(core, r) {
    // Older logs: the request stays pending (the child's shard maps a repeat to its child by `fk`).
    const parent = core.jobs.get(r.i as number)
    if (parent === undefined || parent.childrenIds[r.x as number] !== 0) return
    const seq = core.links.outbox.lastSeqFor(r.s as number) + 1
    core.links.outbox.restore(r.s as number, seq, {
      type: 'flowChild', parentId: r.i as number, index: r.x as number, queue: r.q as string, data: r.d,
      priority: r.p as number, delay: r.dl as number | null,
    })
  },
  fci(core, r) {
    flowChildCreated(core, r.i as number, r.x as number, r.c as number)
  },
  fk(core, r) {
    core.links.noteLegacyFlowChildKey(r.k as string, r.i as number)
  },
  qd(core, r) {
    setQueueDefaults(core, core.queue(r.q as string), r.d as QueueDefaults | null)
  },
}

/** PROGRESS of an active job, recorded as `pr` (replay of `pr` lands here too). */
export function setProgress(core: Core, job: Job, progress: number, message: string | null): void {
  core.willChange(job)
  job.progress = progress
  job.progressMsg = message
  if (core.recording) core.record({ t: 'pr', i: job.id, v: progress, m: message })
}

/** UPDATEJOB: new data, recorded as `u`. */
export function updateData(core: Core, job: Job, data: unknown): void {
  core.willChange(job)
  job.data = data
  if (core.recording) core.record({ t: 'u', i: job.id, d: data })
}

/**
 * HEARTBEAT of an active job. Only a heartbeat that clears stall strikes is recorded (`hb`): the
 * strikes are durable (`st`), the heartbeat time alone is a lease detail that a restart drops.
 */
export function noteHeartbeat(core: Core, job: Job, nowMs: number): void {
  core.willChange(job)
  job.lastHeartbeat = nowMs
  if (job.stallCount === 0) return
  job.stallCount = 0
  if (core.recording) core.record({ t: 'hb', i: job.id, c: nowMs })
}

/** Push defaults of a queue (internal `_QUEUEDEFAULTS`, Engine.setQueueDefaults), recorded as `qd`. */
export function setQueueDefaults(core: Core, q: QueueState, defaults: QueueDefaults | null): void {
  q.defaults = defaults
  if (core.recording) core.record({ t: 'qd', q: q.name, d: defaults })
}

/** CHANGEPRIORITY: re-sorts a queued job in place; other states just store the value. */
export function setPriority(core: Core, job: Job, priority: number): void {
  core.willChange(job)
  job.priority = priority
  const q = core.queue(job.queue)
  if (job.loc === LOC_READY) q.ready.update(job.heapIndex)
}

/** Queue settings as a `qs` record holds them: p paused, r rate limit, k concurrency (null clears). */
export type QueueSettings = { p?: boolean; r?: number | null; k?: number | null }

/** PAUSE/RESUME, RATELIMIT/RATELIMITCLEAR, SETCONCURRENCY/CLEARCONCURRENCY, and replay of `qs`. */
export function applyQueueSettings(q: QueueState, change: QueueSettings, nowMs: number): void {
  if (change.p !== undefined) q.paused = change.p
  if (change.r !== undefined) {
    // A new limit starts with a full bucket.
    q.rateLimit = change.r
    q.tokens = change.r ?? 0
    q.tokensAtMs = nowMs
  }
  if (change.k !== undefined) q.concurrencyLimit = change.k
}

/** PROMOTE of a queued job: due at `nowMs`. */
export function promoteJob(core: Core, job: Job, nowMs: number): void {
  rescheduleJob(core, job, nowMs, nowMs)
}

/** A queued job due at `runAt` (PROMOTE: now; CHANGEDELAY: later). Recorded as `pm`, which replays it. */
export function rescheduleJob(core: Core, job: Job, runAt: number, nowMs: number): void {
  const q = core.queue(job.queue)
  core.unqueue(job, q)
  job.runAt = runAt
  core.enqueue(job, q, nowMs)
}

/** MOVETODELAYED of a (formerly) active job, already detached. */
export function moveToDelayed(core: Core, job: Job, runAt: number, nowMs: number): void {
  core.willChange(job)
  job.runAt = runAt
  job.startedAt = 0
  job.progress = 0
  job.progressMsg = null
  core.enqueue(job, core.queue(job.queue), nowMs)
}

/** RETRYDLQ of one job: attempts 0, run_at now, back to its queue; re-takes its unique key if free. */
export function retryFromDlq(core: Core, job: Job, nowMs: number): void {
  const q = core.queue(job.queue)
  core.willChange(job)
  core.dlqDelete(q, job)
  job.attempts = 0
  job.runAt = nowMs
  job.failReason = null
  job.stallCount = 0
  if (job.uniqueKey !== null && !q.uniqueKeys.has(job.uniqueKey)) {
    q.uniqueKeys.add(job.uniqueKey)
    job.holdsKey = true
  }
  core.enqueue(job, q, nowMs)
}
