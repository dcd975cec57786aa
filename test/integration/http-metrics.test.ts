/**
 * `/metrics` and `/metrics/prometheus` against a real server: the text exposition parses (every
 * sample `name{labels} value`, every family with HELP and TYPE before its samples) and the
 * negotiation answers JSON to flashQ's clients and text to Prometheus and curl.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startServer, type TestServer } from '../harness/server.ts'
import { freshQueue } from './commands-kit.ts'
import { HttpClient } from './http-kit.ts'

let server: TestServer
let http: HttpClient

beforeAll(async () => {
  server = await startServer()
  http = new HttpClient(`http://127.0.0.1:${server.httpPort}`)
  await http.data('POST', `/queues/${freshQueue('prom')}/jobs`, { data: 1 })
  await http.data('POST', '/workers/w/heartbeat', { queues: ['a'] })
})
afterAll(() => server.cleanup())

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/

/** Parses Prometheus text 0.0.4; throws naming the first bad line. Returns samples per family. */
function parseExposition(text: string): Map<string, number> {
  const help = new Set<string>()
  const types = new Map<string, string>()
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line)
    if (comment) {
      if (comment[1] === 'HELP') help.add(comment[2] as string)
      else if (['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(comment[3] as string)) types.set(comment[2] as string, comment[3] as string)
      else throw new Error(`bad TYPE line: ${line}`)
      continue
    }
    const sample = sampleLine.exec(line)
    if (!sample) throw new Error(`not a sample line: ${line}`)
    const name = sample[1] as string
    const familyName = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '')
    if (!help.has(familyName) || !types.has(familyName)) throw new Error(`sample before its HELP and TYPE: ${line}`)
    samples.set(familyName, (samples.get(familyName) ?? 0) + 1)
  }
  for (const name of types.keys()) if (!help.has(name)) throw new Error(`TYPE without HELP: ${name}`)
  return samples
}

test('the Prometheus text parses and has every flashq_* family of spec §5.5', async () => {
  for (const path of ['/metrics/prometheus', '/metrics']) {
    const response = await fetch(http.base + path, { headers: { Accept: '*/*' } }) // as Prometheus and curl send
    expect(response.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
    const samples = parseExposition(await response.text())
    for (const family of [
      'flashq_jobs_pushed_total', 'flashq_jobs_completed_total', 'flashq_jobs_failed_total', 'flashq_jobs_current',
      'flashq_throughput_per_second', 'flashq_latency_ms', 'flashq_queue_jobs', 'flashq_workers_active',
    ]) expect(samples.get(family) ?? 0).toBeGreaterThan(0)
  }
})

test('the parser used above rejects what is not exposition text', () => {
  expect(() => parseExposition('flashq_x 1\n')).toThrow('before its HELP')
  expect(() => parseExposition('# HELP a b\n# TYPE a gauge\na{x=1} 2\n')).toThrow('not a sample')
})

test('negotiation: JSON for flashQ clients and format=json, text for Prometheus; Vary: Accept', async () => {
  const asClients = await fetch(`${http.base}/metrics`, { headers: { Accept: '*/*', 'Content-Type': 'application/json' } })
  expect(asClients.headers.get('vary')).toContain('Accept')
  expect(await asClients.json()).toMatchObject({ ok: true, data: { total_pushed: 1 } })
  expect(await (await fetch(`${http.base}/metrics?format=json`)).json()).toMatchObject({ ok: true })
  expect(await (await fetch(`${http.base}/metrics`, { headers: { Accept: 'application/json' } })).json()).toMatchObject({ ok: true })
  const asPrometheus = await fetch(`${http.base}/metrics`, { headers: { Accept: 'text/plain;version=0.0.4;q=0.9,*/*;q=0.1' } })
  expect(await asPrometheus.text()).toContain('# TYPE flashq_jobs_pushed_total counter')
  const forcedText = await fetch(`${http.base}/metrics?format=prometheus`, { headers: { 'Content-Type': 'application/json' } })
  expect(forcedText.headers.get('content-type')).toStartWith('text/plain')
})

test('flashq_storage_* families count the durable pushes; /storage/stats has the same histograms', async () => {
  const queue = freshQueue('storage-metrics')
  for (let i = 0; i < 5; i++) await http.data('POST', `/queues/${queue}/jobs`, { data: i })
  await http.data('POST', '/storage/checkpoint')
  const text = await (await fetch(`${http.base}/metrics?format=text`)).text()
  const samples = parseExposition(text)
  for (const family of [
    'flashq_storage_flushes_total', 'flashq_storage_syncs_total', 'flashq_storage_records_total', 'flashq_storage_written_bytes_total',
    'flashq_storage_checkpoints_total', 'flashq_storage_checkpoint_duration_seconds_total', 'flashq_storage_last_checkpoint_duration_seconds',
  ]) {
    expect(samples.get(family) ?? 0).toBeGreaterThan(0)
    const perShard = [...text.matchAll(new RegExp(`^${family}\\{shard="\\d+"\\} (\\S+)$`, 'gm'))].map((match) => Number(match[1]))
    expect(perShard.length).toBe(samples.get(family) as number)
    expect(perShard.reduce((total, one) => total + one, 0)).toBeGreaterThan(0)
  }
  const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}+"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1])
  const flushes = value('flashq_storage_flush_latency_seconds_count')
  // Every push above was acknowledged after its own durable flush, at least (the checkpoint may add none).
  expect(flushes).toBeGreaterThanOrEqual(6)
  expect(value('flashq_storage_flush_latency_seconds_bucket{le="+Inf"}')).toBe(flushes)
  expect(value('flashq_storage_flush_records_count')).toBe(flushes)
  expect(value('flashq_storage_flush_records_sum')).toBeGreaterThanOrEqual(6)
  expect(value('flashq_storage_flush_latency_seconds_sum')).toBeGreaterThan(0)

  const stats = await http.data<Record<string, any>>('GET', '/storage/stats')
  for (const name of ['flush_latency_seconds', 'flush_records']) {
    const histogram = stats[name] as { count: number; sum: number; buckets: Array<{ le: number | null; count: number }> }
    expect(histogram.count).toBeGreaterThanOrEqual(flushes)
    expect(histogram.buckets.reduce((total, bucket) => total + bucket.count, 0)).toBe(histogram.count)
    expect(histogram.buckets.at(-1)?.le).toBeNull()
  }
  expect(stats.shards.some((shard: { last_checkpoint_duration_ms: number }) => shard.last_checkpoint_duration_ms > 0)).toBe(true)
})

test('the queued_* families come first, then the flashq_* ones, on both routes (queued-api.md §3.8)', async () => {
  for (const path of ['/metrics', '/metrics/prometheus']) {
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}${path}`)).text()
    const families = [...text.matchAll(/^# TYPE (\w+) /gm)].map((match) => match[1] as string)
    const lastQueued = families.findLastIndex((name) => name.startsWith('queued_'))
    const firstFlashq = families.findIndex((name) => name.startsWith('flashq_'))
    expect(lastQueued).toBeGreaterThan(0)
    expect(firstFlashq).toBeGreaterThan(lastQueued)
    expect(families.slice(0, lastQueued + 1).every((name) => name.startsWith('queued_'))).toBe(true)
  }
})
