/**
 * KV (spec §3.9) and cron (§3.5) commands: thin adapters from the handler table to KvStore and
 * CronTable, which own the logic and append their records to the shard's output. Cron firing (a
 * push through the normal push path, here or on the queue's shard) and OBLITERATE's cron cleanup
 * live here too.
 */
import { shardOfName } from '../base/hash.ts'
import type { CommandName } from '../protocol/commands.ts'
import type { Token } from './types.ts'
import type { HandlerTable } from './engine.ts'
import type { Core } from './core.ts'
import type { KvCommand } from './kv.ts'
import type { CronCommand } from './cron.ts'
import { noRequest, plainJobInput, pushJob } from './handlers-core.ts'

function kv(core: Core, command: { cmd: CommandName }, token: Token, nowMs: number) {
  core.reply(token, core.kv.execute(command as KvCommand, nowMs, core.sink))
}

function cron(core: Core, command: { cmd: CommandName }, token: Token, nowMs: number) {
  core.reply(token, core.cron.execute(command as CronCommand, nowMs, core.sink))
}

export const storeHandlers: HandlerTable = {
  KVSET: kv, KVGET: kv, KVDEL: kv, KVMGET: kv, KVMSET: kv, KVEXISTS: kv, KVEXPIRE: kv, KVTTL: kv, KVKEYS: kv, KVINCR: kv,
  CRON: cron, CRONDELETE: cron, CRONLIST: cron,
}

/** Fires the due cron entries: a plain job on the queue's shard (spec §4.15). */
export function fireCron(core: Core, nowMs: number): void {
  if (core.cron.nextDueMs() > nowMs) return
  for (const push of core.cron.due(nowMs, core.sink)) cronPush(core, push.queue, push.data, push.priority, nowMs)
}

/**
 * A cron push. Local queue: through pushJob (emits `pushed`, wakes pullers). Queue of another shard:
 * a `cronpush` message, released once the `cron.fire` record is durable. A crash after that but
 * before the target recorded the job loses that one execution (at most once, like a missed run).
 */
export function cronPush(core: Core, queue: string, data: unknown, priority: number, nowMs: number): void {
  const owner = shardOfName(queue, core.shardCount)
  if (owner !== core.shardIndex) return core.message(owner, { t: 'cronpush', queue, data, priority })
  // A refusal (jobs limit) drops this execution; the entry fires again at its next run.
  pushJob(core, core.queue(queue), plainJobInput(data, priority), nowMs, noRequest)
}

/** OBLITERATE's cron part: local entries now, the other shards' entries by message. */
export function obliterateCron(core: Core, queue: string): void {
  core.cron.deleteQueue(queue, core.sink)
  for (let shard = 0; shard < core.shardCount; shard++) {
    if (shard !== core.shardIndex) core.message(shard, { t: 'cronobliterate', queue })
  }
}
