/**
 * The rare, synchronous file and directory operations of IoBackend (opens at start-up, rotation,
 * checkpoints, backups), written once for every real backend: io_uring and pwrite differ only in how
 * they write and sync segment data. The functions themselves are in files.ts.
 */
import type { FilesystemSpace } from './backend.ts'
import * as files from './files.ts'

export abstract class SyncFileOperations {
  open(path: string, create: boolean): number {
    return files.openFile(path, create)
  }
  close(fd: number): void {
    files.closeFile(fd)
  }
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
  removeInBackground(path: string): Promise<void> {
    return files.removeFileInBackground(path)
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
