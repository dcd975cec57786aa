/**
 * The one command table: everything the server knows about a command besides its handler, in one row.
 * `satisfies Record<CommandName, CommandSpec>` makes a command without a row (or a row without a
 * command) a type error, so a new command cannot be half-registered.
 *
 *   schema    the zod schema (commands.ts): field names, types, defaults, validation messages
 *   route     where it runs:  queue  hash(queue)      job   the shard encoded in the id
 *                             name   hash(cron name)  key   hash(KV key)
 *                             split  split per shard (ids, KV entries), merged
 *                             all    every shard, merged          front  answered by the front
 *             (GETJOBS uses 'queueOrAll': its queue's shard, or every shard without one)
 *   merge     how per-shard replies become one (server/merge.ts implements each kind)
 *   diskFull  'refuse': refused while the shard's disk is full (acks and reads keep working)
 *   internal  only the server's own transports send it (TCP clients get `unknown command`)
 *   errors    the kinds of error it can answer; errorKindOf classifies a reply's text
 *
 * Request types: `RequestOf<K>` (commands.ts, from the schemas); reply types: `ReplyOf<K>` (replies.ts).
 */
import type { z } from 'zod'
import { allCommandSchemas, type CommandName } from './commands.ts'

export type RouteKind = 'queue' | 'queueOrAll' | 'job' | 'name' | 'key' | 'split' | 'all' | 'front'

export type MergeKind =
  | 'single' // one shard answers
  | 'sumFields' // STATS: every numeric field summed
  | 'ackBatch'
  | 'metrics'
  | 'concatQueues'
  | 'concatCrons'
  | 'keysSorted'
  | 'sumCount'
  | 'kvMget'
  | 'getJobs'
  | 'getJobsBatch'
  | 'firstWithJob'
  | 'firstOk' // CRONDELETE: found on any shard is found
  | 'allOk' // _RESETMETRICS
  | 'firstOf' // _SETCLEANUP: every shard answers the same settings

/**
 * invalid: the request's shape (HTTP 422 when it comes from a route body) · notFound: no such job,
 * cron or parent · conflict: duplicate, debounced or wrong state · limit: a size or count limit ·
 * unavailable: disk full, a dead shard, auth.
 */
export type ErrorKind = 'invalid' | 'notFound' | 'conflict' | 'limit' | 'unavailable'

export type CommandSpec = {
  schema: z.ZodType
  route: RouteKind
  merge: MergeKind
  diskFull: 'refuse' | 'allow'
  internal: boolean
  /** Blocks until something happens (a pull, a wait): HTTP adds the command's timeout to its deadline. */
  blocking: boolean
  errors: readonly ErrorKind[]
}

type Row = Omit<CommandSpec, 'schema' | 'merge' | 'diskFull' | 'internal' | 'blocking'> & Partial<CommandSpec>

const I = 'invalid', N = 'notFound', C = 'conflict', L = 'limit', U = 'unavailable'

function row<K extends CommandName>(name: K, spec: Row): CommandSpec {
  return {
    schema: allCommandSchemas[name],
    merge: 'single',
    diskFull: 'allow',
    internal: name.startsWith('_'),
    blocking: false,
    ...spec,
  }
}

const refuse = 'refuse' as const

export const commandTable = {
  // §3.1 Core
  PUSH: row('PUSH', { route: 'queue', diskFull: refuse, errors: [I, C, L, U] }),
  PUSHB: row('PUSHB', { route: 'queue', diskFull: refuse, errors: [I, C, L, U] }),
  PULL: row('PULL', { route: 'queue', blocking: true, errors: [I, U] }),
  PULLB: row('PULLB', { route: 'queue', blocking: true, errors: [I, U] }),
  ACK: row('ACK', { route: 'job', errors: [I, N, U] }),
  ACKB: row('ACKB', { route: 'split', merge: 'ackBatch', errors: [I, U] }),
  FAIL: row('FAIL', { route: 'job', errors: [I, N, U] }),
  GETRESULT: row('GETRESULT', { route: 'job', errors: [I, U] }),
  GETJOB: row('GETJOB', { route: 'job', errors: [I, U] }),
  GETSTATE: row('GETSTATE', { route: 'job', errors: [I, U] }),
  WAITJOB: row('WAITJOB', { route: 'job', blocking: true, errors: [I, N, C, U] }),
  GETJOBBYCUSTOMID: row('GETJOBBYCUSTOMID', { route: 'all', merge: 'firstWithJob', errors: [I, U] }),

  // §3.2 Job management
  CANCEL: row('CANCEL', { route: 'job', errors: [I, N, C, U] }),
  PROGRESS: row('PROGRESS', { route: 'job', errors: [I, N, U] }),
  GETPROGRESS: row('GETPROGRESS', { route: 'job', errors: [I, N, U] }),
  DLQ: row('DLQ', { route: 'queue', errors: [I, U] }),
  RETRYDLQ: row('RETRYDLQ', { route: 'queue', errors: [I, U] }),
  PURGEDLQ: row('PURGEDLQ', { route: 'queue', errors: [I, U] }),
  GETJOBSBATCH: row('GETJOBSBATCH', { route: 'split', merge: 'getJobsBatch', errors: [I, U] }),
  CHANGEPRIORITY: row('CHANGEPRIORITY', { route: 'job', errors: [I, N, U] }),
  MOVETODELAYED: row('MOVETODELAYED', { route: 'job', errors: [I, N, U] }),
  PROMOTE: row('PROMOTE', { route: 'job', errors: [I, N, C, U] }),
  UPDATEJOB: row('UPDATEJOB', { route: 'job', diskFull: refuse, errors: [I, N, L, U] }),
  DISCARD: row('DISCARD', { route: 'job', errors: [I, N, U] }),
  CHANGEDELAY: row('CHANGEDELAY', { route: 'job', errors: [I, N, U] }),
  DROPDEP: row('DROPDEP', { route: 'job', errors: [I, N, U] }),
  REMOVEJOB: row('REMOVEJOB', { route: 'job', errors: [I, N, U] }),
  LOG: row('LOG', { route: 'job', diskFull: refuse, errors: [I, N, U] }),
  GETLOGS: row('GETLOGS', { route: 'job', errors: [I, N, U] }),
  HEARTBEAT: row('HEARTBEAT', { route: 'job', errors: [I, N, U] }),
  PARTIAL: row('PARTIAL', { route: 'job', errors: [I, N, U] }),

  // §3.3 Queue control
  PAUSE: row('PAUSE', { route: 'queue', errors: [I, U] }),
  RESUME: row('RESUME', { route: 'queue', errors: [I, U] }),
  ISPAUSED: row('ISPAUSED', { route: 'queue', errors: [I, U] }),
  RATELIMIT: row('RATELIMIT', { route: 'queue', errors: [I, U] }),
  RATELIMITCLEAR: row('RATELIMITCLEAR', { route: 'queue', errors: [I, U] }),
  SETCONCURRENCY: row('SETCONCURRENCY', { route: 'queue', errors: [I, U] }),
  CLEARCONCURRENCY: row('CLEARCONCURRENCY', { route: 'queue', errors: [I, U] }),
  LISTQUEUES: row('LISTQUEUES', { route: 'all', merge: 'concatQueues', errors: [U] }),
  COUNT: row('COUNT', { route: 'queue', errors: [I, U] }),
  GETJOBCOUNTS: row('GETJOBCOUNTS', { route: 'queue', errors: [I, U] }),
  GETJOBS: row('GETJOBS', { route: 'queueOrAll', merge: 'getJobs', errors: [I, U] }),
  CLEAN: row('CLEAN', { route: 'queue', errors: [I, U] }),
  DRAIN: row('DRAIN', { route: 'queue', errors: [I, U] }),
  OBLITERATE: row('OBLITERATE', { route: 'queue', errors: [I, L, U] }),

  // §3.4 Stats
  STATS: row('STATS', { route: 'all', merge: 'sumFields', errors: [U] }),
  METRICS: row('METRICS', { route: 'all', merge: 'metrics', errors: [U] }),

  // §3.5 Cron
  CRON: row('CRON', { route: 'name', diskFull: refuse, errors: [I, L, U] }),
  CRONDELETE: row('CRONDELETE', { route: 'name', errors: [I, N, U] }),
  CRONLIST: row('CRONLIST', { route: 'all', merge: 'concatCrons', errors: [U] }),

  // §3.6 Flows
  FLOW: row('FLOW', { route: 'queue', diskFull: refuse, errors: [I, L, U] }),
  GETCHILDREN: row('GETCHILDREN', { route: 'job', errors: [I, N, U] }),

  // §3.7, §3.8 Answered by the front
  SUBSCRIBE: row('SUBSCRIBE', { route: 'front', errors: [I] }),
  UNSUBSCRIBE: row('UNSUBSCRIBE', { route: 'front', errors: [I] }),
  AUTH: row('AUTH', { route: 'front', errors: [I, U] }),
  PING: row('PING', { route: 'front', errors: [] }),

  // §3.9 Key-value store
  KVSET: row('KVSET', { route: 'key', diskFull: refuse, errors: [I, L, U] }),
  KVGET: row('KVGET', { route: 'key', errors: [I, U] }),
  KVDEL: row('KVDEL', { route: 'key', errors: [I, U] }),
  KVMGET: row('KVMGET', { route: 'all', merge: 'kvMget', errors: [I, U] }),
  KVMSET: row('KVMSET', { route: 'split', merge: 'sumCount', diskFull: refuse, errors: [I, L, U] }),
  KVEXISTS: row('KVEXISTS', { route: 'key', errors: [I, U] }),
  KVEXPIRE: row('KVEXPIRE', { route: 'key', errors: [I, U] }),
  KVTTL: row('KVTTL', { route: 'key', errors: [I, U] }),
  KVKEYS: row('KVKEYS', { route: 'all', merge: 'keysSorted', errors: [U] }),
  KVINCR: row('KVINCR', { route: 'key', diskFull: refuse, errors: [I, C, U] }),

  // Internal (HTTP routes only)
  _PUSHJOB: row('_PUSHJOB', { route: 'queue', diskFull: refuse, errors: [I, C, L, U] }),
  _QUEUEDEFAULTS: row('_QUEUEDEFAULTS', { route: 'queue', errors: [I, U] }),
  // Sent by the front to each shard itself (server/deep-page.ts), whose merge of the keys is its own.
  _GETJOBKEYS: row('_GETJOBKEYS', { route: 'queueOrAll', merge: 'firstOf', errors: [I, U] }),
  // Sent by the front to the other shards itself (server/custom-ids.ts), which reads each reply.
  _CUSTOMIDS: row('_CUSTOMIDS', { route: 'all', merge: 'firstOf', errors: [I, U] }),
  _RESETMETRICS: row('_RESETMETRICS', { route: 'all', merge: 'allOk', errors: [U] }),
  _SETCLEANUP: row('_SETCLEANUP', { route: 'all', merge: 'firstOf', errors: [I, U] }),
  _RUNCLEANUP: row('_RUNCLEANUP', { route: 'all', merge: 'sumCount', errors: [U] }),
  _SETTOKENS: row('_SETTOKENS', { route: 'front', errors: [I] }),
  _QPUSH: row('_QPUSH', { route: 'queue', diskFull: refuse, errors: [I, L, U] }),
  _QPOLL: row('_QPOLL', { route: 'queue', errors: [I, U] }),
  _QDELETE: row('_QDELETE', { route: 'queue', errors: [I, U] }),
  _QUPDATE: row('_QUPDATE', { route: 'queue', errors: [I, U] }),
  _QSTATS: row('_QSTATS', { route: 'all', merge: 'sumFields', errors: [U] }),
} as const satisfies Record<CommandName, CommandSpec>

const hasOwn = Object.prototype.hasOwnProperty

/** The row of a command name, or undefined for anything unknown (never a default shard). */
export function specOf(name: unknown): CommandSpec | undefined {
  return typeof name === 'string' && hasOwn.call(commandTable, name) ? commandTable[name as CommandName] : undefined
}

/** Client-facing: an internal command is unknown to a client. */
export function clientSpecOf(name: unknown): CommandSpec | undefined {
  const spec = specOf(name)
  return spec === undefined || spec.internal ? undefined : spec
}

/** The kind of an error text (the catalogue's wording, spec §1.8), for HTTP statuses and headers. */
export function errorKindOf(error: string): ErrorKind {
  const text = error.toLowerCase()
  if (text.startsWith('invalid') || text.startsWith('messagepack') || text.startsWith('queue name') ||
    text.includes('must provide') || text.includes('must have at least')) return 'invalid'
  if (text.includes('too large') || text.includes('too long') || text.includes('too many')) return 'limit'
  if (text.includes('not found') || text.includes('does not exist')) return 'notFound'
  if (text.includes('duplicate') || text.includes('debounced') || text.includes('cannot') ||
    text.includes('not in processing') || text.includes('not delayed') || text === 'job failed' ||
    text.startsWith('timeout waiting')) return 'conflict'
  return 'unavailable'
}
