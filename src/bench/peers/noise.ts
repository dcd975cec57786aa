/**
 * Is a run trustworthy? Reads /proc/stat around it: CPU time stolen by the hypervisor, and CPU used by
 * processes other than this client and the server under test. A run is flagged noisy when either
 * passes its threshold; the report marks every cell that has a noisy run in it.
 */
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { processCpuSeconds } from './process.ts'

/** Share of all CPU time stolen by the hypervisor above which a run is noisy. */
export const stealShareNoisyMax = 0.05
/** Cores' worth of CPU used by other processes above which a run is noisy. */
export const otherCoresNoisyMax = 0.25

export type Noise = { stealShare: number; otherCores: number; noisy: boolean }

type Sample = { atMs: number; totalSeconds: number; busySeconds: number; stealSeconds: number; clientSeconds: number; serverSeconds: number }

function sample(serverPid: number): Sample {
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice (in 1/100 s)
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1, 9).map(Number)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields
  const usage = process.cpuUsage()
  return {
    atMs: performance.now(),
    totalSeconds: (user + nice + system + idle + iowait + irq + softirq + steal) / 100,
    busySeconds: (user + nice + system + irq + softirq) / 100,
    stealSeconds: steal / 100,
    clientSeconds: (usage.user + usage.system) / 1e6,
    serverSeconds: processCpuSeconds(serverPid),
  }
}

/** Starts watching; the returned function ends the window and says how noisy it was. */
export function watchNoise(serverPid: number): () => Noise {
  const before = sample(serverPid)
  return () => {
    const after = sample(serverPid)
    const wallSeconds = Math.max(0.001, (after.atMs - before.atMs) / 1000)
    const total = Math.max(0.01, after.totalSeconds - before.totalSeconds)
    const stealShare = (after.stealSeconds - before.stealSeconds) / total
    const ours = after.clientSeconds - before.clientSeconds + (after.serverSeconds - before.serverSeconds)
    const otherCores = Math.max(0, (after.busySeconds - before.busySeconds - ours) / wallSeconds)
    return { stealShare, otherCores, noisy: stealShare > stealShareNoisyMax || otherCores > otherCoresNoisyMax }
  }
}

/** Load average and core count, for the report's machine line. */
export function machineLoad(): { cores: number; load1: number } {
  const load1 = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])
  return { cores: cpus().length, load1 }
}
