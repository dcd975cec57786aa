/**
 * Fits segments to the filesystem at start (issue 8, item 10). Segments are preallocated, so a
 * 32 MiB segment on an 8 MiB filesystem made the first push fail with "Disk full" at 26% used. Each
 * shard keeps an active segment and a spare preallocated, plus a floor of log before a checkpoint
 * and the checkpoints themselves; so a segment gets at most 1/16 of the filesystem's share of one
 * shard, and a filesystem too small for that is refused with the reason.
 */
import type { FilesystemSpace } from '../io/backend.ts'
import { KiB, MiB } from '../base/units.ts'

/** The share of a shard's part of the filesystem one segment may take. */
export const segmentShareOfFilesystem = 1 / 16
/** Segment sizes are whole multiples of this (filesystem blocks). */
const segmentGranuleBytes = 4 * KiB

export type SegmentFit = { segmentBytes: number; note: string | null } | { refused: string }

export function fitSegmentBytes(
  space: FilesystemSpace,
  configuredBytes: number,
  shardsOnFilesystem: number,
  segmentBytesMin: number,
): SegmentFit {
  // Some filesystems (FUSE, a few network ones) report no size: nothing to fit to.
  if (!(space.totalBytes > 0)) return { segmentBytes: configuredBytes, note: null }
  const share = (space.totalBytes / Math.max(1, shardsOnFilesystem)) * segmentShareOfFilesystem
  const fitting = Math.floor(share / segmentGranuleBytes) * segmentGranuleBytes
  if (fitting >= configuredBytes) return { segmentBytes: configuredBytes, note: null }
  const total = formatBytes(space.totalBytes)
  if (fitting < segmentBytesMin) {
    const needed = formatBytes(Math.ceil((segmentBytesMin / segmentShareOfFilesystem) * Math.max(1, shardsOnFilesystem)))
    return {
      refused:
        `the filesystem holding the data directory is ${total}; ${shardsOnFilesystem} shard(s) need at least ${needed} ` +
        `(segments of ${formatBytes(segmentBytesMin)}, each at most 1/16 of a shard's share); use a larger filesystem`,
    }
  }
  return {
    segmentBytes: fitting,
    note: `segments of ${formatBytes(fitting)} instead of ${formatBytes(configuredBytes)}: the filesystem holds ${total}`,
  }
}

function formatBytes(bytes: number): string {
  if (bytes >= MiB && bytes % (MiB / 4) === 0) return `${bytes / MiB} MiB`
  if (bytes >= KiB) return `${Math.round(bytes / KiB)} KiB`
  return `${bytes} bytes`
}
