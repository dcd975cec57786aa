/**
 * A test IoBackend over node:fs files in a temporary directory. Named memory-io for the harness
 * layout, but it uses real files, so tests can look at and damage what storage wrote. What it leaves
 * out: real preallocation (allocate extends the file sparsely with zeros) and async kernel IO
 * (operations run synchronously and complete on a later macrotask, so a flush is really "in flight").
 * The rare synchronous file operations are the production ones (io/files.ts). Power loss is modelled
 * by faulty-io.ts on top of any backend.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { IoError } from '../../src/io/backend.ts'
import * as files from '../../src/io/files.ts'
import type { IoBackend } from '../../src/io/backend.ts'

export type TestFsIo = IoBackend & {
  /** Descriptors opened and not closed yet. */
  readonly openFds: Set<number>
  /** Closes every descriptor still open (after a simulated crash). */
  closeAll(): void
  /**
   * The process died: operations not yet performed never are, and never settle. (A write in flight
   * at a crash must not land after the next life has read the file.)
   */
  halt(): void
}

const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function ioError(error: unknown): IoError {
  const code = (error as NodeJS.ErrnoException).code ?? 'EIO'
  return new IoError(code, (error as Error).message)
}

function writeAll(fd: number, bytes: Uint8Array, offset: number): void {
  let done = 0
  while (done < bytes.length) {
    done += fs.writeSync(fd, bytes, done, bytes.length - done, offset + done)
  }
}

export function testFsIo(): TestFsIo {
  const openFds = new Set<number>()
  let halted = false
  const run = async (operation: () => void): Promise<void> => {
    await nextMacrotask()
    if (halted) await new Promise<never>(() => {})
    try {
      operation()
    } catch (error) {
      throw ioError(error)
    }
  }
  return {
    name: 'test-fs',
    fallbackReason: null,
    openFds,
    open(file: string, create: boolean): number {
      try {
        const flags = fs.constants.O_RDWR | (create ? fs.constants.O_CREAT : 0)
        const fd = fs.openSync(file, flags, 0o644)
        openFds.add(fd)
        return fd
      } catch (error) {
        throw ioError(error)
      }
    },
    allocate(fd: number, offset: number, bytes: number): void {
      const size = fs.fstatSync(fd).size
      if (offset + bytes > size) fs.ftruncateSync(fd, offset + bytes)
    },
    writeDurable: (fd, bytes, offset) =>
      run(() => {
        writeAll(fd, bytes, offset)
        fs.fdatasyncSync(fd)
      }),
    write: (fd, bytes, offset) => run(() => writeAll(fd, bytes, offset)),
    sync: (fd) => run(() => fs.fdatasyncSync(fd)),
    // A hint with nothing to model here; fstat still rejects a bad descriptor as the real one does.
    startWriteback: (fd) => run(() => void fs.fstatSync(fd)),
    close(fd: number): void {
      if (!openFds.delete(fd)) return
      fs.closeSync(fd)
    },
    halt(): void {
      halted = true
    },
    closeAll(): void {
      for (const fd of openFds) fs.closeSync(fd)
      openFds.clear()
    },
    shutdown(): void {},
    readFile: files.readWholeFile,
    readDirectory: files.listNames,
    readAt: files.readAt,
    removeDirectory: files.removeEmptyDirectory,
    makeDirectory: files.makeDirectory,
    rename: files.renameFile,
    remove: files.removeFile,
    removeInBackground: files.removeFileInBackground,
    truncate: files.truncateFile,
    fileSize: files.fileSize,
    syncNow: files.syncFileNow,
    syncDirectory: files.syncDirectory,
    filesystemSpace: files.filesystemSpace,
  }
}

/** A fresh temporary directory for one test. */
export function temporaryDirectory(prefix = 'flashq-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}
