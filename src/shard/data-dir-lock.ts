/**
 * One server per data directory. Two would append to the same segments, each replaying the other's
 * half-written frames as torn tails, and acknowledged jobs would be lost; nothing stopped a second
 * `flashq --data-dir X` (a manual start beside the systemd unit, say) before this.
 *
 * The lock is flock(2) on `<dataDir>/flashq.lock`, held by the open file until the process ends. The
 * kernel drops it however the process ends, kill -9 and power loss included, so there is never a
 * stale lock to remove by hand (a pid file would leave one). The file holds the holder's pid, read
 * only for the error message.
 */
import { closeSync, constants, existsSync, ftruncateSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { errnoWouldBlock, flockExclusive, flockNoWait, loadLibc } from '../io/libc.ts'

export const dataDirLockFileName = 'flashq.lock'

/**
 * Takes the data directory's lock for the rest of the process, or throws naming the holder. Returns a
 * warning when the lock cannot be taken at all (no libc, a filesystem without flock), null otherwise.
 */
export function lockDataDir(dataDir: string): string | null {
  const path = join(dataDir, dataDirLockFileName)
  const libc = loadLibc()
  if (libc === null) return `${path}: flock is unavailable (no libc.so.6), so a second server on this data directory would not be refused`
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644)
  const errno = libc.flock(fd, flockExclusive | flockNoWait)
  if (errno === errnoWouldBlock) {
    closeSync(fd)
    throw new Error(`data directory ${dataDir} is in use by another flashq server${holderOf(path)}; stop it first, or use another --data-dir`)
  }
  if (errno !== 0) {
    closeSync(fd)
    return `${path}: flock failed (errno ${errno}), so a second server on this data directory would not be refused`
  }
  ftruncateSync(fd, 0)
  writeSync(fd, `${process.pid}\n`, 0)
  return null // fd stays open, never closed: the lock lasts as long as the process
}

function holderOf(path: string): string {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? ` (pid ${pid})` : ''
  } catch {
    return ''
  }
}

/**
 * Moves the lock file into `toDir` (POST /storage/restore swaps whole data directories). A rename
 * keeps the file, and flock belongs to the open file, so the lock moves with it; a new lock file
 * would conflict with our own open one.
 */
export function moveDataDirLock(fromDir: string, toDir: string): void {
  const from = join(fromDir, dataDirLockFileName)
  if (existsSync(from)) renameSync(from, join(toDir, dataDirLockFileName))
}
