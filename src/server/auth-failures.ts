/**
 * Failed authentication, counted per client address (TCP AUTH, HTTP Bearer and `?token=`, WebSocket
 * auth): past authFailuresPerAddressPerMinuteMax in the current minute, the address is refused at once
 * (its tokens are not even compared) until the minute ends, so guessing a token from one address costs
 * a minute per hundred guesses. Fixed one-minute windows; at most authFailureAddressesTrackedMax
 * addresses are remembered (the oldest is forgotten first), so many addresses cannot grow memory.
 */
import { authFailureAddressesTrackedMax, authFailuresPerAddressPerMinuteMax } from '../base/limits.ts'
import { invalidToken } from '../protocol/errors.ts'

const windowMs = 60_000

export type AuthVerdict =
  | { ok: true }
  | { ok: false; error: string; /** Set when the address is over its budget: 429 on HTTP. */ retryAfterSeconds?: number }

const accepted: AuthVerdict = { ok: true }
const refused: AuthVerdict = { ok: false, error: invalidToken }

export class AuthFailures {
  private readonly failures = new Map<string, number>()
  private windowStartMs: number

  constructor(
    private readonly clock: () => number = Date.now,
    readonly perMinuteMax = authFailuresPerAddressPerMinuteMax,
    readonly addressesMax = authFailureAddressesTrackedMax,
  ) {
    this.windowStartMs = clock()
  }

  get addressesTracked(): number {
    return this.failures.size
  }

  /** Runs `verify` (the constant-time token comparison) unless `address` is over its budget. */
  check(address: string, verify: () => boolean): AuthVerdict {
    const now = this.clock()
    if (now - this.windowStartMs >= windowMs) {
      this.failures.clear()
      this.windowStartMs = now
    }
    const failed = this.failures.get(address) ?? 0
    if (failed >= this.perMinuteMax) {
      const retryAfterSeconds = Math.max(1, Math.ceil((this.windowStartMs + windowMs - now) / 1000))
      const error = `Too many failed authentications from ${address} (max ${this.perMinuteMax} per minute): retry in ${retryAfterSeconds} s`
      return { ok: false, error, retryAfterSeconds }
    }
    if (verify()) return accepted
    if (failed === 0 && this.failures.size >= this.addressesMax) {
      this.failures.delete(this.failures.keys().next().value as string)
    }
    this.failures.set(address, failed + 1)
    return refused
  }
}
