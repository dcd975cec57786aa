/**
 * Whether the io_uring backend may do a hinted durable write on the calling thread (uring/backend.ts).
 * Blocking the thread pays only while the disk answers fast: once a write on the thread took longer
 * than inlineWriteSlowMs (the disk is congested: a checkpoint's writeback, another process's burst,
 * a journal commit behind someone else's data), the next ones go to the ring, so requests that need
 * no disk (pulls of durable jobs, reads, health checks) are served while those slow syncs run
 * instead of waiting behind each one. The hand-off then costs little next to the sync. Writes go
 * back to the thread as soon as one of those ring writes is fast again (a lone slow sync costs one
 * ring write), and at the latest after inlinePauseMs.
 *
 * Owns: the pause. Does not own: the writes.
 */
import { performanceNowMs } from '../base/clock.ts'

/** A write + fdatasync on the thread slower than this marks the disk as congested (a healthy one: ~0.15 ms). */
export const inlineWriteSlowMs = 1
/** The longest hinted writes then go to the ring before one on the thread is tried again. */
export const inlinePauseMs = 100

export class InlineWritePolicy {
  #pausedUntilMs = -Infinity

  /** `nowMs` is the clock (tests pass a fake one). */
  constructor(private readonly nowMs: () => number = performanceNowMs) {}

  /** True unless a recent write on the thread was slow. */
  allowed(): boolean {
    return this.#pausedUntilMs <= this.nowMs()
  }

  /** Runs a hinted write that goes to the ring because of the pause, timing it: a fast one ends the pause. */
  throughRing(write: () => Promise<void>): Promise<void> {
    const startedMs = this.nowMs()
    return write().then(() => {
      if (this.nowMs() - startedMs <= inlineWriteSlowMs) this.#pausedUntilMs = -Infinity
    })
  }

  /** Runs `write` on this thread, timing it; a slow one (even a failed one) pauses writes on the thread. */
  run(write: () => void): void {
    const startedMs = this.started()
    try {
      write()
    } finally {
      this.finished(startedMs)
    }
  }

  /** run() in two halves, for a caller that saves the closure: the start time to pass to finished(). */
  started(): number {
    return this.nowMs()
  }

  /** The write that started at `startedMs` (started()) is over, done or failed. */
  finished(startedMs: number): void {
    const endMs = this.nowMs()
    if (endMs - startedMs > inlineWriteSlowMs) this.#pausedUntilMs = endMs + inlinePauseMs
  }
}
