/**
 * Maps operating errors to IoError. Owns: the errno number → name table (from node:os, so it matches
 * the running platform) and the conversion of node:fs exceptions. Both backends use it.
 */
import { constants } from 'node:os'
import { IoError } from './backend.ts'

const errnoNames = new Map<number, string>()
for (const [name, value] of Object.entries(constants.errno)) {
  // Aliases share a number (EAGAIN/EWOULDBLOCK, EDEADLK/EDEADLOCK): keep the first, canonical one.
  if (!errnoNames.has(value)) errnoNames.set(value, name)
}

/** `28` → `ENOSPC`; unknown numbers become `E<n>` so they are still visible. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`
}

/** A negative kernel result (`-errno`, as in a CQE's `res`) as an IoError. */
export function ioErrorFromResult(res: number, what: string): IoError {
  return new IoError(errnoName(-res), what)
}

/** Any exception thrown by node:fs (which carries `.code`) as an IoError; IoErrors pass through. */
export function ioErrorFromException(error: unknown, what: string): IoError {
  if (error instanceof IoError) return error
  const code = (error as { code?: unknown } | null)?.code
  const message = error instanceof Error ? error.message : String(error)
  return new IoError(typeof code === 'string' ? code : 'EIO', `${what}: ${message}`)
}
