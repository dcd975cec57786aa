import { afterEach, describe, expect, test } from 'bun:test'
import * as fs from 'node:fs'
import { KiB, MiB } from '../base/units.ts'
import { FaultyIo } from '../../test/harness/faulty-io.ts'
import { IoError } from '../io/backend.ts'
import { temporaryDirectory, testFsIo } from '../../test/harness/memory-io.ts'
import type { TestFsIo } from '../../test/harness/memory-io.ts'
import { CheckpointEncoder, decodeCheckpoint, encodeCheckpoint } from './checkpoint.ts'
import { checkpointAllocateAheadBytes, checkpointWritebackBytes, openShardLog } from './log.ts'
import type { ShardLogOptions } from './types.ts'

const text = new TextDecoder()
const bodies = Array.from({ length: 2000 }, (_, n) => `{"t":"j","i":${n},"d":"${'x'.repeat(n % 50)}"}`)

/** Encodes `bodies` with one `fill` per call until it reports done: the pieces (trailer last) and the calls. */
function encodeInPieces(lsn: number, fill: (encoder: CheckpointEncoder, iterator: Iterator<string>) => boolean) {
  const iterator = bodies[Symbol.iterator]()
  const encoder = new CheckpointEncoder(lsn)
  const pieces: Uint8Array[] = []
  let calls = 0
  for (let done = false; !done; calls++) {
    done = fill(encoder, iterator)
    pieces.push(encoder.take().slice())
  }
  pieces.push(encoder.trailer())
  return { pieces, calls }
}

describe('CheckpointEncoder', () => {
  test('a deadline in the past still encodes a few bodies per call, and the pieces make the same file', () => {
    const { pieces, calls } = encodeInPieces(42, (encoder, iterator) => encoder.fill(iterator, 1024 * KiB, 0))
    // Stopped by the clock, not by the bytes: every call made progress and none took everything.
    expect(calls).toBeGreaterThan(100)
    expect(calls).toBeLessThan(bodies.length)
    const file = Buffer.concat(pieces)
    expect(Buffer.from(encodeCheckpoint(42, bodies)).equals(file)).toBe(true)
    const decoded = decodeCheckpoint(file)
    if (typeof decoded === 'string') throw new Error(decoded)
    expect(decoded.lsn).toBe(42)
    expect(decoded.bodies.map((body) => text.decode(body))).toEqual(bodies)
  })

  test('yieldNow ends a call within a few bodies, and every call still makes progress', () => {
    const { pieces, calls } = encodeInPieces(7, (encoder, iterator) => encoder.fill(iterator, 1024 * KiB, Infinity, () => true))
    // No deadline and room for every body: only yieldNow can have cut the calls this short.
    expect(calls).toBeGreaterThanOrEqual(bodies.length / 8)
    expect(calls).toBeLessThanOrEqual(bodies.length / 4)
    expect(Buffer.from(encodeCheckpoint(7, bodies)).equals(Buffer.concat(pieces))).toBe(true)
  })

  test('a body that writes its own bytes (one writer reused) makes the same file as its text, growing the buffer for a large one', () => {
    const large = `{"big":"${'é'.repeat(700 * KiB)}"}` // beyond the 1 MiB piece and its slack
    const texts = [...bodies.slice(0, 500), large, ...bodies.slice(500, 600)]
    /** Like the engine's job record writer: one object, set to the next body before it is pulled. */
    const writer = {
      current: '',
      bytesMax: () => Buffer.byteLength(writer.current),
      writeTo: (out: Buffer, at: number) => out.write(writer.current, at),
    }
    function* written(): Generator<typeof writer | string> {
      for (const [index, body] of texts.entries()) {
        if (index % 3 === 0) yield body
        else {
          writer.current = body
          yield writer
        }
      }
    }
    const file = encodeCheckpoint(5, written())
    expect(Buffer.from(file).equals(Buffer.from(encodeCheckpoint(5, texts)))).toBe(true)
    const decoded = decodeCheckpoint(file)
    if (typeof decoded === 'string') throw new Error(decoded)
    expect(decoded.bodies.map((body) => text.decode(body))).toEqual(texts)
  })

  test('fill stops once a piece of pieceBytes is pending; take() empties it', () => {
    const iterator = bodies[Symbol.iterator]()
    const encoder = new CheckpointEncoder(1)
    expect(encoder.fill(iterator, 4 * KiB)).toBe(false)
    expect(encoder.pendingBytes).toBeGreaterThanOrEqual(4 * KiB)
    expect(encoder.pendingBytes).toBeLessThan(4 * KiB + 128)
    expect(encoder.take().length).toBeGreaterThanOrEqual(4 * KiB)
    expect(encoder.pendingBytes).toBe(0)
  })
})

describe('a large checkpoint in the log', () => {
  const backends: TestFsIo[] = []
  afterEach(() => {
    for (const io of backends.splice(0)) io.closeAll()
  })

  /** A test-fs backend whose `open` notes the descriptors of checkpoint files being written. */
  function checkpointTrackingIo(): { inner: TestFsIo; io: TestFsIo; checkpointFds: Set<number> } {
    const inner = testFsIo()
    backends.push(inner)
    const checkpointFds = new Set<number>()
    const io: TestFsIo = {
      ...inner,
      open(path: string, create: boolean): number {
        const fd = inner.open(path, create)
        if (path.endsWith('.ckp.tmp')) checkpointFds.add(fd)
        return fd
      },
    }
    return { inner, io, checkpointFds }
  }

  /** A test-fs backend that counts the syncs of checkpoint files and records their writeback ranges. */
  function countingIo(): { io: TestFsIo; checkpointSyncs: () => number; writebacks: [offset: number, bytes: number][] } {
    const { inner, io: tracking, checkpointFds } = checkpointTrackingIo()
    let syncs = 0
    const writebacks: [number, number][] = []
    const io: TestFsIo = {
      ...tracking,
      sync(fd: number): Promise<void> {
        if (checkpointFds.has(fd)) syncs++
        return inner.sync(fd)
      },
      startWriteback(fd: number, offset: number, bytes: number): Promise<void> {
        if (checkpointFds.has(fd)) writebacks.push([offset, bytes])
        return inner.startWriteback(fd, offset, bytes)
      },
    }
    return { io, checkpointSyncs: () => syncs, writebacks }
  }

  const options = (dir: string, io: ShardLogOptions['io']): ShardLogOptions => ({
    dir, io, fsync: { kind: 'always' }, segmentBytes: 64 * KiB, flushBytesMax: 64 * KiB, repair: false,
  })
  /** About 2.5 × checkpointWritebackBytes of records. */
  const bigState = Array.from({ length: Math.ceil((2.5 * checkpointWritebackBytes) / 1000) }, (_, n) => `{"n":${n},"pad":"${'y'.repeat(980)}"}`)

  test('is handed to writeback while it is written, synced once at its end, and recovers whole', async () => {
    expect(checkpointWritebackBytes).toBeLessThanOrEqual(8 * MiB) // the state below stays small for a test
    const dir = temporaryDirectory()
    const { io, checkpointSyncs, writebacks } = countingIo()
    const { log } = await openShardLog(options(dir, io))
    log.append('{"before":1}')
    log.checkpoint(bigState)
    await log.checkpointSettled()
    expect(log.lastCheckpointError).toBeNull()
    // Two writebacks while writing (at 1× and 2× checkpointWritebackBytes), back to back from 0.
    expect(writebacks.length).toBe(2)
    let next = 0
    for (const [offset, bytes] of writebacks) {
      expect(offset).toBe(next)
      expect(bytes).toBeGreaterThanOrEqual(checkpointWritebackBytes)
      next = offset + bytes
    }
    expect(checkpointSyncs()).toBe(1) // the final one: writeback makes nothing durable
    await log.close()
    const reopened = await openShardLog(options(dir, countingIo().io))
    expect(reopened.report.checkpointLsn).toBe(1)
    expect([...reopened.bodies].map((body) => text.decode(body))).toEqual(bigState)
    await reopened.log.close()
  })

  test('is preallocated a step ahead of its writes (not per piece) and cut to its length before the sync', async () => {
    const dir = temporaryDirectory()
    const { inner, io: tracking, checkpointFds } = checkpointTrackingIo()
    const allocations: [offset: number, bytes: number][] = []
    const syncedSizes: number[] = []
    const io: TestFsIo = {
      ...tracking,
      allocate(fd: number, offset: number, bytes: number): void {
        if (checkpointFds.has(fd)) allocations.push([offset, bytes])
        inner.allocate(fd, offset, bytes)
      },
      sync(fd: number): Promise<void> {
        if (checkpointFds.has(fd)) syncedSizes.push(fs.fstatSync(fd).size)
        return inner.sync(fd)
      },
    }
    // Segments of 256 KiB cap the step below checkpointAllocateAheadBytes; 16 KiB pieces.
    const stepBytes = 256 * KiB
    expect(checkpointAllocateAheadBytes).toBeGreaterThan(stepBytes)
    const state = Array.from({ length: 600 }, (_, n) => `{"n":${n},"pad":"${'z'.repeat(980)}"}`) // ~0.6 MB
    const { log } = await openShardLog({ ...options(dir, io), segmentBytes: stepBytes, flushBytesMax: 16 * KiB })
    log.append('{"before":1}')
    log.checkpoint(state)
    await log.checkpointSettled()
    expect(log.lastCheckpointError).toBeNull()
    // ~37 pieces of ~16 KiB, three allocations of one step each: from 0, each from the piece that
    // did not fit in the last (no gap).
    expect(allocations.map(([, bytes]) => bytes)).toEqual([stepBytes, stepBytes, stepBytes])
    let allocatedEnd = 0
    for (const [offset, bytes] of allocations) {
      expect(offset).toBeLessThanOrEqual(allocatedEnd)
      expect(offset + bytes).toBeGreaterThan(allocatedEnd)
      allocatedEnd = offset + bytes
    }
    expect(allocations[0]?.[0]).toBe(0)
    await log.close()
    const file = fs.readdirSync(dir).find((name) => name.endsWith('.ckp')) as string
    const fileBytes = fs.statSync(`${dir}/${file}`).size
    expect(fileBytes).toBeGreaterThan(2 * stepBytes)
    expect(fileBytes).toBeLessThan(3 * stepBytes)
    expect(syncedSizes).toEqual([fileBytes]) // the final sync saw the file cut to its trailer
    const reopened = await openShardLog(options(dir, countingIo().io))
    expect(reopened.report.checkpointLsn).toBe(1)
    expect([...reopened.bodies].map((body) => text.decode(body))).toEqual(state)
    await reopened.log.close()
  })

  test('gives way to the log: a waiting flush starts before its turn, and a ready completion ends the turn', async () => {
    const dir = temporaryDirectory()
    const inner = testFsIo()
    backends.push(inner)
    let durableWrites = 0
    // A completion is always "ready": every checkpoint turn ends after a few bodies.
    const io: TestFsIo = {
      ...inner,
      completionReady: () => true,
      writeDurable(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
        durableWrites++
        return inner.writeDurable(fd, bytes, offset)
      },
    }
    const { log } = await openShardLog(options(dir, io))
    /** Bodies pulled in each event-loop turn of the checkpoint. */
    const turnBodies: number[] = []
    let turnOpen = false
    let appended = false
    let writesWhenAppended = -1
    let flushedBeforeTurn = null as boolean | null // set by the generator, which TS does not follow
    function* state(): Generator<string> {
      for (let n = 0; n < 200; n++) {
        if (!turnOpen) {
          turnOpen = true
          turnBodies.push(0)
          queueMicrotask(() => (turnOpen = false)) // runs once the turn's synchronous work ends
        }
        turnBodies[turnBodies.length - 1]!++
        if (n === 0) {
          // The append runs in the next turn, before the checkpoint's: its flush is scheduled after it.
          setImmediate(() => {
            writesWhenAppended = durableWrites
            log.append('{"during":1}')
            appended = true
          })
        } else if (appended && flushedBeforeTurn === null) {
          flushedBeforeTurn = durableWrites > writesWhenAppended
        }
        yield `{"n":${n}}`
      }
    }
    log.checkpoint(state())
    await log.checkpointSettled()
    expect(log.lastCheckpointError).toBeNull()
    expect(flushedBeforeTurn).toBe(true)
    expect(turnBodies.length).toBeGreaterThanOrEqual(200 / 8)
    expect(Math.max(...turnBodies)).toBeLessThan(8)
    await log.close()
    expect(log.durableLsn).toBe(1)
  })

  test('a failed final sync fails the checkpoint, leaves no file and the log serving', async () => {
    const dir = temporaryDirectory()
    const inner = testFsIo()
    backends.push(inner)
    const io = new FaultyIo(inner)
    const { log } = await openShardLog(options(dir, io))
    log.append('{"before":1}')
    await log.checkpointSettled()
    while (log.durableLsn < 1) await new Promise((resolve) => setImmediate(resolve))
    io.failSyncs(1) // nothing else syncs meanwhile: the first sync of the checkpoint file fails
    log.checkpoint(bigState)
    await log.checkpointSettled()
    expect(log.lastCheckpointError?.message).toContain('fdatasync failed (injected)')
    expect(fs.readdirSync(dir).filter((name) => name.includes('.ckp'))).toEqual([])
    expect(log.checkpointLsn).toBe(0)
    expect(log.append('{"after":1}')).toBe(2)
    await log.close()
    expect(log.durableLsn).toBe(2)
  })

  test('a failed writeback fails the checkpoint too, and leaves no file', async () => {
    const dir = temporaryDirectory()
    const inner = testFsIo()
    backends.push(inner)
    const io: TestFsIo = {
      ...inner,
      startWriteback: () => Promise.reject(new IoError('EIO', 'sync_file_range (injected)')),
    }
    const { log } = await openShardLog(options(dir, io))
    log.append('{"before":1}')
    log.checkpoint(bigState)
    await log.checkpointSettled()
    expect(log.lastCheckpointError?.message).toContain('sync_file_range (injected)')
    expect(fs.readdirSync(dir).filter((name) => name.includes('.ckp'))).toEqual([])
    expect(log.checkpointLsn).toBe(0)
    await log.close()
  })

  test('issues no write, writeback or sync of its own while a log flush is in flight', async () => {
    const dir = temporaryDirectory()
    const { inner, io: tracking, checkpointFds } = checkpointTrackingIo()
    let flushesInFlight = 0
    let flushesDuringCheckpoint = 0
    const checkpointOps: string[] = []
    const issuedDuringFlush: string[] = []
    const checkpointOp = (fd: number, name: string) => {
      if (!checkpointFds.has(fd)) return
      checkpointOps.push(name)
      if (flushesInFlight > 0) issuedDuringFlush.push(name)
    }
    const io: TestFsIo = {
      ...tracking,
      // A flush stays in flight a few event-loop turns, so a checkpoint turn could start IO during it.
      async writeDurable(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
        flushesInFlight++
        if (checkpointFds.size > 0) flushesDuringCheckpoint++
        try {
          await inner.writeDurable(fd, bytes, offset)
          for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve))
        } finally {
          flushesInFlight--
        }
      },
      write(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
        checkpointOp(fd, 'write')
        return inner.write(fd, bytes, offset)
      },
      startWriteback(fd: number, offset: number, bytes: number): Promise<void> {
        checkpointOp(fd, 'writeback')
        return inner.startWriteback(fd, offset, bytes)
      },
      sync(fd: number): Promise<void> {
        checkpointOp(fd, 'sync')
        return inner.sync(fd)
      },
    }
    // 4 KiB pieces: dozens of checkpoint writes, each a chance to meet a flush.
    const { log } = await openShardLog({ ...options(dir, io), flushBytesMax: 4 * KiB })
    log.append('{"before":1}')
    log.checkpoint(bigState)
    let running = true
    void log.checkpointSettled().then(() => (running = false))
    for (let n = 0; running; n++) {
      log.append(`{"during":${n}}`) // a durable push every turn, as a client waiting for acks
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(log.lastCheckpointError).toBeNull()
    expect(flushesDuringCheckpoint).toBeGreaterThan(10)
    expect(checkpointOps.filter((op) => op === 'write').length).toBeGreaterThan(10)
    expect(checkpointOps).toContain('writeback')
    expect(checkpointOps.at(-1)).toBe('sync')
    expect(issuedDuringFlush).toEqual([])
    await log.close()
  })
})
