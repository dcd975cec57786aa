/**
 * Name checks with the spec's exact messages, shared by the zod schemas (commands.ts) and the hot-path
 * parsers (commands-fast.ts). Kept apart so neither file imports the other for values.
 */
import { kvKeyBytesMax, queueNameCharsMax, requestNestingDepthMax } from '../base/limits.ts'
import * as errors from './errors.ts'

/** The wire's integer ranges (spec §1.8: i32, u32), shared by the schemas and the fast parsers. */
export const i32Min = -(2 ** 31)
export const i32Max = 2 ** 31 - 1
export const u32Max = 2 ** 32 - 1

// Queue names (spec §3.1 check 1): 1–256 characters, each a Unicode alphanumeric, `_`, `-` or `.`.
// The reference uses Rust's char::is_alphanumeric, which is Alphabetic or Numeric (Nd, Nl, No).

/** The common case in one regex: ASCII names of legal length. */
export const queueNameAscii = /^[A-Za-z0-9_.-]{1,256}$/
const queueNameUnicode = /^[\p{Alphabetic}\p{N}_.-]+$/u

/** Returns the spec error for an invalid queue name, or null when the name is fine. */
export function validateQueueName(name: string): string | null {
  if (queueNameAscii.test(name)) return null
  if (name.length === 0) return errors.queueNameEmpty
  // Counted in code points, as the spec counts characters (a UTF-16 length over-counts astral ones).
  if (name.length > queueNameCharsMax && [...name].length > queueNameCharsMax) return errors.queueNameTooLong
  if (!queueNameUnicode.test(name)) return errors.queueNameCharacters
  return null
}

// KV keys (spec §3.9): 1–1024 bytes of UTF-8.

const textEncoder = new TextEncoder()

export function validateKvKey(key: string): string | null {
  if (key.length === 0) return errors.kvKeyEmpty
  // A UTF-16 unit encodes to at most 3 UTF-8 bytes, so short keys need no encoding.
  if (key.length * 3 <= kvKeyBytesMax) return null
  const bytes = textEncoder.encode(key).length
  return bytes > kvKeyBytesMax ? errors.kvKeyTooLong(bytes) : null
}

// Nesting depth (limits.ts requestNestingDepthMax). Exported for every transport (TCP JSON lines
// here, MessagePack in its decoder, HTTP bodies).

/**
 * Null when `value` nests at most `depthMax` levels of arrays and objects (a top-level object is
 * level 1); otherwise the problem, in words. The walk stops at the limit, so it never recurses deep.
 */
export function nestingProblem(value: unknown, depthMax = requestNestingDepthMax): string | null {
  return nestsDeeper(value, depthMax) ? nestingTooDeep(depthMax) : null
}

/**
 * Texts at most this long skip the nesting scan: nesting N levels takes at least 2N characters
 * (an opening and a closing bracket per level).
 */
export const nestingScanCharsMin = 2 * requestNestingDepthMax

export const nestingTooDeep = (depthMax = requestNestingDepthMax): string => `nesting deeper than ${depthMax} levels`

function nestsDeeper(value: unknown, levelsLeft: number): boolean {
  if (typeof value !== 'object' || value === null) return false
  if (levelsLeft === 0) return true
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) if (nestsDeeper(value[index], levelsLeft - 1)) return true
    return false
  }
  const fields = value as Record<string, unknown>
  for (const key in fields) if (nestsDeeper(fields[key], levelsLeft - 1)) return true
  return false
}
