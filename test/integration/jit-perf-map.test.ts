/**
 * test/bench/jit-perf-map.ts against a real JITDump: a Bun process with JSC's JITDump on compiles a
 * hot function, and the map written from its dump must name that function's code.
 */
import { expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type JitCode, liveCode, perfMapText, pidOfDumpName, readJitDump } from '../bench/jit-perf-map.ts'

const hotProgram = `
function hotSpotForPerfMap(n) { let sum = 0; for (let i = 0; i < n; i++) sum += i % 7; return sum }
let total = 0
// Long enough for the JIT threads to finish compiling it before the process exits.
for (let round = 0; round < 200000; round++) total += hotSpotForPerfMap(100)
await Bun.sleep(100)
for (let round = 0; round < 200000; round++) total += hotSpotForPerfMap(100)
console.log(process.pid, total)
`

test('a JITDump of a real Bun process becomes a perf map naming its hot function', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flashq-jitdump-'))
  try {
    const ran = Bun.spawnSync([process.execPath, '-e', hotProgram], {
      stdout: 'pipe', stderr: 'pipe', env: { ...process.env, BUN_JSC_useJITDump: '1', BUN_JSC_jitDumpDirectory: dir },
    })
    expect(ran.exitCode).toBe(0)
    const pid = Number(ran.stdout.toString().split(' ')[0])
    const dumps = readdirSync(dir).filter((name) => name.endsWith('.dump'))
    expect(dumps.length).toBeGreaterThan(0)
    const dump = dumps.find((name) => pidOfDumpName(name) === pid)
    expect(dump).toBeDefined()
    const codes = readJitDump(readFileSync(join(dir, dump as string)))
    const hot = codes.filter((code) => code.name.includes('hotSpotForPerfMap'))
    expect(hot.length).toBeGreaterThan(0)
    for (const code of hot) expect(code.bytes).toBeGreaterThan(0n)
    const map = perfMapText(codes)
    expect(map).toMatch(/^[0-9a-f]+ [0-9a-f]+ .*hotSpotForPerfMap/m)
    expect(map.split('\n').length - 1).toBe(codes.length)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('the process id comes from either JITDump file name, and a file that is not one is refused', () => {
  expect(pidOfDumpName('/tmp/jd/jit-1849-1847.dump')).toBe(1847)
  expect(pidOfDumpName('jit-1847.dump')).toBe(1847)
  expect(() => pidOfDumpName('perf-1847.map')).toThrow(/cannot tell the process id/)
  expect(() => readJitDump(Buffer.alloc(64))).toThrow(/not a JITDump file/)
})

test('where JSC reused code memory the later code keeps the address, and code compiled after the recording is left out', () => {
  const code = (address: number, bytes: number, name: string, timestampNs: number): JitCode => ({ address: BigInt(address), bytes: BigInt(bytes), name, timestampNs: BigInt(timestampNs) })
  const codes = [
    code(0x1000, 0x100, 'old', 1), // freed, then 'new' compiled over its second half
    code(0x2000, 0x80, 'kept', 2),
    code(0x1080, 0x100, 'new', 3),
    code(0x3000, 0x40, 'shutdown', 9),
  ]
  expect(liveCode(codes, 5n).map((one) => one.name)).toEqual(['new', 'kept'])
  expect(liveCode(codes).map((one) => one.name)).toEqual(['new', 'kept', 'shutdown'])
  expect(liveCode(codes, 0n)).toEqual([])
})

test('engine-push.ts: µs per PUSH through the engine alone', () => {
  const ran = Bun.spawnSync([process.execPath, join(import.meta.dir, '..', 'bench', 'engine-push.ts'), '--pushes', '500', '--warmup', '100'], { stdout: 'pipe', stderr: 'pipe' })
  expect(ran.stdout.toString()).toMatch(/^engine PUSH, hot: [\d.]+ µs per push \(500 after 100; 600 jobs held\)$/m)
  expect(ran.exitCode).toBe(0)
})

const perfInstalled = Bun.spawnSync(['perf', '--version'], { stdout: 'ignore', stderr: 'ignore' }).exitCode === 0

// .ci/run installs linux-perf; a machine without it cannot sample, and says so by skipping.
test.skipIf(!perfInstalled)('w1-perf.ts: main-thread µs per push and its kernel and JavaScript parts, floor against flashq', () => {
  const ran = Bun.spawnSync([process.execPath, join(import.meta.dir, '..', 'bench', 'w1-perf.ts'), '--runs', '1', '--warmup-seconds', '0.5', '--seconds', '0.5', '--top', '40', '--by-js', '40', '--base', join(import.meta.dir, '..', '..')], {
    stdout: 'pipe', stderr: 'pipe', timeout: 60_000,
  })
  const out = ran.stdout.toString() + ran.stderr.toString()
  // --base: a third column, here this same checkout.
  expect(out).toMatch(/^\| pushes\/s \| \d+ \| \d+ \| \d+ \|$/m)
  const main = /^\| main thread, all \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$/m.exec(out)
  expect(main).not.toBeNull()
  for (const value of (main as RegExpExecArray).slice(1)) expect(Number(value)).toBeGreaterThan(0)
  expect(out).toMatch(/^\| JS: the socket data handler \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$/m)
  expect(out).toMatch(/^\| kernel: send \(loopback TCP, the client woken\) \| [1-9][\d.]* \| [1-9][\d.]* \| [1-9][\d.]* \|$/m)
  // Each flashq server's JavaScript has names: the JITDump was read and perf used the map. Not a
  // given function: after only 0.5 s one may be back in the interpreter (bun.exe) after a jettison.
  const section = (title: string) => out.split(`\n${title}, µs per push\n`)[1]?.split('\n\n')[0] ?? ''
  for (const server of ['flashq', 'flashq (base)']) {
    expect(section(`${server}: the 40 symbols with the most own time`)).toMatch(/^ *[\d.]*[1-9][\d.]* {2}\(total: JavaScript, JIT code\)$/m)
    // --by-js: samples charged to named JavaScript functions, the rest to the event loop.
    const byJs = section(`${server}: the 40 JavaScript functions that cost the most with the native code they call`)
    expect(byJs).toMatch(/^ *[1-9][\d.]* {2}\(event loop: kernel\)$/m)
    expect(byJs).toMatch(/^ *[\d.]*[1-9][\d.]* {2}[^(\s][^\n]*$/m)
  }
  expect(ran.exitCode).toBe(0)
}, 60_000)

test.skipIf(!perfInstalled)('w4-perf.ts: main-thread µs per job of a W4 loop and the JavaScript functions it is charged to, flashq against the floor', () => {
  const ran = Bun.spawnSync([process.execPath, join(import.meta.dir, '..', 'bench', 'w4-perf.ts'), '--runs', '1', '--rate', '300', '--warmup-seconds', '0.5', '--seconds', '0.5', '--top', '5', '--by-js', '40'], {
    stdout: 'pipe', stderr: 'pipe', timeout: 90_000,
  })
  const out = ran.stdout.toString() + ran.stderr.toString()
  expect(out).toMatch(/^\| push→start p99, ms \| [\d.]+ \| [\d.]+ \|$/m)
  const main = /^\| main thread µs per job \| ([\d.]+) \| ([\d.]+) \|$/m.exec(out)
  expect(main).not.toBeNull()
  for (const value of (main as RegExpExecArray).slice(1)) expect(Number(value)).toBeGreaterThan(0)
  const section = (title: string) => out.split(`\n${title}, µs per job\n`)[1]?.split('\n\n')[0] ?? ''
  expect(section('flashq: the 5 symbols with the most own time')).toMatch(/^ *[\d.]*[1-9][\d.]* {2}\(total: kernel\)$/m)
  // The JITDump was read: flashq's samples are charged to named JavaScript functions, not only to the event loop.
  const byJs = section('flashq: the 40 JavaScript functions that cost the most with the native code they call')
  expect(byJs).toMatch(/^ *[1-9][\d.]* {2}\(event loop: kernel\)$/m)
  expect(byJs).toMatch(/^ *[\d.]*[1-9][\d.]* {2}[^(\s][^\n]*$/m)
  expect(ran.exitCode).toBe(0)
}, 120_000)

