/**
 * Replies bounded by bytes (limits.ts replyBytesMax): a reply that lists items (jobs) takes them
 * while they fit and returns fewer, never more than the limit and never none when there is one
 * (a single job is already bounded by the data limit). The engine measures jobs with its own cheap
 * bounds (engine/reply-size.ts); merged and HTTP replies of parsed items use fitToReplyBytes.
 */
import { replyBytesMax } from '../base/limits.ts'
import { stringifyJson } from './raw-json.ts'

/** Room kept for a reply's envelope (`{"reqId":…,"ok":true,"jobs":[…],"total":…}`). */
export const replyEnvelopeBytes = 4096
/** What the listed items of one reply may take. */
export const replyItemsBytesMax = replyBytesMax - replyEnvelopeBytes

export class ReplyBudget {
  #bytes = 0
  #items = 0

  constructor(readonly bytesMax = replyItemsBytesMax) {}

  /** Counts an item of `bytes`: false (not counted) when it would pass the limit, unless it is the first. */
  admit(bytes: number): boolean {
    if (this.#items > 0 && this.#bytes + bytes > this.bytesMax) return false
    this.#bytes += bytes
    this.#items++
    return true
  }
}

/** The longest prefix of `items` whose JSON fits in `bytesMax` (at least one item). */
export function fitToReplyBytes<T>(items: T[], bytesMax = replyItemsBytesMax): T[] {
  const budget = new ReplyBudget(bytesMax)
  for (let index = 0; index < items.length; index++) {
    if (!budget.admit(jsonBytes(items[index]) + 1)) return items.slice(0, index)
  }
  return items
}

/** UTF-8 size of a value's JSON text. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(stringifyJson(value))
}
