/**
 * Recovery: reads a shard's log directory and decides what the log holds. Owns the classification of
 * damage (torn tail vs corruption) and --repair. Reads through the IoBackend and writes nothing: the
 * changes it decides (zeroing a torn tail, deleting files) are applied by log.ts.
 *
 * Algorithm:
 *  1. The newest checkpoint whose trailer and checksums are valid gives checkpointLsn and its bodies
 *     (a torn or damaged newer checkpoint is skipped: the previous one is used).
 *  2. Segments are read in LSN order. A segment whose successor starts at or below checkpointLsn+1
 *     holds only checkpointed records and is not read. Every frame must carry the LSN after the
 *     previous one (the first one: the LSN in the file name); records above checkpointLsn are replayed
 *     and must continue exactly from checkpointLsn.
 *  3. Where a segment stops decoding:
 *     - zeros (preallocated space) with no valid frame after them: the normal end of a segment;
 *     - a bad frame (or zeros) in the LAST segment followed by no valid frame, or only by frames
 *       written before it was durable (v2 frames carry `syncedBelow`): a torn final flush, normal after
 *       a power loss even when a later page of the write reached the disk and an earlier one did not.
 *       The log continues writing at that offset; the rest is zeroed; reported as file@offset;
 *     - anything else (a bad frame followed by a frame written after it was durable, a bad frame in an
 *       older segment, an LSN gap): corruption. Throws LogCorruptionError naming file and offset, unless
 *       repair: then everything valid before that point is kept, the rest of that segment and every
 *       later segment is dropped, and each drop is listed in `repaired`.
 */
import type { IoBackend } from '../io/backend.ts'
import { decodeCheckpoint } from './checkpoint.ts'
import { checkpointFileName, fileBytes, join, listDirectory, segmentFileName } from './directory.ts'
import { LogCorruptionError } from './errors.ts'
import { decodeFrame, frameV1HeaderBytes } from './frame.ts'
import { logStateFileName, readLogState } from './log-state.ts'

export type RecoveredSegment = { firstLsn: number; lastLsn: number; fileBytes: number }

export type RecoveredLog = {
  checkpointLsn: number
  checkpointFileBytes: number
  checkpointBodies: Uint8Array[]
  tailBodies: Uint8Array[]
  lastLsn: number
  /** Segments kept, ascending by first LSN. */
  segments: RecoveredSegment[]
  /** Where appends continue: the last segment and its end of valid data; null = start a new one. */
  active: { firstLsn: number; lastLsn: number; writeOffset: number } | null
  /** Byte ranges of segments to overwrite with zeros (torn tail garbage, repaired damage). */
  zeroRanges: { firstLsn: number; start: number; end: number }[]
  /** Files to delete: leftover temporaries, an empty last segment, segments dropped by repair. */
  removeFiles: string[]
  truncatedTail: string | null
  repaired: string[]
}

type Problem = { offset: number; reason: string }

export function recoverDirectory(io: IoBackend, dir: string, repair: boolean): RecoveredLog {
  const listing = listDirectory(io, dir)
  const result: RecoveredLog = {
    checkpointLsn: 0,
    checkpointFileBytes: 0,
    checkpointBodies: [],
    tailBodies: [],
    lastLsn: 0,
    segments: [],
    active: null,
    zeroRanges: [],
    removeFiles: listing.temporaries.map((name) => join(dir, name)),
    truncatedTail: null,
    repaired: [],
  }
  loadNewestCheckpoint(io, dir, listing.checkpoints, result)
  checkWhatMustExist(io, dir, listing.segments, result, repair)
  const checkpointLsn = result.checkpointLsn
  let expectedLsn = checkpointLsn + 1
  const segments = listing.segments
  for (let index = 0; index < segments.length; index++) {
    const firstLsn = segments[index] as number
    const nextFirstLsn = segments[index + 1]
    const file = join(dir, segmentFileName(firstLsn))
    const isLast = nextFirstLsn === undefined
    if (!isLast && nextFirstLsn - 1 <= checkpointLsn) {
      result.segments.push({ firstLsn, lastLsn: nextFirstLsn - 1, fileBytes: fileBytes(io, file) })
      continue
    }
    const bytes = io.readFile(file)
    const scan = scanSegment(bytes, firstLsn, checkpointLsn, expectedLsn, result.tailBodies, isLast)
    expectedLsn = Math.max(expectedLsn, scan.lastLsn + 1)
    let problem = scan.problem
    if (problem === null && !isLast && scan.lastLsn + 1 !== nextFirstLsn) {
      problem = { offset: scan.endOffset, reason: `segment ends at lsn ${scan.lastLsn}, next starts at ${nextFirstLsn}` }
    }
    const keep = (lastLsn: number, writeOffset: number, garbageEnd: number) => {
      result.segments.push({ firstLsn, lastLsn, fileBytes: bytes.length })
      result.lastLsn = Math.max(result.lastLsn, lastLsn)
      if (garbageEnd > writeOffset) result.zeroRanges.push({ firstLsn, start: writeOffset, end: garbageEnd })
      result.active = { firstLsn, lastLsn, writeOffset }
    }
    if (problem === null) {
      if (scan.torn !== null && !isLast) {
        problem = { offset: scan.torn, reason: 'damaged frame in a segment that is not the last' }
      }
    }
    if (problem === null) {
      if (scan.torn !== null) {
        result.truncatedTail = `${file}@${scan.torn}`
        keep(scan.lastLsn, scan.torn, lastNonZeroEnd(bytes, scan.torn))
      } else {
        keep(scan.lastLsn, scan.endOffset, scan.endOffset)
      }
      continue
    }
    if (!repair) throw new LogCorruptionError(file, problem.offset, problem.reason)
    const garbageEnd = lastNonZeroEnd(bytes, problem.offset)
    result.repaired.push(`dropped ${file}@${problem.offset}..${garbageEnd}: ${problem.reason}`)
    keep(scan.lastLsn, problem.offset, garbageEnd)
    for (const later of segments.slice(index + 1)) {
      const laterFile = join(dir, segmentFileName(later))
      result.removeFiles.push(laterFile)
      result.repaired.push(`deleted ${laterFile} (records from lsn ${later} on)`)
    }
    break
  }
  finishActive(dir, result)
  return result
}

/**
 * log.state says which checkpoint and which newest segment (of which size) must exist. A file that
 * is missing or shorter is refused by name (a deleted segment, a truncation at a record boundary —
 * either would otherwise look like a log that ended there), unless repair: then it is noted.
 */
function checkWhatMustExist(io: IoBackend, dir: string, segments: number[], result: RecoveredLog, repair: boolean): void {
  const state = readLogState(io, dir)
  if (state === null) return
  const refuse = (file: string, offset: number, reason: string) => {
    if (!repair) throw new LogCorruptionError(file, offset, reason)
    result.repaired.push(`accepted ${file}@${offset}: ${reason}`)
  }
  if (typeof state === 'string') return refuse(join(dir, logStateFileName), 0, `log.state is ${state}`)
  if (result.checkpointLsn < state.checkpointLsn) {
    const file = join(dir, checkpointFileName(state.checkpointLsn))
    refuse(file, 0, `checkpoint at lsn ${state.checkpointLsn} is missing or damaged (log.state records it)`)
  }
  const newest = join(dir, segmentFileName(state.newestSegment))
  if (!segments.includes(state.newestSegment)) {
    // With a newer segment present, the LSN checks decide (log.state may lag behind the log).
    if (!segments.some((first) => first > state.newestSegment)) {
      refuse(newest, 0, `segment is missing (log.state records it as the newest: records from lsn ${state.newestSegment} on)`)
    }
    return
  }
  const bytes = fileBytes(io, newest)
  if (bytes < state.newestSegmentBytes) {
    refuse(newest, bytes, `segment truncated to ${bytes} bytes (log.state records ${state.newestSegmentBytes} allocated)`)
  }
}

/** Decides where appends continue once every segment is read. */
function finishActive(dir: string, result: RecoveredLog): void {
  result.lastLsn = Math.max(result.lastLsn, result.checkpointLsn)
  const active = result.active
  if (active === null) return
  if (active.writeOffset === 0 && active.firstLsn === result.lastLsn + 1) {
    // An empty last segment (renamed into place, never written) under the right name: appends
    // continue in it (deleting and recreating it would let log.state name a missing file).
  } else if (active.writeOffset === 0) {
    // An empty last segment behind the checkpoint: start afresh under the right name.
    result.segments.pop()
    result.removeFiles.push(join(dir, segmentFileName(active.firstLsn)))
    result.zeroRanges = result.zeroRanges.filter((range) => range.firstLsn !== active.firstLsn)
    result.active = null
  } else if (active.lastLsn < result.lastLsn) {
    // The checkpoint is ahead of every segment record (their successors were deleted): continuing in
    // this segment would leave an LSN gap inside it, so the next record starts a new segment.
    result.active = null
  }
}

type Scan = {
  lastLsn: number
  endOffset: number
  torn: number | null
  problem: Problem | null
}

/** Decodes one segment's frames, pushing bodies above checkpointLsn to `bodies`. */
function scanSegment(
  bytes: Uint8Array,
  firstLsn: number,
  checkpointLsn: number,
  expectedLsn: number,
  bodies: Uint8Array[],
  isLast: boolean,
): Scan {
  let offset = 0
  let lastLsn = firstLsn - 1
  for (;;) {
    const decoded = decodeFrame(bytes, offset)
    if (typeof decoded !== 'string') {
      if (decoded.lsn !== lastLsn + 1) {
        return { lastLsn, endOffset: offset, torn: null, problem: { offset, reason: `lsn ${decoded.lsn} where ${lastLsn + 1} was expected` } }
      }
      if (decoded.lsn > checkpointLsn) {
        if (decoded.lsn !== expectedLsn) {
          return { lastLsn, endOffset: offset, torn: null, problem: { offset, reason: `lsn gap: ${decoded.lsn} follows ${expectedLsn - 1}` } }
        }
        bodies.push(decoded.body)
        expectedLsn++
      }
      lastLsn = decoded.lsn
      offset = decoded.end
      continue
    }
    const follower = findValidFrame(bytes, decoded === 'end' ? offset + frameV1HeaderBytes : offset + 1, lastLsn + 1)
    if (follower >= 0 && !(isLast && onlyUnsyncedFollowers(bytes, follower, offset))) {
      const what = decoded === 'end' ? 'zeros' : `${decoded} frame`
      const reason = `${what} followed by a valid frame at ${follower} written after this data was durable`
      return { lastLsn, endOffset: offset, torn: null, problem: { offset, reason } }
    }
    if (follower >= 0) return { lastLsn, endOffset: offset, torn: offset, problem: null }
    if (decoded === 'end') return { lastLsn, endOffset: offset, torn: null, problem: null }
    return { lastLsn, endOffset: offset, torn: offset, problem: null }
  }
}

/** Offset of the first valid frame (v1 or v2) at or after `from` with lsn ≥ lsnMin, or -1. */
export function findValidFrame(bytes: Uint8Array, from: number, lsnMin: number): number {
  const length = bytes.length
  let offset = from
  while (offset + frameV1HeaderBytes <= length) {
    if (bytes[offset] === 0 && bytes[offset + 3] === 0) {
      // Skip a run of zeros: a header's bodyBytes is non-zero, so its first non-zero byte is
      // at most 3 bytes after the header start.
      let next = offset
      while (next < length && bytes[next] === 0) next++
      offset = Math.max(offset + 1, next - 3)
      continue
    }
    const frame = decodeFrame(bytes, offset)
    if (typeof frame !== 'string' && frame.lsn >= lsnMin) return offset
    offset++
  }
  return -1
}

/**
 * True when every valid frame after the damage at `hole` was written while `hole` was not yet
 * durable (its syncedBelow ≤ hole): then the damage lies in the last, unacknowledged flush, torn by a
 * power loss (pages of one write can reach the disk in any order). One frame written after the
 * damaged bytes were durable proves they were acknowledged: that is corruption.
 */
function onlyUnsyncedFollowers(bytes: Uint8Array, first: number, hole: number): boolean {
  let at = first
  while (at >= 0) {
    const frame = decodeFrame(bytes, at)
    if (typeof frame === 'string' || frame.syncedBelow > hole) return false
    at = findValidFrame(bytes, frame.end, frame.lsn + 1)
  }
  return true
}

/** End of the non-zero bytes at or after `from` (so [from, end) covers all garbage), ≥ from. */
function lastNonZeroEnd(bytes: Uint8Array, from: number): number {
  let end = bytes.length
  while (end > from && bytes[end - 1] === 0) end--
  return end
}

function loadNewestCheckpoint(io: IoBackend, dir: string, checkpoints: number[], result: RecoveredLog): void {
  for (let index = checkpoints.length - 1; index >= 0; index--) {
    const lsn = checkpoints[index] as number
    const bytes = io.readFile(join(dir, checkpointFileName(lsn)))
    const decoded = decodeCheckpoint(bytes)
    if (typeof decoded === 'string' || decoded.lsn !== lsn) continue
    result.checkpointLsn = lsn
    result.checkpointFileBytes = bytes.length
    result.checkpointBodies = decoded.bodies
    return
  }
}
