/**
 * The data directory manifest: `<dataDir>/manifest.json`. Owns the facts fixed when a data directory
 * is created — the format version and the shard count (job ids and queue placement depend on it).
 * Written once, atomically (temp file, fsync, rename, fsync of the directory).
 */
import * as path from 'node:path'
import type { IoBackend } from '../io/backend.ts'
import { makeDurableDirectory, writeFileAtomic } from './directory.ts'
import { ManifestError } from './errors.ts'
import { frameVersion } from './frame.ts'

export const manifestFileName = 'manifest.json'
/** Version of the data directory layout (manifest + shard directories + frame format). 2: v2 frames; format 1 is still read. */
export const formatVersion = 2

export type Manifest = {
  formatVersion: number
  shardCount: number
  /** ISO-8601 creation time, for operators. */
  createdAt: string
  /** Frame codec version of the logs in this directory (frame.ts). */
  frameVersion: number
}

/**
 * Opens the manifest of `dataDir`, creating the directory and the manifest on first start.
 * Throws ManifestError (one-line reason) when the directory was made with another shard count or
 * format, or when the manifest is unreadable.
 */
export async function openManifest(
  io: IoBackend,
  dataDir: string,
  shardCount: number,
  nowMs = Date.now(),
): Promise<Manifest> {
  if (!Number.isInteger(shardCount) || shardCount < 1) {
    throw new ManifestError(`shard count must be a positive integer, got ${shardCount}`)
  }
  makeDurableDirectory(io, dataDir)
  const file = path.join(dataDir, manifestFileName)
  let text: string | null = null
  try {
    text = new TextDecoder().decode(io.readFile(file))
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') {
      throw new ManifestError(`cannot read ${file}: ${(error as Error).message}`)
    }
  }
  if (text === null) {
    const manifest: Manifest = {
      formatVersion,
      shardCount,
      createdAt: new Date(nowMs).toISOString(),
      frameVersion,
    }
    await writeFileAtomic(io, file, `${JSON.stringify(manifest, null, 2)}\n`)
    return manifest
  }
  const manifest = parseManifest(file, text)
  if (manifest.shardCount !== shardCount) {
    throw new ManifestError(
      `data directory ${dataDir} was created with ${manifest.shardCount} shards; ` +
        `start with --shards ${manifest.shardCount} (or use a new --data-dir)`,
    )
  }
  return manifest
}

function parseManifest(file: string, text: string): Manifest {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new ManifestError(`${file} is not valid JSON; restore it or use a new --data-dir`)
  }
  const record = value as Partial<Manifest> | null
  if (
    typeof record !== 'object' || record === null ||
    typeof record.formatVersion !== 'number' || typeof record.shardCount !== 'number' ||
    !Number.isInteger(record.shardCount) || record.shardCount < 1
  ) {
    throw new ManifestError(`${file} lacks formatVersion/shardCount; restore it or use a new --data-dir`)
  }
  if (record.formatVersion > formatVersion) {
    throw new ManifestError(
      `${file} has format version ${record.formatVersion}; this flashq reads up to ${formatVersion}`,
    )
  }
  return {
    formatVersion: record.formatVersion,
    shardCount: record.shardCount,
    createdAt: String(record.createdAt ?? ''),
    frameVersion: typeof record.frameVersion === 'number' ? record.frameVersion : 1,
  }
}
