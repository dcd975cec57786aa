/**
 * Online backups of a data directory, and restoring one into an empty directory (spec §5.7).
 *
 * A backup is a POSIX ustar archive (readable with `tar -tf`) holding:
 *
 *   manifest.json
 *   shard-NN/checkpoint-<lsn>.ckp     the newest complete checkpoint of each shard (if any)
 *   shard-NN/<first lsn>.seg          every segment recovery would read after that checkpoint,
 *                                     cut after its last valid frame (the preallocated zeros are left out)
 *
 * Consistency: each shard's files are opened together and each segment is read up to its last
 * complete frame, so each shard's backup is a prefix of its log: every record that was durable when
 * the backup started is in it (a 2xx before the backup ⇒ restored), and recovery treats the cut as
 * the end of the log. Files that a concurrent checkpoint deletes stay readable through the open
 * descriptors. The caller forces a checkpoint first so the archive stays small. `log.state` is left
 * out: the restored directory has none until its first start writes it (recovery then checks nothing
 * it cannot know).
 *
 * Every file operation goes through the IoBackend, like the rest of storage, so restores are made
 * durable the same way (file fsync, then the directory's) and a fault-injecting backend sees them.
 */
import type { IoBackend } from '../io/backend.ts'
import { IoError } from '../io/backend.ts'
import { checkpointFileName, join, listDirectory, segmentFileName } from './directory.ts'
import { decodeFrame } from './frame.ts'
import { manifestFileName } from './manifest.ts'
import * as path from 'node:path'

const blockBytes = 512
/** Largest piece copied at once while extracting. */
const copyBytesMax = 1024 * 1024
/** The only names an archive may hold (also what restore accepts). */
const memberPattern = /^(?:manifest\.json|shard-\d{2,}\/(?:\d{16}\.seg|checkpoint-\d{16}\.ckp))$/
/** A listing that keeps losing files to concurrent checkpoints is retried this often. */
const openAttemptsMax = 10

export class BackupError extends Error {
  override name = 'BackupError'
}

type Member = { name: string; fd: number; kind: 'whole' | 'segment' }

/** The archive of `dataDir` as a stream of chunks. `shardDirs` are the shard directory names. */
export async function* backupArchive(io: IoBackend, dataDir: string, shardDirs: string[]): AsyncGenerator<Uint8Array> {
  const members = openMembers(io, dataDir, shardDirs)
  try {
    for (const member of members) {
      const whole = readWhole(io, member.fd)
      const bytes = member.kind === 'segment' ? validPrefix(whole) : whole
      yield tarHeader(member.name, bytes.length)
      yield bytes
      const padding = (blockBytes - (bytes.length % blockBytes)) % blockBytes
      if (padding > 0) yield new Uint8Array(padding)
      io.close(member.fd)
      member.fd = -1
    }
    yield new Uint8Array(2 * blockBytes)
  } finally {
    for (const member of members) if (member.fd >= 0) io.close(member.fd)
  }
}

/** Opens every member up front; retried when a concurrent checkpoint deleted a listed file first. */
function openMembers(io: IoBackend, dataDir: string, shardDirs: string[]): Member[] {
  for (let attempt = 1; ; attempt++) {
    const members: Member[] = []
    const open = (name: string, file: string, kind: Member['kind']) => members.push({ name, fd: io.open(file, false), kind })
    try {
      open(manifestFileName, join(dataDir, manifestFileName), 'whole')
      for (const shardDir of shardDirs) {
        const dir = join(dataDir, shardDir)
        const listing = listDirectory(io, dir)
        const checkpointLsn = listing.checkpoints.at(-1) ?? 0
        if (checkpointLsn > 0) {
          const name = checkpointFileName(checkpointLsn)
          open(`${shardDir}/${name}`, join(dir, name), 'whole')
        }
        for (const first of segmentsAfter(listing.segments, checkpointLsn)) {
          const name = segmentFileName(first)
          open(`${shardDir}/${name}`, join(dir, name), 'segment')
        }
      }
      return members
    } catch (error) {
      for (const member of members) io.close(member.fd)
      if (!(error instanceof IoError && error.code === 'ENOENT') || attempt >= openAttemptsMax) throw error
    }
  }
}

/** Recovery's rule: a segment whose successor starts at or before checkpointLsn + 1 holds only checkpointed records. */
export function segmentsAfter(segments: number[], checkpointLsn: number): number[] {
  return segments.filter((_, i) => {
    const next = segments[i + 1]
    return next === undefined || next > checkpointLsn + 1
  })
}

function readWhole(io: IoBackend, fd: number): Uint8Array {
  const bytes = new Uint8Array(io.fileSize(fd))
  let done = 0
  while (done < bytes.length) {
    const read = io.readAt(fd, bytes.subarray(done), done)
    if (read === 0) break
    done += read
  }
  return bytes.subarray(0, done)
}

/** The segment up to the end of its last complete frame (a frame being written is left out). */
function validPrefix(bytes: Uint8Array): Uint8Array {
  let offset = 0
  for (;;) {
    const frame = decodeFrame(bytes, offset)
    if (typeof frame === 'string') break
    offset = frame.end
  }
  return bytes.subarray(0, offset)
}

// ── ustar ──────────────────────────────────────────────────────────────────────────────────────

const encoder = new TextEncoder()

function tarHeader(name: string, size: number): Uint8Array {
  const header = new Uint8Array(blockBytes)
  const put = (offset: number, length: number, text: string) => header.set(encoder.encode(text).subarray(0, length), offset)
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0')
  put(0, 100, name)
  put(100, 8, octal(0o644, 8))
  put(108, 8, octal(0, 8))
  put(116, 8, octal(0, 8))
  put(124, 12, octal(size, 12))
  put(136, 12, octal(Math.floor(Date.now() / 1000), 12))
  put(148, 8, '        ')
  put(156, 1, '0')
  put(257, 6, 'ustar\0')
  put(263, 2, '00')
  let sum = 0
  for (const byte of header) sum += byte
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `)
  return header
}

type ParsedHeader = { name: string; size: number } | 'end'

function parseHeader(block: Uint8Array): ParsedHeader {
  if (block.every((byte) => byte === 0)) return 'end'
  const text = (offset: number, length: number) => {
    const field = block.subarray(offset, offset + length)
    const zero = field.indexOf(0)
    return new TextDecoder().decode(zero < 0 ? field : field.subarray(0, zero))
  }
  const stored = parseInt(text(148, 8).trim(), 8)
  let sum = 0
  for (let i = 0; i < blockBytes; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] as number)
  if (stored !== sum) throw new BackupError('not a flashq backup: bad tar header checksum')
  if (text(257, 5) !== 'ustar') throw new BackupError('not a flashq backup: not a ustar archive')
  const type = text(156, 1)
  if (type !== '0' && type !== '') throw new BackupError(`not a flashq backup: unexpected entry type '${type}'`)
  const prefix = text(345, 155)
  const name = prefix === '' ? text(0, 100) : `${prefix}/${text(0, 100)}`
  return { name, size: parseInt(text(124, 12).trim(), 8) }
}

// ── restore ────────────────────────────────────────────────────────────────────────────────────

export type RestoreReport = { files: number; bytes: number; shards: number }

/** Where a restore reads the archive from (a file the caller opened). */
export type ArchiveReader = (target: Uint8Array, offset: number) => number

/**
 * Extracts the backup read by `readArchive` into `dataDir`, which must be absent or empty. Every file
 * and directory is fsynced; on any error the partly restored files are removed again.
 */
export async function restoreArchive(io: IoBackend, readArchive: ArchiveReader, dataDir: string): Promise<RestoreReport> {
  let existing: string[] = []
  try {
    existing = io.readDirectory(dataDir)
  } catch (error) {
    if (!(error instanceof IoError && error.code === 'ENOENT')) throw error
  }
  if (existing.length > 0) throw new BackupError(`${dataDir} is not empty; restore into a new or empty data directory`)
  const createdDirs: string[] = []
  const makeDir = (dir: string) => {
    if (io.makeDirectory(dir)) {
      createdDirs.push(dir)
      io.syncDirectory(path.dirname(dir))
    }
  }
  makeDir(dataDir)
  const written: string[] = []
  try {
    const report = await extract(io, readArchive, dataDir, written, makeDir)
    for (const dir of new Set(written.map((file) => path.dirname(file)))) io.syncDirectory(dir)
    return report
  } catch (error) {
    for (const file of written) io.remove(file)
    for (const dir of createdDirs.reverse()) if (dir !== dataDir) io.removeDirectory(dir)
    throw error
  }
}

async function extract(
  io: IoBackend, readArchive: ArchiveReader, dataDir: string, written: string[], makeDir: (dir: string) => void,
): Promise<RestoreReport> {
  const block = new Uint8Array(blockBytes)
  let position = 0
  let bytes = 0
  const shards = new Set<string>()
  const readExactly = (length: number, target = new Uint8Array(length)) => {
    let done = 0
    while (done < length) {
      const read = readArchive(target.subarray(done, length), position + done)
      if (read === 0) throw new BackupError('not a flashq backup, or a truncated one: the archive ends inside an entry')
      done += read
    }
    position += length
    return target.subarray(0, length)
  }
  for (;;) {
    const header = parseHeader(readExactly(blockBytes, block))
    if (header === 'end') break
    if (!memberPattern.test(header.name)) throw new BackupError(`not a flashq backup: unexpected file '${header.name}'`)
    const target = join(dataDir, header.name)
    makeDir(path.dirname(target))
    if (written.includes(target)) throw new BackupError(`not a flashq backup: '${header.name}' appears twice`)
    const out = io.open(target, true)
    written.push(target)
    try {
      for (let done = 0; done < header.size; ) {
        const piece = readExactly(Math.min(header.size - done, copyBytesMax))
        await io.write(out, piece, done)
        done += piece.length
      }
      io.syncNow(out)
    } finally {
      io.close(out)
    }
    bytes += header.size
    if (header.name.includes('/')) shards.add(header.name.slice(0, header.name.indexOf('/')))
    position += (blockBytes - (header.size % blockBytes)) % blockBytes
  }
  if (!written.some((file) => path.basename(file) === manifestFileName)) throw new BackupError('not a flashq backup: no manifest.json')
  return { files: written.length, bytes, shards: shards.size }
}
