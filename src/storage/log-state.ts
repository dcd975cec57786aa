/**
 * `log.state`: what must exist in a shard's log directory, so that recovery can tell a deleted or
 * truncated file from a log that simply ended there (issue 8, item 9). Written atomically
 * (directory.ts writeFileAtomic) when a segment is renamed into place, after a checkpoint is in
 * place, and at start. It is a lower bound: the log may be further along than it says, never behind.
 *
 *   { "version": 1, "newestSegment": <first LSN>, "newestSegmentBytes": <allocated>, "checkpointLsn": <lsn> }
 *
 * - newestSegment: the segment with this first LSN exists, with at least newestSegmentBytes bytes
 *   (segments are preallocated and their size is synced before their name, so a shorter file was
 *   truncated);
 * - checkpointLsn: a complete checkpoint at this LSN (or a newer one) exists.
 * A directory without the file (format 1, or a crash before the first start finished) is not checked.
 */
import type { IoBackend } from '../io/backend.ts'
import { join } from './directory.ts'

export const logStateFileName = 'log.state'
const logStateVersion = 1

export type LogState = { newestSegment: number; newestSegmentBytes: number; checkpointLsn: number }

export function encodeLogState(state: LogState): string {
  return `${JSON.stringify({ version: logStateVersion, ...state })}\n`
}

/** The state of `dir`, null when there is none, or the reason it cannot be read. */
export function readLogState(io: IoBackend, dir: string): LogState | null | string {
  let bytes: Uint8Array
  try {
    bytes = io.readFile(join(dir, logStateFileName))
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return null
    return `unreadable: ${(error as Error).message}`
  }
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    return 'not valid JSON'
  }
  const state = value as Partial<LogState> & { version?: unknown }
  const isCount = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0
  if (
    state === null || typeof state !== 'object' || state.version !== logStateVersion ||
    !isCount(state.newestSegment) || !isCount(state.newestSegmentBytes) || !isCount(state.checkpointLsn)
  ) {
    return `unexpected content (version ${String(state?.version)})`
  }
  return {
    newestSegment: state.newestSegment as number,
    newestSegmentBytes: state.newestSegmentBytes as number,
    checkpointLsn: state.checkpointLsn as number,
  }
}
