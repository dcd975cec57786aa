/** Command-line flags of the bench scripts: `--name value` pairs, checked where a number is wanted. */
export class BenchFlags {
  constructor(private readonly args: readonly string[]) {}

  /** The value after `flag`, or null when the flag is absent. */
  value(flag: string): string | null {
    const at = this.args.indexOf(flag)
    return at >= 0 ? this.args[at + 1] ?? null : null
  }

  /** Whether a flag without a value (a switch) was given. */
  has(flag: string): boolean {
    return this.args.includes(flag)
  }

  /** A positive number of seconds (fractions allowed: smoke tests sample for half a second). */
  seconds(flag: string, fallback: number): number {
    const value = Number(this.value(flag) ?? fallback)
    if (!(value > 0)) throw new Error(`${flag}: a positive number of seconds, not '${this.value(flag)}'`)
    return value
  }

  /** An integer of at least `min`; the flag's name and the value given in the error otherwise. */
  count(flag: string, fallback: number, min = 1): number {
    const parsed = Number(this.value(flag) ?? fallback)
    if (!Number.isInteger(parsed) || parsed < min) throw new Error(`${flag}: an integer ≥ ${min}, not '${this.value(flag)}'`)
    return parsed
  }

  /** One of `allowed` (`fallback` when absent); the allowed values in the error otherwise. */
  choice<T extends string>(flag: string, allowed: readonly T[], fallback: T): T {
    const given = this.value(flag) ?? fallback
    if (!(allowed as readonly string[]).includes(given)) throw new Error(`${flag}: ${allowed.join(', ')}, not '${given}'`)
    return given as T
  }
}
