/**
 * The TCP commands of the flashQ protocol (spec §3): one zod schema per command, keyed by its exact
 * UPPERCASE name, and `parseCommand`, which turns a decoded request (JSON object or msgpack map) into
 * a typed command or a client-facing error string.
 *
 * Owns: field names, types, defaults, null-as-absent (§1.5), the spec's validation messages for queue
 * names, batch sizes, cron schedule length, KV keys and empty flows. Does not own: anything that needs
 * state or size estimates (job data size, unique keys, cron expression syntax) — that is the engine's.
 *
 * Zod is the source of truth. The hot commands also have a hand-written fast path
 * (commands-fast.ts) that must produce exactly the zod output; a randomized test checks it.
 */
import { z } from 'zod'
import {
  ackBatchIdsMax,
  blockingTimeoutMsMax,
  cronNameCharsMax,
  cronScheduleCharsMax,
  flowChildrenMax,
  jobDataBytesMax,
  jobDependsOnIdsMax,
  jobErrorCharsMax,
  jobKeyCharsMax,
  jobLogMessageCharsMax,
  jobTagsMax,
  kvBatchEntriesMax,
  pullBatchJobsMax,
  pushBatchJobsMax,
} from '../base/limits.ts'
import * as errors from './errors.ts'
import { fastParsers } from './commands-fast.ts'
import { queuedCommandSchemas } from './queued-commands.ts'
import { i32Max, i32Min, u32Max, validateKvKey, validateQueueName } from './validate.ts'

export { validateKvKey, validateQueueName }

// ---------------------------------------------------------------------------------------------------
// Field helpers. Every optional or defaulted field treats null as absent, because msgpack clients
// send nil for every undefined property and JSON clients may send null (§1.5). Written with
// nullish + transform (not preprocess) so that z.input stays precise: SDK request types come from it.

/** Optional field: absent or null ⇒ undefined. */
function opt<T extends z.ZodType>(schema: T) {
  return schema.nullish().transform((value) => value ?? undefined)
}

/** Defaulted field: absent or null ⇒ `fallback`. */
function def<T extends z.ZodType>(schema: T, fallback: z.util.NoUndefined<z.output<T>>) {
  return schema.nullish().transform((value) => value ?? fallback)
}

/** Marks an issue whose message is a spec error string sent verbatim (not prefixed by `Invalid:`). */
const specIssue = (message: string, input: unknown) =>
  ({ code: 'custom', message, input, params: { spec: true } }) as const

/** u64 / usize: a non-negative safe integer (ids stay below 2^53 by design). */
const u64 = () => z.int().min(0)
const u32 = () => z.int().min(0).max(u32Max)
const i32 = () => z.int().min(i32Min).max(i32Max)
/** Any JSON value. Required fields still reject absence (zod treats a missing key as undefined). */
const anyValue = () => z.unknown().refine((value) => value !== undefined, { error: 'missing' })

const queueName = () =>
  z.string().superRefine((name, ctx) => {
    const error = validateQueueName(name)
    if (error !== null) ctx.addIssue(specIssue(error, name))
  })

const kvKey = () =>
  z.string().superRefine((key, ctx) => {
    const error = validateKvKey(key)
    if (error !== null) ctx.addIssue(specIssue(error, key))
  })

// ---------------------------------------------------------------------------------------------------
// Shared shapes.

/** Clamp for blocking timeouts: a client asking for a year waits a day, without an error. */
const blockingTimeoutMs = (fallbackMs: number) =>
  def(u64(), fallbackMs).transform((ms) => Math.min(ms, blockingTimeoutMsMax))

/** A job's custom id, unique key, debounce id, group id or tag. */
const jobKey = () => z.string().max(jobKeyCharsMax)

/** Every PUSH field except `queue` and `data` (spec §3.1), in wire order. */
const jobOptionsShape = {
  priority: def(i32(), 0),
  delay: opt(u64()),
  ttl: opt(u64()),
  timeout: opt(u64()),
  max_attempts: opt(u32()),
  backoff: opt(u64()),
  unique_key: opt(jobKey()),
  depends_on: opt(z.array(u64()).max(jobDependsOnIdsMax)),
  tags: opt(z.array(jobKey()).max(jobTagsMax)),
  lifo: def(z.boolean(), false),
  remove_on_complete: def(z.boolean(), false),
  remove_on_fail: def(z.boolean(), false),
  stall_timeout: opt(u64()),
  debounce_id: opt(jobKey()),
  debounce_ttl: def(u64(), 5000),
  job_id: opt(jobKey()),
  keep_completed_age: opt(u64()),
  keep_completed_count: opt(u64()),
  group_id: opt(jobKey()),
}

/**
 * flashQ's Go client sends `jobId`, `keepCompletedAge` and `keepCompletedCount` in camelCase; they are
 * accepted as aliases when the snake_case field is absent (or null). commands-fast.ts does the same.
 */
const camelCaseAliasShape = { jobId: opt(jobKey()), keepCompletedAge: opt(u64()), keepCompletedCount: opt(u64()) }
type CamelCaseAliases = { jobId?: string; keepCompletedAge?: number; keepCompletedCount?: number }
type SnakeCaseFields = { job_id?: string; keep_completed_age?: number; keep_completed_count?: number }

function foldCamelCase<T extends CamelCaseAliases & SnakeCaseFields>(value: T): Omit<T, keyof CamelCaseAliases> {
  const { jobId, keepCompletedAge, keepCompletedCount, ...rest } = value
  if (rest.job_id === undefined && jobId !== undefined) rest.job_id = jobId
  if (rest.keep_completed_age === undefined && keepCompletedAge !== undefined) rest.keep_completed_age = keepCompletedAge
  if (rest.keep_completed_count === undefined && keepCompletedCount !== undefined) rest.keep_completed_count = keepCompletedCount
  return rest
}

/** A PUSHB item: every PUSH field except `queue`; `data` defaults to null. */
const jobInput = z.object({ data: def(z.unknown(), null), ...jobOptionsShape, ...camelCaseAliasShape }).transform(foldCamelCase)

/** An array whose length limit answers with a spec message instead of `Invalid: …`. */
function boundedArray<T extends z.ZodType>(item: T, itemsMax: number, tooMany: (count: number) => string) {
  return z.preprocess((value, ctx) => {
    // Checked before the items are parsed, so an oversized batch costs nothing.
    if (Array.isArray(value) && value.length > itemsMax) ctx.issues.push(specIssue(tooMany(value.length), value))
    return value
  }, z.array(item))
}

const id = () => u64()
const byId = <K extends string>(cmd: K) => z.object({ cmd: z.literal(cmd), id: id() })
const byQueue = <K extends string>(cmd: K) => z.object({ cmd: z.literal(cmd), queue: queueName() })
const bare = <K extends string>(cmd: K) => z.object({ cmd: z.literal(cmd) })
const byKvKey = <K extends string>(cmd: K) => z.object({ cmd: z.literal(cmd), key: kvKey() })

/**
 * LOG, GETLOGS and HEARTBEAT accept `job_id` as an alias of `id` (the TypeScript client sends it).
 * `id` wins when both are given; one of them is required (reported as the missing `id`).
 */
const jobIdAliasShape = { id: opt(id()), job_id: opt(id()) }

function requireIdOrJobId(fields: { id?: number; job_id?: number }, ctx: z.RefinementCtx): void {
  if (fields.id === undefined && fields.job_id === undefined) {
    ctx.addIssue({ code: 'invalid_type', expected: 'number', input: undefined, path: ['id'] })
  }
}

function foldJobId<T extends { id?: number; job_id?: number }>({ job_id, ...rest }: T): Omit<T, 'job_id'> & { id: number } {
  return { ...rest, id: (rest.id ?? job_id) as number }
}

const cronSchedule = () =>
  z.string().superRefine((schedule, ctx) => {
    if (schedule.length > cronScheduleCharsMax) ctx.addIssue(specIssue(errors.cronScheduleTooLong(schedule.length), schedule))
  })

const flowChild = z.object({
  queue: queueName(),
  data: anyValue(),
  priority: def(i32(), 0),
  delay: opt(u64()),
})

const kvEntry = z.object({
  // Invalid keys are skipped by KVMSET (spec §3.9), so only the type is checked here.
  key: z.string(),
  value: anyValue(),
  ttl: opt(u64()),
})

// ---------------------------------------------------------------------------------------------------
// The commands (spec §3), in spec order.

export const commandSchemas = {
  // §3.1 Core
  PUSH: z.object({ cmd: z.literal('PUSH'), queue: queueName(), data: anyValue(), ...jobOptionsShape, ...camelCaseAliasShape })
    .transform(foldCamelCase),
  PUSHB: z.object({
    cmd: z.literal('PUSHB'),
    queue: queueName(),
    jobs: boundedArray(jobInput, pushBatchJobsMax, () => errors.batchTooLarge),
  }),
  PULL: z.object({ cmd: z.literal('PULL'), queue: queueName(), timeout: blockingTimeoutMs(60_000) }),
  PULLB: z.object({
    cmd: z.literal('PULLB'),
    queue: queueName(),
    // Larger counts are served as the maximum: a short batch is a normal PULLB answer.
    count: u64().transform((count) => Math.min(count, pullBatchJobsMax)),
    timeout: blockingTimeoutMs(60_000),
    // Extension: the jobs leave out the fields that have their default value (the SDK's Worker).
    sparse: opt(z.boolean()),
  }),
  ACK: z.object({ cmd: z.literal('ACK'), id: id(), result: opt(z.unknown()) }),
  ACKB: z.object({ cmd: z.literal('ACKB'), ids: z.array(id()).max(ackBatchIdsMax) }),
  // retry_delay (extension, ms): this retry's delay instead of the job's exponential backoff (the SDK's fixed and custom backoffs).
  FAIL: z.object({ cmd: z.literal('FAIL'), id: id(), error: opt(z.string().max(jobErrorCharsMax)), retry_delay: opt(u64()) }),
  GETRESULT: byId('GETRESULT'),
  GETJOB: byId('GETJOB'),
  GETSTATE: byId('GETSTATE'),
  WAITJOB: z.object({ cmd: z.literal('WAITJOB'), id: id(), timeout: blockingTimeoutMs(30_000) }),
  GETJOBBYCUSTOMID: z.object({ cmd: z.literal('GETJOBBYCUSTOMID'), job_id: z.string() }),

  // §3.2 Job management
  CANCEL: byId('CANCEL'),
  PROGRESS: z.object({
    cmd: z.literal('PROGRESS'),
    id: id(),
    progress: u64().transform((progress) => Math.min(progress, 100)),
    message: opt(z.string().max(jobErrorCharsMax)),
  }),
  GETPROGRESS: byId('GETPROGRESS'),
  DLQ: z.object({ cmd: z.literal('DLQ'), queue: queueName(), count: def(u64(), 100) }),
  RETRYDLQ: z.object({ cmd: z.literal('RETRYDLQ'), queue: queueName(), id: opt(id()) }),
  PURGEDLQ: byQueue('PURGEDLQ'),
  GETJOBSBATCH: z.object({ cmd: z.literal('GETJOBSBATCH'), ids: z.array(id()).max(ackBatchIdsMax) }),
  CHANGEPRIORITY: z.object({ cmd: z.literal('CHANGEPRIORITY'), id: id(), priority: i32() }),
  MOVETODELAYED: z.object({ cmd: z.literal('MOVETODELAYED'), id: id(), delay: u64() }),
  PROMOTE: byId('PROMOTE'),
  UPDATEJOB: z.object({ cmd: z.literal('UPDATEJOB'), id: id(), data: anyValue() }),
  DISCARD: byId('DISCARD'),
  /** Extension: a delayed job becomes due `delay` ms from now (BullMQ's job.changeDelay). */
  CHANGEDELAY: z.object({ cmd: z.literal('CHANGEDELAY'), id: id(), delay: u64() }),
  /** Extension: a job parked on its dependencies stops waiting for `dependency` (BullMQ's ignore/removeDependencyOnFailure). */
  DROPDEP: z.object({ cmd: z.literal('DROPDEP'), id: id(), dependency: id() }),
  /**
   * Extension: removes a job in any state, completed and failed included (BullMQ's job.remove(); CANCEL
   * refuses those). With `queue`, a job of another queue is not found (ids are global, BullMQ's per queue).
   */
  REMOVEJOB: z.object({ cmd: z.literal('REMOVEJOB'), id: id(), queue: opt(queueName()) }),
  LOG: z.object({
    cmd: z.literal('LOG'), ...jobIdAliasShape, message: z.string().max(jobLogMessageCharsMax), level: def(jobKey(), 'info'),
  })
    .superRefine(requireIdOrJobId).transform(foldJobId),
  GETLOGS: z.object({ cmd: z.literal('GETLOGS'), ...jobIdAliasShape }).superRefine(requireIdOrJobId).transform(foldJobId),
  HEARTBEAT: z.object({ cmd: z.literal('HEARTBEAT'), ...jobIdAliasShape }).superRefine(requireIdOrJobId).transform(foldJobId),
  PARTIAL: z.object({ cmd: z.literal('PARTIAL'), id: id(), data: anyValue(), index: opt(u32()) }),

  // §3.3 Queue control
  PAUSE: byQueue('PAUSE'),
  RESUME: byQueue('RESUME'),
  ISPAUSED: byQueue('ISPAUSED'),
  RATELIMIT: z.object({ cmd: z.literal('RATELIMIT'), queue: queueName(), limit: u32() }),
  RATELIMITCLEAR: byQueue('RATELIMITCLEAR'),
  SETCONCURRENCY: z.object({ cmd: z.literal('SETCONCURRENCY'), queue: queueName(), limit: u32() }),
  CLEARCONCURRENCY: byQueue('CLEARCONCURRENCY'),
  LISTQUEUES: bare('LISTQUEUES'),
  COUNT: byQueue('COUNT'),
  GETJOBCOUNTS: byQueue('GETJOBCOUNTS'),
  GETJOBS: z.object({
    cmd: z.literal('GETJOBS'),
    queue: opt(queueName()),
    state: opt(z.string()),
    // Clamped rather than refused: asking for more is not an error, the page is just capped.
    limit: def(u64(), 100).transform((limit) => Math.min(limit, 1000)),
    offset: def(u64(), 0),
  }),
  CLEAN: z.object({
    cmd: z.literal('CLEAN'),
    queue: queueName(),
    grace: u64(),
    // Checked by the engine, which owns the `Invalid state. Use: …` answer (errors.cleanStateInvalid).
    state: z.string(),
    limit: opt(u64()),
    // Extension (the SDK's Queue.clean): the reply lists the removed jobs, at most cleanReplyIdsMax of
    // them, and says `more` when that cap stopped it (engine/handlers-queue.ts cleanListed).
    ids: opt(z.boolean()),
  }),
  DRAIN: byQueue('DRAIN'),
  OBLITERATE: byQueue('OBLITERATE'),

  // §3.4 Stats
  STATS: bare('STATS'),
  METRICS: bare('METRICS'),

  // §3.5 Cron
  CRON: z
    .object({
      cmd: z.literal('CRON'),
      name: z.string().max(cronNameCharsMax),
      queue: queueName(),
      // flashQ's Python client omits `data` when it is None: absent is null.
      data: def(z.unknown(), null).superRefine((data, ctx) => {
        // Every fire pushes this data as a job: bounded like a PUSH's (a 20 MB one made a job per fire
        // that no MessagePack client could read).
        const bytes = Buffer.byteLength(JSON.stringify(data) ?? '')
        if (bytes > jobDataBytesMax) ctx.addIssue(specIssue(errors.jobDataTooLarge(bytes), data))
      }),
      schedule: opt(cronSchedule()),
      repeat_every: opt(u64()),
      priority: def(i32(), 0),
      limit: opt(u64()),
    })
    .superRefine((cron, ctx) => {
      if (cron.schedule === undefined && cron.repeat_every === undefined) {
        ctx.addIssue(specIssue(errors.cronScheduleOrRepeatRequired, cron))
      }
    }),
  CRONDELETE: z.object({ cmd: z.literal('CRONDELETE'), name: z.string() }),
  CRONLIST: bare('CRONLIST'),

  // §3.6 Flows
  FLOW: z.object({
    cmd: z.literal('FLOW'),
    queue: queueName(),
    data: anyValue(),
    priority: def(i32(), 0),
    children: z.array(flowChild).max(flowChildrenMax).superRefine((children, ctx) => {
      if (children.length === 0) ctx.addIssue(specIssue(errors.flowChildrenEmpty, children))
    }),
  }),
  GETCHILDREN: z.object({ cmd: z.literal('GETCHILDREN'), parent_id: id() }),

  // §3.7 Events over TCP (accepted, no effect)
  SUBSCRIBE: z.object({ cmd: z.literal('SUBSCRIBE'), queue: queueName(), events: def(z.array(z.string()), []) }),
  UNSUBSCRIBE: byQueue('UNSUBSCRIBE'),

  // §3.8 AUTH and PING
  AUTH: z.object({ cmd: z.literal('AUTH'), token: z.string() }),
  PING: bare('PING'),

  // §3.9 Key-value store
  KVSET: z.object({ cmd: z.literal('KVSET'), key: kvKey(), value: anyValue(), ttl: opt(u64()) }),
  KVGET: byKvKey('KVGET'),
  KVDEL: byKvKey('KVDEL'),
  KVMGET: z.object({
    cmd: z.literal('KVMGET'),
    // Only the first 1000 keys are used (spec §3.9); the rest are dropped before parsing.
    keys: z.preprocess(
      (keys) => (Array.isArray(keys) && keys.length > kvBatchEntriesMax ? keys.slice(0, kvBatchEntriesMax) : keys),
      z.array(z.string()),
    ),
  }),
  KVMSET: z.object({
    cmd: z.literal('KVMSET'),
    entries: boundedArray(kvEntry, kvBatchEntriesMax, errors.kvTooManyEntries),
  }),
  KVEXISTS: byKvKey('KVEXISTS'),
  KVEXPIRE: z.object({ cmd: z.literal('KVEXPIRE'), key: kvKey(), ttl: u64() }),
  KVTTL: byKvKey('KVTTL'),
  KVKEYS: z.object({ cmd: z.literal('KVKEYS'), pattern: opt(z.string()) }),
  KVINCR: z.object({ cmd: z.literal('KVINCR'), key: kvKey(), by: def(z.int(), 1) }),

} as const

/**
 * Commands that only the server's own transports send (the HTTP routes): TCP clients get
 * `unknown command` for them. Their names start with `_` so they can never clash with flashQ's.
 */
export const internalCommandSchemas = {
  /** PUSH whose reply carries the full job (`POST /queues/{q}/jobs` answers the Job). */
  _PUSHJOB: z.object({ cmd: z.literal('_PUSHJOB'), queue: queueName(), data: def(z.unknown(), null), ...jobOptionsShape, ...camelCaseAliasShape })
    .transform(foldCamelCase),
  /** Per-queue defaults for pushes that leave these fields absent (`POST /settings/queue-defaults`). */
  _QUEUEDEFAULTS: z.object({
    cmd: z.literal('_QUEUEDEFAULTS'),
    queue: queueName(),
    timeout: opt(u64()),
    max_attempts: opt(u32()),
    backoff: opt(u64()),
    ttl: opt(u64()),
  }),
  /**
   * The sort keys (ids, created_at) of a shard's newest `window` GETJOBS matches: the front merges
   * them to page GETJOBS past one shard page without a queue (server/deep-page.ts).
   */
  _GETJOBKEYS: z.object({ cmd: z.literal('_GETJOBKEYS'), queue: opt(queueName()), state: opt(z.string()), window: u64() }),
  /**
   * Which of these custom ids (`job_id`) name a job of this shard that is still retrievable (spec
   * §4.10), asked by the front before a push carrying them goes to its queue's shard
   * (server/custom-ids.ts). Each found id counts as a `duplicated` push into `queue`.
   */
  _CUSTOMIDS: z.object({ cmd: z.literal('_CUSTOMIDS'), queue: queueName(), job_ids: z.array(z.string()).max(pushBatchJobsMax) }),
  /** Zeroes the metrics counters of every shard (`POST /server/reset-metrics`). */
  _RESETMETRICS: bare('_RESETMETRICS'),
  /**
   * Retention settings of every shard (`POST /settings/cleanup`). The engine checks the ranges (spec
   * §4.18 minimums to its named maxima, engine-limits.ts); absent fields keep their value.
   */
  _SETCLEANUP: z.object({
    cmd: z.literal('_SETCLEANUP'),
    max_completed_jobs: opt(u32()),
    max_job_results: opt(u32()),
    cleanup_interval_secs: opt(u32()),
    metrics_history_size: opt(u32()),
  }),
  /** Runs housekeeping now on every shard (`POST /settings/cleanup/run`). */
  _RUNCLEANUP: bare('_RUNCLEANUP'),
  /** Replaces the auth tokens (`POST /settings/auth`); an empty list turns auth off. */
  _SETTOKENS: z.object({ cmd: z.literal('_SETTOKENS'), tokens: z.array(z.string()) }),
  /** The queued-compatible HTTP API (queued-commands.ts, engine/queued-store.ts). */
  ...queuedCommandSchemas,
} as const

export const allCommandSchemas = { ...commandSchemas, ...internalCommandSchemas }

/** The flashQ commands (spec §3) plus PING. */
export type PublicCommandName = keyof typeof commandSchemas
export type InternalCommandName = keyof typeof internalCommandSchemas
export type CommandName = PublicCommandName | InternalCommandName
export type CommandOf<K extends CommandName> = z.output<(typeof allCommandSchemas)[K]>
export type Command = { [K in CommandName]: CommandOf<K> }[CommandName]
export type JobInput = z.output<typeof jobInput>
/** What a client may send for a command (defaults and null-as-absent applied by the server). */
export type RequestOf<K extends CommandName> = z.input<(typeof allCommandSchemas)[K]>

export const commandNames = Object.keys(commandSchemas) as PublicCommandName[]
export const internalCommandNames = Object.keys(internalCommandSchemas) as InternalCommandName[]

// ---------------------------------------------------------------------------------------------------
// parseCommand

export type ParseResult = { ok: true; command: Command } | { ok: false; error: string }

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const hasOwn = Object.prototype.hasOwnProperty

/** Command names are short: an unknown one of megabytes is not echoed whole. */
const echoedNameCharsMax = 64

function clipped(name: string): string {
  return name.length <= echoedNameCharsMax ? name : `${name.slice(0, echoedNameCharsMax)}… (${name.length} chars)`
}

/**
 * Validates one decoded request. Never throws. Internal commands are accepted only with
 * `internal: true` (the server's own transports and the shards, never a client's request as is).
 */
export function parseCommand(input: unknown, options: { internal?: boolean } = {}): ParseResult {
  if (!isRecord(input)) return { ok: false, error: errors.invalid('request must be an object') }
  const name = input.cmd
  if (name === undefined || name === null) return { ok: false, error: errors.invalid("missing field 'cmd'") }
  if (typeof name !== 'string') return { ok: false, error: errors.invalid("field 'cmd' must be a string") }
  const known = hasOwn.call(commandSchemas, name) || (options.internal === true && hasOwn.call(internalCommandSchemas, name))
  if (!known) return { ok: false, error: errors.invalid(`unknown command '${clipped(name)}'`) }
  const fast = fastParsers[name] // own entries only: `name` is a known command here
  if (fast !== undefined) {
    const command = fast(input)
    if (command !== null) return { ok: true, command }
  }
  return parseWithSchema(name as CommandName, input)
}

/** The zod path alone (also used by the fast-path agreement test). */
export function parseWithSchema(name: CommandName, input: unknown): ParseResult {
  const result = allCommandSchemas[name].safeParse(input, { reportInput: true })
  if (result.success) return { ok: true, command: result.data as Command }
  return { ok: false, error: describeIssues(result.error.issues) }
}

/** The reqId to echo: any string `reqId` of an object request (spec §1.9). */
export function requestIdOf(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return undefined
  const requestId = (input as Record<string, unknown>).reqId
  return typeof requestId === 'string' ? requestId : undefined
}

// ---------------------------------------------------------------------------------------------------
// Error text: one zod issue ⇒ one plain sentence naming the field. Never zod's JSON dump.

type Issue = z.core.$ZodIssue

function describeIssues(issues: readonly Issue[]): string {
  const spec = issues.find((issue) => issue.code === 'custom' && issue.params?.spec === true)
  if (spec !== undefined) return spec.message
  const first = issues[0]
  return errors.invalid(first === undefined ? 'bad request' : describeIssue(first))
}

function fieldPath(path: readonly PropertyKey[]): string {
  let text = ''
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : text === '' ? String(key) : `.${String(key)}`
  return text
}

function describeIssue(issue: Issue): string {
  const field = `field '${fieldPath(issue.path)}'`
  if (issue.path.length === 0) return 'request must be an object'
  if (issue.input === undefined) return `missing field '${fieldPath(issue.path)}'`
  switch (issue.code) {
    case 'invalid_type':
      return `${field} ${expectedPhrase(issue.expected)}`
    case 'too_small':
      return `${field} ${tooSmallPhrase(issue.origin, Number(issue.minimum))}`
    case 'too_big':
      return `${field} ${tooBigPhrase(issue.origin, Number(issue.maximum))}`
    case 'invalid_value':
      return `${field} must be ${issue.values.map((value) => JSON.stringify(value)).join(' or ')}`
    default:
      return `${field} is invalid`
  }
}

function expectedPhrase(expected: string): string {
  switch (expected) {
    // Every number in the protocol is an integer, so "number" is spelled as such.
    case 'int':
    case 'number':
      return 'must be an integer'
    case 'string':
      return 'must be a string'
    case 'boolean':
      return 'must be a boolean'
    case 'array':
      return 'must be an array'
    case 'object':
      return 'must be an object'
    default:
      return `must be ${expected}`
  }
}

function tooSmallPhrase(origin: string, minimum: number): string {
  if (origin === 'array') return `must have at least ${minimum} items`
  if (origin === 'string') return `must have at least ${minimum} characters`
  return minimum === 0 ? 'must not be negative' : `must be at least ${minimum}`
}

function tooBigPhrase(origin: string, maximum: number): string {
  if (origin === 'array') return `must have at most ${maximum} items`
  if (origin === 'string') return `must have at most ${maximum} characters`
  if (maximum === Number.MAX_SAFE_INTEGER) return 'is too large (max 2^53-1)'
  return `must be at most ${maximum}`
}
