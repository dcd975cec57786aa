/**
 * The key-value store (spec §3.9): Redis-like keys with optional expiry, persisted like every other
 * state change. Owns: the entries, their expiry order and the KV limits. Does not own: timers (the
 * engine calls purgeExpired at least every 10 s), command parsing (protocol/commands.ts) or IO.
 *
 * Synchronous and pure: time is the `nowMs` argument. Convention shared with engine/cron.ts: every
 * method that changes state takes a `records` array and appends one LogRecord per state change, in
 * the order the changes happened; replaying those records (or snapshot()) rebuilds the same state.
 *
 * Expiry: an entry whose `expiresAtMs <= nowMs` reads as missing everywhere. Expiry is a pure function
 * of time, so purging writes no records: replay keeps an expired entry until the next purge, and it
 * reads as missing there too.
 *
 * Records (field names are snake_case, like the wire):
 *   { t: 'kv.set',    key, value, expires_at: ms | null }   KVSET, KVMSET (one per stored entry), KVINCR
 *   { t: 'kv.del',    key }                                 KVDEL of a live key
 *   { t: 'kv.expire', key, expires_at: ms }                 KVEXPIRE of a live key
 */
import { assert } from '../base/assert.ts'
import { kvBatchEntriesMax, kvKeyBytesMax, kvValueBytesMax, replyBytesMax } from '../base/limits.ts'
import * as errors from '../protocol/errors.ts'
import type { LogRecord, Reply } from './types.ts'

/**
 * Entries one KV store holds. Every value may be up to 10 MiB, so the store needs a count bound that
 * keeps its index memory (and a snapshot) reasonable; a million small keys is far past the reference
 * workloads (spec §7.7), which use KV for flags and counters. Sets of new keys above it are refused.
 */
export const kvEntriesMax = 1_000_000


// Parsed commands, structurally compatible with protocol/commands.ts.
export type KvSetCommand = { cmd: 'KVSET'; key: string; value: unknown; ttl?: number | null | undefined }
export type KvEntryInput = { key: unknown; value?: unknown; ttl?: number | null | undefined }
export type KvCommand =
  | KvSetCommand
  | { cmd: 'KVGET'; key: string }
  | { cmd: 'KVDEL'; key: string }
  | { cmd: 'KVMGET'; keys: readonly string[] }
  | { cmd: 'KVMSET'; entries: readonly KvEntryInput[] }
  | { cmd: 'KVEXISTS'; key: string }
  | { cmd: 'KVEXPIRE'; key: string; ttl: number }
  | { cmd: 'KVTTL'; key: string }
  | { cmd: 'KVKEYS'; pattern?: string | null | undefined }
  | { cmd: 'KVINCR'; key: string; by?: number | null | undefined }

export const kvRecordKinds = ['kv.set', 'kv.del', 'kv.expire'] as const

type Entry = { value: unknown; expiresAtMs: number | null }
/** A heap item; stale when its entry is gone or now expires at another time. */
type Expiry = { atMs: number; key: string }

const textEncoder = new TextEncoder()
/** Stale expiry entries tolerated before a rebuild is considered (lazy deletion). */
const expiriesStaleFloor = 1024

/** The spec error for a bad key, or null. Byte length is UTF-8; short keys skip the encoding. */
export function kvKeyError(key: string): string | null {
  if (key.length === 0) return errors.kvKeyEmpty
  if (key.length * 3 <= kvKeyBytesMax) return null
  const bytes = textEncoder.encode(key).length
  return bytes > kvKeyBytesMax ? errors.kvKeyTooLong(bytes) : null
}

/** The spec error for a value larger than 10 MiB once serialised as JSON, or null. */
export function kvValueError(value: unknown): string | null {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (error) {
    return errors.invalid(`value cannot be serialised (${(error as Error).message})`)
  }
  if (json === undefined) return null // undefined is stored as null
  if (json.length * 3 <= kvValueBytesMax) return null
  const bytes = textEncoder.encode(json).length
  return bytes > kvValueBytesMax ? errors.kvValueTooLarge(bytes) : null
}

export class KvStore {
  readonly #entries = new Map<string, Entry>()
  /** Min-heap by atMs, with lazy deletion (see Expiry). */
  #expiries: Expiry[] = []

  get size(): number {
    return this.#entries.size
  }

  execute(command: KvCommand, nowMs: number, records: LogRecord[]): Reply {
    switch (command.cmd) {
      case 'KVSET':
        return this.#set(command, nowMs, records)
      case 'KVGET':
        return { ok: true, value: this.#live(command.key, nowMs)?.value ?? null }
      case 'KVDEL':
        return this.#delete(command.key, nowMs, records)
      case 'KVMGET':
        return this.#getMany(command.keys, nowMs)
      case 'KVMSET':
        return this.#setMany(command.entries, nowMs, records)
      case 'KVEXISTS':
        return { ok: true, exists: this.#live(command.key, nowMs) !== undefined }
      case 'KVEXPIRE':
        return this.#expire(command.key, command.ttl, nowMs, records)
      case 'KVTTL':
        return { ok: true, ttl: this.#ttl(command.key, nowMs) }
      case 'KVKEYS':
        return { ok: true, keys: this.#keys(command.pattern ?? null, nowMs) }
      case 'KVINCR':
        return this.#increment(command.key, command.by ?? 1, nowMs, records)
    }
  }

  /** Drops every entry expired at `nowMs`. Returns how many were dropped. Writes no records. */
  purgeExpired(nowMs: number): number {
    let purged = 0
    for (;;) {
      const top = this.#expiries[0]
      if (top === undefined || top.atMs > nowMs) break
      heapPop(this.#expiries)
      const entry = this.#entries.get(top.key)
      if (entry !== undefined && entry.expiresAtMs === top.atMs) {
        this.#entries.delete(top.key)
        purged += 1
      }
    }
    return purged
  }

  /** When the next entry expires (Infinity if none does). Reading it drops stale heap items. */
  nextExpiryMs(): number {
    for (;;) {
      const top = this.#expiries[0]
      if (top === undefined) return Infinity
      if (this.#entries.get(top.key)?.expiresAtMs === top.atMs) return top.atMs
      heapPop(this.#expiries)
    }
  }

  replay(record: LogRecord): void {
    const key = record.key
    assert(typeof key === 'string', `${record.t}: key must be a string`)
    switch (record.t) {
      case 'kv.set':
        this.#store(key, record.value ?? null, expiresAtOf(record))
        return
      case 'kv.del':
        this.#entries.delete(key)
        return
      case 'kv.expire': {
        const expiresAtMs = expiresAtOf(record)
        assert(expiresAtMs !== null, 'kv.expire: expires_at must be a number')
        const entry = this.#entries.get(key)
        if (entry !== undefined) this.#setExpiry(key, entry, expiresAtMs)
        return
      }
      default:
        assert(false, `not a KV record: ${record.t}`)
    }
  }

  /** One kv.set per entry held, expired or not; replaying them rebuilds this store. */
  snapshot(): LogRecord[] {
    const records: LogRecord[] = []
    for (const [key, entry] of this.#entries) records.push(setRecord(key, entry))
    return records
  }

  #set(command: KvSetCommand, nowMs: number, records: LogRecord[]): Reply {
    const error = kvKeyError(command.key) ?? kvValueError(command.value) ?? this.#capacityError(command.key, nowMs)
    if (error !== null) return { ok: false, error }
    records.push(this.#store(command.key, command.value ?? null, expiresAtFromTtl(command.ttl, nowMs)))
    return { ok: true }
  }

  /**
   * Refused when the values pass replyBytesMax: a key may repeat, so without the check one request
   * naming a 10 MiB value a thousand times built a 10 GB reply.
   */
  #getMany(keys: readonly string[], nowMs: number): Reply {
    const values = keys.slice(0, kvBatchEntriesMax).map((key) => this.#live(key, nowMs)?.value ?? null)
    let bytes = 0
    for (const value of values) {
      if (typeof value === 'object' || typeof value === 'string') bytes += valueBytes(value)
      if (bytes > replyBytesMax) return { ok: false, error: errors.kvReplyTooLarge(replyBytesMax) }
    }
    return { ok: true, values }
  }

  #setMany(entries: readonly KvEntryInput[], nowMs: number, records: LogRecord[]): Reply {
    if (entries.length > kvBatchEntriesMax) return { ok: false, error: errors.kvTooManyEntries(entries.length) }
    let count = 0
    for (const entry of entries) {
      const { key, ttl } = entry
      if (typeof key !== 'string') continue
      if (ttl !== undefined && ttl !== null && !(Number.isSafeInteger(ttl) && ttl >= 0)) continue
      // Invalid entries are skipped (spec §3.9), so the errors themselves go nowhere.
      if ((kvKeyError(key) ?? kvValueError(entry.value) ?? this.#capacityError(key, nowMs)) !== null) continue
      records.push(this.#store(key, entry.value ?? null, expiresAtFromTtl(ttl, nowMs)))
      count += 1
    }
    return { ok: true, count }
  }

  #delete(key: string, nowMs: number, records: LogRecord[]): Reply {
    const entry = this.#entries.get(key)
    if (entry === undefined) return { ok: true, exists: false }
    this.#entries.delete(key)
    if (isExpired(entry, nowMs)) return { ok: true, exists: false } // reads as missing already
    records.push({ t: 'kv.del', key })
    return { ok: true, exists: true }
  }

  #expire(key: string, ttlMs: number, nowMs: number, records: LogRecord[]): Reply {
    const entry = this.#live(key, nowMs)
    if (entry === undefined) return { ok: true, exists: false }
    // A zero TTL expires the key at once, as Redis EXPIRE 0 does.
    const expiresAtMs = nowMs + ttlMs
    this.#setExpiry(key, entry, expiresAtMs)
    records.push({ t: 'kv.expire', key, expires_at: expiresAtMs })
    return { ok: true, exists: true }
  }

  #ttl(key: string, nowMs: number): number {
    const entry = this.#live(key, nowMs)
    if (entry === undefined) return -2
    return entry.expiresAtMs === null ? -1 : entry.expiresAtMs - nowMs
  }

  #keys(pattern: string | null, nowMs: number): string[] {
    const matches = pattern === null ? () => true : compileGlob(pattern)
    const keys: string[] = []
    for (const [key, entry] of this.#entries) {
      if (!isExpired(entry, nowMs) && matches(key)) keys.push(key)
    }
    return keys
  }

  #increment(key: string, by: number, nowMs: number, records: LogRecord[]): Reply {
    if (!Number.isSafeInteger(by)) return { ok: false, error: errors.invalid('by must be an integer') }
    const keyError = kvKeyError(key)
    if (keyError !== null) return { ok: false, error: keyError }
    const entry = this.#live(key, nowMs)
    const current = entry === undefined ? 0 : entry.value
    if (typeof current !== 'number') return { ok: false, error: errors.kvValueNotNumber }
    if (!Number.isInteger(current)) return { ok: false, error: errors.kvValueNotInteger }
    const value = current + by
    if (!Number.isSafeInteger(value)) return { ok: false, error: errors.kvIncrementOverflow }
    const capacityError = this.#capacityError(key, nowMs)
    if (capacityError !== null) return { ok: false, error: capacityError }
    // An existing key keeps its expiry, as Redis INCR does.
    records.push(this.#store(key, value, entry?.expiresAtMs ?? null))
    return { ok: true, value }
  }

  /** The entry for `key` if it exists and has not expired. */
  #live(key: string, nowMs: number): Entry | undefined {
    const entry = this.#entries.get(key)
    return entry === undefined || isExpired(entry, nowMs) ? undefined : entry
  }

  /** Refuses a new key when the store is full, after dropping what has expired. */
  #capacityError(key: string, nowMs: number): string | null {
    if (this.#entries.size < kvEntriesMax || this.#entries.has(key)) return null
    this.purgeExpired(nowMs)
    return this.#entries.size < kvEntriesMax ? null : errors.kvStoreFull(kvEntriesMax)
  }

  #store(key: string, value: unknown, expiresAtMs: number | null): LogRecord {
    const entry: Entry = { value, expiresAtMs: null }
    this.#entries.set(key, entry)
    if (expiresAtMs !== null) this.#setExpiry(key, entry, expiresAtMs)
    return setRecord(key, entry)
  }

  #setExpiry(key: string, entry: Entry, expiresAtMs: number): void {
    entry.expiresAtMs = expiresAtMs
    heapPush(this.#expiries, { atMs: expiresAtMs, key })
    // Lazy deletion leaves stale items behind; rebuild before they outnumber the live ones.
    if (this.#expiries.length > 2 * this.#entries.size + expiriesStaleFloor) this.#rebuildExpiries()
  }

  #rebuildExpiries(): void {
    const expiries: Expiry[] = []
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAtMs !== null) heapPush(expiries, { atMs: entry.expiresAtMs, key })
    }
    this.#expiries = expiries
  }
}

function isExpired(entry: Entry, nowMs: number): boolean {
  return entry.expiresAtMs !== null && entry.expiresAtMs <= nowMs
}

/** KVSET/KVMSET: a positive TTL expires the key `ttl` ms from now; 0 or absent means no expiry. */
function expiresAtFromTtl(ttlMs: number | null | undefined, nowMs: number): number | null {
  return ttlMs === undefined || ttlMs === null || ttlMs <= 0 ? null : nowMs + ttlMs
}

function expiresAtOf(record: LogRecord): number | null {
  const expiresAt = record.expires_at
  if (expiresAt === null || expiresAt === undefined) return null
  assert(typeof expiresAt === 'number', `${record.t}: expires_at must be a number or null`)
  return expiresAt
}

function setRecord(key: string, entry: Entry): LogRecord {
  return { t: 'kv.set', key, value: entry.value, expires_at: entry.expiresAtMs }
}

// ---------------------------------------------------------------------------------------------------
// Glob matching for KVKEYS: `*` is any run of characters, `?` exactly one character (code point);
// every other character, regex specials and backslash included, is literal. No regex is built, so no
// pattern can backtrack catastrophically: the matcher is the linear-space greedy algorithm that
// retries only from the last `*`, O(pattern × key) in the worst case.

export function compileGlob(pattern: string): (key: string) => boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) return (key) => key === pattern
  // Runs of `*` match what one `*` matches; collapsing them bounds the work per key.
  const collapsed = pattern.replace(/\*+/g, '*')
  if (collapsed === '*') return () => true
  // Every other token takes at least one byte of the key, so a longer pattern matches no key.
  const tokensMin = collapsed.length - (collapsed.match(/\*/g)?.length ?? 0)
  if (tokensMin > kvKeyBytesMax) return () => false
  return (key) => globMatches(collapsed, key)
}

/** Code units one character takes at `index`: 2 for a surrogate pair, else 1. */
function charUnits(text: string, index: number): number {
  const unit = text.charCodeAt(index)
  if (unit < 0xd800 || unit > 0xdbff || index + 1 >= text.length) return 1
  const next = text.charCodeAt(index + 1)
  return next >= 0xdc00 && next <= 0xdfff ? 2 : 1
}

export function globMatches(pattern: string, text: string): boolean {
  let p = 0
  let t = 0
  let starP = -1 // pattern index of the last `*` seen
  let starT = 0 // text index that `*` currently extends to
  while (t < text.length) {
    const token = pattern[p]
    if (token === '*') {
      starP = p
      starT = t
      p += 1
    } else if (token === '?') {
      p += 1
      t += charUnits(text, t)
    } else if (token !== undefined && token === text[t]) {
      p += 1
      t += 1
    } else if (starP !== -1) {
      // Let the last `*` swallow one more character and retry after it.
      starT += charUnits(text, starT)
      t = starT
      p = starP + 1
    } else {
      return false
    }
  }
  while (pattern[p] === '*') p += 1
  return p === pattern.length
}

// ---------------------------------------------------------------------------------------------------
// A binary min-heap on Expiry.atMs.

function heapPush(heap: Expiry[], item: Expiry): void {
  heap.push(item)
  let index = heap.length - 1
  while (index > 0) {
    const parent = (index - 1) >> 1
    const parentItem = heap[parent]!
    if (parentItem.atMs <= item.atMs) break
    heap[index] = parentItem
    index = parent
  }
  heap[index] = item
}

function heapPop(heap: Expiry[]): Expiry | undefined {
  const top = heap[0]
  const last = heap.pop()
  if (top === undefined || last === undefined || heap.length === 0) return top
  let index = 0
  for (;;) {
    const left = 2 * index + 1
    if (left >= heap.length) break
    const right = left + 1
    const child = right < heap.length && heap[right]!.atMs < heap[left]!.atMs ? right : left
    if (heap[child]!.atMs >= last.atMs) break
    heap[index] = heap[child]!
    index = child
  }
  heap[index] = last
  return top
}

/** UTF-8 size of a stored value's JSON (it was serialisable when stored). */
function valueBytes(value: unknown): number {
  const json = JSON.stringify(value)
  return json === undefined ? 0 : json.length * 3 <= kvValueBytesMax ? json.length : textEncoder.encode(json).length
}
