/**
 * Shared by the power-loss tests: both production io backends, a data directory opened the way the
 * server opens it, and the one check (every acknowledged record comes back, in order).
 */
import { expect } from 'bun:test'
import * as path from 'node:path'
import { KiB } from '../../src/base/units.ts'
import type { IoBackend } from '../../src/io/backend.ts'
import { probeUring } from '../../src/io/pick.ts'
import { PwriteBackend } from '../../src/io/pwrite.ts'
import { openShardLog } from '../../src/storage/log.ts'
import { openManifest } from '../../src/storage/manifest.ts'
import type { OpenedLog, ShardLog } from '../../src/storage/types.ts'
import type { FaultyIo } from '../harness/faulty-io.ts'

const decoder = new TextDecoder()
export const nextTurn = () => new Promise((resolve) => setImmediate(resolve))
export const record = (lsn: number) => `{"op":"push","n":${lsn},"pad":"${'x'.repeat(40 + (lsn % 97))}"}`

export async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 20_000 && !condition(); turn++) await nextTurn()
  expect(condition()).toBe(true)
}

const uring = probeUring()
export const powerLossBackends: { name: string; inner: IoBackend }[] = [
  { name: 'pwrite', inner: new PwriteBackend(null) },
  ...(typeof uring === 'string' ? [] : [{ name: 'io_uring', inner: uring }]),
]
if (typeof uring === 'string') process.stderr.write(`power-loss tests: io_uring skipped (${uring})\n`)

/** A data directory as the server lays it out: manifest, then one shard log. */
export async function openStore(io: FaultyIo, root: string, segmentBytes = 32 * KiB): Promise<OpenedLog> {
  const dataDir = path.join(root, 'data')
  await openManifest(io, dataDir, 1)
  return openShardLog({
    dir: path.join(dataDir, 'shard-00'),
    io,
    fsync: { kind: 'always' },
    segmentBytes,
    flushBytesMax: 16 * KiB,
    repair: false,
  })
}

/** Appends `count` records (numbered from the log's next LSN) and waits until they are acknowledged. */
export async function appendAcknowledged(log: ShardLog, count: number): Promise<number> {
  for (let i = 0; i < count; i++) log.append(record(log.appendedLsn + 1))
  const target = log.appendedLsn
  await until(() => log.durableLsn >= target)
  return target
}

/** The recovered bodies must be records 1 … n in order, with n ≥ acknowledged. */
export function expectPrefix(opened: OpenedLog, acknowledged: number): number {
  const bodies = [...opened.bodies].map((body) => decoder.decode(body))
  expect(bodies.length).toBeGreaterThanOrEqual(acknowledged)
  bodies.forEach((body, index) => {
    if (body !== record(index + 1)) expect(`record ${index + 1}: ${body}`).toBe(record(index + 1))
  })
  return bodies.length
}

