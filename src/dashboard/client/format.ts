/** Number, time and size formatting shared by the pages. */

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 })
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 })

export const count = (value: number | undefined | null) => (value === undefined || value === null ? '–' : integer.format(value))
export const rate = (value: number) => (value >= 100 ? integer.format(value) : decimal.format(value))

export function bytes(value: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let scaled = value
  let unit = 0
  while (scaled >= 1024 && unit < units.length - 1) (scaled /= 1024), unit++
  return `${unit === 0 ? scaled : decimal.format(scaled)} ${units[unit]}`
}

/** A timestamp in ms since the epoch; 0 means "not yet". */
export function time(ms: number | null | undefined): string {
  if (!ms) return '–'
  return new Date(ms).toLocaleString(undefined, { hour12: false })
}

export function ago(ms: number | null | undefined, nowMs = Date.now()): string {
  if (!ms) return '–'
  const seconds = Math.round((nowMs - ms) / 1000)
  const future = seconds < 0
  const size = Math.abs(seconds)
  const text = size < 60 ? `${size}s` : size < 3600 ? `${Math.floor(size / 60)}m` : size < 86400 ? `${Math.floor(size / 3600)}h` : `${Math.floor(size / 86400)}d`
  return future ? `in ${text}` : `${text} ago`
}

export function duration(ms: number): string {
  if (ms === 0) return '0'
  if (ms < 1000) return `${ms} ms`
  const seconds = ms / 1000
  if (seconds < 120) return `${decimal.format(seconds)} s`
  if (seconds < 7200) return `${decimal.format(seconds / 60)} min`
  return `${decimal.format(seconds / 3600)} h`
}

export function json(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value, null, 2)
}
