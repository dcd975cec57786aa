/**
 * A garbage collection when a thread goes idle after a burst of work. JavaScriptCore starts a full
 * collection when allocation outgrows the last collection's heap, or from its own timer seconds later;
 * after a burst that ends (a million jobs pushed, then quiet), nothing allocates, so the burst's garbage
 * (request texts, parsed batches, log records, checkpoint pieces) stays in RSS for seconds: measured
 * 620 MB a second after 1M pushes against 460 MB after a collection (test/bench/memory.ts). A short
 * quiet spell after at least idleGcBurstTurnsMin turns of work with no quiet spell between them asks for one.
 *
 * DECISION — a full collection (`Bun.gc(true)`), not `Bun.gc(false)`. The latter returns in a few ms
 * but is an eden collection: garbage that survived one (promoted to the old generation) stays. A
 * durable push keeps its batch alive until the fdatasync, and records double what a batch allocates,
 * so more of it is promoted than in memory mode: with 1M jobs pushed, RSS a second after the burst was
 * 389 MB durable against 329 MB in memory with `Bun.gc(false)`, and 346 MB durable with a full one
 * (JSC's own full collection brought it there 3–8 s later). The price is a pause while the thread is
 * quiet: 70–170 ms with 1M jobs held (the marking visits every live job), ~1 ms with a few thousand;
 * a request that arrives meanwhile waits that long, once per burst.
 *
 * Owns: the idle timer and the work count since the last collection. Does not own: the work.
 */

/** Quiet time after the last turn of work before collecting: requests closer together than this never meet the pause. */
export const idleGcQuietMs = 250
/** Turns of work (request batches, timer wake-ups) since the last collection that make a burst. */
export const idleGcBurstTurnsMin = 256

/** The timers and the collector, injectable for tests. */
export type IdleGcSeams = {
  nowMs(): number
  setTimer(callback: () => void, delayMs: number): unknown
  clearTimer(timer: unknown): void
  collect(): void
}

export const realIdleGcSeams: IdleGcSeams = {
  nowMs: () => performance.now(),
  setTimer: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimer: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
  collect: () => void Bun.gc(true),
}

export class IdleCollector {
  #turns = 0
  #lastWorkMs = 0
  #timer: unknown = null
  #stopped = false

  constructor(private readonly seams: IdleGcSeams = realIdleGcSeams) {}

  /** Called after each turn of work; cheap (one timer per quiet spell, not per turn). */
  noteWork(): void {
    if (this.#stopped) return
    const nowMs = this.seams.nowMs()
    // A burst is work without a quiet spell in it: a trickle (one request every few hundred ms) leaves
    // little garbage, and a full collection's pause (~100 ms with 1M jobs) must not meet its requests.
    if (nowMs - this.#lastWorkMs >= idleGcQuietMs) this.#turns = 0
    this.#turns++
    this.#lastWorkMs = nowMs
    if (this.#timer === null && this.#turns >= idleGcBurstTurnsMin) this.#arm(idleGcQuietMs)
  }

  /**
   * Work that ran outside the counted turns and left much garbage ended (a checkpoint, written across
   * many turns of its own): collect after the next quiet spell, however few turns came since.
   */
  noteBurstEnd(): void {
    this.#lastWorkMs = this.seams.nowMs()
    this.#turns = Math.max(this.#turns, idleGcBurstTurnsMin - 1)
    this.noteWork()
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer !== null) this.seams.clearTimer(this.#timer)
    this.#timer = null
  }

  #arm(delayMs: number): void {
    this.#timer = this.seams.setTimer(() => this.#onTimer(), delayMs)
  }

  #onTimer(): void {
    this.#timer = null
    const quietMs = this.seams.nowMs() - this.#lastWorkMs
    // Still busy: look again once the quiet time since the last turn could have passed.
    if (quietMs < idleGcQuietMs) return this.#arm(idleGcQuietMs - quietMs)
    this.#turns = 0
    this.seams.collect()
  }
}
