/**
 * File names inside a shard's log directory, and the few directory operations storage does itself
 * (listing, sizes). Every operation goes through the IoBackend, so a test backend sees all of them.
 *
 *   <dir>/0000000000000001.seg         segment; the name is the LSN of its first record (16 digits)
 *   <dir>/checkpoint-0000000000001234.ckp   checkpoint of the state as of LSN 1234
 *   <dir>/spare-<id>-<n>.tmp           preallocated next segment, not yet named (deleted at recovery)
 *   <dir>/checkpoint-….ckp.tmp         checkpoint being written (deleted at recovery)
 *   <dir>/log.state                    what must exist: newest segment and its size, checkpoint LSN
 *   <dir>/reserve.space                disk kept for completion records (log.ts)
 */
import * as path from 'node:path'
import type { IoBackend } from '../io/backend.ts'

const lsnDigits = 16
const segmentPattern = /^(\d{16})\.seg$/
const checkpointPattern = /^checkpoint-(\d{16})\.ckp$/

export function segmentFileName(firstLsn: number): string {
  return `${String(firstLsn).padStart(lsnDigits, '0')}.seg`
}

export function checkpointFileName(lsn: number): string {
  return `checkpoint-${String(lsn).padStart(lsnDigits, '0')}.ckp`
}

export type DirectoryListing = {
  /** Segment first LSNs, ascending. */
  segments: number[]
  /** Checkpoint LSNs, ascending. */
  checkpoints: number[]
  /** Leftover temporary files (spares, unfinished checkpoints), to delete. */
  temporaries: string[]
}

export function listDirectory(io: IoBackend, dir: string): DirectoryListing {
  const listing: DirectoryListing = { segments: [], checkpoints: [], temporaries: [] }
  for (const name of io.readDirectory(dir)) {
    const segment = segmentPattern.exec(name)
    const checkpoint = checkpointPattern.exec(name)
    if (segment) listing.segments.push(Number(segment[1]))
    else if (checkpoint) listing.checkpoints.push(Number(checkpoint[1]))
    else if (name.endsWith('.tmp')) listing.temporaries.push(name)
  }
  listing.segments.sort((a, b) => a - b)
  listing.checkpoints.sort((a, b) => a - b)
  return listing
}

/** Size of the file at `file` in bytes, 0 when it does not exist. */
export function fileBytes(io: IoBackend, file: string): number {
  let fd: number
  try {
    fd = io.open(file, false)
  } catch {
    return 0
  }
  try {
    return io.fileSize(fd)
  } finally {
    io.close(fd)
  }
}

export const join = path.join

/**
 * Creates `dir` if missing and makes its name durable: under POSIX rules only an fsync of the parent
 * directory keeps a new directory entry across a power loss (issue 14: without it every shard lost
 * everything after a cut soon after the first start).
 */
export function makeDurableDirectory(io: IoBackend, dir: string): void {
  if (io.makeDirectory(dir)) io.syncDirectory(path.dirname(dir))
}

/**
 * Writes a small file so that after a power loss it is either the old one or complete: a temporary
 * file, fsync, rename, fsync of the directory (the manifest, log.state).
 */
export async function writeFileAtomic(io: IoBackend, file: string, text: string): Promise<void> {
  const temporary = `${file}.tmp`
  const fd = io.open(temporary, true)
  try {
    const bytes = new TextEncoder().encode(text)
    io.truncate(fd, 0)
    await io.write(fd, bytes, 0)
    io.syncNow(fd)
  } finally {
    io.close(fd)
  }
  io.rename(temporary, file)
  io.syncDirectory(path.dirname(file))
}
