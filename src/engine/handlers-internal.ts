/**
 * Internal commands (protocol/commands.ts internalCommandSchemas): what the HTTP routes need and TCP
 * lacks. Same state transitions as the public commands; only the replies differ.
 */
import type { CommandOf, JobInput } from '../protocol/commands.ts'
import type { Token } from './types.ts'
import type { HandlerTable } from './engine.ts'
import type { Core } from './core.ts'
import { pushJob } from './handlers-core.ts'
import { jobToWire } from './job.ts'

/** PUSH whose reply is the full job (an existing one for a known custom id). */
function pushReturningJob(core: Core, command: CommandOf<'_PUSHJOB'>, token: Token, nowMs: number, requestBytes: number) {
  const result = pushJob(core, core.queue(command.queue), command as JobInput, nowMs, { bytes: requestBytes })
  if (typeof result === 'string') return core.reply(token, { ok: false, error: result })
  const job = core.jobs.get(result)
  core.reply(token, { ok: true, id: result, job: job === undefined ? null : jobToWire(job) })
}

/** Durable per-queue push defaults (recorded as `qd`, like Engine.setQueueDefaults). */
function queueDefaults(core: Core, command: CommandOf<'_QUEUEDEFAULTS'>, token: Token) {
  const q = core.queue(command.queue)
  const { timeout, max_attempts, backoff, ttl } = command
  const kept = Object.fromEntries(Object.entries({ timeout, max_attempts, backoff, ttl }).filter(([, value]) => value !== undefined))
  q.defaults = Object.keys(kept).length === 0 ? null : kept
  if (core.recording) core.record({ t: 'qd', q: command.queue, d: q.defaults })
  core.reply(token, { ok: true })
}

/** Metrics are not persisted, so zeroing them writes nothing. */
function resetMetrics(core: Core, _command: CommandOf<'_RESETMETRICS'>, token: Token) {
  core.totalPushed = 0
  core.totalCompleted = 0
  core.totalFailed = 0
  core.latencySumMs = 0
  core.latencyCount = 0
  core.metricsPoints.length = 0
  core.metricsPointCount = 0
  core.reply(token, { ok: true })
}

export const internalHandlers: HandlerTable = {
  _PUSHJOB: pushReturningJob,
  _QUEUEDEFAULTS: queueDefaults,
  _RESETMETRICS: resetMetrics,
}
