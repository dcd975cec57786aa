/**
 * An IoBackend wrapper that reports slow durable writes and syncs (a flush of a shard log is one
 * writeDurable), so an operator sees a struggling disk in the log. Reports are rate-limited: at most
 * one per `reportEveryMs`, carrying how many slow operations there were since the last one, so a
 * disk that is slow for every flush gives one line per interval, not one per request.
 */
import { performanceNowMs } from '../base/clock.ts'
import type { IoBackend } from './backend.ts'

export type SlowIoReport = { operation: string; bytes: number; ms: number; slowSinceLastReport: number }

/** `nowMs` is the clock (tests pass a fake one). */
export function reportSlowIo(io: IoBackend, slowMs: number, reportEveryMs: number, report: (slow: SlowIoReport) => void,
  nowMs: () => number = performanceNowMs): IoBackend {
  let lastReportMs = -Infinity
  let slowCount = 0
  const noteDone = (operation: string, bytes: number, startMs: number): void => {
    const endMs = nowMs()
    const ms = endMs - startMs
    if (ms < slowMs) return
    slowCount += 1
    if (endMs - lastReportMs < reportEveryMs) return
    lastReportMs = endMs
    report({ operation, bytes, ms: Math.round(ms), slowSinceLastReport: slowCount })
    slowCount = 0
  }
  const timed = async (operation: string, bytes: number, run: () => Promise<void>): Promise<void> => {
    const startMs = nowMs()
    await run()
    noteDone(operation, bytes, startMs)
  }
  const flush = 'flush (write + fdatasync)'
  const wrapped: Partial<IoBackend> = {
    writeDurable: (fd, bytes, offset, waitingIdle) => timed(flush, bytes.length, () => io.writeDurable(fd, bytes, offset, waitingIdle)),
    sync: (fd) => timed('fdatasync', 0, () => io.sync(fd)),
  }
  if (io.writeDurableNow !== undefined) {
    wrapped.writeDurableNow = (fd, bytes, offset) => {
      const startMs = nowMs()
      const done = (io.writeDurableNow as NonNullable<IoBackend['writeDurableNow']>).call(io, fd, bytes, offset)
      if (done) noteDone(flush, bytes.length, startMs)
      return done
    }
  }
  // A Proxy, not a subclass: every other member (present or added to IoBackend later) reaches the
  // real backend with `this` bound to it (its private fields need that).
  const bound = new Map<PropertyKey, unknown>()
  return new Proxy(io, {
    get(target, key) {
      if (key in wrapped) return wrapped[key as keyof IoBackend]
      const value = Reflect.get(target, key, target) as unknown
      if (typeof value !== 'function') return value
      if (!bound.has(key)) bound.set(key, value.bind(target))
      return bound.get(key)
    },
  })
}
