/**
 * The fdatasync a durable write for an idle caller does on the calling thread, seen from outside:
 * strace of a child process (durable-write-child.ts) must show the pwrite of the bytes followed by an
 * fdatasync of the same descriptor. The page-cache model of the crash tests sits above the backend,
 * so it cannot see a sync the backend itself leaves out; this can. (Ring writes carry RWF_DSYNC in
 * the SQE, invisible to strace; the conformance suite and power-loss tests cover those.)
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { probeKernelRing, probeUring } from '../../src/io/pick.ts'

const child = join(import.meta.dir, 'durable-write-child.ts')
const dir = mkdtempSync(join(tmpdir(), 'flashq-io-syscalls-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function stracePresent(): string | null {
  const probe = Bun.spawnSync(['strace', '-qq', '-e', 'trace=none', 'true'], { stdout: 'ignore', stderr: 'pipe' })
  return probe.exitCode === 0 ? null : `strace cannot run here: ${probe.stderr.toString().trim() || 'not installed'}`
}

function available(kind: string): string | null {
  if (kind === 'pwrite') return null
  const probe = kind === 'liburing' ? probeUring() : probeKernelRing()
  if (typeof probe === 'string') return probe
  probe.shutdown()
  return null
}

const missing = stracePresent()
describe.skipIf(missing !== null)(`a durable write for an idle caller syncs on the calling thread${missing === null ? '' : ` — SKIPPED: ${missing}`}`, () => {
  for (const kind of ['pwrite', 'liburing', 'uring-raw']) {
    const reason = available(kind)
    test.skipIf(reason !== null)(`${kind}: pwrite of the bytes, then fdatasync of the same fd${reason === null ? '' : ` — SKIPPED: ${reason}`}`, () => {
      const file = join(dir, `${kind}.log`)
      const trace = join(dir, `${kind}.strace`)
      const run = Bun.spawnSync(['strace', '-f', '-qq', '-e', 'trace=pwrite64,fdatasync,fsync', '-o', trace, process.execPath, child, kind, file],
        { stdout: 'pipe', stderr: 'pipe' })
      expect(run.stderr.toString()).toBe('')
      expect(run.exitCode).toBe(0)
      const fd = Number(run.stdout.toString().trim())
      expect(fd).toBeGreaterThan(2)
      const calls = readFileSync(trace, 'utf8').split('\n').map((line) => line.replace(/^\d+\s+/, ''))
      const wrote = calls.findIndex((line) => line.startsWith(`pwrite64(${fd}, "one record\\n", 11, 0) = 11`))
      expect(wrote).toBeGreaterThanOrEqual(0)
      const synced = calls.findIndex((line, index) => index > wrote && /^f(data)?sync\((\d+)\)\s+= 0$/.exec(line)?.[2] === String(fd))
      expect(synced).toBeGreaterThan(wrote)
      expect(readFileSync(file, 'utf8')).toBe('one record\n')
    })
  }
})
