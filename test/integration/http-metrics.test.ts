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
