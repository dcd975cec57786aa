/** @jsxImportSource hono/jsx/dom */
/**
 * Renders a JSON object whose exact keys the page does not know in advance (storage figures,
 * server settings): numbers with units read from their names, nested objects as nested lists, and
 * anything named like a histogram as bars.
 */
import type { Child } from 'hono/jsx'
import { bytes, count, duration, time } from '../format.ts'
import { KeyValues } from '../ui.tsx'

/** `memory_used_mb` → `memory used`: the formatted value carries the unit. */
const label = (key: string, value?: unknown) => (typeof value === 'number' ? key.replace(/_(mb|percent|seconds|ms)$/, '') : key).replace(/_/g, ' ')

function scalar(key: string, value: unknown): Child {
  if (typeof value === 'number') {
    if (/port|_id$|^pid$|lsn/.test(key)) return String(value)
    if (/_mb$/.test(key)) return `${value.toFixed(1)} MiB`
    if (/_percent$/.test(key)) return `${value.toFixed(1)} %`
    if (/_seconds$/.test(key)) return duration(value * 1000)
    if (/bytes/.test(key)) return bytes(value)
    if (/(_at|_time|_ms_epoch)$/.test(key) && value > 1e12) return time(value)
    if (/_ms$/.test(key)) return duration(value)
    return Number.isInteger(value) ? count(value) : value.toFixed(2)
  }
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  if (typeof value === 'string' && /_at$/.test(key) && !Number.isNaN(Date.parse(value))) return time(Date.parse(value))
  if (value === null || value === undefined) return '–'
  return String(value)
}

type Bucket = { label: string; count: number }

/** `{ "<=1ms": 3, … }` or `[{le|upper|bucket|label, count}]` → bars; null if the shape is neither. */
function buckets(value: unknown): Bucket[] | null {
  if (Array.isArray(value)) {
    const list = value.map((entry) => {
      if (entry === null || typeof entry !== 'object') return null
      const record = entry as Record<string, unknown>
      const bound = record.le ?? record.upper ?? record.upper_ms ?? record.bucket ?? record.label ?? record.size
      const amount = record.count ?? record.value
      return typeof amount === 'number' && bound !== undefined ? { label: String(bound), count: amount } : null
    })
    return list.every((entry) => entry !== null) ? (list as Bucket[]) : null
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
    return entries.every(([, amount]) => typeof amount === 'number') ? entries.map(([key, amount]) => ({ label: key, count: amount as number })) : null
  }
  return null
}

export function Histogram(props: { title: string; buckets: Bucket[] }) {
  const max = Math.max(1, ...props.buckets.map((bucket) => bucket.count))
  return (
    <figure class="histogram">
      <figcaption>{props.title}</figcaption>
      <ol>
        {props.buckets.map((bucket) => (
          <li>
            <span class="bucket-label">{bucket.label}</span>
            <meter min={0} max={max} value={bucket.count} aria-label={`${bucket.label}: ${bucket.count}`} />
            <span class="bucket-count">{count(bucket.count)}</span>
          </li>
        ))}
      </ol>
    </figure>
  )
}

export function Details(props: { value: Record<string, unknown> }) {
  const entries: Array<[string, Child]> = []
  const histograms: Child[] = []
  const tables: Child[] = []
  for (const [key, value] of Object.entries(props.value)) {
    if (value === undefined) continue
    const asBuckets = /histogram|buckets|distribution/i.test(key) ? buckets(value) : null
    if (asBuckets !== null) histograms.push(<Histogram title={label(key)} buckets={asBuckets} />)
    else if (Array.isArray(value) && value.every((item) => typeof item !== 'object' || item === null)) entries.push([label(key), value.map(String).join(', ') || '–'])
    else if (Array.isArray(value)) tables.push(<RecordTable title={label(key)} rows={value as Array<Record<string, unknown>>} />)
    else if (value !== null && typeof value === 'object') entries.push([label(key), <Details value={value as Record<string, unknown>} />])
    else entries.push([label(key, value), scalar(key, value)])
  }
  return (
    <>
      <KeyValues entries={entries} />
      {histograms}
      {tables}
    </>
  )
}

/** An array of records (one per shard, say) as a table whose columns are the records' keys. */
function RecordTable(props: { title: string; rows: Array<Record<string, unknown>> }) {
  const columns = [...new Set(props.rows.flatMap((row) => (row !== null && typeof row === 'object' ? Object.keys(row) : [])))]
  return (
    <div class="table-wrap nested">
      <table>
        <caption>{props.title}</caption>
        <thead><tr>{columns.map((column) => <th scope="col">{label(column)}</th>)}</tr></thead>
        <tbody>
          {props.rows.map((row) => <tr>{columns.map((column) => <td>{typeof row?.[column] === 'object' && row?.[column] !== null ? JSON.stringify(row?.[column]) : scalar(column, row?.[column])}</td>)}</tr>)}
        </tbody>
      </table>
    </div>
  )
}
