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
 * a request that arrives meanwhile waits that long, once per burst. (Since frozen jobs, 12–25 ms
 * with 1M waiting jobs: the marking no longer visits a Job object per job.)
 *
 * DECISION — follow-up eden collections (`Bun.gc(false)`, ~0.3 ms each) every idleGcPurgeEveryMs,
 * idleGcPurgesMax times. The memory a full collection frees goes back to the allocator (mimalloc), which
 * returns its pages to the OS only when it runs again after its purge delay; on an idle thread that
 * was Bun's scavenger (thread mi-scavenger) about a second later. W5 (1M jobs pushed, durable, RSS
 * read 1 s after): without them RSS stayed 243–267 MiB until 1.05–1.2 s and then dropped to ~234;
 * with them it read 230–236 from ~0.5 s on (as measured; that a `Bun.gc` runs the allocator's purge is
 * our reading of it). A single follow-up 20–100 ms after left 3–11 MiB; `bun:jsc` gcAndSweep() in
 * place of the full collection changed nothing.
 *
 * Owns: the idle timer and the work count since the last collection. Does not own: the work.
 */

/** Quiet time after the last turn of work before collecting: requests closer together than this never meet the pause. */
export const idleGcQuietMs = 250
/** Turns of work (request batches, timer wake-ups) since the last collection that make a burst. */
export const idleGcBurstTurnsMin = 256
/** Time between the follow-up collections that let the allocator return the freed pages. */
export const idleGcPurgeEveryMs = 100
/** Follow-up collections after a full one (stopped early by new work, which runs the allocator anyway). */
export const idleGcPurgesMax = 5

/** The timers and the collector, injectable for tests. */
export type IdleGcSeams = {
  nowMs(): number
  setTimer(callback: () => void, delayMs: number): unknown
  clearTimer(timer: unknown): void
  collect(): void
  /** A cheap collection that lets the allocator return the pages freed since (an eden collection). */
  purge(): void
}

export const realIdleGcSeams: IdleGcSeams = {
  // The wall clock, as the host's: a request batch's time is read once, and noteWork reuses it.
  // A clock step only makes one quiet spell look shorter or longer.
  nowMs: () => Date.now(),
  setTimer: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimer: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
  collect: () => void Bun.gc(true),
  purge: () => void Bun.gc(false),
}

export class IdleCollector {
  #turns = 0
  #lastWorkMs = 0
  #timer: unknown = null
  /** Follow-up collections still due after the last full one. */
  #purgesLeft = 0
  #stopped = false

  /**
   * `releaseSpares` runs just before each full collection: what is kept for the next burst (the logs'
   * pooled write buffers) is let go then, so the collection frees it too.
   */
  constructor(
    private readonly seams: IdleGcSeams = realIdleGcSeams,
    private readonly releaseSpares: () => void = () => {},
  ) {}

  /** Called after each turn of work; cheap (one timer per quiet spell, not per turn). */
  noteWork(nowMs: number = this.seams.nowMs()): void {
    if (this.#stopped) return
    // A burst is work without a quiet spell in it: a trickle (one request every few hundred ms) leaves
    // little garbage, and a full collection's pause (~100 ms with 1M jobs) must not meet its requests.
    if (nowMs - this.#lastWorkMs >= idleGcQuietMs) this.#turns = 0
    this.#turns++
    this.#lastWorkMs = nowMs
    // Work runs the allocator anyway: the follow-ups stop (their timer must not become a collection's).
    if (this.#purgesLeft > 0) this.#cancelPurges()
    if (this.#timer === null && this.#turns >= idleGcBurstTurnsMin) this.#arm(idleGcQuietMs)
  }

  /**
   * Work that ran outside the counted turns and left much garbage ended (a checkpoint, written across
   * many turns of its own after the requests that started it): collect once the requests have been
   * quiet for idleGcQuietMs, counted from the last request, not from now. W5's checkpoint of ~557k
   * jobs ends 0.3–0.6 s after the pushes; waiting idleGcQuietMs more put its collection at 0.6–0.85 s,
   * close to W5's reading at 1 s.
   */
  noteBurstEnd(): void {
    if (this.#stopped) return
    this.#turns = Math.max(this.#turns, idleGcBurstTurnsMin)
    this.#purgesLeft = 0
    if (this.#timer !== null) this.seams.clearTimer(this.#timer)
    this.#arm(Math.max(0, idleGcQuietMs - (this.seams.nowMs() - this.#lastWorkMs)))
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
    if (this.#purgesLeft > 0) return this.#purge()
    const quietMs = this.seams.nowMs() - this.#lastWorkMs
    // Still busy: look again once the quiet time since the last turn could have passed.
    // (Never longer than idleGcQuietMs: after the wall clock stepped back, quietMs is negative.)
    if (quietMs < idleGcQuietMs) return this.#arm(Math.min(idleGcQuietMs, idleGcQuietMs - quietMs))
    this.#turns = 0
    this.releaseSpares()
    this.seams.collect()
    this.#purgesLeft = idleGcPurgesMax
    this.#arm(idleGcPurgeEveryMs)
  }

  #cancelPurges(): void {
    this.#purgesLeft = 0
    if (this.#timer !== null) this.seams.clearTimer(this.#timer)
    this.#timer = null
  }

  #purge(): void {
    this.seams.purge()
    if (--this.#purgesLeft > 0) this.#arm(idleGcPurgeEveryMs)
  }
}
