/**
 * The contract between the engine and its host (src/shard/host.ts). The engine is synchronous and
 * pure: commands and ticks go in with the current time, and everything it produces accumulates in an
 * EngineOutput that the host drains after each batch.
 *
 *   host → engine:  execute(command, token, nowMs) · tick(nowMs) · cancelWaiters(tokens) · replay(record)
 *                   receive(crossShardMessage, nowMs) · snapshot()
 *   engine → host:  drainOutput() → { replies, records, events, messages }  ·  nextWakeMs()
 *
 * Durability rule kept by the host: every reply in an output is released only after every record in
 * that output (and before it) is durable. The engine therefore never has to care about IO.
 */
import type { Command } from '../protocol/commands.ts'

/** Identifies one pending request at the host. 0 means "nobody waits for a reply" (internal work). */
export type Token = number

/**
 * A reply payload without `reqId`: `{ ok: true, ... }` or `{ ok: false, error: '...' }`. The host adds
 * `reqId` in front and serialises it. Field order inside is preserved on the wire.
 */
export type Reply = { ok: boolean; error?: string; [field: string]: unknown }

/**
 * One state change, as the log persists it and replay() consumes it. A plain JSON-serialisable object
 * with a short discriminator `t`; the engine owns the set of record types (engine/records.ts).
 * The host JSON-encodes it, storage frames it; replay gets back the parsed object.
 */
export type LogRecord = { t: string; [field: string]: unknown }

/**
 * flashQ JobEvent (spec §2.4); `data`, `error` and `progress` are omitted when absent. `active`,
 * `delayed`, `removed`, `drained`, `waiting-children` and `duplicated` are extensions (README "Events"): BullMQ's QueueEvents has them.
 * `drained` is about a queue, not a job: its job_id is 0.
 */
export type JobEvent = {
  event_type:
    | 'pushed' | 'completed' | 'failed' | 'progress' | 'retrying' | 'stalled' | 'timeout' | 'partial'
    | 'active' | 'delayed' | 'removed' | 'drained' | 'waiting-children' | 'duplicated'
  queue: string
  job_id: number
  timestamp: number
  data?: unknown
  error?: string
  progress?: number
  /** Extension: the job's custom id (PUSH `job_id`), when it has one. */
  custom_id?: string
}

/**
 * Work for another shard (depends_on, flows and GETCHILDREN across shards, cron pushes to a queue of
 * another shard, OBLITERATE's cron cleanup). The host routes it through the front and the target
 * shard's engine receives `message` via receive(message, nowMs). The engine defines the message kinds
 * (ShardMessage in outbox.ts: a plain JSON object with discriminator `t` and version `v`). The host
 * must release a message only after the records of the output that carried it are durable; the
 * engine re-sends what was not acknowledged, so the host may lose messages in a crash.
 *
 * Some replies are deferred like a blocking pull: FLOW with children on other shards answers once
 * their ids are back, GETCHILDREN once the other shards sent their children (both bounded in time).
 * cancelWaiters(tokens) also drops those.
 */
export type CrossShardMessage = { shardIndex: number; message: { t: string; [field: string]: unknown } }

export type EngineOutput = {
  replies: Array<[Token, Reply]>
  records: LogRecord[]
  events: JobEvent[]
  messages: CrossShardMessage[]
}

export type EngineConfig = {
  shardIndex: number
  shardCount: number
  /** When false the engine produces no records (in-memory mode saves the serialisation). */
  recordsEnabled: boolean
}
