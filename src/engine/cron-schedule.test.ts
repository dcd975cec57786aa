import { describe, expect, test } from 'bun:test'
import { nextRunMs, parseSchedule, type CronSchedule } from './cron-schedule.ts'

const at = (iso: string): number => Date.parse(iso)
const iso = (ms: number): string => new Date(ms).toISOString()

function parsed(source: string): CronSchedule {
  const result = parseSchedule(source)
  if (!result.ok) throw new Error(`expected ${source} to parse: ${result.error}`)
  return result.schedule
}

function errorOf(source: string): string {
  const result = parseSchedule(source)
  if (result.ok) throw new Error(`expected ${source} to be rejected`)
  return result.error
}

const next = (source: string, afterIso: string): string => iso(nextRunMs(parsed(source), at(afterIso)))

describe('5 fields: minute resolution, second 0', () => {
  test('every minute', () => {
    expect(next('* * * * *', '2024-01-01T00:00:30.500Z')).toBe('2024-01-01T00:01:00.000Z')
    // Strictly after: exactly on a match gives the following one.
    expect(next('* * * * *', '2024-01-01T00:01:00.000Z')).toBe('2024-01-01T00:02:00.000Z')
  })
  test('*/5 with more fields is every 5 minutes, not every 5 seconds', () => {
    expect(next('*/5 * * * *', '2024-01-01T00:00:01Z')).toBe('2024-01-01T00:05:00.000Z')
    expect(next('*/5 * * * *', '2024-01-01T00:05:00Z')).toBe('2024-01-01T00:10:00.000Z')
  })
  test('ranges, lists, steps and names, in UTC', () => {
    // 2024-01-01 is a Monday.
    expect(next('30 9 * * MON-FRI', '2024-01-01T00:00:00Z')).toBe('2024-01-01T09:30:00.000Z')
    expect(next('30 9 * * MON-FRI', '2024-01-05T10:00:00Z')).toBe('2024-01-08T09:30:00.000Z')
    expect(next('0 0 1 JAN *', '2024-01-01T00:00:00Z')).toBe('2025-01-01T00:00:00.000Z')
    expect(next('0 8,20 * * *', '2024-01-01T09:00:00Z')).toBe('2024-01-01T20:00:00.000Z')
    expect(next('0 0-6/3 * * *', '2024-01-01T01:00:00Z')).toBe('2024-01-01T03:00:00.000Z')
    expect(next('0 12 * feb sun', '2024-01-01T00:00:00Z')).toBe('2024-02-04T12:00:00.000Z')
  })
  test('0 and 7 are both Sunday', () => {
    expect(next('0 0 * * 0', '2024-01-01T00:00:00Z')).toBe('2024-01-07T00:00:00.000Z')
    expect(next('0 0 * * 7', '2024-01-01T00:00:00Z')).toBe('2024-01-07T00:00:00.000Z')
  })
  test('leap day', () => {
    expect(next('0 0 29 2 *', '2024-03-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z')
  })
})

describe('6 fields: leading seconds', () => {
  test('0 * * * * * is every minute at second 0', () => {
    expect(next('0 * * * * *', '2024-01-01T00:00:30Z')).toBe('2024-01-01T00:01:00.000Z')
  })
  test('every second and every 10 seconds', () => {
    expect(next('* * * * * *', '2024-01-01T00:00:00.999Z')).toBe('2024-01-01T00:00:01.000Z')
    expect(next('*/10 * * * * *', '2024-01-01T00:00:30.500Z')).toBe('2024-01-01T00:00:40.000Z')
  })
  test('15 30 12 * * * ', () => {
    expect(next('15 30 12 * * *', '2024-01-01T12:30:15Z')).toBe('2024-01-02T12:30:15.000Z')
  })
})

describe('*/N alone: every N seconds from the given instant', () => {
  test('interval', () => {
    const schedule = parsed('*/5')
    expect(schedule).toMatchObject({ kind: 'interval', everyMs: 5000 })
    expect(nextRunMs(schedule, 1_000_123)).toBe(1_005_123)
    expect(next('*/3600', '2024-01-01T00:00:00.250Z')).toBe('2024-01-01T01:00:00.250Z')
  })
  test('bad N', () => {
    for (const bad of ['*/0', '*/', '*/-1', '*/1.5', '*/abc', '*/05x', '*/1e3', '*/99999999999999999']) {
      expect(errorOf(bad)).toBe(`Invalid interval format: ${bad}`)
    }
  })
})

describe('errors', () => {
  test('invalid expressions', () => {
    expect(errorOf('bad')).toStartWith("Invalid cron expression 'bad': ")
    expect(errorOf('')).toStartWith("Invalid cron expression '': ")
    expect(errorOf('* * * *')).toStartWith("Invalid cron expression '* * * *': ")
    expect(errorOf('61 * * * *')).toBe("Invalid cron expression '61 * * * *': Invalid value for minute: 61")
    expect(errorOf('0 0 0 * * * 2030')).toStartWith("Invalid cron expression '0 0 0 * * * 2030': ")
    expect(errorOf('* * * * * * *')).toStartWith("Invalid cron expression '* * * * * * *': ")
  })
  test('an expression that never matches is rejected', () => {
    expect(errorOf('0 0 30 2 *')).toBe("Invalid cron expression '0 0 30 2 *': the expression never matches")
  })
  test('too long', () => {
    const long = '0 '.repeat(200)
    expect(errorOf(long)).toBe('Cron schedule too long (400 chars, max 256 chars)')
    const tooLong = `${'0,'.repeat(124)}0 * * * *`
    expect(tooLong.length).toBe(257)
    expect(errorOf(tooLong)).toBe('Cron schedule too long (257 chars, max 256 chars)')
    const longest = `${'0,'.repeat(123)}00 * * * *`
    expect(longest.length).toBe(256)
    expect(parseSchedule(longest).ok).toBe(true)
    expect(errorOf('*/1'.padEnd(300, '0'))).toBe('Cron schedule too long (300 chars, max 256 chars)')
  })
})
