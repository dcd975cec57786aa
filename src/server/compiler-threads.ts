/**
 * JSC compiles hot functions on its own threads ("JITWorker"). On a 2-core machine a compile burst (an
 * FTL compile of a request-path function takes 10–60 ms) competes with the server's main thread and
 * with its clients for the two CPUs, and a woken compiler thread can run ahead of a main thread that
 * has a reply to write: a job pushed then starts late. Compiling does not stop after the start-up
 * warm-up: at a steady 1,000 jobs/s (W4) the compiler threads still take 150–190 ms of CPU in each
 * of the first 3-second windows and ~20–90 ms in the windows 20–30 s in (test/bench/w4-threads.ts).
 * So the server lowers their scheduling priority (nice 19 by default, `--compiler-nice`, set by
 * cli/compiler-nice.ts once the server is up): a compile then runs in the CPU time requests leave,
 * and finishes as soon as there is any. Measured in docs/architecture.md ("JSC's compiler threads
 * during W4"). This file finds the threads (by name in /proc/self/task; Linux only) and owns the
 * flag's bounds.
 */
import { readdirSync, readFileSync } from 'node:fs'

/** The default nice value of the compiler threads, and the highest (least favoured) one accepted. */
export const compilerNiceDefault = 19
export const compilerNiceMax = 19
export const compilerThreadName = 'JITWorker'
const threadDirectory = '/proc/self/task'

/** The tids of this process's compiler threads; empty where /proc cannot say. */
export function compilerThreadIds(): number[] {
  const tids: number[] = []
  try {
    for (const tid of readdirSync(threadDirectory)) {
      try {
        if (readFileSync(`${threadDirectory}/${tid}/comm`, 'utf8').trim() === compilerThreadName) tids.push(Number(tid))
      } catch {
        // The thread ended between the listing and the read.
      }
    }
  } catch {
    // No /proc: not Linux.
  }
  return tids
}
