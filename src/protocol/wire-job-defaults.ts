/**
 * The default value of each optional field of a wire job (GETJOB, PULL, PULLB: spec §4's 31 fields).
 * One home for both ends of a `sparse` PULLB (flashq extension): the server leaves out a field that
 * holds its default (src/engine/sparse-wire.ts) and the SDK gives it back (src/client/wire-defaults.ts).
 * Lists default to empty: `isWireDefault` compares them by length.
 */
const none: readonly never[] = Object.freeze([])

export const wireJobDefaults = Object.freeze({
  priority: 0,
  started_at: 0,
  attempts: 0,
  max_attempts: 0,
  backoff: 0,
  ttl: 0,
  timeout: 0,
  unique_key: null,
  depends_on: none,
  progress: 0,
  progress_msg: null,
  tags: none,
  lifo: false,
  remove_on_complete: false,
  remove_on_fail: false,
  last_heartbeat: 0,
  stall_timeout: 0,
  stall_count: 0,
  parent_id: null,
  children_ids: none,
  children_completed: 0,
  custom_id: null,
  keep_completed_age: 0,
  keep_completed_count: 0,
  completed_at: 0,
  group_id: null,
})

export type WireDefaultField = keyof typeof wireJobDefaults

/** True when a wire field's value is its default (an empty list for a list field). */
export function isWireDefault(value: unknown, defaultValue: unknown): boolean {
  return Array.isArray(value) ? value.length === 0 : value === defaultValue
}
