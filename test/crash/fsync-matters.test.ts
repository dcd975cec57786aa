/**
 * Every fsync storage does is needed (issues 7 and 14): for each one, a scenario that keeps every
 * acknowledged record across a modelled power loss (page-cache.ts, strict POSIX: nothing unsynced
 * survives) — and loses acknowledged records, or cannot start, once that one sync is turned into a
 * no-op in the faulty backend. Both halves run in every test, so a sync that stops mattering (or a
 * model that stops noticing) turns it red.
 */
import { describe, expect, test } from 'bun:test'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { KiB } from '../../src/base/units.ts'
import { FaultyIo } from '../harness/faulty-io.ts'
import { temporaryDirectory } from '../harness/memory-io.ts'
import { appendAcknowledged, expectPrefix, nextTurn, openStore, powerLossBackends, record } from './power-kit.ts'

type Switch = (io: FaultyIo, root: string) => void
type Scenario = {
  /** Which sync the switch removes. */
  sync: string
  /** Turned on before the log is opened, or only once it runs. */
  when: 'before-open' | 'after-open'
  off: Switch
  /** What the log does before the power cut; returns how many records were acknowledged. */
  run: (opened: Awaited<ReturnType<typeof openStore>>, root: string) => Promise<number>
  segmentBytes?: number
}

const dataDir = (root: string) => path.join(root, 'data')
const shardDir = (root: string) => path.join(root, 'data', 'shard-00')

const scenarios: Scenario[] = [
  {
    sync: 'group-commit fdatasync (writeDurable)',
    when: 'after-open',
    off: (io) => io.skipSyncs.add('data'),
    run: ({ log }) => appendAcknowledged(log, 100),
  },
  {
    sync: 'directory fsync of the data directory (shard directory creation, manifest rename)',
    when: 'before-open',
    off: (io, root) => (io.skipDirectorySync = (dir) => dir === dataDir(root)),
    run: ({ log }) => appendAcknowledged(log, 100),
  },
  {
    sync: 'directory fsync of the data directory\'s parent (data directory creation)',
    when: 'before-open',
    off: (io, root) => (io.skipDirectorySync = (dir) => dir === root),
    run: ({ log }) => appendAcknowledged(log, 100),
  },
  {
    sync: 'directory fsync of the shard directory at start (first segment, reserve file)',
    when: 'before-open',
    off: (io, root) => (io.skipDirectorySync = (dir) => dir === shardDir(root)),
    run: ({ log }) => appendAcknowledged(log, 100),
  },
  {
    sync: 'directory fsync after a spare segment is renamed into place (rotation)',
    when: 'after-open',
    off: (io, root) => (io.skipDirectorySync = (dir) => dir === shardDir(root)),
    run: ({ log }) => appendAcknowledged(log, 400),
    segmentBytes: 8 * KiB,
  },
  {
    sync: 'checkpoint file fsync before its rename',
    when: 'after-open',
    off: (io) => io.skipSyncs.add('checkpoint'),
    run: async ({ log }, root) => {
      await appendAcknowledged(log, 300)
      log.checkpoint(Array.from({ length: log.appendedLsn }, (_, i) => record(i + 1)))
      // Done once the checkpoint is in place and the segments it covers are gone.
      const done = () => fs.readdirSync(shardDir(root)).some((name) => name.endsWith('.ckp')) &&
        !fs.existsSync(path.join(shardDir(root), '0000000000000001.seg'))
      for (let turn = 0; turn < 20_000 && !done(); turn++) await nextTurn()
      expect(done()).toBe(true)
      return appendAcknowledged(log, 10)
    },
    segmentBytes: 8 * KiB,
  },
  {
    sync: 'segment creation: the preallocated size is synced before the name (log.state records it)',
    when: 'before-open',
    off: (io) => io.skipSyncs.add('segment'),
    run: async () => 0, // a power cut right after the first start, before any write
  },
  {
    sync: 'log.state fsync before its rename',
    when: 'before-open',
    off: (io) => io.skipSyncs.add('state'),
    run: ({ log }) => appendAcknowledged(log, 10),
  },
  {
    sync: 'manifest file fsync before its rename',
    when: 'before-open',
    off: (io) => io.skipSyncs.add('manifest'),
    run: ({ log }) => appendAcknowledged(log, 10),
  },
]

/** Runs the scenario, cuts the power, reopens: true when every acknowledged record came back. */
async function survives(scenario: Scenario, inner: FaultyIo['inner'], withSwitch: boolean): Promise<boolean> {
  const root = temporaryDirectory()
  const io = new FaultyIo(inner, { pageCache: { root } })
  if (withSwitch && scenario.when === 'before-open') scenario.off(io, root)
  const opened = await openStore(io, root, scenario.segmentBytes)
  if (withSwitch && scenario.when === 'after-open') scenario.off(io, root)
  const acknowledged = await scenario.run(opened, root)
  const after = io.powerLoss('drop')
  try {
    const reopened = await openStore(after, root, scenario.segmentBytes)
    const bodies = [...reopened.bodies]
    await reopened.log.close()
    if (bodies.length < acknowledged) return false
    expectPrefix({ ...reopened, bodies }, acknowledged)
    return true
  } catch {
    return false // refused to start (damaged manifest, missing checkpoint …): acknowledged data unreachable
  }
}

for (const { name, inner } of powerLossBackends) {
  describe(`each fsync matters (${name})`, () => {
    for (const scenario of scenarios) {
      test(scenario.sync, async () => {
        expect(await survives(scenario, inner, false)).toBe(true)
        expect(await survives(scenario, inner, true)).toBe(false)
      })
    }
  })
}
