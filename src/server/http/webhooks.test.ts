/** Webhook URL validation (spec §5.6) and the per-URL circuit breaker, on a fake clock. */
import { describe, expect, test } from 'bun:test'
import { webhookBreakerFailuresMax, webhookBreakerOpenMs } from '../../base/limits.ts'
import { webhookUrlProblem } from './webhook-url.ts'
import { CircuitBreaker } from './webhooks.ts'

describe('webhook URL validation', () => {
  test('public http(s) URLs pass', () => {
    for (const url of ['https://example.com/hook', 'http://hooks.example.org:8080/x?y=1', 'https://93.184.216.34/h', 'https://[2606:4700::6810:85e5]/h']) {
      expect({ url, problem: webhookUrlProblem(url) }).toEqual({ url, problem: null })
    }
  })

  test('schemes other than http(s), credentials and garbage are refused', () => {
    for (const url of ['ftp://example.com/x', 'file:///etc/passwd', 'gopher://example.com', 'javascript:alert(1)', 'not a url', 'https://user:pw@example.com/']) {
      expect({ url, refused: webhookUrlProblem(url) !== null }).toEqual({ url, refused: true })
    }
  })

  test('loopback, private, link-local, CGNAT, documentation and mapped addresses are refused', () => {
    const refused = [
      'http://127.0.0.1/', 'http://127.8.9.10:81/', 'http://0.0.0.0/', 'http://10.1.2.3/', 'http://172.16.0.1/', 'http://172.31.255.255/',
      'http://192.168.1.1/', 'http://169.254.169.254/latest/meta-data', 'http://100.64.0.1/', 'http://100.127.255.254/',
      'http://192.0.2.1/', 'http://198.51.100.7/', 'http://203.0.113.9/', 'http://[::1]/', 'http://[::]/', 'http://[fc00::1]/',
      'http://[fd12:3456::1]/', 'http://[fe80::1]/', 'http://[2001:db8::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:10.0.0.1]/',
      'http://2130706433/', 'http://0x7f.0.0.1/',
    ]
    for (const url of refused) expect({ url, refused: webhookUrlProblem(url) !== null }).toEqual({ url, refused: true })
    // Just outside the blocked ranges.
    for (const url of ['http://172.32.0.1/', 'http://100.128.0.1/', 'http://11.0.0.1/', 'http://192.169.0.1/']) {
      expect({ url, problem: webhookUrlProblem(url) }).toEqual({ url, problem: null })
    }
  })

  test('internal names and metadata hosts are refused', () => {
    for (const url of ['http://localhost:8080/', 'http://LOCALHOST/', 'http://printer.local/', 'http://a.localhost/', 'http://db.internal/',
      'http://nas.lan/', 'http://svc.ns.svc.cluster.local/', 'http://metadata.google.internal/', 'http://metadata/', 'http://localhost./']) {
      expect({ url, refused: webhookUrlProblem(url) !== null }).toEqual({ url, refused: true })
    }
  })

  test('allowPrivate lifts the address rules, not the scheme rule', () => {
    expect(webhookUrlProblem('http://127.0.0.1:9/', true)).toBeNull()
    expect(webhookUrlProblem('ftp://127.0.0.1/', true)).not.toBeNull()
  })
})

describe('circuit breaker', () => {
  test(`${webhookBreakerFailuresMax} consecutive failures open it; half-open after the wait; 2 successes close it`, () => {
    const breaker = new CircuitBreaker()
    let now = 1000
    for (let i = 1; i < webhookBreakerFailuresMax; i++) breaker.failed(now)
    expect(breaker.state(now)).toBe('closed')
    breaker.succeeded(now) // a success resets the count
    for (let i = 1; i < webhookBreakerFailuresMax; i++) breaker.failed(now)
    expect(breaker.allows(now)).toBe(true)
    breaker.failed(now)
    expect(breaker.state(now)).toBe('open')
    expect(breaker.allows(now + webhookBreakerOpenMs - 1)).toBe(false)
    now += webhookBreakerOpenMs
    expect(breaker.state(now)).toBe('half-open')
    breaker.succeeded(now)
    expect(breaker.state(now)).toBe('half-open')
    breaker.succeeded(now)
    expect(breaker.state(now)).toBe('closed')
  })

  test('a failure while half-open opens it again at once', () => {
    const breaker = new CircuitBreaker()
    for (let i = 0; i < webhookBreakerFailuresMax; i++) breaker.failed(0)
    expect(breaker.state(webhookBreakerOpenMs)).toBe('half-open')
    breaker.failed(webhookBreakerOpenMs)
    expect(breaker.state(webhookBreakerOpenMs + 1)).toBe('open')
  })
})
