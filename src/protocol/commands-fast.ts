/**
 * Hand-written parsers for the hot commands (PUSH, PUSHB, PULL, PULLB, ACK, ACKB, FAIL, and the queued
 * API's _QPUSH, _QPOLL, _QDELETE, _QUPDATE). Each returns
 * exactly the object the zod schema in commands.ts would return (same keys, same order, same defaults)
 * or null when the input is anything unusual, in which case the caller falls back to zod, which also
 * produces the error text. They never accept what zod rejects; commands-fast.test.ts checks agreement
 * on random inputs.
 *
 * Why: zod's generic object walk costs several microseconds per PUSH; the server parses 200k+
 * commands per second on one thread.
 */
import {
  ackBatchIdsMax, blockingTimeoutMsMax, jobDependsOnIdsMax, jobErrorCharsMax, jobKeyCharsMax, jobTagsMax, pullBatchJobsMax, pushBatchJobsMax, queuedBatchMessagesCap, queuedPollMessagesMax,
  queuedVisibilitySecondsMax,
} from '../base/limits.ts'
import type { Command, CommandOf, JobInput } from './commands.ts'
import { i32Max, i32Min, queueNameAscii, u32Max } from './validate.ts'

type Fields = Record<string, unknown>
type FastParser = (input: Fields) => Command | null

// Set by the readers below when a value is not the plain valid case; the parser then returns null.
// A module flag keeps the readers allocation-free.
let unusual = false

function u64(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value
  unusual = true
  return 0
}

function optU64(value: unknown): number | undefined {
  return value === undefined || value === null ? undefined : u64(value)
}

function optU32(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= u32Max) return value
  unusual = true
  return undefined
}

function i32(value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback
  if (typeof value === 'number' && Number.isInteger(value) && value >= i32Min && value <= i32Max) return value
  unusual = true
  return fallback
}

function bool(value: unknown): boolean {
  if (value === undefined || value === null) return false
  if (typeof value === 'boolean') return value
  unusual = true
  return false
}

function optString(value: unknown, charsMax = Number.POSITIVE_INFINITY): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string' && value.length <= charsMax) return value
  unusual = true
  return undefined
}

/** A job's custom id, unique key, debounce id or group id (at most jobKeyCharsMax). */
function optKey(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string' && value.length <= jobKeyCharsMax) return value
  unusual = true
  return undefined
}

function optTags(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value) || value.length > jobTagsMax) return fail()
  for (let index = 0; index < value.length; index++) {
    const tag = value[index]
    if (typeof tag !== 'string' || tag.length > jobKeyCharsMax) return fail()
  }
  return value as string[]
}

function u64s(value: unknown, itemsMax: number): number[] {
  if (!Array.isArray(value) || value.length > itemsMax) return fail() ?? []
  for (let index = 0; index < value.length; index++) u64(value[index])
  return value as number[]
}

function optU64s(value: unknown, itemsMax: number): number[] | undefined {
  return value === undefined || value === null ? undefined : u64s(value, itemsMax)
}

function fail(): undefined {
  unusual = true
  return undefined
}

function queue(value: unknown): string {
  // Non-ASCII names go through zod, which runs the full Unicode check.
  if (typeof value === 'string' && queueNameAscii.test(value)) return value
  unusual = true
  return ''
}

function blockingTimeout(value: unknown, fallbackMs: number): number {
  if (value === undefined || value === null) return fallbackMs
  return Math.min(u64(value), blockingTimeoutMsMax)
}

/**
 * A PUSH or _PUSHJOB command: `cmd`, `queue`, `data`, then jobInput's option fields in the schema's
 * key order (jobOptionsShape), as one object literal: adding the fields one by one to a smaller
 * object reshaped it at every step and left ~650 bytes of garbage per sequential PUSH.
 *
 * DECISION — the option fields are jobInput's, written out a second time. `{ cmd, queue,
 * ...jobInput(input) }` builds a second object and measured ~20× slower than the literal (~250 ns
 * per PUSH). The fast-path agreement test (fast parser against zod on random requests) catches the
 * two lists drifting apart.
 */
function pushCommand(cmd: 'PUSH' | '_PUSHJOB', input: Fields, data: unknown): Fields {
  // The Go client's camelCase aliases are checked even when the snake_case field wins, as zod does.
  const jobIdAlias = optKey(input.jobId)
  const ageAlias = optU64(input.keepCompletedAge)
  const countAlias = optU64(input.keepCompletedCount)
  return {
    cmd,
    queue: queue(input.queue),
    data,
    priority: i32(input.priority, 0),
    delay: optU64(input.delay),
    ttl: optU64(input.ttl),
    timeout: optU64(input.timeout),
    max_attempts: optU32(input.max_attempts),
    backoff: optU64(input.backoff),
    unique_key: optKey(input.unique_key),
    depends_on: optU64s(input.depends_on, jobDependsOnIdsMax),
    tags: optTags(input.tags),
    lifo: bool(input.lifo),
    remove_on_complete: bool(input.remove_on_complete),
    remove_on_fail: bool(input.remove_on_fail),
    stall_timeout: optU64(input.stall_timeout),
    debounce_id: optKey(input.debounce_id),
    debounce_ttl: input.debounce_ttl === undefined || input.debounce_ttl === null ? 5000 : u64(input.debounce_ttl),
    job_id: optKey(input.job_id) ?? jobIdAlias,
    keep_completed_age: optU64(input.keep_completed_age) ?? ageAlias,
    keep_completed_count: optU64(input.keep_completed_count) ?? countAlias,
    group_id: optKey(input.group_id),
  }
}

/**
 * A PUSHB item: `data` (null when absent) and pushCommand's option fields in the same order, built as
 * one object literal: a PUSHB has a thousand of them, and adding the fields one by one cost twice as much.
 */
function jobInput(input: Fields): JobInput {
  const jobIdAlias = optKey(input.jobId)
  const ageAlias = optU64(input.keepCompletedAge)
  const countAlias = optU64(input.keepCompletedCount)
  return {
    data: input.data === undefined ? null : input.data,
    priority: i32(input.priority, 0),
    delay: optU64(input.delay),
    ttl: optU64(input.ttl),
    timeout: optU64(input.timeout),
    max_attempts: optU32(input.max_attempts),
    backoff: optU64(input.backoff),
    unique_key: optKey(input.unique_key),
    depends_on: optU64s(input.depends_on, jobDependsOnIdsMax),
    tags: optTags(input.tags),
    lifo: bool(input.lifo),
    remove_on_complete: bool(input.remove_on_complete),
    remove_on_fail: bool(input.remove_on_fail),
    stall_timeout: optU64(input.stall_timeout),
    debounce_id: optKey(input.debounce_id),
    debounce_ttl: input.debounce_ttl === undefined || input.debounce_ttl === null ? 5000 : u64(input.debounce_ttl),
    job_id: optKey(input.job_id) ?? jobIdAlias,
    keep_completed_age: optU64(input.keep_completed_age) ?? ageAlias,
    keep_completed_count: optU64(input.keep_completed_count) ?? countAlias,
    group_id: optKey(input.group_id),
  } as JobInput
}

function push(input: Fields): CommandOf<'PUSH'> | null {
  unusual = false
  if (input.data === undefined) return null
  const command = pushCommand('PUSH', input, input.data)
  return unusual ? null : (command as CommandOf<'PUSH'>)
}

/** _PUSHJOB (HTTP push): PUSH's fields under its own name, with `data` defaulting to null. */
function pushReturningJob(input: Fields): CommandOf<'_PUSHJOB'> | null {
  unusual = false
  const data = input.data === undefined || input.data === null ? null : input.data
  const command = pushCommand('_PUSHJOB', input, data)
  return unusual ? null : (command as CommandOf<'_PUSHJOB'>)
}

function pushBatch(input: Fields): CommandOf<'PUSHB'> | null {
  unusual = false
  const name = queue(input.queue)
  const items = input.jobs
  if (unusual || !Array.isArray(items) || items.length > pushBatchJobsMax) return null
  const jobs: JobInput[] = new Array(items.length)
  for (let index = 0; index < items.length; index++) {
    const item: unknown = items[index]
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return null
    jobs[index] = jobInput(item as Fields)
    if (unusual) return null
  }
  return { cmd: 'PUSHB', queue: name, jobs }
}

function pull(input: Fields): CommandOf<'PULL'> | null {
  unusual = false
  const command = { cmd: 'PULL' as const, queue: queue(input.queue), timeout: blockingTimeout(input.timeout, 60_000) }
  return unusual ? null : command
}

function pullBatch(input: Fields): CommandOf<'PULLB'> | null {
  unusual = false
  const command = {
    cmd: 'PULLB' as const,
    queue: queue(input.queue),
    count: Math.min(u64(input.count), pullBatchJobsMax),
    timeout: blockingTimeout(input.timeout, 60_000),
    sparse: input.sparse === undefined || input.sparse === null ? undefined : bool(input.sparse),
  }
  return unusual ? null : command
}

function ack(input: Fields): CommandOf<'ACK'> | null {
  unusual = false
  const command = { cmd: 'ACK' as const, id: u64(input.id), result: input.result === null ? undefined : input.result }
  return unusual ? null : command
}

function ackBatch(input: Fields): CommandOf<'ACKB'> | null {
  unusual = false
  const command = { cmd: 'ACKB' as const, ids: u64s(input.ids, ackBatchIdsMax) }
  return unusual ? null : command
}

function fail_(input: Fields): CommandOf<'FAIL'> | null {
  unusual = false
  const command = { cmd: 'FAIL' as const, id: u64(input.id), error: optString(input.error, jobErrorCharsMax), retry_delay: optU64(input.retry_delay) }
  return unusual ? null : command
}

// ── The queued API's internal commands (queued-commands.ts): the HTTP front merges a turn's requests
// into one, so a command carries up to thousands of items and zod's walk was a tenth of the shard's time.

const visibilityMsMax = queuedVisibilitySecondsMax * 1000
const pollTagForm = /^[0-9a-f]{60}$/

function visibilityMs(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= visibilityMsMax) return value
  unusual = true
  return 0
}

function pollTag(value: unknown): string {
  if (typeof value === 'string' && pollTagForm.test(value)) return value
  unusual = true
  return ''
}

/** An array of at most `itemsMax` plain objects, or null. */
function objects(value: unknown, itemsMax: number): Fields[] | null {
  if (!Array.isArray(value) || value.length > itemsMax) return null
  for (let index = 0; index < value.length; index++) {
    const item: unknown = value[index]
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return null
  }
  return value as Fields[]
}

function queuedPush(input: Fields): CommandOf<'_QPUSH'> | null {
  unusual = false
  const name = queue(input.queue)
  const items = objects(input.messages, queuedBatchMessagesCap)
  if (items === null) return null
  const messages: Array<{ contents: string; delay_ms: number }> = new Array(items.length)
  for (let index = 0; index < items.length; index++) {
    const item = items[index] as Fields
    const contents = item.contents
    if (typeof contents !== 'string') return null
    messages[index] = { contents, delay_ms: visibilityMs(item.delay_ms) }
  }
  return unusual ? null : { cmd: '_QPUSH', queue: name, messages }
}

function queuedPoll(input: Fields): CommandOf<'_QPOLL'> | null {
  unusual = false
  const name = queue(input.queue)
  const visibility = visibilityMs(input.visibility_ms)
  const tags = input.tags
  if (!Array.isArray(tags) || tags.length < 1 || tags.length > queuedPollMessagesMax) return null
  for (let index = 0; index < tags.length; index++) pollTag(tags[index])
  return unusual ? null : { cmd: '_QPOLL', queue: name, visibility_ms: visibility, tags: tags as string[] }
}

function queuedDelete(input: Fields): CommandOf<'_QDELETE'> | null {
  unusual = false
  const name = queue(input.queue)
  const entries = objects(input.items, queuedBatchMessagesCap)
  if (entries === null) return null
  const items: Array<{ id: number; tag: string }> = new Array(entries.length)
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index] as Fields
    items[index] = { id: u64(entry.id), tag: pollTag(entry.tag) }
  }
  return unusual ? null : { cmd: '_QDELETE', queue: name, items }
}

function queuedUpdate(input: Fields): CommandOf<'_QUPDATE'> | null {
  unusual = false
  const command = {
    cmd: '_QUPDATE' as const, queue: queue(input.queue), id: u64(input.id), tag: pollTag(input.tag), visibility_ms: visibilityMs(input.visibility_ms),
  }
  return unusual ? null : command
}

export const fastParsers: Partial<Record<string, FastParser>> = {
  _QPUSH: queuedPush,
  _QPOLL: queuedPoll,
  _QDELETE: queuedDelete,
  _QUPDATE: queuedUpdate,
  PUSH: push,
  _PUSHJOB: pushReturningJob,
  PUSHB: pushBatch,
  PULL: pull,
  PULLB: pullBatch,
  ACK: ack,
  ACKB: ackBatch,
  FAIL: fail_,
}
