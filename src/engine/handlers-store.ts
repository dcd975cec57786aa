/**
 * KV (spec §3.9) and cron (§3.5) commands: thin adapters from the handler table to KvStore and
 * CronTable, which own the logic and append their records to the shard's output. Cron firing is
 * here too (a push through the normal push path, here or on the queue's shard: links.ts).
 */
import type { CommandName } from '../protocol/commands.ts'
import type { Token } from './types.ts'
import type { HandlerTable } from './engine.ts'
import type { Core } from './core.ts'
import type { KvCommand } from './kv.ts'
import type { CronCommand } from './cron.ts'
import { cronPush } from './links.ts'

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

/** Fires the due cron entries: a plain job on the queue's shard (spec §4.15), exactly once. */
export function fireCron(core: Core, nowMs: number): void {
  if (core.cron.nextDueMs() > nowMs) return
  // A fire and its push are durable together (a push to another shard is an outbox message).
  const group = core.beginGroup()
  for (const push of core.cron.due(nowMs, core.sink)) cronPush(core, push.queue, push.data, push.priority, nowMs)
  core.endGroup(group)
}
