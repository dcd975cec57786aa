/**
 * Counters and the completions history of one shard (spec §4.18: one point per 5 s, the last 60).
 * Not persisted: a restart counts from replay (totals) and from zero (points).
 */
import { msPerSecond } from '../base/units.ts'
import { metricsPointMs, metricsPointsMin } from './engine-limits.ts'

export class Metrics {
  totalPushed = 0
  totalCompleted = 0
  totalFailed = 0
  latencySumMs = 0
  latencyCount = 0
  /** Points kept (POST /settings/cleanup: metricsPointsMin..metricsPointsMax). */
  pointsLimit = metricsPointsMin
  /** Completions per point, oldest first, at most pointsLimit. */
  private readonly points: number[] = []
  /** Start of the point being counted, and its count so far. */
  private pointStartMs = -1
  private pointCount = 0

  /** Zeroes every counter and the history (the internal _RESETMETRICS; nothing of it is persisted). */
  reset(): void {
    this.totalPushed = 0
    this.totalCompleted = 0
    this.totalFailed = 0
    this.latencySumMs = 0
    this.latencyCount = 0
    this.points.length = 0
    this.pointStartMs = -1
    this.pointCount = 0
  }

  /** A job completed after `latencyMs` since its creation. */
  completed(latencyMs: number): void {
    this.totalCompleted++
    this.latencySumMs += latencyMs
    this.latencyCount++
  }

  averageLatencyMs(): number {
    return this.latencyCount === 0 ? 0 : this.latencySumMs / this.latencyCount
  }

  /** Drops the oldest points beyond pointsLimit (also after the limit was lowered). */
  trimPoints(): void {
    if (this.points.length > this.pointsLimit) this.points.splice(0, this.points.length - this.pointsLimit)
  }

  /** One completion in the open point (live only: replay does not know when it ran). */
  countCompletion(nowMs: number): void {
    this.roll(nowMs)
    this.pointCount++
  }

  /** Closes the points that ended before `nowMs` (empty ones included, up to the last 60). */
  roll(nowMs: number): void {
    const start = nowMs - (nowMs % metricsPointMs)
    if (start === this.pointStartMs) return
    if (this.pointStartMs >= 0 && start > this.pointStartMs) {
      const closed = Math.min((start - this.pointStartMs) / metricsPointMs, this.pointsLimit)
      this.points.push(this.pointCount)
      for (let i = 1; i < closed; i++) this.points.push(0)
    }
    this.trimPoints()
    this.pointStartMs = start
    this.pointCount = 0
  }

  /**
   * Recent completions per second: the last closed point plus the open one, over the time they span
   * (5 s plus what has passed of the open point), so a burst shows at once and fades within 10 s.
   */
  jobsPerSecond(nowMs: number): number {
    this.roll(nowMs)
    const last = this.points[this.points.length - 1] ?? 0
    const spanMs = metricsPointMs + (nowMs - this.pointStartMs)
    return ((last + this.pointCount) * msPerSecond) / spanMs
  }

  /** The closed points, oldest first, with their start time. */
  history(nowMs: number): Array<{ timestamp: number; completed: number; jobs_per_second: number }> {
    this.roll(nowMs)
    const points = this.points
    return points.map((completed, index) => ({
      timestamp: this.pointStartMs - (points.length - index) * metricsPointMs,
      completed,
      jobs_per_second: completed / (metricsPointMs / msPerSecond),
    }))
  }
}
