import { expect, test } from 'bun:test'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { temporaryDirectory, testFsIo } from '../../test/harness/memory-io.ts'
import { ManifestError } from './errors.ts'
import { frameVersion } from './frame.ts'
import { formatVersion, manifestFileName, openManifest } from './manifest.ts'

const io = testFsIo()

test('created on first start, reopened with the same shard count', async () => {
  const dir = path.join(temporaryDirectory(), 'data')
  const created = await openManifest(io, dir, 4, 1_700_000_000_000)
  expect(created).toEqual({ formatVersion, shardCount: 4, createdAt: '2023-11-14T22:13:20.000Z', frameVersion })
  expect(await openManifest(io, dir, 4)).toEqual(created)
})

test('a different shard count is refused with a one-line reason', async () => {
  const dir = temporaryDirectory()
  await openManifest(io, dir, 4)
  await expect(openManifest(io, dir, 8)).rejects.toThrow(ManifestError)
  await expect(openManifest(io, dir, 8)).rejects.toThrow(`data directory ${dir} was created with 4 shards; start with --shards 4`)
})

test('an unreadable or newer manifest is refused', async () => {
  const dir = temporaryDirectory()
  fs.writeFileSync(path.join(dir, manifestFileName), '{not json')
  await expect(openManifest(io, dir, 1)).rejects.toThrow(ManifestError)
  fs.writeFileSync(path.join(dir, manifestFileName), JSON.stringify({ formatVersion: 99, shardCount: 1 }))
  await expect(openManifest(io, dir, 1)).rejects.toThrow('format version 99')
  await expect(openManifest(io, temporaryDirectory(), 0)).rejects.toThrow(ManifestError)
})
