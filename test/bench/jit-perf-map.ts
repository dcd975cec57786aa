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
 *   bun test/bench/jit-perf-map.ts /tmp/jd/jit-*-<pid>.dump
 *   perf report --children --sort sym -g none                              # e.g. `JSC-FTL: data#DcRt4n`
 *
 * Inclusive (`--children`) percentages of JS functions are meaningful; call chains through Bun's own
 * native code are not (bun.exe is stripped and its frames often lack frame pointers). Code that JSC
 * freed and reused keeps the name of the last function compiled at that address.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'

/** JITDump record ids (linux tools/perf/Documentation/jitdump-specification.txt). */
const codeLoadRecord = 0
const recordHeaderBytes = 16
/** JIT_CODE_LOAD after its header: pid u32, tid u32, vma u64, code_addr u64, code_size u64, code_index u64, then the name. */
const codeLoadFixedBytes = 40

export type JitCode = { address: bigint; bytes: bigint; name: string }

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
      codes.push({ address: dump.readBigUInt64LE(body + 16), bytes: dump.readBigUInt64LE(body + 24), name: dump.toString('utf8', nameStart, nameEnd) })
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

export function perfMapText(codes: JitCode[]): string {
  return codes.map((code) => `${code.address.toString(16)} ${code.bytes.toString(16)} ${code.name}\n`).join('')
}

if (import.meta.main) {
  const [dumpPath, pidText] = process.argv.slice(2)
  if (dumpPath === undefined) throw new Error('usage: bun test/bench/jit-perf-map.ts <jit-…dump> [pid]')
  const pid = pidText === undefined ? pidOfDumpName(dumpPath) : Number(pidText)
  const codes = readJitDump(readFileSync(dumpPath))
  const mapPath = `/tmp/perf-${pid}.map`
  writeFileSync(mapPath, perfMapText(codes))
  console.log(`${mapPath}: ${codes.length} JIT code regions`)
}
