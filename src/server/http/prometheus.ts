/**
 * Prometheus text exposition (spec §5.5) and the `/metrics` negotiation of spec §5.3 as refined by
 * issue 9: JSON for `?format=json`, for an Accept header that prefers JSON, or for a request with
 * `Content-Type: application/json` (flashQ's clients send it with `Accept: *\/*`); text otherwise.
 */
import type { Reply } from './call.ts'

export const prometheusContentType = 'text/plain; version=0.0.4; charset=utf-8'

type Sample = { labels?: Record<string, string>; value: number }

/** One family: HELP and TYPE lines, then its samples. */
export function family(name: string, type: 'counter' | 'gauge', help: string, samples: Sample[]): string {
  let text = `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`
  for (const sample of samples) text += `${name}${labelText(sample.labels)} ${formatValue(sample.value)}\n`
  return text
}

function labelText(labels: Record<string, string> | undefined): string {
  if (labels === undefined) return ''
  const parts = Object.entries(labels).map(([key, value]) => `${key}="${escapeLabel(value)}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf'
  return Number.isInteger(value) ? String(value) : value.toFixed(2)
}

type QueueMetrics = { name: string; pending?: number; processing?: number; dlq?: number }

/** The flashq_* families from STATS and METRICS replies. */
export function flashqFamilies(stats: Reply, metrics: Reply, workersActive: number): string {
  const data = (metrics.metrics ?? {}) as Record<string, unknown>
  const number = (value: unknown) => (typeof value === 'number' ? value : 0)
  const queues = (Array.isArray(data.queues) ? data.queues : []) as QueueMetrics[]
  const queueSamples: Sample[] = []
  for (const queue of queues) {
    queueSamples.push({ labels: { queue: queue.name, state: 'pending' }, value: number(queue.pending) })
    queueSamples.push({ labels: { queue: queue.name, state: 'processing' }, value: number(queue.processing) })
    queueSamples.push({ labels: { queue: queue.name, state: 'dlq' }, value: number(queue.dlq) })
  }
  return [
    family('flashq_jobs_pushed_total', 'counter', 'Jobs pushed since start.', [{ value: number(data.total_pushed) }]),
    family('flashq_jobs_completed_total', 'counter', 'Jobs completed since start.', [{ value: number(data.total_completed) }]),
    family('flashq_jobs_failed_total', 'counter', 'Job failures since start.', [{ value: number(data.total_failed) }]),
    family('flashq_jobs_current', 'gauge', 'Jobs by state, over all queues.',
      (['queued', 'processing', 'delayed', 'dlq', 'completed'] as const).map((state) => ({ labels: { state }, value: number(stats[state]) }))),
    family('flashq_throughput_per_second', 'gauge', 'Recent completions per second.', [{ value: number(data.jobs_per_second) }]),
    family('flashq_latency_ms', 'gauge', 'Average push-to-ack latency in milliseconds.', [{ value: number(data.avg_latency_ms) }]),
    family('flashq_queue_jobs', 'gauge', 'Jobs per queue and state.', queueSamples),
    family('flashq_workers_active', 'gauge', 'Workers with an HTTP heartbeat in the last 30 s.', [{ value: workersActive }]),
  ].join('')
}

/** The q-value of each media range in an Accept header. */
function acceptRanges(accept: string): Array<{ type: string; q: number }> {
  return accept.split(',').map((part) => {
    const [type = '', ...params] = part.trim().split(';')
    const qParam = params.map((param) => param.trim()).find((param) => param.startsWith('q='))
    const q = qParam === undefined ? 1 : Number(qParam.slice(2))
    return { type: type.trim().toLowerCase(), q: Number.isFinite(q) ? q : 0 }
  })
}

/** The q a media type gets: from its most specific matching range (exact, then type/*, then *\/*). */
function qualityOf(ranges: Array<{ type: string; q: number }>, mediaType: string): number {
  const [major] = mediaType.split('/')
  for (const candidate of [mediaType, `${major}/*`, '*/*']) {
    const matching = ranges.filter((range) => range.type === candidate)
    if (matching.length > 0) return Math.max(...matching.map((range) => range.q))
  }
  return 0
}

export function prefersJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return false
  const ranges = acceptRanges(accept)
  return qualityOf(ranges, 'application/json') > qualityOf(ranges, 'text/plain')
}

export function metricsWantJson(format: string | undefined, accept: string | undefined, contentType: string | undefined): boolean {
  if (format === 'json') return true
  if (format === 'prometheus' || format === 'text') return false
  if (prefersJson(accept)) return true
  return contentType?.split(';')[0]?.trim().toLowerCase() === 'application/json'
}
