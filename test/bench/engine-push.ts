/**
 * One PUSH through the engine alone, hot: JSON.parse of a W1-shaped line, parseCommand,
 * Engine.execute and drainOutput, in a loop (memory mode, no socket, no host). The server's store
 * does this per push; w1-perf.ts shows what the same work costs between real socket reads.
 *
 *   bun test/bench/engine-push.ts [--pushes 400000] [--warmup 50000]
 *
 * For a profile with JavaScript names: `BUN_JSC_useJITDump=1 BUN_JSC_jitDumpDirectory=<dir> perf
 * record -k mono -g bun test/bench/engine-push.ts`, then test/bench/jit-perf-map.ts on the dump.
 */
import { Engine } from '../../src/engine/engine.ts'
import { parseCommand } from '../../src/protocol/commands.ts'

const args = process.argv.slice(2)
const count = (flag: string, fallback: number) => {
  const at = args.indexOf(flag)
  const value = at >= 0 ? Number(args[at + 1]) : fallback
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag}: a positive integer, not '${args[at + 1]}'`)
  return value
}
const pushes = count('--pushes', 400_000)
const warmup = count('--warmup', 50_000)
/** Pushes per clock millisecond, so jobs share timestamps as a busy server's do. */
const pushesPerMs = 64

const engine = new Engine({ shardIndex: 0, shardCount: 1, recordsEnabled: false })
const pad = 'x'.repeat(80)
let nowMs = 1_700_000_000_000
let token = 1
let replies = 0

function push(n: number): void {
  const parsed = parseCommand(JSON.parse(`{"cmd":"PUSH","queue":"w1","data":{"n":${n},"pad":"${pad}"}}`))
  if (!parsed.ok) throw new Error(parsed.error)
  engine.execute(parsed.command, token++, nowMs, 200)
  replies += engine.drainOutput().replies.length
  if (n % pushesPerMs === 0) nowMs++
}

for (let n = 0; n < warmup; n++) push(n)
const startedAt = performance.now()
for (let n = 0; n < pushes; n++) push(n)
const micros = ((performance.now() - startedAt) * 1000) / pushes
if (replies !== warmup + pushes) throw new Error(`${replies} replies for ${warmup + pushes} pushes`)
console.log(`engine PUSH, hot: ${micros.toFixed(2)} µs per push (${pushes} after ${warmup}; ${engine.core.jobs.size} jobs held)`)
