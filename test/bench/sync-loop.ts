/**
 * The same loop as sync-options.c's mode 2, in Bun: 188-byte records written with node:fs's
 * writeSync into a pre-written file, each followed by fdatasyncSync. Shows whether Bun's system
 * calls cost more than C's (docs/storage.md, "W1 against a floor").
 *
 *   bun test/bench/sync-loop.ts <dir> [n]
 */
import { fdatasyncSync, openSync, closeSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'

const recordBytes = 188
const fileBytes = 64 << 20
const unmeasured = 200
const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: bun test/bench/sync-loop.ts <dir> [n]')
const count = Number(process.argv[3] ?? 1500)
const path = join(dir, 'sync-loop')
const fd = openSync(path, 'w+')
const zeros = new Uint8Array(1 << 20)
for (let offset = 0; offset < fileBytes; offset += zeros.length) writeSync(fd, zeros, 0, zeros.length, offset)
fdatasyncSync(fd)
const record = Buffer.alloc(recordBytes, 'x')
const latencyUs = new Float64Array(count)
for (let i = 0, offset = 0; i < count + unmeasured; i++, offset += recordBytes) {
  const started = performance.now()
  writeSync(fd, record, 0, recordBytes, offset)
  fdatasyncSync(fd)
  if (i >= unmeasured) latencyUs[i - unmeasured] = (performance.now() - started) * 1000
}
closeSync(fd)
rmSync(path)
latencyUs.sort()
const at = (q: number) => (latencyUs[Math.min(count - 1, Math.floor(q * count))] ?? 0).toFixed(1)
console.log(`bun pre-written + fdatasync p50 ${at(0.5)} p90 ${at(0.9)} p99 ${at(0.99)} us`)
