/**
 * Writes the golden files of the log format: `bun src/storage/make-fixtures.ts [--force]`.
 * Run once per format version; the bytes are committed under test/fixtures/log/v<version>/ and
 * fixtures.test.ts checks that today's decoders read them exactly. Never regenerate an existing
 * version's fixtures to make a test pass: that is the silent format change they exist to catch.
 *
 * Contents (v1, v2): 0000000000000001.seg, a 4 KiB segment holding LSNs 1 … 8 (then zeros), and
 * checkpoint-0000000000000003.ckp, a checkpoint at LSN 3 with two bodies. Recovery of the directory
 * yields the two checkpoint bodies, then LSNs 4 … 8. v2 segment frames carry syncedBelow as if
 * written by two flushes: LSNs 1 … 4 (syncedBelow 0) and 5 … 8 (syncedBelow = offset of LSN 5).
 * Checkpoint files still use v1 frames.
 */
import * as path from 'node:path'
import { PwriteBackend } from '../io/pwrite.ts'
import { encodeCheckpoint } from './checkpoint.ts'
import { checkpointFileName, segmentFileName } from './directory.ts'
import { encodeFrame, encodeFrameV1, frameVersion } from './frame.ts'

export const fixtureSegmentBytes = 4096
export const fixtureRecords: string[] = [
  '{"op":"push","queue":"mail","id":1}',
  '{"op":"push","queue":"mail","id":2,"data":{"to":"ada@example.com"}}',
  '{"op":"push","queue":"sms","id":3,"data":"é✓😀"}',
  '{"op":"ack","id":1}',
  '{"op":"push","queue":"mail","id":4,"priority":5}',
  '{"op":"fail","id":2,"error":"timeout"}',
  '{"op":"push","queue":"sms","id":5,"delay":1000}',
  '{"op":"ack","id":3}',
]
/** v2: index of the first record of the second flush. */
export const fixtureSecondFlushIndex = 4
export const fixtureCheckpointLsn = 3
export const fixtureCheckpointBodies: string[] = [
  '{"job":{"id":2,"queue":"mail","state":"waiting"}}',
  '{"job":{"id":3,"queue":"sms","state":"waiting"}}',
]

/** The v1 writer, kept for reference: how test/fixtures/log/v1 was made. */
export function encodeV1Segment(): Uint8Array {
  const segment = new Uint8Array(fixtureSegmentBytes)
  let offset = 0
  fixtureRecords.forEach((body, index) => {
    offset = encodeFrameV1(index + 1, new TextEncoder().encode(body), segment, offset)
  })
  return segment
}

export function fixtureDirectory(version = frameVersion): string {
  return path.join(import.meta.dir, '..', '..', 'test', 'fixtures', 'log', `v${version}`)
}

async function makeFixtures(force: boolean): Promise<void> {
  const io = new PwriteBackend(null)
  const dir = fixtureDirectory()
  if (!io.makeDirectory(dir) && !force) {
    throw new Error(`${dir} exists; fixtures of a released format are never regenerated (--force to override)`)
  }
  const segment = new Uint8Array(fixtureSegmentBytes)
  let offset = 0
  let flushStart = 0
  fixtureRecords.forEach((body, index) => {
    if (index === fixtureSecondFlushIndex) flushStart = offset
    offset = encodeFrame(index + 1, new TextEncoder().encode(body), segment, offset, flushStart)
  })
  await writeFile(io, path.join(dir, segmentFileName(1)), segment)
  const checkpoint = encodeCheckpoint(fixtureCheckpointLsn, fixtureCheckpointBodies)
  await writeFile(io, path.join(dir, checkpointFileName(fixtureCheckpointLsn)), checkpoint)
  process.stdout.write(`wrote ${dir}\n`)
}

async function writeFile(io: PwriteBackend, file: string, bytes: Uint8Array): Promise<void> {
  const fd = io.open(file, true)
  io.truncate(fd, 0)
  await io.write(fd, bytes, 0)
  io.close(fd)
}

if (import.meta.main) await makeFixtures(process.argv.includes('--force'))
