/** Time enters the engine as an argument; these are the two sources of it. */
export interface Clock {
  nowMs(): number
}

export const realClock: Clock = { nowMs: () => Date.now() }

/**
 * performance.now() as one function for every default clock parameter: a default written as an arrow
 * is a new function per instance, a new callee that JSC's compiled code checks for (the start-up
 * warm-up's instances and the server's then differ).
 */
export const performanceNowMs = (): number => performance.now()

/** A clock that moves only when told to: engine and scheduler tests never sleep. */
export class FakeClock implements Clock {
  constructor(private timeMs = 1_700_000_000_000) {}
  nowMs(): number {
    return this.timeMs
  }
  advance(ms: number): number {
    this.timeMs += ms
    return this.timeMs
  }
}
