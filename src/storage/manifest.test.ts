import { expect, test } from 'bun:test'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { temporaryDirectory } from '../../test/harness/memory-io.ts'
import { ManifestError } from './errors.ts'
import { formatVersion, manifestFileName, openManifest } from './manifest.ts'

test('created on first start, reopened with the same shard count', () => {
  const dir = path.join(temporaryDirectory(), 'data')
  const created = openManifest(dir, 4, 1_700_000_000_000)
  expect(created).toEqual({ formatVersion, shardCount: 4, createdAt: '2023-11-14T22:13:20.000Z', frameVersion: 1 })
  expect(openManifest(dir, 4)).toEqual(created)
})

test('a different shard count is refused with a one-line reason', () => {
  const dir = temporaryDirectory()
  openManifest(dir, 4)
  expect(() => openManifest(dir, 8)).toThrow(ManifestError)
  expect(() => openManifest(dir, 8)).toThrow(`data directory ${dir} was created with 4 shards; start with --shards 4`)
})

test('an unreadable or newer manifest is refused', () => {
  const dir = temporaryDirectory()
  fs.writeFileSync(path.join(dir, manifestFileName), '{not json')
  expect(() => openManifest(dir, 1)).toThrow(ManifestError)
  fs.writeFileSync(path.join(dir, manifestFileName), JSON.stringify({ formatVersion: 99, shardCount: 1 }))
  expect(() => openManifest(dir, 1)).toThrow('format version 99')
  expect(() => openManifest(temporaryDirectory(), 0)).toThrow(ManifestError)
})
