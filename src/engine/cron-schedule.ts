/**
 * Cron schedules (spec §4.15): parses a CRON `schedule` string once and computes its next run time.
 * Owns: the schedule grammar (croner for cron expressions, our own `*∕N` interval form) and UTC
 * evaluation. Does not own: cron entries, executions or limits (engine/cron.ts), or timers.
 *
 * Grammar:
 *   - `*∕N` as the whole string: every N seconds (N a positive integer), counted from the last run.
 *   - 5 fields `min hour dom month dow`: minute resolution, the second is 0.
 *   - 6 fields `sec min hour dom month dow`.
 *   - Inside fields: `*`, `,`, `-`, `/`, month and day names, plus croner's extensions (`?`, `L`, `#`,
 *     `W`) and nicknames (`@daily`, …). Day-of-month and day-of-week combine with OR, as in classic
 *     cron (croner's default, `domAndDow: false`).
 *   - 7 fields (croner's year field) are rejected: the spec has no year field.
 */
import { msPerSecond } from '../base/units.ts'
import { Cron } from 'croner'
import { cronScheduleCharsMax } from '../base/limits.ts'
import * as errors from '../protocol/errors.ts'

export type CronSchedule =
  | { kind: 'interval'; source: string; everyMs: number }
  | { kind: 'cron'; source: string; cron: Cron }

export type ParseScheduleResult = { ok: true; schedule: CronSchedule } | { ok: false; error: string }

const intervalForm = /^\s*\*\/(\S*)\s*$/
const intervalSeconds = /^[1-9][0-9]*$/
/**
 * Checking that an expression ever matches starts here. Without a year field every expression that
 * matches once matches again within 8 years (Feb 29 across a century), well inside croner's search.
 */
const neverMatchesProbeMs = Date.UTC(2000, 0, 1)

export function parseSchedule(schedule: string): ParseScheduleResult {
  if (schedule.length > cronScheduleCharsMax) {
    return { ok: false, error: errors.cronScheduleTooLong(schedule.length) }
  }
  const interval = intervalForm.exec(schedule)
  if (interval !== null) {
    const seconds = interval[1] ?? ''
    const everyMs = Number(seconds) * msPerSecond
    if (!intervalSeconds.test(seconds) || !Number.isSafeInteger(everyMs)) {
      return { ok: false, error: errors.cronIntervalInvalid(schedule) }
    }
    return { ok: true, schedule: { kind: 'interval', source: schedule, everyMs } }
  }
  let cron: Cron
  try {
    cron = new Cron(schedule, { timezone: 'UTC', mode: '5-or-6-parts' })
  } catch (error) {
    const detail = String((error as Error).message ?? error).replace(/^CronPattern: /, '')
    return { ok: false, error: errors.cronExpressionInvalid(schedule, detail) }
  }
  if (cron.nextRun(new Date(neverMatchesProbeMs)) === null) {
    return { ok: false, error: errors.cronExpressionInvalid(schedule, 'the expression never matches') }
  }
  return { ok: true, schedule: { kind: 'cron', source: schedule, cron } }
}

/**
 * The first run time strictly after `afterMs`. Intervals count from `afterMs` itself (the last run or
 * the creation time). Infinity if the expression has no future match (parseSchedule rejects those).
 */
export function nextRunMs(schedule: CronSchedule, afterMs: number): number {
  if (schedule.kind === 'interval') return afterMs + schedule.everyMs
  const next = schedule.cron.nextRun(new Date(afterMs))
  return next === null ? Infinity : next.getTime()
}
