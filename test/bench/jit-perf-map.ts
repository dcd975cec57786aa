/**
 * Names for JavaScriptCore's JIT code in `perf`: converts a JITDump file into /tmp/perf-<pid>.map.
 *
 * `perf record` of a Bun process shows its compiled JavaScript as bare `[JIT] tid N` addresses. JSC
 * can write a JITDump (`BUN_JSC_useJITDump=1`), but `perf inject --jit` ignores it: JSC names the file
 * jit-<tid>-<pid>.dump and perf only reads jit-<pid>.dump. perf report does read a plain
 * /tmp/perf-<pid>.map ("start size name" in hex per line) by itself, so this writes one:
 *
 *   BUN_JSC_useJITDump=1 BUN_JSC_jitDumpDirectory=/tmp/jd bun src/main.ts --memory &
 *   perf record -k mono -e cpu-clock -F 4000 -g -p <pid> -- sleep 4      # under load
 *   bun test/bench/jit-perf-map.ts /tmp/jd/jit-*-<pid>.dump [pid] [--until-ns <CLOCK_MONOTONIC ns>]
 *   perf report --children --sort sym -g none                              # e.g. `JSC-FTL: data#DcRt4n`
 *
 * Inclusive (`--children`) percentages of JS functions are meaningful; call chains through Bun's own
 * native code are not (bun.exe is stripped and its frames often lack frame pointers).
 *
 * A map has no time: where JSC freed code and compiled other code at the same address, only the
 * later name is kept, and `--until-ns` (the end of the recording, CLOCK_MONOTONIC like the dump's
 * timestamps) leaves out code compiled after it, such as a server's shutdown path.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'

/** JITDump record ids (linux tools/perf/Documentation/jitdump-specification.txt). */
const codeLoadRecord = 0
const recordHeaderBytes = 16
/** JIT_CODE_LOAD after its header: pid u32, tid u32, vma u64, code_addr u64, code_size u64, code_index u64, then the name. */
const codeLoadFixedBytes = 40

export type JitCode = { address: bigint; bytes: bigint; name: string; timestampNs: bigint }

/** The code-load records of a JITDump file, in file order. */
export function readJitDump(dump: Buffer): JitCode[] {
  const magic = dump.readUInt32LE(0)
  if (magic !== 0x4a695444) throw new Error(`not a JITDump file (magic ${magic.toString(16)})`)
  const codes: JitCode[] = []
  let offset = dump.readUInt32LE(8) // the file header's own size
  while (offset + recordHeaderBytes <= dump.length) {
    const id = dump.readUInt32LE(offset)
    const recordBytes = dump.readUInt32LE(offset + 4)
    if (recordBytes < recordHeaderBytes || offset + recordBytes > dump.length) break // a record still being written
    if (id === codeLoadRecord) {
      const body = offset + recordHeaderBytes
      const nameStart = body + codeLoadFixedBytes
      const nameEnd = dump.indexOf(0, nameStart)
      codes.push({
        address: dump.readBigUInt64LE(body + 16), bytes: dump.readBigUInt64LE(body + 24),
        name: dump.toString('utf8', nameStart, nameEnd), timestampNs: dump.readBigUInt64LE(offset + 8),
      })
    }
    offset += recordBytes
  }
  return codes
}

/** The process id in JSC's file name jit-<tid>-<pid>.dump (or perf's jit-<pid>.dump). */
export function pidOfDumpName(path: string): number {
  const match = /^jit-(?:\d+-)?(\d+)\.dump$/.exec(basename(path))
  if (match === null) throw new Error(`cannot tell the process id from '${basename(path)}': pass it as the second argument`)
  return Number(match[1])
}

/**
 * The code that was live at `untilNs`: loaded by then, and not overlapped by code loaded later (JSC
 * reuses freed code memory). Sorted by address, no two ranges overlapping, so perf's lookup is unambiguous.
 */
export function liveCode(codes: JitCode[], untilNs = BigInt(Number.MAX_SAFE_INTEGER) * 1000n): JitCode[] {
  const loaded = codes.filter((code) => code.timestampNs <= untilNs).toSorted((a, b) => (a.timestampNs < b.timestampNs ? -1 : a.timestampNs > b.timestampNs ? 1 : 0))
  const live: JitCode[] = []
  // Newest first: an older range survives only where no newer one covers any of it.
  for (let index = loaded.length - 1; index >= 0; index--) {
    const code = loaded[index] as JitCode
    const end = code.address + code.bytes
    if (!live.some((newer) => newer.address < end && code.address < newer.address + newer.bytes)) live.push(code)
  }
  return live.sort((a, b) => (a.address < b.address ? -1 : 1))
}

export function perfMapText(codes: JitCode[]): string {
  return codes.map((code) => `${code.address.toString(16)} ${code.bytes.toString(16)} ${code.name}\n`).join('')
}

if (import.meta.main) {
  const args = process.argv.slice(2)
  const untilAt = args.indexOf('--until-ns')
  const untilNs = untilAt >= 0 ? BigInt(args.splice(untilAt, 2)[1] as string) : undefined
  const [dumpPath, pidText] = args
  if (dumpPath === undefined) throw new Error('usage: bun test/bench/jit-perf-map.ts <jit-…dump> [pid] [--until-ns <ns>]')
  const pid = pidText === undefined ? pidOfDumpName(dumpPath) : Number(pidText)
  const codes = liveCode(readJitDump(readFileSync(dumpPath)), untilNs)
  const mapPath = `/tmp/perf-${pid}.map`
  writeFileSync(mapPath, perfMapText(codes))
  console.log(`${mapPath}: ${codes.length} JIT code regions`)
}
