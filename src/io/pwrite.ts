/**
 * The fallback IoBackend: blocking pwrite + fdatasync through node:fs. It runs inside a shard
 * Worker, so blocking that thread is acceptable; the Promise API matches the io_uring backend so
 * storage cannot tell them apart. Errors are thrown as IoError and surface as rejections.
 */
import { fdatasyncSync, writeSync } from 'node:fs'
import { type FilesystemSpace, type IoBackend, IoError } from './backend.ts'
import { allocateRange } from './allocate.ts'
import { ioErrorFromException } from './errno.ts'
import * as files from './files.ts'

export class PwriteBackend implements IoBackend {
  readonly name = 'pwrite'
  constructor(readonly fallbackReason: string | null) {}

  open(path: string, create: boolean): number {
    return files.openFile(path, create)
  }

  allocate(fd: number, offset: number, bytes: number): void {
    allocateRange(fd, offset, bytes)
  }

  async writeDurable(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
    writeAll(fd, bytes, offset)
    syncData(fd)
  }

  async write(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
    writeAll(fd, bytes, offset)
  }

  async sync(fd: number): Promise<void> {
    syncData(fd)
  }

  close(fd: number): void {
    files.closeFile(fd)
  }

  shutdown(): void {}

  readFile(path: string): Uint8Array {
    return files.readWholeFile(path)
  }
  readAt(fd: number, target: Uint8Array, offset: number): number {
    return files.readAt(fd, target, offset)
  }
  readDirectory(dir: string): string[] {
    return files.listNames(dir)
  }
  removeDirectory(dir: string): void {
    files.removeEmptyDirectory(dir)
  }
  makeDirectory(dir: string): boolean {
    return files.makeDirectory(dir)
  }
  rename(from: string, to: string): void {
    files.renameFile(from, to)
  }
  remove(path: string): void {
    files.removeFile(path)
  }
  truncate(fd: number, bytes: number): void {
    files.truncateFile(fd, bytes)
  }
  fileSize(fd: number): number {
    return files.fileSize(fd)
  }
  syncNow(fd: number): void {
    files.syncFileNow(fd)
  }
  syncDirectory(dir: string): void {
    files.syncDirectory(dir)
  }
  filesystemSpace(path: string): FilesystemSpace {
    return files.filesystemSpace(path)
  }
}

/** pwrite until every byte is written; a short write is retried, so the real error (ENOSPC) shows. */
function writeAll(fd: number, bytes: Uint8Array, offset: number): void {
  let done = 0
  try {
    while (done < bytes.length) {
      const written = writeSync(fd, bytes, done, bytes.length - done, offset + done)
      if (written === 0) throw new IoError('EIO', `pwrite wrote 0 of ${bytes.length - done} bytes`)
      done += written
    }
  } catch (error) {
    throw ioErrorFromException(error, `pwrite fd=${fd} at ${offset + done}`)
  }
}

function syncData(fd: number): void {
  try {
    fdatasyncSync(fd)
  } catch (error) {
    throw ioErrorFromException(error, `fdatasync fd=${fd}`)
  }
}
