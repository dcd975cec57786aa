/**
 * The rare, synchronous file operations both backends share (opens, names, sizes, directory syncs,
 * whole-file reads at recovery, filesystem space). Blocking is fine: they run at start-up, at segment
 * rotation and after checkpoints, never per record. Errors become IoError with the errno name.
 */
import * as fs from 'node:fs'
import type { FilesystemSpace } from './backend.ts'
import { ioErrorFromException } from './errno.ts'

function attempt<T>(what: string, operation: () => T): T {
  try {
    return operation()
  } catch (error) {
    throw ioErrorFromException(error, what)
  }
}

export function openFile(path: string, create: boolean): number {
  const flags = fs.constants.O_RDWR | (create ? fs.constants.O_CREAT : 0)
  return attempt(`open ${path}`, () => fs.openSync(path, flags, 0o644))
}

export function closeFile(fd: number): void {
  attempt(`close ${fd}`, () => fs.closeSync(fd))
}

export function readWholeFile(path: string): Uint8Array {
  return attempt(`read ${path}`, () => new Uint8Array(fs.readFileSync(path)))
}

export function readAt(fd: number, target: Uint8Array, offset: number): number {
  return attempt(`read fd=${fd} at ${offset}`, () => fs.readSync(fd, target, 0, target.length, offset))
}

export function removeEmptyDirectory(dir: string): void {
  attempt(`rmdir ${dir}`, () => {
    if (fs.existsSync(dir)) fs.rmdirSync(dir)
  })
}

export function listNames(dir: string): string[] {
  return attempt(`readdir ${dir}`, () => fs.readdirSync(dir))
}

/** True when `dir` did not exist and was created (its parent must then be synced to keep it). */
export function makeDirectory(dir: string): boolean {
  return attempt(`mkdir ${dir}`, () => {
    if (fs.existsSync(dir)) return false
    fs.mkdirSync(dir, { recursive: true })
    return true
  })
}

export function renameFile(from: string, to: string): void {
  attempt(`rename ${from} → ${to}`, () => fs.renameSync(from, to))
}

export function removeFile(path: string): void {
  attempt(`unlink ${path}`, () => fs.rmSync(path, { force: true }))
}

/** removeFile on another thread (Bun's file-system pool): see IoBackend.removeInBackground. */
export async function removeFileInBackground(path: string): Promise<void> {
  try {
    await fs.promises.rm(path, { force: true })
  } catch (error) {
    throw ioErrorFromException(error, `unlink ${path}`)
  }
}

export function truncateFile(fd: number, bytes: number): void {
  attempt(`ftruncate fd=${fd} to ${bytes}`, () => fs.ftruncateSync(fd, bytes))
}

export function fileSize(fd: number): number {
  return attempt(`fstat fd=${fd}`, () => fs.fstatSync(fd).size)
}

/** fsync of the file behind `fd`, data and metadata, blocking. */
export function syncFileNow(fd: number): void {
  attempt(`fsync fd=${fd}`, () => fs.fsyncSync(fd))
}

/** fsync of a directory: creations, renames and deletions in it become durable. */
export function syncDirectory(dir: string): void {
  attempt(`fsync directory ${dir}`, () => {
    const fd = fs.openSync(dir, 'r')
    try {
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
  })
}

/** statfs of the filesystem holding `path`: what an unprivileged process may still allocate. */
export function filesystemSpace(path: string): FilesystemSpace {
  return attempt(`statfs ${path}`, () => {
    const stats = fs.statfsSync(path)
    return { availableBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize }
  })
}
