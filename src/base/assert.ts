/** Assertions are for programmer errors: they throw, and the shard crashes and recovers from its log. */
export class AssertionError extends Error {
  override name = 'AssertionError'
}

export function assert(ok: unknown, why = 'assertion failed'): asserts ok {
  if (!ok) throw new AssertionError(why)
}
