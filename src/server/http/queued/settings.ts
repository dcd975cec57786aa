/**
 * Per-queue runtime settings of the queued API: endpoint suspension (§3.5) and the poll throttle, a
 * token bucket (§3.6). Not persisted (§1.5). A queue with default settings has no entry, and at most
 * queuedSettingsQueuesMax queues may have one, so no client can grow this map without bound.
 */
import { queuedSettingsQueuesMax } from '../../../base/limits.ts'
import { QueuedError } from './requests.ts'

export type Endpoint = 'push' | 'poll' | 'delete' | 'update'
export const endpoints: readonly Endpoint[] = ['push', 'poll', 'delete', 'update']

export type Suspension = Record<Endpoint, boolean>
export type ThrottleSetting = { max_polls_per_time_window: number; time_window_sec: number }

type Bucket = { setting: ThrottleSetting; tokens: number; atMs: number }
type QueueSettings = { suspended: Suspension; bucket: Bucket | null }

export class QueuedSettings {
  private readonly byQueue = new Map<string, QueueSettings>()

  isSuspended(queue: string, endpoint: Endpoint): boolean {
    return this.byQueue.get(queue)?.suspended[endpoint] ?? false
  }

  suspension(queue: string): Suspension {
    return { ...(this.byQueue.get(queue)?.suspended ?? noneSuspended) }
  }

  setSuspension(queue: string, changes: Partial<Suspension>): Suspension {
    const settings = this.entry(queue)
    Object.assign(settings.suspended, changes)
    this.dropIfDefault(queue, settings)
    return { ...settings.suspended }
  }

  throttle(queue: string): ThrottleSetting | null {
    const bucket = this.byQueue.get(queue)?.bucket
    return bucket ? { ...bucket.setting } : null
  }

  /** A new throttle starts with a full bucket; null turns it off. */
  setThrottle(queue: string, setting: ThrottleSetting | null, nowMs: number): ThrottleSetting | null {
    const settings = this.entry(queue)
    settings.bucket = setting === null ? null : { setting: { ...setting }, tokens: setting.max_polls_per_time_window, atMs: nowMs }
    this.dropIfDefault(queue, settings)
    return setting
  }

  /** Takes one poll token; throws 429 with Retry-After (whole seconds until the next token) when none is left. */
  takePollToken(queue: string, nowMs: number): void {
    const bucket = this.byQueue.get(queue)?.bucket
    if (bucket === undefined || bucket === null) return
    const { max_polls_per_time_window: capacity, time_window_sec: windowSec } = bucket.setting
    const perMs = capacity / (windowSec * 1000)
    bucket.tokens = Math.min(capacity, bucket.tokens + (nowMs - bucket.atMs) * perMs)
    bucket.atMs = nowMs
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return
    }
    const retryAfterSecs = Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000))
    throw new QueuedError(429, 'throttled', { 'Retry-After': String(retryAfterSecs) })
  }

  private entry(queue: string): QueueSettings {
    let settings = this.byQueue.get(queue)
    if (settings === undefined) {
      if (this.byQueue.size >= queuedSettingsQueuesMax) {
        throw new QueuedError(400, `too many queues with suspension or throttle settings (max ${queuedSettingsQueuesMax}); clear some first`)
      }
      settings = { suspended: { ...noneSuspended }, bucket: null }
      this.byQueue.set(queue, settings)
    }
    return settings
  }

  private dropIfDefault(queue: string, settings: QueueSettings): void {
    if (settings.bucket === null && endpoints.every((endpoint) => !settings.suspended[endpoint])) this.byQueue.delete(queue)
  }
}

const noneSuspended: Suspension = Object.freeze({ push: false, poll: false, delete: false, update: false })
