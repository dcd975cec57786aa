/**
 * Golden files of the log format (test/fixtures/log/v1 and v2, each written once by make-fixtures.ts). If this
 * test fails, the on-disk format changed: follow the change procedure in frame.ts instead of
 * regenerating these files.
 */
import { expect, test } from 'bun:test'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { temporaryDirectory, testFsIo } from '../../test/harness/memory-io.ts'
import { decodeCheckpoint } from './checkpoint.ts'
import { crc32c } from './crc32c.ts'
import { decodeFrame, decodeFrameV1, decodeFrameV2 } from './frame.ts'
import { openShardLog } from './log.ts'

const dir = path.join(import.meta.dir, '..', '..', 'test', 'fixtures', 'log', 'v1')
const segmentFile = path.join(dir, '0000000000000001.seg')
const checkpointFile = path.join(dir, 'checkpoint-0000000000000003.ckp')
const text = new TextDecoder()

// Written out again on purpose rather than imported from make-fixtures.ts: the expectation must not
// move when the generator does.
const records = [
  '{"op":"push","queue":"mail","id":1}',
  '{"op":"push","queue":"mail","id":2,"data":{"to":"ada@example.com"}}',
  '{"op":"push","queue":"sms","id":3,"data":"é✓😀"}',
  '{"op":"ack","id":1}',
  '{"op":"push","queue":"mail","id":4,"priority":5}',
  '{"op":"fail","id":2,"error":"timeout"}',
  '{"op":"push","queue":"sms","id":5,"delay":1000}',
  '{"op":"ack","id":3}',
]
const checkpointBodies = [
  '{"job":{"id":2,"queue":"mail","state":"waiting"}}',
  '{"job":{"id":3,"queue":"sms","state":"waiting"}}',
]

test('the files are byte-for-byte the committed ones', () => {
  expect(crc32c(fs.readFileSync(segmentFile)).toString(16)).toBe('a83f7309')
  expect(crc32c(fs.readFileSync(checkpointFile)).toString(16)).toBe('2a36237f')
  // bodyBytes 35 · crc32c · lsn 1 (two u32, little-endian)
  expect(Buffer.from(fs.readFileSync(segmentFile).subarray(0, 16)).toString('hex')).toBe(
    '230000002c2dcda90100000000000000',
  )
})

test('segment v1 decodes to the exact LSNs and bodies, then zeros', () => {
  const bytes = new Uint8Array(fs.readFileSync(segmentFile))
  expect(bytes.length).toBe(4096)
  let offset = 0
  for (let index = 0; index < records.length; index++) {
    const frame = decodeFrameV1(bytes, offset)
    if (typeof frame === 'string') throw new Error(`frame ${index}: ${frame}`)
    expect(frame.lsn).toBe(index + 1)
    expect(text.decode(frame.body)).toBe(records[index] as string)
    offset = frame.end
  }
  expect(decodeFrameV1(bytes, offset)).toBe('end')
})

test('checkpoint v1 decodes to its LSN and bodies', () => {
  const decoded = decodeCheckpoint(new Uint8Array(fs.readFileSync(checkpointFile)))
  if (typeof decoded === 'string') throw new Error(decoded)
  expect(decoded.lsn).toBe(3)
  expect(decoded.bodies.map((body) => text.decode(body))).toEqual(checkpointBodies)
})

test('recovering the fixture directory yields checkpoint bodies then LSNs 4 … 8', async () => {
  const copy = temporaryDirectory()
  for (const name of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, name), path.join(copy, name))
  const io = testFsIo()
  const opened = await openShardLog({
    dir: copy, io, fsync: { kind: 'always' }, segmentBytes: 4096, flushBytesMax: 4096, repair: false,
  })
  expect([...opened.bodies].map((body) => text.decode(body))).toEqual([...checkpointBodies, ...records.slice(3)])
  expect(opened.report).toEqual({ checkpointLsn: 3, recordsReplayed: 5, lastLsn: 8, truncatedTail: null, repaired: [], notes: [] })
  expect(opened.log.append('{"op":"ack","id":4}')).toBe(9)
  await opened.log.close()
  io.closeAll()
})

// v2 (format 2): the same records, segment frames with syncedBelow, written as two flushes.
const dirV2 = path.join(import.meta.dir, '..', '..', 'test', 'fixtures', 'log', 'v2')
const segmentFileV2 = path.join(dirV2, '0000000000000001.seg')

test('v2 files are byte-for-byte the committed ones; the checkpoint is unchanged from v1', () => {
  expect(crc32c(fs.readFileSync(segmentFileV2)).toString(16)).toBe('79199eec')
  // bodyBytes 35 · crc32c · lsn 1 · lsnHigh with bit 31 set (v2) · syncedBelow 0
  expect(Buffer.from(fs.readFileSync(segmentFileV2).subarray(0, 20)).toString('hex')).toBe(
    '23000000ef2e17bd010000000000008000000000',
  )
  expect(Buffer.compare(fs.readFileSync(path.join(dirV2, 'checkpoint-0000000000000003.ckp')), fs.readFileSync(checkpointFile))).toBe(0)
})

test('segment v2 decodes to the exact LSNs, bodies and syncedBelow of its two flushes, then zeros', () => {
  const bytes = new Uint8Array(fs.readFileSync(segmentFileV2))
  let offset = 0
  let secondFlush = -1
  for (let index = 0; index < records.length; index++) {
    const frame = decodeFrameV2(bytes, offset)
    if (typeof frame === 'string') throw new Error(`frame ${index}: ${frame}`)
    if (index === 4) secondFlush = offset
    expect([frame.lsn, text.decode(frame.body), frame.syncedBelow]).toEqual([index + 1, records[index] as string, index < 4 ? 0 : secondFlush])
    offset = frame.end
  }
  expect(decodeFrame(bytes, offset)).toBe('end')
})

test('recovering the v2 fixture directory yields checkpoint bodies then LSNs 4 … 8', async () => {
  const copy = temporaryDirectory()
  for (const name of fs.readdirSync(dirV2)) fs.copyFileSync(path.join(dirV2, name), path.join(copy, name))
  const io = testFsIo()
  const opened = await openShardLog({
    dir: copy, io, fsync: { kind: 'always' }, segmentBytes: 4096, flushBytesMax: 4096, repair: false,
  })
  expect([...opened.bodies].map((body) => text.decode(body))).toEqual([...checkpointBodies, ...records.slice(3)])
  expect(opened.report).toEqual({ checkpointLsn: 3, recordsReplayed: 5, lastLsn: 8, truncatedTail: null, repaired: [], notes: [] })
  await opened.log.close()
  io.closeAll()
})
