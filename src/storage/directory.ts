/**
 * File names inside a shard's log directory, and the few directory operations storage does itself
 * (listing, renaming, deleting, fsync of the directory). File contents go through the IoBackend;
 * reads happen only at recovery and use node:fs.
 *
 *   <dir>/0000000000000001.seg         segment; the name is the LSN of its first record (16 digits)
 *   <dir>/checkpoint-0000000000001234.ckp   checkpoint of the state as of LSN 1234
 *   <dir>/spare-<id>-<n>.tmp           preallocated next segment, not yet named (deleted at recovery)
 *   <dir>/checkpoint-….ckp.tmp         checkpoint being written (deleted at recovery)
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

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

export function listDirectory(dir: string): DirectoryListing {
  const listing: DirectoryListing = { segments: [], checkpoints: [], temporaries: [] }
  for (const name of fs.readdirSync(dir)) {
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

/** fsyncs a directory so that renames, creations and deletions in it survive a crash. */
export function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

export function fileBytes(file: string): number {
  try {
    return fs.statSync(file).size
  } catch {
    return 0
  }
}

export function removeFile(file: string): void {
  fs.rmSync(file, { force: true })
}

export const join = path.join
