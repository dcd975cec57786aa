/**
 * Internal commands (protocol/commands.ts internalCommandSchemas): what the HTTP routes need and TCP
 * lacks. Same state transitions as the public commands; only the replies differ.
 */
import type { CommandOf, JobInput } from '../protocol/commands.ts'
import { msPerSecond } from '../base/units.ts'
import type { Token } from './types.ts'
import type { HandlerTable } from './engine.ts'
import type { Core } from './core.ts'
import { duplicateOfCustomId, pushJob } from './handlers-core.ts'
import { getJobKeys } from './handlers-queue.ts'
import { jobToWire } from './job.ts'
import { cleanupOrderProblem, cleanupSettingsOf, cleanupSettingsProblem } from './retention.ts'
import { housekeeping } from './scheduling.ts'
import { setQueueDefaults } from './records.ts'

/** PUSH whose reply is the full job (an existing one for a known custom id). */
function pushReturningJob(core: Core, command: CommandOf<'_PUSHJOB'>, token: Token, nowMs: number, requestBytes: number) {
  const result = pushJob(core, core.queue(command.queue), command as JobInput, nowMs, requestBytes)
  if (typeof result === 'string') return core.reply(token, { ok: false, error: result })
  const job = core.jobs.get(result)
  core.reply(token, { ok: true, id: result, job: job === undefined ? null : jobToWire(job) })
}

/** _CUSTOMIDS: for each custom id, the id of this shard's live job that has it (a duplicate push), or null. */
function customIds(core: Core, command: CommandOf<'_CUSTOMIDS'>, token: Token, nowMs: number) {
  core.reply(token, { ok: true, ids: command.job_ids.map((customId) => duplicateOfCustomId(core, command.queue, customId, nowMs)) })
}

/** Durable per-queue push defaults (recorded as `qd`, like Engine.setQueueDefaults). */
function queueDefaults(core: Core, command: CommandOf<'_QUEUEDEFAULTS'>, token: Token) {
  const q = core.queue(command.queue)
  const { timeout, max_attempts, backoff, ttl } = command
  const kept = Object.fromEntries(Object.entries({ timeout, max_attempts, backoff, ttl }).filter(([, value]) => value !== undefined))
  setQueueDefaults(core, q, Object.keys(kept).length === 0 ? null : kept)
  core.reply(token, { ok: true })
}

/** Metrics are not persisted, so zeroing them writes nothing. */
function resetMetrics(core: Core, _command: CommandOf<'_RESETMETRICS'>, token: Token) {
  core.metrics.reset()
  core.reply(token, { ok: true })
}

/**
 * Retention settings (spec §4.18); the reply is the settings now in force. Runtime-only, not recorded: like the reference's settings they
 * last until a restart, and the defaults a restart returns to are the spec minimums, so a lost
 * setting can only make the server keep less than asked, never less than the spec requires.
 */
function setCleanup(core: Core, command: CommandOf<'_SETCLEANUP'>, token: Token, nowMs: number) {
  const problem = cleanupSettingsProblem(command) ?? cleanupOrderProblem(core, command)
  if (problem !== null) return core.reply(token, { ok: false, error: problem })
  const { max_completed_jobs, max_job_results, cleanup_interval_secs, metrics_history_size } = command
  if (max_completed_jobs !== undefined) core.history.setLimit(max_completed_jobs)
  if (max_job_results !== undefined) core.resultIds.setLimit(max_job_results)
  if (cleanup_interval_secs !== undefined) core.housekeepingIntervalMs = cleanup_interval_secs * msPerSecond
  if (metrics_history_size !== undefined) core.metrics.pointsLimit = metrics_history_size
  // A lowered limit is applied by the next housekeeping: within one interval, or now by _RUNCLEANUP.
  const limitsSet = max_completed_jobs !== undefined || max_job_results !== undefined || metrics_history_size !== undefined
  if (limitsSet) core.retentionTrimDueMs = Math.min(core.retentionTrimDueMs, nowMs + core.housekeepingIntervalMs)
  core.reply(token, { ok: true, ...cleanupSettingsOf(core) })
}

/** Housekeeping now; the count is how many retained entries (history, results) it dropped. */
function runCleanup(core: Core, _command: CommandOf<'_RUNCLEANUP'>, token: Token, nowMs: number) {
  core.reply(token, { ok: true, count: housekeeping(core, nowMs) })
}

export const internalHandlers: HandlerTable = {
  _SETCLEANUP: setCleanup,
  _RUNCLEANUP: runCleanup,
  _PUSHJOB: pushReturningJob,
  _QUEUEDEFAULTS: queueDefaults,
  _RESETMETRICS: resetMetrics,
  _GETJOBKEYS: getJobKeys,
  _CUSTOMIDS: customIds,
}
