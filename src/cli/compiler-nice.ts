/**
 * `--compiler-nice`: sets the nice value of JSC's compiler threads (server/compiler-threads.ts says
 * why) with setpriority(2) on each thread's tid, which on Linux changes that thread alone. Called once
 * the server is up (its warm-up has started the threads), and again later for threads JSC starts
 * after that. Without libc or /proc nothing changes.
 */
import { loadLibc } from '../io/libc.ts'
import { compilerThreadIds } from '../server/compiler-threads.ts'

/**
 * When to look again for compiler threads JSC started after the warm-up (it starts them with its
 * first compile, so without a warm-up they come with the first requests).
 */
const lookAgainAfterMs = [5_000, 30_000]

/** Sets the nice value of every compiler thread now; says how many took it, and the first failure. */
export function niceCompilerThreads(nice: number): { threads: number; error: string | null } {
  const libc = loadLibc()
  if (libc === null) return { threads: 0, error: 'libc not loaded' }
  let threads = 0
  let error: string | null = null
  for (const tid of compilerThreadIds()) {
    const errno = libc.setThreadNice(tid, nice)
    if (errno === 0) threads++
    else error ??= `setpriority(${tid}, ${nice}): errno ${errno}`
  }
  return { threads, error }
}

/** niceCompilerThreads now and at lookAgainAfterMs (timers that keep no process alive); 0 does nothing. */
export function lowerCompilerThreads(nice: number): { threads: number; error: string | null } {
  if (nice === 0) return { threads: 0, error: null }
  for (const delayMs of lookAgainAfterMs) setTimeout(() => niceCompilerThreads(nice), delayMs).unref()
  return niceCompilerThreads(nice)
}
