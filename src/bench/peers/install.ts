/**
 * Peer servers come from Debian: a missing one is installed with apt-get (as root; `apt-get update`
 * first if the package is not known yet). A variant whose binary is still missing is skipped, with
 * the reason in the report.
 */
import { findBinary } from './process.ts'
import type { PeerVariant } from './types.ts'

/** Longest an apt-get step may take. */
const aptTimeoutMs = 300_000

/** Returns the variants that cannot run, with why. */
export async function ensureBinaries(variants: PeerVariant[], install: boolean, log: (line: string) => void): Promise<Map<string, string>> {
  const missing = new Map<string, string>()
  const packages = new Map<string, string>()
  for (const variant of variants) if (variant.binary !== undefined && findBinary(variant.binary.name) === null) packages.set(variant.binary.name, variant.binary.debianPackage)
  for (const [name, debianPackage] of packages) {
    if (install) {
      log(`${name} is missing: apt-get install ${debianPackage}`)
      if (!(await apt(['install', '-y', debianPackage]))) {
        await apt(['update'])
        await apt(['install', '-y', debianPackage])
      }
    }
    if (findBinary(name) !== null) continue
    const reason = install ? `${name} is not installed and apt-get install ${debianPackage} failed` : `${name} is not installed (--no-install)`
    log(reason)
    for (const variant of variants) if (variant.binary?.name === name) missing.set(variant.id, reason)
  }
  return missing
}

async function apt(args: string[]): Promise<boolean> {
  try {
    const child = Bun.spawn(['apt-get', ...args], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    const timer = setTimeout(() => child.kill('SIGKILL'), aptTimeoutMs)
    const code = await child.exited
    clearTimeout(timer)
    return code === 0
  } catch {
    return false
  }
}
