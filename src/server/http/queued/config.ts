/** The queued API's environment (queued-api.md §5), read once at start-up; bad values stop the start. */
import {
  queuedBatchMessagesCap, queuedBatchMessagesMaxDefault, queuedContentBytesCap, queuedContentBytesMaxDefault,
} from '../../../base/limits.ts'

export type QueuedConfig = {
  /** NO_QUEUED_API: the routes answer 404 (except /metrics, which the flashQ API owns too). */
  enabled: boolean
  contentBytesMax: number
  batchMessagesMax: number
}

type Env = Record<string, string | undefined>

export function queuedConfigFromEnv(env: Env): QueuedConfig {
  return {
    enabled: env.NO_QUEUED_API === undefined,
    contentBytesMax: count('QUEUED_MAX_CONTENT_BYTES', env.QUEUED_MAX_CONTENT_BYTES, queuedContentBytesMaxDefault, queuedContentBytesCap),
    batchMessagesMax: count('QUEUED_MAX_BATCH', env.QUEUED_MAX_BATCH, queuedBatchMessagesMaxDefault, queuedBatchMessagesCap),
  }
}

function count(name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < 1 || value > max) throw new Error(`${name} must be an integer from 1 to ${max}, got '${text}'`)
  return value
}
