import { describe, expect, test } from 'bun:test'
import { family, metricsWantJson, prefersJson } from './prometheus.ts'

describe('/metrics negotiation (spec §5.3, issue 9)', () => {
  test('format wins, then an Accept that prefers JSON, then Content-Type: application/json; text otherwise', () => {
    expect(metricsWantJson('json', 'text/plain', undefined)).toBe(true)
    expect(metricsWantJson('prometheus', 'application/json', 'application/json')).toBe(false)
    expect(metricsWantJson('text', undefined, 'application/json')).toBe(false)
    expect(metricsWantJson(undefined, 'application/json', undefined)).toBe(true)
    // flashQ's dashboard, SDK and MCP: Accept */* with Content-Type: application/json.
    expect(metricsWantJson(undefined, '*/*', 'application/json')).toBe(true)
    expect(metricsWantJson(undefined, '*/*', 'application/json; charset=utf-8')).toBe(true)
    // Prometheus and curl.
    expect(metricsWantJson(undefined, '*/*', undefined)).toBe(false)
    expect(metricsWantJson(undefined, undefined, undefined)).toBe(false)
    expect(metricsWantJson(undefined, 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', undefined)).toBe(false)
  })

  test('"prefers" means a strictly higher q than text/plain gets, directly or through text/* or */*', () => {
    expect(prefersJson('application/json, text/plain')).toBe(false)
    expect(prefersJson('application/json, text/plain;q=0.9')).toBe(true)
    expect(prefersJson('application/json;q=0.5, text/*;q=0.4')).toBe(true)
    expect(prefersJson('application/json;q=0.5, */*;q=0.5')).toBe(false)
    expect(prefersJson('application/*, text/plain;q=0.2')).toBe(true)
    expect(prefersJson('text/html')).toBe(false)
  })

  test('families carry HELP and TYPE; labels are escaped', () => {
    expect(family('x_total', 'counter', 'Things.', [{ value: 3 }, { labels: { queue: 'a"b\\c' }, value: 1.5 }])).toBe(
      '# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\nx_total{queue="a\\"b\\\\c"} 1.50\n',
    )
  })
})
