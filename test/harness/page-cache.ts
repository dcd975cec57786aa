/**
 * A model of the kernel page cache under POSIX durability rules, for power-loss tests. It shadows
 * every operation a FaultyIo passes to its real backend for files under `root`:
 *  - file contents and sizes become durable only through a sync of that file (fdatasync/fsync,
 *    or a write with RWF_DSYNC) — and only the operations issued before the sync started;
 *  - a create, rename or unlink becomes durable only through an fsync of its parent directory; a
 *    directory that is not durably named in its parent loses everything inside it.
 * At a power loss (`materialize`) the files under root are rewritten from the durable state plus
 * what the policy keeps of the unsynced operations:
 *  - 'drop': nothing unsynced survives (the strictest reading of POSIX);
 *  - 'random': each 4 KiB page of each unsynced write survives or not on its own (torn, reordered
 *    multi-page writes), each unsynced resize survives or not, and each directory keeps a random
 *    prefix of its unsynced name changes (journalled metadata keeps order);
 *  - a function deciding page by page (to stage one exact tear), name changes dropped.
 * ext4, XFS and btrfs are usually kinder (a later fsync tends to carry earlier metadata along); the
 * model is not, so a missing sync shows.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import type { prng } from '../../src/base/prng.ts'

export const modelPageBytes = 4096

/** What a sync is for, judged by the file's name; FaultyIo can turn one category into a no-op. */
export type SyncCategory = 'data' | 'segment' | 'checkpoint' | 'manifest' | 'state' | 'other'

export type PagePolicyInput = {
  /** File name (base name) the inode has now. */
  name: string
  /** Index of the write among the file's unsynced operations, and whether it is the last write. */
  writeIndex: number
  lastWrite: boolean
  /** Page within this write (0 = first), of `pageCount`. */
  page: number
  pageCount: number
}
export type PowerLossPolicy = 'drop' | 'random' | ((page: PagePolicyInput) => boolean)

type Pending = ({ kind: 'write'; offset: number; bytes: Uint8Array } | { kind: 'size'; bytes: number }) & {
  /** Order of the operation among all of the file's operations. */
  seq: number
}

type Inode = { name: string; durable: Uint8Array; pending: Pending[]; recorded: number }

type Entry = { kind: 'file'; inode: Inode } | { kind: 'dir'; dir: Directory }

type NameChange =
  | { kind: 'link'; name: string; entry: Entry }
  | { kind: 'unlink'; name: string }
  | { kind: 'rename'; from: string; to: string }

type Directory = { current: Map<string, Entry>; durable: Map<string, Entry>; pending: NameChange[] }

type Random = ReturnType<typeof prng>

export class PageCache {
  readonly root: string
  readonly #top: Directory
  readonly #fds = new Map<number, Inode>()

  constructor(root: string) {
    this.root = path.resolve(root)
    this.#top = loadDirectory(this.root)
  }

  openFds(): number[] {
    return [...this.#fds.keys()]
  }

  opened(fd: number, file: string): void {
    const place = this.#place(file)
    if (place === null) return
    let entry = place.dir.current.get(place.name)
    if (entry === undefined) {
      entry = { kind: 'file', inode: { name: place.name, durable: new Uint8Array(0), pending: [], recorded: 0 } }
      place.dir.current.set(place.name, entry)
      place.dir.pending.push({ kind: 'link', name: place.name, entry })
    }
    if (entry.kind === 'file') this.#fds.set(fd, entry.inode)
  }

  closed(fd: number): void {
    this.#fds.delete(fd)
  }

  wrote(fd: number, bytes: Uint8Array, offset: number): void {
    const inode = this.#fds.get(fd)
    inode?.pending.push({ kind: 'write', offset, bytes: bytes.slice(), seq: inode.recorded++ })
  }

  resized(fd: number, bytes: number): void {
    const inode = this.#fds.get(fd)
    inode?.pending.push({ kind: 'size', bytes, seq: inode.recorded++ })
  }

  /** Marks where a sync starting now ends: it covers the operations issued before it. */
  pendingMark(fd: number): number {
    return this.#fds.get(fd)?.recorded ?? 0
  }

  /** A sync that began at `covered` (pendingMark) completed. */
  synced(fd: number, covered: number): void {
    const inode = this.#fds.get(fd)
    if (inode === undefined) return
    let done = 0
    while (done < inode.pending.length && (inode.pending[done] as Pending).seq < covered) done++
    inode.durable = applyAll(inode.durable, inode.pending.splice(0, done))
  }

  syncCategory(fd: number): SyncCategory {
    const name = this.#fds.get(fd)?.name ?? ''
    if (name.endsWith('.seg')) return 'data'
    if (name.startsWith('spare-')) return 'segment'
    if (name.startsWith('checkpoint-')) return 'checkpoint'
    if (name.startsWith('manifest')) return 'manifest'
    if (name.startsWith('log.state')) return 'state'
    return 'other'
  }

  madeDirectory(dir: string): void {
    const relative = path.relative(this.root, path.resolve(dir))
    if (relative.startsWith('..') || relative === '') return
    let current = this.#top
    for (const name of relative.split(path.sep)) {
      let entry = current.current.get(name)
      if (entry === undefined) {
        entry = { kind: 'dir', dir: { current: new Map(), durable: new Map(), pending: [] } }
        current.current.set(name, entry)
        current.pending.push({ kind: 'link', name, entry })
      }
      if (entry.kind !== 'dir') return
      current = entry.dir
    }
  }

  renamed(from: string, to: string): void {
    const source = this.#place(from)
    const target = this.#place(to)
    if (source === null || target === null) return
    if (source.dir !== target.dir) throw new Error('page-cache model: rename across directories')
    const entry = source.dir.current.get(source.name)
    if (entry === undefined) return
    source.dir.current.delete(source.name)
    source.dir.current.set(target.name, entry)
    source.dir.pending.push({ kind: 'rename', from: source.name, to: target.name })
    if (entry.kind === 'file') entry.inode.name = target.name
  }

  removed(file: string): void {
    const place = this.#place(file)
    if (place === null || !place.dir.current.has(place.name)) return
    place.dir.current.delete(place.name)
    place.dir.pending.push({ kind: 'unlink', name: place.name })
  }

  syncedDirectory(dir: string): void {
    const directory = this.#directory(dir)
    if (directory === null) return
    directory.durable = new Map(directory.current)
    directory.pending = []
  }

  /** Rewrites the files under root to what survives a power loss now. */
  materialize(policy: PowerLossPolicy, random: Random): void {
    for (const name of fs.readdirSync(this.root)) fs.rmSync(path.join(this.root, name), { recursive: true, force: true })
    const contents = new Map<Inode, Uint8Array>()
    const write = (dir: Directory, at: string) => {
      for (const [name, entry] of survivingNames(dir, policy, random)) {
        const target = path.join(at, name)
        if (entry.kind === 'dir') {
          fs.mkdirSync(target)
          write(entry.dir, target)
          continue
        }
        let bytes = contents.get(entry.inode)
        if (bytes === undefined) {
          bytes = survivingContent(entry.inode, policy, random)
          contents.set(entry.inode, bytes)
        }
        fs.writeFileSync(target, bytes)
      }
    }
    write(this.#top, this.root)
  }

  #place(file: string): { dir: Directory; name: string } | null {
    const dir = this.#directory(path.dirname(file))
    return dir === null ? null : { dir, name: path.basename(file) }
  }

  #directory(dir: string): Directory | null {
    const relative = path.relative(this.root, path.resolve(dir))
    if (relative.startsWith('..')) return null
    let current = this.#top
    if (relative === '') return current
    for (const name of relative.split(path.sep)) {
      const entry = current.current.get(name)
      if (entry === undefined || entry.kind !== 'dir') return null
      current = entry.dir
    }
    return current
  }
}

/** What is on disk now counts as durable (the model starts after a clean mount). */
function loadDirectory(dir: string): Directory {
  const entries = new Map<string, Entry>()
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name)
    if (fs.statSync(file).isDirectory()) entries.set(name, { kind: 'dir', dir: loadDirectory(file) })
    else entries.set(name, { kind: 'file', inode: { name, durable: new Uint8Array(fs.readFileSync(file)), pending: [], recorded: 0 } })
  }
  return { current: entries, durable: new Map(entries), pending: [] }
}

function survivingNames(dir: Directory, policy: PowerLossPolicy, random: Random): Map<string, Entry> {
  const names = new Map(dir.durable)
  const kept = policy === 'random' ? random.int(dir.pending.length + 1) : 0
  for (const change of dir.pending.slice(0, kept)) {
    if (change.kind === 'link') names.set(change.name, change.entry)
    else if (change.kind === 'unlink') names.delete(change.name)
    else {
      const entry = names.get(change.from)
      names.delete(change.from)
      if (entry !== undefined) names.set(change.to, entry)
    }
  }
  return names
}

function survivingContent(inode: Inode, policy: PowerLossPolicy, random: Random): Uint8Array {
  let bytes = inode.durable
  const lastWrite = inode.pending.findLastIndex((op) => op.kind === 'write')
  inode.pending.forEach((op, index) => {
    if (op.kind === 'size') {
      if (policy === 'random' && random.int(2) === 1) bytes = resize(bytes, op.bytes)
      return
    }
    if (policy === 'drop') return
    const firstPage = Math.floor(op.offset / modelPageBytes)
    const endPage = Math.ceil((op.offset + op.bytes.length) / modelPageBytes)
    for (let page = firstPage; page < endPage; page++) {
      const input = { name: inode.name, writeIndex: index, lastWrite: index === lastWrite, page: page - firstPage, pageCount: endPage - firstPage }
      const keep = policy === 'random' ? random.int(2) === 1 : policy(input)
      if (!keep) continue
      const start = Math.max(op.offset, page * modelPageBytes)
      const end = Math.min(op.offset + op.bytes.length, (page + 1) * modelPageBytes)
      if (end > bytes.length) bytes = resize(bytes, end)
      bytes.set(op.bytes.subarray(start - op.offset, end - op.offset), start)
    }
  })
  return bytes
}

function applyAll(durable: Uint8Array, ops: Pending[]): Uint8Array {
  let bytes = durable
  for (const op of ops) {
    if (op.kind === 'size') {
      bytes = resize(bytes, op.bytes)
      continue
    }
    const end = op.offset + op.bytes.length
    if (end > bytes.length) bytes = resize(bytes, end)
    bytes.set(op.bytes, op.offset)
  }
  return bytes
}

function resize(bytes: Uint8Array, size: number): Uint8Array {
  if (size === bytes.length) return bytes
  const resized = new Uint8Array(size)
  resized.set(bytes.subarray(0, Math.min(size, bytes.length)))
  return resized
}
