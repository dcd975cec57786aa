import { afterEach, describe, expect, test } from 'bun:test'
import * as fs from 'node:fs'
import { prng, seedFromEnv } from '../base/prng.ts'
import { KiB } from '../base/units.ts'
import { FaultyIo } from '../../test/harness/faulty-io.ts'
import { temporaryDirectory, testFsIo } from '../../test/harness/memory-io.ts'
import type { TestFsIo } from '../../test/harness/memory-io.ts'
import { IoError } from '../io/backend.ts'
import { LogCorruptionError } from './errors.ts'
import { frameHeaderBytes } from './frame.ts'
import { openShardLog, reserveFileName, SegmentedLog, zeroAheadBytes } from './log.ts'
import type { FsyncMode, OpenedLog, ShardLogOptions } from './types.ts'

const text = new TextDecoder()
const backends: TestFsIo[] = []
afterEach(() => {
  for (const io of backends.splice(0)) io.closeAll()
})

function fsIo(): TestFsIo {
  const io = testFsIo()
  backends.push(io)
  return io
}

type Setup = Partial<Omit<ShardLogOptions, 'dir' | 'io'>> & { io?: ShardLogOptions['io'] }

function open(dir: string, setup: Setup = {}): Promise<OpenedLog> {
  return openShardLog({
    dir,
    io: setup.io ?? fsIo(),
    fsync: setup.fsync ?? ({ kind: 'always' } as FsyncMode),
    segmentBytes: setup.segmentBytes ?? 64 * KiB,
    flushBytesMax: setup.flushBytesMax ?? 64 * KiB,
    repair: setup.repair ?? false,
  })
}

const bodiesOf = (opened: OpenedLog): string[] => [...opened.bodies].map((body) => text.decode(body))
const record = (lsn: number) => `{"op":"push","n":${lsn},"pad":"${'x'.repeat(lsn % 13)}"}`
const segmentFiles = (dir: string) => fs.readdirSync(dir).filter((name) => name.endsWith('.seg')).sort()
const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 10_000 && !condition(); turn++) await nextTurn()
  expect(condition()).toBe(true)
}

describe('group commit', () => {
  test('flushIfIdle starts an idle log\'s flush at once; right after a flush, the piled-up appends wait their turn', async () => {
    const io = new FaultyIo(fsIo())
    const { log } = await open(temporaryDirectory(), { io })
    const writesAtStart = io.writeCount // log.state
    log.append(record(1))
    expect(io.writeCount - writesAtStart).toBe(0) // append alone waits for the turn
    io.hold()
    log.flushIfIdle()
    expect(io.writeCount - writesAtStart).toBe(1) // started within the call, not a turn later
    log.append(record(2))
    log.flushIfIdle() // one flush in flight per log: nothing more starts
    expect(io.writeCount - writesAtStart).toBe(1)
    io.release()
    await until(() => log.durableLsn >= 1)
    log.append(record(3))
    // The flush that finished scheduled the next one for the turn, so that requests which arrived
    // during it are handled first and share it: flushIfIdle leaves it there.
    log.flushIfIdle()
    expect(io.writeCount - writesAtStart).toBe(1)
    await until(() => log.durableLsn === 3)
    expect(io.writeCount - writesAtStart).toBe(2)
    await log.close()
  })

  test('an idle log\'s flush tells io its caller waits idle; a flush of appends that piled up behind one does not', async () => {
    const inner = fsIo()
    const hints: boolean[] = []
    const recording: TestFsIo = {
      ...inner,
      writeDurable: (fd, bytes, offset, waitingIdle) => {
        hints.push(waitingIdle === true)
        return inner.writeDurable(fd, bytes, offset, waitingIdle)
      },
    }
    const io = new FaultyIo(recording)
    const { log } = await open(temporaryDirectory(), { io })
    hints.length = 0
    log.append(record(1))
    io.hold()
    log.flushIfIdle()
    log.append(record(2)) // arrives during the flush: group-committed by the next one
    io.release()
    await until(() => log.durableLsn === 2)
    await nextTurn()
    log.append(record(3)) // after a quiet turn: idle again
    await until(() => log.durableLsn === 3)
    expect(hints).toEqual([true, false, true])
    await log.close()
  })

  test('appends in one tick go out in one flush; appends during a flush go in the next', async () => {
    const io = new FaultyIo(fsIo())
    const { log } = await open(temporaryDirectory(), { io })
    const writesAtStart = io.writeCount // log.state
    const durable: number[] = []
    log.onDurable = (lsn) => durable.push(lsn)
    for (let i = 1; i <= 100; i++) expect(log.append(record(i))).toBe(i)
    expect(log.appendedLsn).toBe(100)
    expect(log.durableLsn).toBe(0)
    io.hold()
    await nextTurn() // flushes start from setImmediate, after queued requests were handled
    expect(io.writeCount - writesAtStart).toBe(1)
    for (let i = 101; i <= 150; i++) log.append(record(i))
    await nextTurn()
    expect(io.writeCount - writesAtStart).toBe(1) // one flush in flight per log
    io.release()
    await until(() => log.durableLsn === 150)
    expect(io.writeCount - writesAtStart).toBe(2)
    expect(durable).toEqual([100, 150])
    await log.close()
  })

  test('flushBytesMax caps one flush; onDurable is called in LSN order', async () => {
    const io = new FaultyIo(fsIo())
    const { log } = await open(temporaryDirectory(), { io, flushBytesMax: 4 * KiB, segmentBytes: 1024 * KiB })
    const durable: number[] = []
    log.onDurable = (lsn) => durable.push(lsn)
    for (let i = 1; i <= 1000; i++) log.append(record(i))
    await until(() => log.durableLsn === 1000)
    expect(io.writeCount).toBeGreaterThan(10)
    expect(durable).toEqual([...durable].sort((a, b) => a - b))
    expect(durable[durable.length - 1]).toBe(1000)
    await log.close()
  })

  test('interval mode: durable after the write, synced on a timer', async () => {
    const io = new FaultyIo(fsIo())
    const dir = temporaryDirectory()
    const { log } = await open(dir, { io, fsync: { kind: 'interval', intervalMs: 1 } })
    for (let i = 1; i <= 10; i++) log.append(record(i))
    await until(() => log.durableLsn === 10 && io.syncCount > 0)
    await log.close()
    expect(bodiesOf(await open(dir))).toEqual(Array.from({ length: 10 }, (_, i) => record(i + 1)))
  })
})

test('releaseSpareBuffers lets the grown and pooled write buffers go; appends after it are as durable', async () => {
  const io = new FaultyIo(fsIo())
  const dir = temporaryDirectory()
  const { log } = await open(dir, { io, segmentBytes: 8 * 1024 * KiB, flushBytesMax: 1024 * KiB })
  const buffers = log as SegmentedLog
  log.append(record(1))
  io.hold()
  log.flushIfIdle()
  // Appends behind the flush in flight grow the next chunk past its initial 64 KiB.
  let lsn = 0
  for (let n = 0; n < 8000; n++) lsn = log.append(record(n + 2))
  io.release()
  await until(() => log.durableLsn === lsn)
  const grownBytes = buffers.writeBufferBytes
  expect(grownBytes).toBeGreaterThan(256 * KiB)
  log.releaseSpareBuffers()
  expect(buffers.writeBufferBytes).toBe(64 * KiB)
  for (let n = 0; n < 100; n++) lsn = log.append(record(n + 9000))
  await until(() => log.durableLsn === lsn)
  await log.close()
  const reopened = await open(dir, { segmentBytes: 8 * 1024 * KiB, flushBytesMax: 1024 * KiB })
  const bodies = bodiesOf(reopened)
  expect(bodies.length).toBe(lsn)
  expect(bodies[bodies.length - 1]).toBe(record(9099))
  await reopened.log.close()
})

describe('zeros ahead of a small flush (extent conversion once per zone)', () => {
  type Write = { offset: number; length: number; zerosFrom: number }
  /** Records each durable write to a segment: where, how long, and whether it ends in zeros only. */
  function recordingIo(writes: Write[]): TestFsIo {
    const inner = fsIo()
    return {
      ...inner,
      writeDurable: (fd, bytes, offset, waitingIdle) => {
        let zerosFrom = bytes.length
        while (zerosFrom > 0 && bytes[zerosFrom - 1] === 0) zerosFrom--
        writes.push({ offset, length: bytes.length, zerosFrom })
        return inner.writeDurable(fd, bytes, offset, waitingIdle)
      },
    }
  }

  test('a small flush into unwritten space writes zeros to the zone end; flushes inside the zone write only records', async () => {
    const writes: Write[] = []
    const dir = temporaryDirectory()
    const { log } = await open(dir, { io: recordingIo(writes), segmentBytes: 1024 * KiB })
    writes.length = 0
    let lsn = 0
    const flushOne = async (body: string) => {
      log.append(body)
      lsn++
      await until(() => log.durableLsn === lsn)
    }
    await flushOne(record(1))
    expect(writes[0]).toMatchObject({ offset: 0, length: zeroAheadBytes }) // the first record, then zeros
    expect(writes[0]!.zerosFrom).toBeLessThan(100)
    await flushOne(record(2))
    expect(writes[1]!.length).toBeLessThan(100) // inside the zeroed zone: only the record
    // Fill the zone up to just below its end: the flush that crosses it zeroes the next zone.
    const body = record(3)
    while (log.appendedLsn < 10_000) {
      const last = writes[writes.length - 1]!
      if (last.offset + last.length + frameHeaderBytes + body.length > zeroAheadBytes) break
      await flushOne(body)
    }
    await flushOne(body)
    const crossing = writes[writes.length - 1]!
    expect(crossing.offset).toBeLessThan(zeroAheadBytes)
    // Into the next zone, as far as the flush's buffer reaches (it may stop a few bytes short).
    expect(crossing.offset + crossing.length).toBeGreaterThan(1.5 * zeroAheadBytes)
    expect(crossing.offset + crossing.length).toBeLessThanOrEqual(2 * zeroAheadBytes)
    await log.close()
    const reopened = await open(dir, { segmentBytes: 1024 * KiB })
    expect(reopened.report.lastLsn).toBe(lsn)
    expect(reopened.report.truncatedTail).toBeNull()
    await reopened.log.close()
  })

  test('zeros ahead are zeros even in a reused buffer that held records; recovery sees exactly the records', async () => {
    const writes: Write[] = []
    const dir = temporaryDirectory()
    const { log } = await open(dir, { io: recordingIo(writes), segmentBytes: 1024 * KiB })
    // Large flushes (no zeros ahead) leave their buffers, full of frames, in the pool; the small
    // flushes after them take those buffers, and some of them zero the next zone with one.
    const big = `{"pad":"${'z'.repeat(200)}"}`
    const small = record(7)
    let padded = 0
    while (log.appendedLsn < 3_000 && padded < 3) {
      for (let i = 0; i < 90; i++) log.append(big)
      await until(() => log.durableLsn === log.appendedLsn)
      writes.length = 0
      // Two small flushes: buffers rotate through the pool, so one of them has held a large flush.
      for (let i = 0; i < 2; i++) {
        log.append(small)
        await until(() => log.durableLsn === log.appendedLsn)
      }
      for (const write of writes) {
        if (write.length > frameHeaderBytes + small.length) padded++
        expect(write.zerosFrom).toBeLessThanOrEqual(frameHeaderBytes + small.length)
      }
    }
    expect(padded).toBe(3)
    const lastLsn = log.appendedLsn
    await log.close()
    const reopened = await open(dir, { segmentBytes: 1024 * KiB })
    expect(reopened.report.lastLsn).toBe(lastLsn)
    expect(reopened.report.truncatedTail).toBeNull()
    await reopened.log.close()
  })
})

describe('recovery', () => {
  test('after a clean close, across many segments, LSNs continue', async () => {
    const dir = temporaryDirectory()
    const first = await open(dir, { segmentBytes: 4 * KiB })
    expect(first.report).toEqual({ checkpointLsn: 0, recordsReplayed: 0, lastLsn: 0, truncatedTail: null, repaired: [], notes: [] })
    for (let i = 1; i <= 500; i++) first.log.append(record(i))
    await first.log.close()
    expect(segmentFiles(dir).length).toBeGreaterThan(5)
    const second = await open(dir, { segmentBytes: 4 * KiB })
    expect(bodiesOf(second)).toEqual(Array.from({ length: 500 }, (_, i) => record(i + 1)))
    expect(second.report.lastLsn).toBe(500)
    expect(second.report.truncatedTail).toBeNull()
    expect(second.log.append(record(501))).toBe(501)
    await second.log.close()
    expect(bodiesOf(await open(dir, { segmentBytes: 4 * KiB })).length).toBe(501)
  })

  test('a torn last record at every byte offset is truncated, and LSNs continue', async () => {
    const template = temporaryDirectory()
    const writer = await open(template)
    for (let i = 1; i <= 5; i++) writer.log.append(record(i))
    await writer.log.close()
    const segment = segmentFiles(template)[0] as string
    const bytes = fs.readFileSync(`${template}/${segment}`)
    const lastRecordBytes = frameHeaderBytes + Buffer.byteLength(record(5))
    let end = bytes.length
    while (bytes[end - 1] === 0) end--
    const lastStart = end - lastRecordBytes
    for (let cut = lastStart; cut < end; cut++) {
      const dir = temporaryDirectory()
      const torn = Buffer.from(bytes)
      torn.fill(0, cut, end)
      fs.writeFileSync(`${dir}/${segment}`, torn)
      const opened = await open(dir)
      expect(bodiesOf(opened)).toEqual([1, 2, 3, 4].map(record))
      expect(opened.report.truncatedTail).toBe(cut === lastStart ? null : `${dir}/${segment}@${lastStart}`)
      expect(opened.log.append('{"after":"tear"}')).toBe(5)
      await opened.log.close()
      const again = await open(dir)
      expect(bodiesOf(again)).toEqual([...[1, 2, 3, 4].map(record), '{"after":"tear"}'])
      expect(again.report.truncatedTail).toBeNull()
      await again.log.close()
    }
  })

  test('a flipped byte in the middle is corruption naming file and offset; --repair drops from there', async () => {
    const dir = temporaryDirectory()
    const writer = await open(dir)
    // Two flushes: the damaged record is in the first, so a later frame proves it was acknowledged
    // (damage inside the very last flush is indistinguishable from a torn write, see recovery.ts).
    for (let i = 1; i <= 10; i++) writer.log.append(record(i))
    await until(() => writer.log.durableLsn === 10)
    for (let i = 11; i <= 20; i++) writer.log.append(record(i))
    await writer.log.close()
    const segment = `${dir}/${segmentFiles(dir)[0]}`
    const bytes = fs.readFileSync(segment)
    let offset = 0
    for (let lsn = 1; lsn < 10; lsn++) offset += frameHeaderBytes + Buffer.byteLength(record(lsn))
    bytes[offset + 20] = (bytes[offset + 20] as number) ^ 0x01 // a body byte of record 10
    fs.writeFileSync(segment, bytes)
    const failure = await open(dir).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(LogCorruptionError)
    expect((failure as LogCorruptionError).file).toBe(segment)
    expect((failure as LogCorruptionError).offset).toBe(offset)
    expect((failure as Error).message).toContain(`${segment}@${offset}`)
    const repaired = await open(dir, { repair: true })
    expect(bodiesOf(repaired)).toEqual(Array.from({ length: 9 }, (_, i) => record(i + 1)))
    expect(repaired.report.repaired.length).toBe(1)
    expect(repaired.report.repaired[0]).toContain(`${segment}@${offset}`)
    expect(repaired.log.append(record(10))).toBe(10)
    await repaired.log.close()
    const after = await open(dir)
    expect(bodiesOf(after).length).toBe(10)
    expect(after.report.repaired).toEqual([])
    await after.log.close()
  })

  test('damage in an older segment is corruption; repair deletes the later segments', async () => {
    const dir = temporaryDirectory()
    const writer = await open(dir, { segmentBytes: 4 * KiB })
    for (let i = 1; i <= 300; i++) writer.log.append(record(i))
    await writer.log.close()
    const files = segmentFiles(dir)
    const second = `${dir}/${files[1]}`
    const bytes = fs.readFileSync(second)
    bytes[100] = (bytes[100] as number) ^ 0xff
    fs.writeFileSync(second, bytes)
    expect(open(dir, { segmentBytes: 4 * KiB })).rejects.toThrow(LogCorruptionError)
    const repaired = await open(dir, { segmentBytes: 4 * KiB, repair: true })
    const kept = bodiesOf(repaired)
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => record(i + 1)))
    expect(repaired.report.repaired.length).toBe(files.length - 1)
    await repaired.log.close()
  })

  test('a missing segment (LSN gap) is corruption', async () => {
    const dir = temporaryDirectory()
    const writer = await open(dir, { segmentBytes: 4 * KiB })
    for (let i = 1; i <= 300; i++) writer.log.append(record(i))
    await writer.log.close()
    fs.rmSync(`${dir}/${segmentFiles(dir)[1]}`)
    expect(open(dir, { segmentBytes: 4 * KiB })).rejects.toThrow('next starts at')
  })

  test('log.state names what must exist: a deleted checkpoint, newest segment or a cut at a record boundary is refused', async () => {
    const write = async () => {
      const dir = temporaryDirectory()
      const { log } = await open(dir, { segmentBytes: 4 * KiB })
      for (let i = 1; i <= 100; i++) log.append(record(i))
      await until(() => log.durableLsn === 100)
      log.checkpoint(Array.from({ length: 100 }, (_, i) => record(i + 1)))
      for (let i = 101; i <= 110; i++) log.append(record(i))
      await log.close()
      return dir
    }
    const damaged = async (damage: (dir: string) => void, message: string) => {
      const dir = await write()
      damage(dir)
      await expect(open(dir, { segmentBytes: 4 * KiB })).rejects.toThrow(message)
      const repaired = await open(dir, { segmentBytes: 4 * KiB, repair: true })
      expect(repaired.report.repaired.join('\n')).toContain(message)
      await repaired.log.close()
    }
    const newest = (dir: string) => `${dir}/${segmentFiles(dir).at(-1)}`
    await damaged((dir) => fs.rmSync(`${dir}/${fs.readdirSync(dir).find((name) => name.endsWith('.ckp'))}`), 'checkpoint at lsn 100 is missing')
    await damaged((dir) => fs.rmSync(newest(dir)), 'segment is missing')
    await damaged((dir) => {
      let end = 0
      for (let lsn = 101; lsn <= 109; lsn++) end += frameHeaderBytes + Buffer.byteLength(record(lsn))
      fs.truncateSync(newest(dir), end) // exactly after record 109
    }, 'segment truncated to')
    const clean = await write()
    const reopened = await open(clean, { segmentBytes: 4 * KiB })
    expect(bodiesOf(reopened).length).toBe(110)
    await reopened.log.close()
  })
})

describe('a flush on the thread, reported at once (IoBackend.writeDurableNow)', () => {
  /** fsIo with a writeDurableNow that writes and syncs synchronously, or declines, or fails, as told. */
  function onThreadIo(): { io: TestFsIo; calls: { now: number; async: number }; mode: { now: 'write' | 'decline' | 'fail' } } {
    const inner = fsIo()
    const calls = { now: 0, async: 0 }
    const mode: { now: 'write' | 'decline' | 'fail' } = { now: 'write' }
    const io: TestFsIo = {
      ...inner,
      writeDurable: (fd, bytes, offset, waitingIdle) => {
        calls.async++
        return inner.writeDurable(fd, bytes, offset, waitingIdle)
      },
      writeDurableNow: (fd, bytes, offset) => {
        calls.now++
        if (mode.now === 'decline') return false
        if (mode.now === 'fail') throw new IoError('EIO', `fdatasync fd=${fd}`)
        fs.writeSync(fd, bytes, 0, bytes.length, offset)
        fs.fdatasyncSync(fd)
        return true
      },
    }
    return { io, calls, mode }
  }

  test('an idle log\'s flush is durable and reported before flushIfIdle returns; recovery reads it', async () => {
    const dir = temporaryDirectory()
    const { io, calls, mode } = onThreadIo()
    const { log } = await open(dir, { io })
    const durable: number[] = []
    log.onDurable = (lsn) => durable.push(lsn)
    await until(() => log.durableLsn === log.appendedLsn) // the format record of a new log
    const before = { ...calls }
    const first = log.append(record(1))
    log.flushIfIdle()
    expect(log.durableLsn).toBe(first)
    expect(durable.at(-1)).toBe(first)
    expect(calls.now - before.now).toBe(1)
    // Declined: the same flush goes the asynchronous way, and is durable only once that settles.
    mode.now = 'decline'
    await nextTurn() // the flush that finished scheduled a turn; after it the log is idle again
    const second = log.append(record(2))
    log.flushIfIdle()
    expect(log.durableLsn).toBe(first)
    await until(() => log.durableLsn === second)
    expect(calls.async - before.async).toBe(1)
    await log.close()
    const reopened = await open(dir)
    expect(bodiesOf(reopened).slice(-2)).toEqual([record(1), record(2)])
    await reopened.log.close()
  })

  test('a failed one is fatal: nothing of it or after it is ever reported durable', async () => {
    const { io, mode } = onThreadIo()
    const { log } = await open(temporaryDirectory(), { io })
    const durable: number[] = []
    const fatal: Error[] = []
    log.onDurable = (lsn) => durable.push(lsn)
    log.onFatal = (error) => fatal.push(error)
    await until(() => log.durableLsn === log.appendedLsn)
    const durableBefore = log.durableLsn
    mode.now = 'fail'
    log.append(record(1))
    log.flushIfIdle()
    expect(fatal.map((error) => error.message)).toEqual([expect.stringContaining('EIO')])
    mode.now = 'write'
    log.append(record(2))
    log.flushIfIdle()
    await nextTurn()
    await nextTurn()
    expect(durable).toEqual([])
    expect(log.durableLsn).toBe(durableBefore)
    await log.close()
  })
})

describe('failures', () => {
  test('a failed fsync is fatal and nothing more is reported durable', async () => {
    const io = new FaultyIo(fsIo())
    const { log } = await open(temporaryDirectory(), { io })
    const durable: number[] = []
    const fatal: Error[] = []
    log.onDurable = (lsn) => durable.push(lsn)
    log.onFatal = (error) => fatal.push(error)
    log.append(record(1))
    await until(() => log.durableLsn === 1)
    io.failSyncs(1)
    log.append(record(2))
    await until(() => fatal.length === 1)
    expect(fatal[0]?.message).toContain('EIO')
    log.append(record(3))
    await nextTurn()
    await nextTurn()
    expect(durable).toEqual([1])
    expect(log.durableLsn).toBe(1)
    await log.close()
  })

  test('ENOSPC on the next segment: diskFull, and appends into the reserve still become durable', async () => {
    const segmentBytes = 8 * KiB
    const io = new FaultyIo(fsIo(), { enospcAfterBytes: 3 * segmentBytes })
    const dir = temporaryDirectory()
    const { log } = await open(dir, { io, segmentBytes })
    const fatal: Error[] = []
    log.onFatal = (error) => fatal.push(error)
    let lsn = 0
    while (!log.diskFull) lsn = log.append(record(lsn + 1))
    await until(() => log.durableLsn === lsn)
    // Pushes are refused by the host now; acks keep working in the reserve of the current segment.
    const ack = (n: number) => `{"op":"ack","id":${n}}`
    for (let i = 0; i < 20; i++) lsn = log.append(ack(i))
    await until(() => log.durableLsn === lsn)
    expect(fatal).toEqual([])
    expect(log.diskFull).toBe(true)
    await log.close()
    const reopened = await open(dir, { segmentBytes })
    expect(reopened.report.lastLsn).toBe(lsn)
    await reopened.log.close()
  })

  test('diskFull clears once space comes back', async () => {
    const segmentBytes = 8 * KiB
    const io = new FaultyIo(fsIo(), { enospcAfterBytes: 2 * segmentBytes })
    const { log } = await open(temporaryDirectory(), { io, segmentBytes })
    let lsn = 0
    while (!log.diskFull) lsn = log.append(record(lsn + 1))
    io.enospcAfterBytes = Number.POSITIVE_INFINITY
    lsn = log.append('{"op":"ack"}')
    await until(() => log.durableLsn === lsn)
    expect(log.diskFull as boolean).toBe(false)
    await log.close()
  })
})

describe('checkpoint', () => {
  test('a covered file whose background unlink fails is reported, the log keeps working, and the next checkpoint deletes it', async () => {
    const segmentBytes = 8 * KiB
    const dir = temporaryDirectory()
    const io = fsIo()
    let unlinkFails = true
    const removeInBackground = io.removeInBackground
    io.removeInBackground = (path: string) =>
      unlinkFails ? Promise.reject(new IoError('EIO', `unlink ${path}`)) : removeInBackground(path)
    const { log } = await open(dir, { io, segmentBytes, flushBytesMax: 4 * KiB })
    let lsn = 0
    for (let n = 0; n < 2000; n++) lsn = log.append(record(n + 1))
    await until(() => log.durableLsn === lsn)
    const segmentsBefore = segmentFiles(dir).length
    expect(segmentsBefore).toBeGreaterThan(2)
    log.checkpoint(['{"state":1}'])
    await log.checkpointSettled()
    await until(() => log.lastCheckpointError !== null)
    expect(String(log.lastCheckpointError)).toContain('EIO: unlink')
    expect(segmentFiles(dir).length).toBe(segmentsBefore) // nothing was deleted
    lsn = log.append(record(1000))
    await until(() => log.durableLsn === lsn)
    unlinkFails = false
    log.checkpoint(['{"state":2}'])
    await log.checkpointSettled()
    await log.close() // awaits the unlinks
    expect(segmentFiles(dir).length).toBeLessThan(segmentsBefore)
    const reopened = await open(dir, { segmentBytes })
    expect(bodiesOf(reopened)).toEqual(['{"state":2}'])
    await reopened.log.close()
  })

  test('push/ack workload: disk stays bounded and recovery sees exactly the live set', async () => {
    const segmentBytes = 8 * KiB
    const dir = temporaryDirectory()
    const { log } = await open(dir, { segmentBytes, flushBytesMax: 4 * KiB })
    const live = new Map<number, string>()
    let id = 0
    let checkpoints = 0
    let diskBytesMax = 0
    for (let round = 0; round < 300; round++) {
      for (let i = 0; i < 20; i++) {
        id++
        live.set(id, `{"op":"push","id":${id}}`)
        log.append(live.get(id) as string)
      }
      for (const done of [...live.keys()].slice(0, 20)) {
        live.delete(done)
        log.append(`{"op":"ack","id":${done}}`)
      }
      if (log.needsCheckpoint()) {
        log.checkpoint([...live.values()])
        checkpoints++
      }
      await nextTurn()
      diskBytesMax = Math.max(diskBytesMax, log.diskBytes())
    }
    expect(checkpoints).toBeGreaterThan(3)
    // floor (4 segments) + the active segment + a spare + rotation slack + checkpoints
    expect(diskBytesMax).toBeLessThan(10 * segmentBytes)
    const state = [...live.values()]
    log.checkpoint(state)
    await log.close()
    expect(log.diskBytes()).toBeLessThan(4 * segmentBytes)
    const reopened = await open(dir, { segmentBytes })
    expect(reopened.report.checkpointLsn).toBe(log.appendedLsn)
    expect(reopened.report.recordsReplayed).toBe(0)
    expect(bodiesOf(reopened)).toEqual(state)
    expect(reopened.log.append('{"next":1}')).toBe(log.appendedLsn + 1)
    await reopened.log.close()
  })

  test('a torn newest checkpoint falls back to the previous one', async () => {
    const dir = temporaryDirectory()
    const first = await open(dir, { segmentBytes: 4 * KiB })
    for (let i = 1; i <= 10; i++) first.log.append(record(i))
    first.log.checkpoint(['{"state":"at 10"}'])
    for (let i = 11; i <= 20; i++) first.log.append(record(i))
    await first.log.close()
    // A later, damaged checkpoint (as if renamed before its bytes were on disk).
    fs.writeFileSync(`${dir}/checkpoint-0000000000000015.ckp`, new Uint8Array(100).fill(7))
    const reopened = await open(dir, { segmentBytes: 4 * KiB })
    expect(reopened.report.checkpointLsn).toBe(10)
    expect(bodiesOf(reopened)).toEqual(['{"state":"at 10"}', ...Array.from({ length: 10 }, (_, i) => record(i + 11))])
    await reopened.log.close()
  })
})

describe('crash simulation', () => {
  const seed = seedFromEnv()
  test(`torn write at a random point: every durable LSN recovered, in order (SEED=${seed})`, async () => {
    const random = prng(seed)
    let tornTails = 0
    let checkpointsRecovered = 0
    for (let run = 0; run < 25; run++) {
      const checkpointBodies = new Map<number, string[]>([[0, []]])
      const dir = temporaryDirectory()
      const segmentBytes = 4 * KiB
      const appended: string[] = []
      let durable = 0
      let lives = 1 + random.int(3)
      while (lives-- > 0) {
        const io = new FaultyIo(fsIo(), { seed: random.int(2 ** 31) })
        const opened = await open(dir, { io, segmentBytes, flushBytesMax: 1 * KiB })
        const recovered = bodiesOf(opened)
        const checkpointed = opened.report.checkpointLsn
        // Everything reported durable came back, in order, and nothing beyond what was appended.
        expect(opened.report.lastLsn).toBeGreaterThanOrEqual(durable)
        expect(opened.report.lastLsn).toBeLessThanOrEqual(appended.length)
        const tail = recovered.slice(recovered.length - opened.report.recordsReplayed)
        expect(tail).toEqual(appended.slice(checkpointed, opened.report.lastLsn))
        expect(recovered.slice(0, recovered.length - tail.length)).toEqual(checkpointBodies.get(checkpointed) ?? ['missing'])
        if (opened.report.truncatedTail !== null) tornTails++
        if (checkpointed > 0) checkpointsRecovered++
        appended.length = opened.report.lastLsn
        durable = opened.report.lastLsn
        const { log } = opened
        log.onDurable = (lsn) => {
          durable = Math.max(durable, lsn)
        }
        io.tearWrite(1 + random.int(30))
        while (!io.crashed) {
          for (let burst = random.int(20); burst >= 0; burst--) {
            const body = `{"life":${lives},"n":${appended.length + 1},"pad":"${'y'.repeat(random.int(200))}"}`
            appended.push(body)
            expect(log.append(body)).toBe(appended.length)
          }
          if (random.int(8) === 0) {
            checkpointBodies.set(log.appendedLsn, appended.slice(-3))
            log.checkpoint(appended.slice(-3))
          }
          await nextTurn()
        }
      }
      const final = await open(dir, { segmentBytes })
      expect(final.report.lastLsn).toBeGreaterThanOrEqual(durable)
      await final.log.close()
    }
    expect(tornTails).toBeGreaterThan(0)
    expect(checkpointsRecovered).toBeGreaterThan(0)
  })
})

test('an empty or oversized body is refused without taking an LSN; huge records get their own segment', async () => {
  const dir = temporaryDirectory()
  const { log } = await open(dir, { segmentBytes: 4 * KiB, flushBytesMax: 4 * KiB })
  expect(() => log.append('')).toThrow()
  expect(log.append('{"a":1}')).toBe(1)
  const big = `{"big":"${'z'.repeat(10 * KiB)}"}`
  expect(log.append(big)).toBe(2)
  expect(log.append('{"b":2}')).toBe(3)
  await log.close()
  const reopened = await open(dir, { segmentBytes: 4 * KiB })
  expect(bodiesOf(reopened)).toEqual(['{"a":1}', big, '{"b":2}'])
  await reopened.log.close()
})

test('a full disk with the reserve used up fails with ENOSPC and never reports those records durable', async () => {
  const segmentBytes = 4 * KiB
  const io = new FaultyIo(fsIo(), { enospcAfterBytes: 2 * segmentBytes })
  const { log } = await open(temporaryDirectory(), { io, segmentBytes })
  const fatal: Error[] = []
  log.onFatal = (error) => fatal.push(error)
  let lsn = 0
  while (fatal.length === 0 && lsn < 10_000) lsn = log.append(record(lsn + 1))
  expect(fatal[0]?.message).toContain('ENOSPC')
  await log.close()
  expect(log.durableLsn).toBeLessThan(lsn)
})

test('interval mode: a failed timed sync is fatal', async () => {
  const io = new FaultyIo(fsIo())
  const { log } = await open(temporaryDirectory(), { io, fsync: { kind: 'interval', intervalMs: 1 } })
  const fatal: Error[] = []
  log.onFatal = (error) => fatal.push(error)
  io.failSyncs(1)
  log.append(record(1))
  await until(() => fatal.length === 1)
  expect(fatal[0]?.message).toContain('EIO')
  await log.close()
})

describe('reservation for completion records (STYLE habit 12)', () => {
  const segmentBytes = 8 * KiB
  const ack = (n: number) => `{"t":"a","i":${n},"c":1700000000000}` // 36 bytes + 20 of header

  async function fullDisk(reservationBytes: number) {
    const dir = temporaryDirectory()
    const io = new FaultyIo(fsIo(), { disk: { dir, capacityBytes: 96 * KiB } })
    const log = (await open(dir, { io, segmentBytes })).log as SegmentedLog
    const fatal: Error[] = []
    log.onFatal = (error) => fatal.push(error)
    log.setReservation(reservationBytes)
    expect(log.diskFull).toBe(false)
    let lsn = 0
    while (!log.diskFull) lsn = log.append(record(lsn + 1)) // "pushes" until refused
    await until(() => log.durableLsn === lsn)
    return { dir, io, log, fatal, lsn }
  }

  test('on a full disk the reserve file gives its space to segments: every reserved ack gets through', async () => {
    const reserved = 32 * KiB
    const full = await fullDisk(reserved)
    const { dir, io, log, fatal } = full
    let lsn = full.lsn
    expect(log.reserveFileBytes).toBe(reserved)
    // Acks worth the whole reservation, far more than the slack of one segment.
    const acks = Math.floor(reserved / 52)
    for (let i = 0; i < acks; i++) {
      lsn = log.append(ack(i))
      if (i % 50 === 0) await until(() => log.durableLsn === lsn)
    }
    await until(() => log.durableLsn === lsn)
    expect(fatal).toEqual([])
    expect(log.reserveFileBytes).toBeLessThan(reserved)
    expect(io.diskUsedBytes()).toBeLessThanOrEqual(96 * KiB)
    await log.close()
    const reopened = await open(dir, { segmentBytes })
    expect(reopened.report.lastLsn).toBe(lsn)
    expect(fs.existsSync(`${dir}/${reserveFileName}`)).toBe(true)
    await reopened.log.close()
  })

  test('without a reservation the same acks run out of disk: the log fails with ENOSPC, never acks silently', async () => {
    const { log, fatal } = await fullDisk(0)
    for (let i = 0; i < 600 && fatal.length === 0; i++) log.append(ack(i))
    expect(fatal[0]?.message).toContain('ENOSPC')
    await log.close()
  })

  test('a reservation the disk cannot back sets diskFull; lowering it clears diskFull', async () => {
    const dir = temporaryDirectory()
    const io = new FaultyIo(fsIo(), { disk: { dir, capacityBytes: 64 * KiB } })
    const log = (await open(dir, { io, segmentBytes })).log as SegmentedLog
    log.setReservation(40 * KiB)
    expect(log.diskFull).toBe(false)
    log.setReservation(80 * KiB)
    expect(log.diskFull).toBe(true)
    expect(log.reserveFileBytes).toBeLessThan(80 * KiB)
    log.setReservation(8 * KiB)
    expect(log.diskFull).toBe(false)
    expect(log.reserveFileBytes).toBeLessThanOrEqual(40 * KiB)
    await log.close()
  })

  test('a checkpoint that does not fit fails before writing, loses nothing, and is retried later', async () => {
    const { dir, log, fatal } = await fullDisk(16 * KiB)
    let lsn = log.appendedLsn
    const state = Array.from({ length: 2000 }, (_, i) => record(i)) // far bigger than the free space
    log.checkpoint(state)
    await until(() => log.lastCheckpointError !== null)
    expect(log.lastCheckpointError?.message).toContain('ENOSPC')
    expect(log.needsCheckpoint()).toBe(false) // not retried on every request
    lsn = log.append(ack(1))
    await until(() => log.durableLsn === lsn)
    expect(fatal).toEqual([])
    expect(fs.readdirSync(dir).filter((name) => name.startsWith('checkpoint'))).toEqual([])
    await log.close()
    const reopened = await open(dir, { segmentBytes })
    expect(reopened.report.lastLsn).toBe(lsn)
    expect(reopened.report.checkpointLsn).toBe(0)
    await reopened.log.close()
  })

  test('a failure before the host set onFatal is still reported when it does', async () => {
    const io = new FaultyIo(fsIo())
    const { log } = await open(temporaryDirectory(), { io })
    io.failSyncs(1)
    log.append(record(1))
    await nextTurn()
    await nextTurn()
    const fatal: Error[] = []
    log.onFatal = (error) => fatal.push(error)
    await until(() => fatal.length === 1)
    expect(fatal[0]?.message).toContain('EIO')
    await log.close()
  })
})

describe('segments sized to the filesystem (issue 8, item 10)', () => {
  const fsSpace = (totalBytes: number) => ({ totalBytes, availableBytes: totalBytes })

  test('an 8 MiB filesystem gets 512 KiB segments instead of 32 MiB, and says so', async () => {
    const dir = temporaryDirectory()
    const io = new FaultyIo(fsIo(), { filesystemSpace: fsSpace(8 * 1024 * KiB) })
    const opened = await open(dir, { io, segmentBytes: 32 * 1024 * KiB })
    expect(opened.report.notes).toEqual(['segments of 512 KiB instead of 32 MiB: the filesystem holds 8 MiB'])
    expect(fs.statSync(`${dir}/${segmentFiles(dir)[0]}`).size).toBe(512 * KiB)
    await opened.log.close()
  })

  test('two shards on it share it; a big filesystem keeps the configured size', async () => {
    const dir = temporaryDirectory()
    const opened = await openShardLog({
      dir, io: new FaultyIo(fsIo(), { filesystemSpace: fsSpace(8 * 1024 * KiB) }), fsync: { kind: 'always' },
      segmentBytes: 32 * 1024 * KiB, flushBytesMax: 64 * KiB, repair: false, shardsOnFilesystem: 2,
    })
    expect(fs.statSync(`${dir}/${segmentFiles(dir)[0]}`).size).toBe(256 * KiB)
    await opened.log.close()
    const big = await open(temporaryDirectory(), { io: new FaultyIo(fsIo(), { filesystemSpace: fsSpace(2 ** 40) }) })
    expect(big.report.notes).toEqual([])
    await big.log.close()
    const unknown = await open(temporaryDirectory(), { io: new FaultyIo(fsIo(), { filesystemSpace: fsSpace(0) }) })
    expect(unknown.report.notes).toEqual([]) // a filesystem that reports no size is not refused
    await unknown.log.close()
  })

  test('a filesystem too small for two minimal segments per shard is refused with the reason', async () => {
    const dir = temporaryDirectory()
    const io = new FaultyIo(fsIo(), { filesystemSpace: fsSpace(32 * KiB) })
    await expect(open(dir, { io })).rejects.toThrow('the filesystem holding the data directory is 32 KiB; 1 shard(s) need at least 64 KiB')
    expect(segmentFiles(dir)).toEqual([])
  })
})
