/**
 * The server's event log: one line per event an operator cares about (start, stop, recovery,
 * checkpoint, full disk, worker crash, slow flush), never one per request. `text` is for people and
 * journald (`<time> <level> <event>: <message> key=value…`); `json` is one object per line for log
 * shippers. Every level goes to stdout, so the lines keep their order and one stream holds them all
 * (journald takes it as is). Each thread (front and shard Workers) configures its own copy from the
 * same Config at start-up.
 */

export const logLevels = ['debug', 'info', 'warn', 'error'] as const
export const logFormats = ['text', 'json'] as const
export type LogLevel = (typeof logLevels)[number]
export type LogFormat = (typeof logFormats)[number]
export type LogFields = Record<string, string | number | boolean | null>

let format: LogFormat = 'text'
let threshold = logLevels.indexOf('info')

export function configureLog(settings: { logFormat: LogFormat; logLevel: LogLevel }): void {
  format = settings.logFormat
  threshold = logLevels.indexOf(settings.logLevel)
}

/** The line `event` would produce, or null when its level is below the configured one. */
export function formatLogLine(level: LogLevel, event: string, message: string, fields: LogFields = {}, nowMs = Date.now(), always = false): string | null {
  if (!always && logLevels.indexOf(level) < threshold) return null
  const time = new Date(nowMs).toISOString()
  if (format === 'json') return JSON.stringify({ time, level, event, msg: message, ...fields })
  const extra = Object.entries(fields).map(([key, value]) => ` ${key}=${textValue(value)}`).join('')
  return `${time} ${level} ${event}: ${message}${extra}`
}

function textValue(value: LogFields[string]): string {
  const text = String(value)
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)
}

function emit(level: LogLevel, event: string, message: string, fields?: LogFields, always = false): void {
  const line = formatLogLine(level, event, message, fields, Date.now(), always)
  if (line === null) return
  process.stdout.write(`${line}\n`)
}

export const log = {
  debug: (event: string, message: string, fields?: LogFields) => emit('debug', event, message, fields),
  info: (event: string, message: string, fields?: LogFields) => emit('info', event, message, fields),
  warn: (event: string, message: string, fields?: LogFields) => emit('warn', event, message, fields),
  error: (event: string, message: string, fields?: LogFields) => emit('error', event, message, fields),
  /** The start-up line: printed at every level, since it says where the server listens and how it runs. */
  startup: (message: string, fields?: LogFields) => emit('info', 'start', message, fields, true),
}
