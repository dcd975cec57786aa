import { describe, expect, test } from 'bun:test'
import { prng, seedFromEnv } from '../base/prng.ts'
import { type CommandName, commandNames, commandSchemas, parseCommand, parseWithSchema, requestIdOf, validateQueueName } from './commands.ts'
import { fastParsers } from './commands-fast.ts'

const ok = (input: unknown) => {
  const result = parseCommand(input)
  if (!result.ok) throw new Error(`expected ok, got ${result.error}`)
  return result.command as Record<string, unknown>
}
const error = (input: unknown) => {
  const result = parseCommand(input)
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result.command)}`)
  return result.error
}

describe('envelope', () => {
  test('the 62 reference commands, PING, DROPDEP, CHANGEDELAY and REMOVEJOB have a schema', () => {
    expect(commandNames.length).toBe(66)
    for (const name of commandNames) expect(name as string).toBe(name.toUpperCase())
  })

  test('cmd is case-sensitive and required', () => {
    expect(error({ cmd: 'push' })).toBe("Invalid: unknown command 'push'")
    expect(error({ queue: 'q' })).toBe("Invalid: missing field 'cmd'")
    expect(error({ cmd: 5 })).toBe("Invalid: field 'cmd' must be a string")
    expect(error([1])).toBe('Invalid: request must be an object')
    expect(error('PING')).toBe('Invalid: request must be an object')
  })

  test('unknown fields are ignored and reqId is not part of the command', () => {
    expect(ok({ cmd: 'PING', reqId: 'r', _compressed: 'x' })).toEqual({ cmd: 'PING' })
  })

  test('requestIdOf', () => {
    expect(requestIdOf({ cmd: 'nope', reqId: 'r1' })).toBe('r1')
    expect(requestIdOf({ reqId: 5 })).toBeUndefined()
    expect(requestIdOf([])).toBeUndefined()
    expect(requestIdOf(null)).toBeUndefined()
  })

  test('error texts never carry zod JSON', () => {
    for (const name of commandNames) {
      if (['LISTQUEUES', 'STATS', 'METRICS', 'CRONLIST', 'PING', 'GETJOBS', 'KVKEYS'].includes(name)) continue
      const text = error({ cmd: name, queue: 5, id: 'x', key: 7, ids: 'x', jobs: 1, children: 1, name: 1, job_id: 1, parent_id: 'x', keys: 1, entries: 1 })
      expect(text).not.toContain('{')
      expect(text).not.toContain('expected')
    }
  })
})

describe('queue names', () => {
  test('the spec messages', () => {
    expect(error({ cmd: 'PUSH', queue: '', data: 1 })).toBe('Queue name cannot be empty')
    expect(error({ cmd: 'PULL', queue: 'x'.repeat(257) })).toBe('Queue name too long (max 256 chars)')
    expect(error({ cmd: 'PAUSE', queue: 'a/b' })).toBe(
      'Queue name must contain only alphanumeric characters, underscores, hyphens, or dots',
    )
    expect(error({ cmd: 'PUSH', queue: 7, data: 1 })).toBe("Invalid: field 'queue' must be a string")
    expect(error({ cmd: 'PUSH', data: 1 })).toBe("Invalid: missing field 'queue'")
  })

  test('Unicode letters and digits, 256 characters', () => {
    expect(validateQueueName('emails.high-priority_2')).toBeNull()
    expect(validateQueueName('ünïcödé_队列_٣')).toBeNull()
    expect(validateQueueName('x'.repeat(256))).toBeNull()
    expect(validateQueueName('😀')).not.toBeNull()
    expect(validateQueueName('é'.repeat(256))).toBeNull()
    expect(validateQueueName('a b')).not.toBeNull()
  })
})

describe('PUSH and PUSHB', () => {
  test('defaults, null as absent', () => {
    expect(ok({ cmd: 'PUSH', queue: 'q', data: { a: 1 }, priority: null, lifo: null, delay: null })).toEqual({
      cmd: 'PUSH',
      queue: 'q',
      data: { a: 1 },
      priority: 0,
      lifo: false,
      remove_on_complete: false,
      remove_on_fail: false,
      debounce_ttl: 5000,
    })
  })

  test('data is required but may be null', () => {
    expect(error({ cmd: 'PUSH', queue: 'q' })).toBe("Invalid: missing field 'data'")
    expect(ok({ cmd: 'PUSH', queue: 'q', data: null }).data).toBeNull()
  })

  test('every field', () => {
    const full = {
      cmd: 'PUSH',
      queue: 'q',
      data: [1],
      priority: -3,
      delay: 10,
      ttl: 20,
      timeout: 30,
      max_attempts: 3,
      backoff: 100,
      unique_key: 'u',
      depends_on: [1, 2],
      tags: ['t'],
      lifo: true,
      remove_on_complete: true,
      remove_on_fail: true,
      stall_timeout: 40,
      debounce_id: 'd',
      debounce_ttl: 50,
      job_id: 'j',
      keep_completed_age: 60,
      keep_completed_count: 70,
      group_id: 'g',
    }
    expect(ok({ ...full, reqId: 'r' })).toEqual(full)
  })

  test('strict numbers', () => {
    expect(error({ cmd: 'PUSH', queue: 'q', data: 1, priority: 1.5 })).toBe("Invalid: field 'priority' must be an integer")
    expect(error({ cmd: 'PUSH', queue: 'q', data: 1, priority: '1' })).toBe("Invalid: field 'priority' must be an integer")
    expect(error({ cmd: 'PUSH', queue: 'q', data: 1, priority: 2 ** 31 })).toBe("Invalid: field 'priority' must be at most 2147483647")
    expect(error({ cmd: 'PUSH', queue: 'q', data: 1, delay: -1 })).toBe("Invalid: field 'delay' must not be negative")
    expect(error({ cmd: 'PUSH', queue: 'q', data: 1, max_attempts: 2 ** 32 })).toBe("Invalid: field 'max_attempts' must be at most 4294967295")
    expect(error({ cmd: 'PUSH', queue: 'q', data: 1, ttl: 2 ** 53 })).toBe("Invalid: field 'ttl' is too large (max 2^53-1)")
    expect(error({ cmd: 'PUSH', queue: 'q', data: 1, lifo: 1 })).toBe("Invalid: field 'lifo' must be a boolean")
    expect(error({ cmd: 'PUSH', queue: 'q', data: 1, depends_on: [1, -2] })).toBe("Invalid: field 'depends_on[1]' must not be negative")
    expect(error({ cmd: 'PUSH', queue: 'q', data: 1, tags: 'a' })).toBe("Invalid: field 'tags' must be an array")
  })

  test('PUSHB items default data to null; errors name the item', () => {
    const command = ok({ cmd: 'PUSHB', queue: 'q', jobs: [{}, { data: 2, priority: null }] })
    expect(command.jobs).toEqual([
      { data: null, priority: 0, lifo: false, remove_on_complete: false, remove_on_fail: false, debounce_ttl: 5000 },
      { data: 2, priority: 0, lifo: false, remove_on_complete: false, remove_on_fail: false, debounce_ttl: 5000 },
    ])
    expect(error({ cmd: 'PUSHB', queue: 'q', jobs: [{}, { priority: 'x' }] })).toBe(
      "Invalid: field 'jobs[1].priority' must be an integer",
    )
    expect(error({ cmd: 'PUSHB', queue: 'q' })).toBe("Invalid: missing field 'jobs'")
  })

  test('PUSHB batch size', () => {
    expect(ok({ cmd: 'PUSHB', queue: 'q', jobs: new Array(1000).fill({}) }).jobs).toHaveLength(1000)
    expect(error({ cmd: 'PUSHB', queue: 'q', jobs: new Array(1001).fill({}) })).toBe('Batch too large (max 1000 jobs)')
  })
})

describe('pull, ack, fail', () => {
  test('PULL and PULLB defaults', () => {
    expect(ok({ cmd: 'PULL', queue: 'q' })).toEqual({ cmd: 'PULL', queue: 'q', timeout: 60_000 })
    expect(ok({ cmd: 'PULL', queue: 'q', timeout: 0 })).toEqual({ cmd: 'PULL', queue: 'q', timeout: 0 })
    expect(ok({ cmd: 'PULLB', queue: 'q', count: 100, timeout: 500 })).toEqual({ cmd: 'PULLB', queue: 'q', count: 100, timeout: 500 })
    expect(error({ cmd: 'PULLB', queue: 'q' })).toBe("Invalid: missing field 'count'")
    expect(ok({ cmd: 'PULLB', queue: 'q', count: 5000 }).count).toBe(1000)
    expect(ok({ cmd: 'PULL', queue: 'q', timeout: 10 ** 12 }).timeout).toBe(24 * 60 * 60 * 1000)
  })

  test('ACK, ACKB, FAIL', () => {
    expect(ok({ cmd: 'ACK', id: 5 })).toEqual({ cmd: 'ACK', id: 5 })
    expect(ok({ cmd: 'ACK', id: 5, result: null }).result).toBeUndefined()
    expect(ok({ cmd: 'ACK', id: 5, result: { r: 1 } }).result).toEqual({ r: 1 })
    expect(error({ cmd: 'ACK', id: -1 })).toBe("Invalid: field 'id' must not be negative")
    expect(error({ cmd: 'ACK', id: 1.5 })).toBe("Invalid: field 'id' must be an integer")
    expect(error({ cmd: 'ACK' })).toBe("Invalid: missing field 'id'")
    expect(ok({ cmd: 'ACKB', ids: [1, 2] })).toEqual({ cmd: 'ACKB', ids: [1, 2] })
    expect(ok({ cmd: 'FAIL', id: 1, error: null })).toEqual({ cmd: 'FAIL', id: 1 })
    expect(ok({ cmd: 'FAIL', id: 1, error: 'boom' }).error).toBe('boom')
    expect(ok({ cmd: 'FAIL', id: 1, retry_delay: 250 }).retry_delay).toBe(250)
  })

  test('WAITJOB default timeout', () => {
    expect(ok({ cmd: 'WAITJOB', id: 1 })).toEqual({ cmd: 'WAITJOB', id: 1, timeout: 30_000 })
  })
})

describe('job management', () => {
  test('LOG, GETLOGS and HEARTBEAT accept job_id as an alias of id', () => {
    expect(ok({ cmd: 'LOG', job_id: 7, message: 'm' })).toEqual({ cmd: 'LOG', id: 7, message: 'm', level: 'info' })
    expect(ok({ cmd: 'LOG', id: 7, message: 'm', level: null }).level).toBe('info')
    expect(ok({ cmd: 'GETLOGS', job_id: 7 })).toEqual({ cmd: 'GETLOGS', id: 7 })
    expect(ok({ cmd: 'HEARTBEAT', job_id: 7, id: null })).toEqual({ cmd: 'HEARTBEAT', id: 7 })
    expect(ok({ cmd: 'HEARTBEAT', id: 8, job_id: 7 })).toEqual({ cmd: 'HEARTBEAT', id: 8 })
    expect(error({ cmd: 'HEARTBEAT' })).toBe("Invalid: missing field 'id'")
  })

  test('PROGRESS clamps to 100', () => {
    expect(ok({ cmd: 'PROGRESS', id: 1, progress: 250, message: 'half' })).toEqual({ cmd: 'PROGRESS', id: 1, progress: 100, message: 'half' })
    expect(ok({ cmd: 'PROGRESS', id: 1, progress: 50 }).progress).toBe(50)
    expect(error({ cmd: 'PROGRESS', id: 1, progress: -1 })).toBe("Invalid: field 'progress' must not be negative")
  })

  test('DLQ, RETRYDLQ, CHANGEPRIORITY, MOVETODELAYED, UPDATEJOB, PARTIAL', () => {
    expect(ok({ cmd: 'DLQ', queue: 'q' })).toEqual({ cmd: 'DLQ', queue: 'q', count: 100 })
    expect(ok({ cmd: 'RETRYDLQ', queue: 'q', id: null })).toEqual({ cmd: 'RETRYDLQ', queue: 'q' })
    expect(ok({ cmd: 'CHANGEPRIORITY', id: 1, priority: -9 })).toEqual({ cmd: 'CHANGEPRIORITY', id: 1, priority: -9 })
    expect(error({ cmd: 'MOVETODELAYED', id: 1 })).toBe("Invalid: missing field 'delay'")
    expect(error({ cmd: 'UPDATEJOB', id: 1 })).toBe("Invalid: missing field 'data'")
    expect(ok({ cmd: 'PARTIAL', id: 1, data: 'c', index: 2 })).toEqual({ cmd: 'PARTIAL', id: 1, data: 'c', index: 2 })
  })
})

describe('queue control', () => {
  test('GETJOBS defaults and cap', () => {
    expect(ok({ cmd: 'GETJOBS' })).toEqual({ cmd: 'GETJOBS', limit: 100, offset: 0 })
    expect(ok({ cmd: 'GETJOBS', queue: 'q', state: 'waiting', limit: 5000, offset: 3 })).toEqual({
      cmd: 'GETJOBS',
      queue: 'q',
      state: 'waiting',
      limit: 1000,
      offset: 3,
    })
    expect(error({ cmd: 'GETJOBS', queue: '' })).toBe('Queue name cannot be empty')
  })

  test('RATELIMIT, SETCONCURRENCY, CLEAN', () => {
    expect(ok({ cmd: 'RATELIMIT', queue: 'q', limit: 0 })).toEqual({ cmd: 'RATELIMIT', queue: 'q', limit: 0 })
    expect(error({ cmd: 'SETCONCURRENCY', queue: 'q', limit: -1 })).toBe("Invalid: field 'limit' must not be negative")
    expect(ok({ cmd: 'CLEAN', queue: 'q', grace: 0, state: 'Failed' })).toEqual({ cmd: 'CLEAN', queue: 'q', grace: 0, state: 'Failed' })
  })
})

describe('cron, flows, events, auth', () => {
  test('CRON', () => {
    expect(ok({ cmd: 'CRON', name: 'n', queue: 'q', data: {}, schedule: '*/5', limit: null })).toEqual({
      cmd: 'CRON',
      name: 'n',
      queue: 'q',
      data: {},
      schedule: '*/5',
      priority: 0,
    })
    expect(error({ cmd: 'CRON', name: 'n', queue: 'q', data: {}, schedule: null })).toBe(
      "Must provide either 'schedule' or 'repeat_every'",
    )
    expect(error({ cmd: 'CRON', name: 'n', queue: 'q', data: {}, schedule: '*'.repeat(257) })).toBe(
      'Cron schedule too long (257 chars, max 256 chars)',
    )
    expect(ok({ cmd: 'CRON', name: 'n', queue: 'q', data: 1, repeat_every: 1000 }).repeat_every).toBe(1000)
  })

  test('FLOW', () => {
    expect(ok({ cmd: 'FLOW', queue: 'p', data: 1, children: [{ queue: 'c', data: 2, priority: null }] })).toEqual({
      cmd: 'FLOW',
      queue: 'p',
      data: 1,
      priority: 0,
      children: [{ queue: 'c', data: 2, priority: 0 }],
    })
    expect(error({ cmd: 'FLOW', queue: 'p', data: 1, children: [] })).toBe('Flow must have at least one child')
    expect(error({ cmd: 'FLOW', queue: 'p', data: 1, children: [{ queue: 'a b', data: 1 }] })).toBe(
      'Queue name must contain only alphanumeric characters, underscores, hyphens, or dots',
    )
    expect(ok({ cmd: 'GETCHILDREN', parent_id: 4 })).toEqual({ cmd: 'GETCHILDREN', parent_id: 4 })
  })

  test('SUBSCRIBE, AUTH, PING', () => {
    expect(ok({ cmd: 'SUBSCRIBE', queue: 'q' })).toEqual({ cmd: 'SUBSCRIBE', queue: 'q', events: [] })
    expect(ok({ cmd: 'UNSUBSCRIBE', queue: 'q' })).toEqual({ cmd: 'UNSUBSCRIBE', queue: 'q' })
    expect(ok({ cmd: 'AUTH', token: 't' })).toEqual({ cmd: 'AUTH', token: 't' })
    expect(error({ cmd: 'AUTH' })).toBe("Invalid: missing field 'token'")
    expect(ok({ cmd: 'PING' })).toEqual({ cmd: 'PING' })
  })
})

describe('key-value store', () => {
  test('keys', () => {
    expect(error({ cmd: 'KVGET', key: '' })).toBe('Key cannot be empty')
    expect(error({ cmd: 'KVSET', key: 'é'.repeat(513), value: 1 })).toBe('Key too long (1026 > 1024 bytes)')
    expect(ok({ cmd: 'KVSET', key: 'x'.repeat(1024), value: null })).toEqual({ cmd: 'KVSET', key: 'x'.repeat(1024), value: null })
  })

  test('KVINCR by is a safe integer, default 1', () => {
    expect(ok({ cmd: 'KVINCR', key: 'k' })).toEqual({ cmd: 'KVINCR', key: 'k', by: 1 })
    expect(ok({ cmd: 'KVINCR', key: 'k', by: -5 }).by).toBe(-5)
    expect(ok({ cmd: 'KVINCR', key: 'k', by: null }).by).toBe(1)
    expect(error({ cmd: 'KVINCR', key: 'k', by: 0.5 })).toBe("Invalid: field 'by' must be an integer")
  })

  test('KVMGET uses the first 1000 keys; KVMSET rejects more than 1000 entries', () => {
    expect(ok({ cmd: 'KVMGET', keys: Array.from({ length: 1500 }, (_, index) => `k${index}`) }).keys).toHaveLength(1000)
    expect(error({ cmd: 'KVMSET', entries: new Array(1001).fill({ key: 'k', value: 1 }) })).toBe('Too many entries (1001 > 1000)')
    expect(ok({ cmd: 'KVMSET', entries: [{ key: '', value: 1, ttl: null }] })).toEqual({ cmd: 'KVMSET', entries: [{ key: '', value: 1 }] })
  })

  test('KVEXPIRE, KVTTL, KVKEYS', () => {
    expect(error({ cmd: 'KVEXPIRE', key: 'k' })).toBe("Invalid: missing field 'ttl'")
    expect(ok({ cmd: 'KVTTL', key: 'k' })).toEqual({ cmd: 'KVTTL', key: 'k' })
    expect(ok({ cmd: 'KVKEYS', pattern: null })).toEqual({ cmd: 'KVKEYS' })
  })
})

describe('fast paths agree with zod', () => {
  const hot = ['PUSH', '_PUSHJOB', 'PUSHB', 'PULL', 'PULLB', 'ACK', 'ACKB', 'FAIL'] as const

  const seed = seedFromEnv()
  const random = prng(seed)
  const valid = {
    queue: ['q', 'emails.high-priority_2', 'ünï'],
    u64: [0, 1, 42, 60_000, 2 ** 40, 2 ** 53 - 1],
    i32: [0, -5, 7, 2 ** 31 - 1, -(2 ** 31)],
    any: [null, 0, 'x', { a: [1, { b: null }] }, [1, 2], true],
    string: ['', 's', 'é😀'],
    bool: [true, false],
  }
  const invalid = ['1', 1.5, -1, 2 ** 53, 2 ** 64, true, [], {}, Number.NaN, 'q q', '', 'x'.repeat(257), 2 ** 32, -(2 ** 31) - 1]
  type Kind = keyof typeof valid
  const fieldKinds: Record<string, Kind> = {
    queue: 'queue', data: 'any', priority: 'i32', delay: 'u64', ttl: 'u64', timeout: 'u64', max_attempts: 'u64',
    backoff: 'u64', unique_key: 'string', depends_on: 'u64', tags: 'string', lifo: 'bool', remove_on_complete: 'bool',
    remove_on_fail: 'bool', stall_timeout: 'u64', debounce_id: 'string', debounce_ttl: 'u64', job_id: 'string',
    keep_completed_age: 'u64', keep_completed_count: 'u64', group_id: 'string', count: 'u64', id: 'u64', result: 'any',
    error: 'string', jobId: 'string', keepCompletedAge: 'u64', keepCompletedCount: 'u64', retry_delay: 'u64', sparse: 'bool',
  }
  const arrayFields = new Set(['depends_on', 'tags', 'ids'])

  /** A value for a field: mostly valid, sometimes absent, null or wrong. */
  function fieldValue(field: string, invalidRate: number): unknown {
    const roll = random.next()
    if (roll < 0.2) return undefined
    if (roll < 0.3) return null
    const kind: Kind = field === 'ids' ? 'u64' : (fieldKinds[field] ?? 'any')
    const one = () => (random.next() < invalidRate ? random.pick(invalid) : random.pick(valid[kind] as unknown[]))
    if (arrayFields.has(field)) return random.next() < invalidRate / 2 ? one() : Array.from({ length: random.int(4) }, one)
    return one()
  }

  function object(fields: string[], invalidRate: number): Record<string, unknown> {
    const result: Record<string, unknown> = {}
    for (const field of fields) {
      const value = fieldValue(field, invalidRate)
      if (value !== undefined) result[field] = value
    }
    return result
  }

  // The 21 PUSH fields, plus the Go client's camelCase aliases.
  const pushFields = [...Object.keys(fieldKinds).slice(0, 21), 'jobId', 'keepCompletedAge', 'keepCompletedCount']
  function randomInput(name: (typeof hot)[number], invalidRate: number): Record<string, unknown> {
    switch (name) {
      case 'PUSH':
      case '_PUSHJOB':
        return { cmd: name, ...object(pushFields, invalidRate) }
      case 'PUSHB': {
        const jobs = Array.from({ length: random.int(5) }, () => object(pushFields.slice(1), invalidRate))
        return { cmd: name, ...object(['queue'], invalidRate), jobs: random.next() < 0.05 ? 'x' : jobs }
      }
      case 'PULL':
        return { cmd: name, ...object(['queue', 'timeout'], invalidRate) }
      case 'PULLB':
        return { cmd: name, ...object(['queue', 'count', 'timeout', 'sparse'], invalidRate) }
      case 'ACK':
        return { cmd: name, ...object(['id', 'result'], invalidRate) }
      case 'ACKB':
        return { cmd: name, ...object(['ids'], invalidRate) }
      case 'FAIL':
        return { cmd: name, ...object(['id', 'error', 'retry_delay'], invalidRate) }
    }
  }

  /**
   * Wherever a fast parser accepts, zod must accept with an equal result, and parseCommand must give
   * exactly zod's answer; most valid inputs must take the fast path.
   */
  function checkAgreement(names: readonly (keyof typeof fastParsers & CommandName)[], rounds: number, inputOf: (name: string, invalidRate: number) => Record<string, unknown>): void {
    let fastHits = 0
    let zodAccepted = 0
    for (let round = 0; round < rounds; round++) {
      const name = names[round % names.length] as keyof typeof fastParsers & CommandName
      const input = inputOf(name, round % 3 === 0 ? 0 : 0.05)
      const viaZod = parseWithSchema(name, input)
      const fast = (fastParsers[name] as (input: Record<string, unknown>) => unknown)(input)
      if (viaZod.ok) zodAccepted++
      if (fast !== null) {
        fastHits++
        if (!viaZod.ok) throw new Error(`fast path accepted what zod rejects (${viaZod.error}): ${JSON.stringify(input)}`)
        expect(fast).toEqual(viaZod.command)
      }
      expect(parseCommand(input, { internal: true })).toEqual(viaZod)
    }
    // Nearly every valid input (all but non-ASCII queue names) must take the fast path.
    expect(fastHits).toBeGreaterThan(zodAccepted * 0.5)
  }

  test('random valid and invalid inputs', () => {
    console.log(`fast-path agreement seed=${seed}`)
    checkAgreement(hot, 20_000, (name, rate) => randomInput(name as (typeof hot)[number], rate))
  })

  // The queued API's internal commands, as the HTTP front builds them, and broken the ways it never does.
  const tag = 'ab'.repeat(30)
  const queuedInvalid = [...invalid, tag.toUpperCase(), `${tag}0`, 604_800_001, null, undefined]
  function queuedValue(validValue: unknown, invalidRate: number): unknown {
    return random.next() < invalidRate ? random.pick(queuedInvalid) : validValue
  }
  function randomQueuedInput(name: string, invalidRate: number): Record<string, unknown> {
    const queue = queuedValue(random.pick(valid.queue), invalidRate)
    const visibility = () => queuedValue(random.pick([0, 1000, 604_800_000]), invalidRate)
    const list = <T>(make: () => T) => queuedValue(Array.from({ length: random.int(4) }, make), invalidRate / 4)
    switch (name) {
      case '_QPUSH':
        return { cmd: name, queue, messages: list(() => ({ contents: queuedValue(random.pick(valid.string), invalidRate), delay_ms: visibility() })) }
      case '_QPOLL':
        return { cmd: name, queue, visibility_ms: visibility(), tags: list(() => queuedValue(tag, invalidRate)) }
      case '_QDELETE':
        return { cmd: name, queue, items: list(() => ({ id: queuedValue(random.pick(valid.u64), invalidRate), tag: queuedValue(tag, invalidRate), extra: 1 })) }
      default:
        return { cmd: name, queue, id: queuedValue(random.pick(valid.u64), invalidRate), tag: queuedValue(tag, invalidRate), visibility_ms: visibility() }
    }
  }

  test('random valid and invalid queued commands', () => {
    checkAgreement(['_QPUSH', '_QPOLL', '_QDELETE', '_QUPDATE'], 8_000, randomQueuedInput)
  })

  test('the fast path returns one fixed shape for PUSH', () => {
    const fast = fastParsers.PUSH as (input: Record<string, unknown>) => Record<string, unknown>
    expect(Object.keys(fast({ cmd: 'PUSH', queue: 'q', data: 1 }))).toEqual(['cmd', 'queue', 'data', ...Object.keys(commandSchemas.PUSH.in.shape).slice(3, -3)])
  })
})
