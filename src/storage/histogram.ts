/**
 * Fixed-bucket histograms for the log's own figures (flush latency, records per flush): the bounds
 * are chosen once, so an observation is a short scan and two additions, with no allocation.
 */

export type Histogram = {
  /** Inclusive upper bounds, ascending; observations above the last one land in the +Inf bucket. */
  readonly bounds: readonly number[]
  /** Non-cumulative count per bucket, `bounds.length + 1` of them (+Inf last). */
  counts: number[]
  sum: number
}

/** Flush (group-commit write plus barrier) latency bounds, in seconds. */
export const flushSecondsBounds: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
/** Records-per-flush bounds (group-commit size). */
export const flushRecordsBounds: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]

export function newHistogram(bounds: readonly number[]): Histogram {
  return { bounds, counts: new Array(bounds.length + 1).fill(0), sum: 0 }
}

export function observe(histogram: Histogram, value: number): void {
  const bounds = histogram.bounds
  let bucket = 0
  while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket++
  histogram.counts[bucket] = (histogram.counts[bucket] as number) + 1
  histogram.sum += value
}

/** The observations counted so far. */
export function histogramCount(histogram: Histogram): number {
  let total = 0
  for (const count of histogram.counts) total += count
  return total
}

/** A copy that does not change with later observations (for a stats reply). */
export function histogramCopy(histogram: Histogram): Histogram {
  return { bounds: histogram.bounds, counts: [...histogram.counts], sum: histogram.sum }
}

/** Adds `from` into `into` (same bounds): totals over shards. */
export function histogramAdd(into: Histogram, from: Histogram): void {
  from.counts.forEach((count, i) => (into.counts[i] = (into.counts[i] as number) + count))
  into.sum += from.sum
}
