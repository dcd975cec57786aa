/**
 * Empties `array` in place. `array.length = 0` on an array that is already empty still costs a
 * call into the runtime (~55 ns against ~5 for this check, Bun 1.4 on the reference VM); the request
 * path resets several arrays per request that are empty for a plain PUSH.
 */
export function clearArray(array: unknown[]): void {
  if (array.length > 0) array.length = 0
}
