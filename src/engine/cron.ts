/**
 * Cron entries (spec §3.5, §4.15): CRON, CRONDELETE, CRONLIST, and which pushes are due at a time.
 * Owns: the entries, their next run times, execution counts and limits. Does not own: schedule
 * syntax (engine/cron-schedule.ts), the push itself (the engine pushes what due() returns through
 * its normal push path, which emits `pushed`), or timers (the host arms one for nextDueMs()).
 *
 * Synchronous and pure: time is the `nowMs` argument. Convention shared with engine/kv.ts: every
 * method that changes state takes a `records` array and appends one LogRecord per state change, in
 * order; replaying those records (or snapshot()) rebuilds the same table.
 *
 * Records (field names are snake_case, like the wire):
 *   { t: 'cron.set',  name, queue, data, schedule, repeat_every, priority, limit, next_run, executions }
 *                      CRON (executions 0), and snapshot() (current values)
 *   { t: 'cron.del',  name }                       CRONDELETE, deletion once the limit is reached, and
 *                      OBLITERATE of the entry's queue (deleteQueue)
 *   { t: 'cron.fire', name, executions, next_run } each execution; next_run is already the following
 *                      run, so a replayed table never fires the same instant twice
 *
 * Runs: an entry is due when next_run <= now. It fires once however many instants were missed (missed
 * runs are not replayed, so an entry overdue after a restart fires once), and its next run is computed
 * from now. With `limit`, an entry fires at most `limit` times and is deleted at the first due time
 * after the limit is reached.
 */
import { assert } from '../base/assert.ts'
import * as errors from '../protocol/errors.ts'
import type { CronJob } from '../protocol/replies.ts'
import { nextRunMs, parseSchedule, type CronSchedule } from './cron-schedule.ts'
import type { LogRecord, Reply } from './types.ts'

/**
 * Cron entries in one table. due() scans every entry when one is due (at most once a second per
 * entry), so the bound keeps a tick cheap; real deployments have tens of schedules, not thousands.
 */
export const cronEntriesMax = 10_000
/**
 * Shortest time between two runs of a `repeat_every` entry. The reference scheduler ticks once a
 * second, so a shorter interval fires once a second there too; here the floor also keeps
 * `repeat_every: 0` from making the entry due again at the same instant, forever.
 */
export const cronRepeatEveryMsMin = 1000


// Parsed commands, structurally compatible with protocol/commands.ts.
export type CronSetCommand = {
  cmd: 'CRON'
  name: string
  queue: string
  data: unknown
  schedule?: string | null | undefined
  repeat_every?: number | null | undefined
  priority?: number | null | undefined
  limit?: number | null | undefined
}
export type CronCommand = CronSetCommand | { cmd: 'CRONDELETE'; name: string } | { cmd: 'CRONLIST' }

/** The CronJob object of spec §2.4, in wire field order: the protocol's reply type. */
export type { CronJob }

/** A job the engine must push now because a cron entry fired. */
export type CronPush = { queue: string; data: unknown; priority: number; cronName: string }

export const cronRecordKinds = ['cron.set', 'cron.del', 'cron.fire'] as const

type Entry = { job: CronJob; compiled: CronSchedule | null }

export class CronTable {
  readonly #entries = new Map<string, Entry>()
  /** Cached minimum of next_run; null when a change may have moved it. */
  #earliestMs: number | null = Infinity

  get size(): number {
    return this.#entries.size
  }

  execute(command: CronCommand, nowMs: number, records: LogRecord[]): Reply {
    switch (command.cmd) {
      case 'CRON':
        return this.#set(command, nowMs, records)
      case 'CRONDELETE': {
        if (!this.#entries.has(command.name)) return { ok: false, error: errors.cronNotFound }
        this.#delete(command.name, records)
        return { ok: true }
      }
      case 'CRONLIST':
        return { ok: true, crons: Array.from(this.#entries.values(), (entry) => ({ ...entry.job })) }
    }
  }

  /**
   * The pushes due at `nowMs`, one per due entry, in table order. Advances each fired entry to its
   * next run and deletes entries whose limit was reached.
   */
  due(nowMs: number, records: LogRecord[]): CronPush[] {
    if (this.nextDueMs() > nowMs) return []
    const pushes: CronPush[] = []
    for (const [name, entry] of this.#entries) {
      const job = entry.job
      if (job.next_run > nowMs) continue
      if (job.limit !== null && job.executions >= job.limit) {
        this.#delete(name, records)
        continue
      }
      job.executions += 1
      job.next_run = this.#nextRunAfterFire(entry, nowMs)
      records.push({ t: 'cron.fire', name, executions: job.executions, next_run: job.next_run })
      pushes.push({ queue: job.queue, data: job.data, priority: job.priority, cronName: name })
    }
    this.#earliestMs = null
    return pushes
  }

  /** OBLITERATE: deletes every entry that pushes to `queue` (one cron.del each). Returns how many. */
  deleteQueue(queue: string, records: LogRecord[]): number {
    const names: string[] = []
    for (const [name, entry] of this.#entries) if (entry.job.queue === queue) names.push(name)
    for (const name of names) this.#delete(name, records)
    return names.length
  }

  /** The earliest next_run of any entry, Infinity if the table is empty. */
  nextDueMs(): number {
    if (this.#earliestMs === null) {
      let earliestMs = Infinity
      for (const entry of this.#entries.values()) earliestMs = Math.min(earliestMs, entry.job.next_run)
      this.#earliestMs = earliestMs
    }
    return this.#earliestMs
  }

  replay(record: LogRecord): void {
    const name = record.name
    assert(typeof name === 'string', `${record.t}: name must be a string`)
    switch (record.t) {
      case 'cron.set': {
        const job = jobOfRecord(record, name)
        this.#entries.set(name, { job, compiled: compileForReplay(job.schedule) })
        break
      }
      case 'cron.del':
        this.#entries.delete(name)
        break
      case 'cron.fire': {
        const job = this.#entries.get(name)?.job
        assert(job !== undefined, `cron.fire of unknown cron ${name}`)
        assert(typeof record.executions === 'number', 'cron.fire: executions must be a number')
        assert(typeof record.next_run === 'number', 'cron.fire: next_run must be a number')
        job.executions = record.executions
        job.next_run = record.next_run
        break
      }
      default:
        assert(false, `not a cron record: ${record.t}`)
    }
    this.#earliestMs = null
  }

  /** One cron.set per entry with its current executions and next_run. */
  snapshot(): LogRecord[] {
    return Array.from(this.#entries.values(), (entry) => setRecord(entry.job))
  }

  #set(command: CronSetCommand, nowMs: number, records: LogRecord[]): Reply {
    const schedule = command.schedule ?? null
    const repeatEvery = command.repeat_every ?? null
    if (schedule === null && repeatEvery === null) return { ok: false, error: errors.cronScheduleOrRepeatRequired }
    // A schedule is checked even when repeat_every wins: CRONLIST shows it, so it must be valid.
    let compiled: CronSchedule | null = null
    if (schedule !== null) {
      const parsed = parseSchedule(schedule)
      if (!parsed.ok) return { ok: false, error: parsed.error }
      compiled = parsed.schedule
    }
    if (!this.#entries.has(command.name) && this.#entries.size >= cronEntriesMax) {
      return { ok: false, error: errors.cronTableFull(cronEntriesMax) }
    }
    const job: CronJob = {
      name: command.name,
      queue: command.queue,
      data: command.data ?? null,
      schedule,
      repeat_every: repeatEvery,
      priority: command.priority ?? 0,
      // repeat_every takes precedence (spec §4.15).
      next_run: repeatEvery !== null ? nowMs + repeatEvery : nextRunMs(compiled!, nowMs),
      executions: 0,
      limit: command.limit ?? null,
    }
    // Re-using a name replaces the entry; the replacement starts again at 0 executions.
    this.#entries.set(job.name, { job, compiled })
    this.#earliestMs = null
    records.push(setRecord(job))
    return { ok: true }
  }

  #delete(name: string, records: LogRecord[]): void {
    this.#entries.delete(name)
    this.#earliestMs = null
    records.push({ t: 'cron.del', name })
  }

  #nextRunAfterFire(entry: Entry, nowMs: number): number {
    const repeatEvery = entry.job.repeat_every
    if (repeatEvery !== null) return nowMs + Math.max(repeatEvery, cronRepeatEveryMsMin)
    assert(entry.compiled !== null, 'a cron entry has a schedule or repeat_every')
    return nextRunMs(entry.compiled, nowMs)
  }
}

function setRecord(job: CronJob): LogRecord {
  return { t: 'cron.set', ...job }
}

function jobOfRecord(record: LogRecord, name: string): CronJob {
  const { queue, schedule, repeat_every, priority, next_run, executions, limit } = record
  assert(typeof queue === 'string', 'cron.set: queue must be a string')
  assert(schedule === null || typeof schedule === 'string', 'cron.set: schedule must be a string or null')
  assert(repeat_every === null || typeof repeat_every === 'number', 'cron.set: bad repeat_every')
  assert(schedule !== null || repeat_every !== null, 'cron.set: schedule or repeat_every is required')
  assert(typeof priority === 'number', 'cron.set: priority must be a number')
  assert(typeof next_run === 'number', 'cron.set: next_run must be a number')
  assert(typeof executions === 'number', 'cron.set: executions must be a number')
  assert(limit === null || typeof limit === 'number', 'cron.set: limit must be a number or null')
  const data = record.data ?? null
  return { name, queue, data, schedule, repeat_every, priority, next_run, executions, limit }
}

/** A schedule in the log was valid when it was written; failing now means corruption or a bug. */
function compileForReplay(schedule: string | null): CronSchedule | null {
  if (schedule === null) return null
  const parsed = parseSchedule(schedule)
  assert(parsed.ok, `cron.set: schedule in the log no longer parses: ${parsed.ok ? '' : parsed.error}`)
  return parsed.schedule
}
