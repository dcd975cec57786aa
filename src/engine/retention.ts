/**
 * The runtime retention settings (POST /settings/cleanup): their ranges, from the spec §4.18
 * minimums to the named maxima of engine-limits.ts, and the values a shard uses now.
 */
import { msPerSecond } from '../base/units.ts'
import type { CleanupSettings } from '../protocol/replies.ts'
import type { Core } from './core.ts'
import {
  completedHistoryMax, completedHistoryMin, housekeepingIntervalMsMax, housekeepingIntervalMsMin, metricsPointsMax,
  metricsPointsMin, resultsMax, resultsMin,
} from './engine-limits.ts'

const cleanupSettingRanges: Record<keyof CleanupSettings, { min: number; max: number }> = {
  max_completed_jobs: { min: completedHistoryMin, max: completedHistoryMax },
  max_job_results: { min: resultsMin, max: resultsMax },
  cleanup_interval_secs: { min: housekeepingIntervalMsMin / msPerSecond, max: housekeepingIntervalMsMax / msPerSecond },
  metrics_history_size: { min: metricsPointsMin, max: metricsPointsMax },
}

/** The first field outside its range, as an `Invalid:` text naming it; null when all are in range. */
export function cleanupSettingsProblem(settings: Partial<Record<keyof CleanupSettings, unknown>>): string | null {
  for (const [field, { min, max }] of Object.entries(cleanupSettingRanges)) {
    const value = settings[field as keyof CleanupSettings]
    if (value === undefined || value === null) continue
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      return `Invalid: field '${field}' must be an integer from ${min} to ${max}`
    }
  }
  return null
}

export function cleanupSettingsOf(core: Core): CleanupSettings {
  return {
    max_completed_jobs: core.history.limit,
    max_job_results: core.resultIds.limit,
    cleanup_interval_secs: core.housekeepingIntervalMs / msPerSecond,
    metrics_history_size: core.metrics.pointsLimit,
  }
}

/**
 * The history keeps no more jobs than the results ring keeps results (a listed completed job has its
 * result). Null when `settings` applied to `core` keep that order.
 */
export function cleanupOrderProblem(core: Core, settings: Partial<CleanupSettings>): string | null {
  const history = settings.max_completed_jobs ?? core.history.limit
  const results = settings.max_job_results ?? core.resultIds.limit
  if (history <= results) return null
  return `Invalid: field 'max_completed_jobs' (${history}) must not exceed max_job_results (${results})`
}
