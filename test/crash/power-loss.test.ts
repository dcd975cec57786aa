/**
 * Power loss, modelled (issue 14): the page-cache model of test/harness/page-cache.ts drops every
 * write, create, rename, unlink and truncation not covered by a sync, and can tear a multi-page
 * write (an earlier page lost, a later one kept). The bytes really go through each production io
 * backend (pwrite, io_uring); the model rewrites the directory to what a power cut would leave.
 * Every test checks the one promise: every acknowledged (durable) record comes back, in order.
 */
import { describe, expect, test } from 'bun:test'
import * as path from 'node:path'
import { KiB } from '../../src/base/units.ts'
import { openShardLog } from '../../src/storage/log.ts'
import { FaultyIo } from '../harness/faulty-io.ts'
import { temporaryDirectory } from '../harness/memory-io.ts'
import type { PowerLossPolicy } from '../harness/page-cache.ts'
import { appendAcknowledged, expectPrefix, nextTurn, openStore, powerLossBackends, record, until } from './power-kit.ts'

/** Keeps every page of every unsynced write except the first page of the last one (a torn flush). */
const tearFirstPageOfLastWrite: PowerLossPolicy = (page) => page.name.endsWith('.seg') && page.lastWrite && page.page > 0

for (const { name, inner } of powerLossBackends) {
  describe(`power loss on ${name}`, () => {
    test('soon after the first start: the data and shard directories survive (issue 14, finding 1)', async () => {
      const root = temporaryDirectory()
      const io = new FaultyIo(inner, { pageCache: { root } })
      const { log } = await openStore(io, root)
      const acknowledged = await appendAcknowledged(log, 200)
      const after = io.powerLoss('drop')
      const reopened = await openStore(after, root)
      expectPrefix(reopened, acknowledged)
      await reopened.log.close()
    })

    test('a torn final flush (earlier page lost, later kept) is truncated and the log starts (finding 2)', async () => {
      const root = temporaryDirectory()
      const io = new FaultyIo(inner, { pageCache: { root } })
      const { log } = await openStore(io, root, 256 * KiB)
      const acknowledged = await appendAcknowledged(log, 50)
      io.hold()
      for (let i = 0; i < 120; i++) log.append(record(log.appendedLsn + 1)) // ~16 KiB: a multi-page flush
      const writes = io.writeCount
      await until(() => io.writeCount > writes)
      const after = io.powerLoss(tearFirstPageOfLastWrite)
      const reopened = await openStore(after, root, 256 * KiB)
      const recovered = expectPrefix(reopened, acknowledged)
      expect(recovered).toBeLessThan(acknowledged + 120)
      expect(reopened.report.truncatedTail).toContain('0000000000000001.seg@')
      await reopened.log.close()
    })

    test('20 random power cuts under appends, rotations and checkpoints: every acknowledged record survives', async () => {
      const root = temporaryDirectory()
      const seed = Number(process.env.SEED ?? 20261125)
      let io = new FaultyIo(inner, { pageCache: { root }, seed })
      let opened = await openStore(io, root, 8 * KiB)
      let acknowledged = 0
      for (let cut = 0; cut < 20; cut++) {
        acknowledged = Math.max(acknowledged, expectPrefix(opened, acknowledged))
        const { log } = opened
        for (let round = 0; round < 1 + io.random.int(4); round++) {
          acknowledged = await appendAcknowledged(log, 20 + io.random.int(120))
          if (io.random.int(3) === 0) log.checkpoint(Array.from({ length: log.appendedLsn }, (_, i) => record(i + 1)))
        }
        // Unacknowledged work in flight at the cut: appends, maybe a checkpoint, maybe a rotation.
        for (let i = io.random.int(150); i > 0; i--) log.append(record(log.appendedLsn + 1))
        if (io.random.int(2) === 0) log.checkpoint(Array.from({ length: log.appendedLsn }, (_, i) => record(i + 1)))
        for (let turns = io.random.int(6); turns > 0; turns--) await nextTurn()
        acknowledged = Math.max(acknowledged, log.durableLsn)
        io = io.powerLoss('random')
        opened = await openStore(io, root, 8 * KiB)
      }
      expectPrefix(opened, acknowledged)
      await opened.log.close()
    })

    test('interval mode: a cut through several unsynced flushes starts without --repair and keeps what was synced', async () => {
      for (let round = 0; round < 10; round++) {
        const root = temporaryDirectory()
        let io = new FaultyIo(inner, { pageCache: { root }, seed: 7000 + round })
        const open = (backend: FaultyIo) => openShardLog({
          dir: path.join(root, 'shard-00'), io: backend, fsync: { kind: 'interval', intervalMs: 60_000 },
          segmentBytes: 64 * KiB, flushBytesMax: 2 * KiB, repair: false,
        })
        const { log } = await open(io)
        for (let i = 0; i < 100; i++) log.append(record(log.appendedLsn + 1))
        await until(() => log.durableLsn === log.appendedLsn)
        await log.close() // syncs: everything so far is on disk
        const reopened = await open(io = new FaultyIo(inner, { pageCache: { root }, seed: 8000 + round }))
        const synced = reopened.log.appendedLsn
        // Several flushes written (the timer sync is an hour away), none synced: pages of all of
        // them may survive or not, in any combination.
        for (let flush = 0; flush < 6; flush++) {
          for (let i = 0; i < 20; i++) reopened.log.append(record(reopened.log.appendedLsn + 1))
          await until(() => reopened.log.durableLsn === reopened.log.appendedLsn)
        }
        const after = io.powerLoss('random')
        const recovered = await open(after)
        expectPrefix(recovered, synced)
        await recovered.log.close()
      }
    })
  })
}
