import { describe, expect, test } from 'bun:test'
import { FakeClock } from '../base/clock.ts'
import { CronTable, type CronCommand, type CronJob } from './cron.ts'
import type { LogRecord, Reply } from './types.ts'

const at = (iso: string): number => Date.parse(iso)

function harness(startIso = '2024-01-01T00:00:00.000Z') {
  const clock = new FakeClock(at(startIso))
  const table = new CronTable()
  const records: LogRecord[] = []
  const run = (command: CronCommand): Reply => table.execute(command, clock.nowMs(), records)
  const due = () => table.due(clock.nowMs(), records)
  const list = () => table.execute({ cmd: 'CRONLIST' }, clock.nowMs(), []).crons as CronJob[]
  const get = (name: string) => list().find((job) => job.name === name)
  return { clock, table, records, run, due, list, get }
}

function replayed(records: LogRecord[]): CronTable {
  const table = new CronTable()
  for (const record of JSON.parse(JSON.stringify(records)) as LogRecord[]) table.replay(record)
  return table
}

const listOf = (table: CronTable): CronJob[] =>
  (table.execute({ cmd: 'CRONLIST' }, 0, []).crons as CronJob[]).toSorted((a, b) => a.name.localeCompare(b.name))

describe('CRON / CRONDELETE / CRONLIST', () => {
  test('CRONLIST returns CronJob objects with every field in spec order', () => {
    const { run, list, records, clock } = harness()
    expect(run({ cmd: 'CRON', name: 'report', queue: 'mail', data: { to: 'a' }, schedule: '0 * * * *' })).toEqual({
      ok: true,
    })
    expect(run({ cmd: 'CRON', name: 'poll', queue: 'q', data: 1, repeat_every: 5000, priority: 7, limit: 3 })).toEqual({
      ok: true,
    })
    const crons = list()
    expect(crons).toEqual([
      {
        name: 'report',
        queue: 'mail',
        data: { to: 'a' },
        schedule: '0 * * * *',
        repeat_every: null,
        priority: 0,
        next_run: at('2024-01-01T01:00:00Z'),
        executions: 0,
        limit: null,
      },
      {
        name: 'poll',
        queue: 'q',
        data: 1,
        schedule: null,
        repeat_every: 5000,
        priority: 7,
        next_run: clock.nowMs() + 5000,
        executions: 0,
        limit: 3,
      },
    ])
    expect(Object.keys(crons[0]!)).toEqual([
      'name',
      'queue',
      'data',
      'schedule',
      'repeat_every',
      'priority',
      'next_run',
      'executions',
      'limit',
    ])
    expect(records).toEqual([{ t: 'cron.set', ...crons[0] }, { t: 'cron.set', ...crons[1] }])
  })
  test('errors', () => {
    const { run, records, table } = harness()
    const base = { cmd: 'CRON', name: 'c', queue: 'q', data: null } as const
    expect(run(base)).toEqual({ ok: false, error: "Must provide either 'schedule' or 'repeat_every'" })
    expect(run({ ...base, schedule: null, repeat_every: null })).toEqual({
      ok: false,
      error: "Must provide either 'schedule' or 'repeat_every'",
    })
    expect(run({ ...base, schedule: '61 * * * *' })).toEqual({
      ok: false,
      error: "Invalid cron expression '61 * * * *': Invalid value for minute: 61",
    })
    expect(run({ ...base, schedule: '*/0' })).toEqual({ ok: false, error: 'Invalid interval format: */0' })
    expect(run({ ...base, schedule: '1 '.repeat(150) })).toEqual({
      ok: false,
      error: 'Cron schedule too long (300 chars, max 256 chars)',
    })
    // An invalid schedule is refused even when repeat_every would win.
    expect(run({ ...base, schedule: 'nope', repeat_every: 1000 }).ok).toBe(false)
    expect(run({ cmd: 'CRONDELETE', name: 'c' })).toEqual({ ok: false, error: 'Cron job not found' })
    expect(records).toEqual([])
    expect(table.size).toBe(0)
  })
  test('delete', () => {
    const { run, list, records, table } = harness()
    run({ cmd: 'CRON', name: 'c', queue: 'q', data: null, schedule: '* * * * *' })
    expect(run({ cmd: 'CRONDELETE', name: 'c' })).toEqual({ ok: true })
    expect(list()).toEqual([])
    expect(records.at(-1)).toEqual({ t: 'cron.del', name: 'c' })
    expect(table.nextDueMs()).toBe(Infinity)
    expect(run({ cmd: 'CRONDELETE', name: 'c' })).toEqual({ ok: false, error: 'Cron job not found' })
  })
  test('re-using a name replaces the entry', () => {
    const { run, list, clock, due } = harness()
    run({ cmd: 'CRON', name: 'c', queue: 'a', data: 1, repeat_every: 1000 })
    clock.advance(1000)
    expect(due().length).toBe(1)
    run({ cmd: 'CRON', name: 'c', queue: 'b', data: 2, schedule: '*/30' })
    expect(list()).toEqual([
      {
        name: 'c',
        queue: 'b',
        data: 2,
        schedule: '*/30',
        repeat_every: null,
        priority: 0,
        next_run: clock.nowMs() + 30_000,
        executions: 0,
        limit: null,
      },
    ])
  })
  test('repeat_every takes precedence over schedule', () => {
    const { run, get, clock } = harness()
    run({ cmd: 'CRON', name: 'c', queue: 'q', data: null, schedule: '0 0 1 1 *', repeat_every: 2500 })
    expect(get('c')).toMatchObject({ schedule: '0 0 1 1 *', repeat_every: 2500, next_run: clock.nowMs() + 2500 })
  })
})

describe('due', () => {
  test('5-field schedule fires at second 0 of each matching minute', () => {
    const { run, due, clock, table, get } = harness('2024-01-01T00:00:10.000Z')
    run({ cmd: 'CRON', name: 'm', queue: 'q', data: { x: 1 }, schedule: '*/5 * * * *', priority: 3 })
    expect(table.nextDueMs()).toBe(at('2024-01-01T00:05:00Z'))
    clock.advance(at('2024-01-01T00:04:59.999Z') - clock.nowMs())
    expect(due()).toEqual([])
    clock.advance(1)
    expect(due()).toEqual([{ queue: 'q', data: { x: 1 }, priority: 3, cronName: 'm' }])
    expect(due()).toEqual([]) // same instant: no second fire
    expect(get('m')).toMatchObject({ executions: 1, next_run: at('2024-01-01T00:10:00Z') })
    expect(table.nextDueMs()).toBe(at('2024-01-01T00:10:00Z'))
  })
  test('6-field schedule fires on seconds', () => {
    const { run, due, clock, get } = harness('2024-01-01T00:00:00.500Z')
    run({ cmd: 'CRON', name: 's', queue: 'q', data: null, schedule: '*/10 * * * * *' })
    expect(get('s')!.next_run).toBe(at('2024-01-01T00:00:10Z'))
    let fired = 0
    for (let second = 1; second <= 60; second++) {
      clock.advance(1000)
      fired += due().length
    }
    expect(fired).toBe(6)
  })
  test('*/N fires every N seconds from the previous run', () => {
    const { run, due, clock, get, records } = harness()
    const start = clock.nowMs()
    run({ cmd: 'CRON', name: 'i', queue: 'q', data: null, schedule: '*/3' })
    expect(get('i')!.next_run).toBe(start + 3000)
    clock.advance(3000)
    expect(due().length).toBe(1)
    expect(records.at(-1)).toEqual({ t: 'cron.fire', name: 'i', executions: 1, next_run: start + 6000 })
    clock.advance(2999)
    expect(due()).toEqual([])
    clock.advance(1)
    expect(due().length).toBe(1)
  })
  test('repeat_every: next_run = now + repeat_every; late ticks do not accumulate', () => {
    const { run, due, clock, get } = harness()
    const start = clock.nowMs()
    run({ cmd: 'CRON', name: 'r', queue: 'q', data: 'd', repeat_every: 2000 })
    clock.advance(2000)
    expect(due()).toEqual([{ queue: 'q', data: 'd', priority: 0, cronName: 'r' }])
    expect(get('r')!.next_run).toBe(start + 4000)
    clock.advance(2500) // tick late: next run counts from now
    expect(due().length).toBe(1)
    expect(get('r')!.next_run).toBe(start + 6500)
  })
  test('repeat_every 0 fires at most once a second', () => {
    const { run, due, clock, table } = harness()
    run({ cmd: 'CRON', name: 'z', queue: 'q', data: null, repeat_every: 0 })
    expect(table.nextDueMs()).toBe(clock.nowMs())
    expect(due().length).toBe(1)
    expect(due().length).toBe(0)
    expect(table.nextDueMs()).toBe(clock.nowMs() + 1000)
  })
  test('missed instants fire once, not once per instant', () => {
    const { run, due, clock, get } = harness('2024-01-01T00:00:00Z')
    run({ cmd: 'CRON', name: 'm', queue: 'q', data: null, schedule: '* * * * *' })
    clock.advance(60 * 60 * 1000 + 30_000) // an hour and a half minute of silence
    expect(due().length).toBe(1)
    expect(get('m')).toMatchObject({ executions: 1, next_run: at('2024-01-01T01:01:00Z') })
  })
  test('several due entries fire in one call', () => {
    const { run, due, clock } = harness()
    run({ cmd: 'CRON', name: 'a', queue: 'qa', data: 1, repeat_every: 1000 })
    run({ cmd: 'CRON', name: 'b', queue: 'qb', data: 2, repeat_every: 1500 })
    run({ cmd: 'CRON', name: 'c', queue: 'qc', data: 3, repeat_every: 5000 })
    clock.advance(1500)
    expect(due().map((push) => push.cronName)).toEqual(['a', 'b'])
  })
  test('limit: at most limit executions, deleted at the first due time after', () => {
    const { run, due, clock, get, records, table } = harness()
    run({ cmd: 'CRON', name: 'l', queue: 'q', data: null, repeat_every: 1000, limit: 2 })
    clock.advance(1000)
    expect(due().length).toBe(1)
    clock.advance(1000)
    expect(due().length).toBe(1)
    expect(get('l')).toMatchObject({ executions: 2 }) // still listed until its next due time
    clock.advance(999)
    expect(due()).toEqual([])
    expect(table.size).toBe(1)
    clock.advance(1)
    expect(due()).toEqual([])
    expect(get('l')).toBeUndefined()
    expect(records.at(-1)).toEqual({ t: 'cron.del', name: 'l' })
    expect(table.nextDueMs()).toBe(Infinity)
  })
  test('limit 0 never fires', () => {
    const { run, due, clock, table } = harness()
    run({ cmd: 'CRON', name: 'l', queue: 'q', data: null, schedule: '*/1', limit: 0 })
    clock.advance(1000)
    expect(due()).toEqual([])
    expect(table.size).toBe(0)
  })
  test('nothing due, nothing written', () => {
    const { run, due, records } = harness()
    run({ cmd: 'CRON', name: 'a', queue: 'q', data: null, schedule: '0 0 1 1 *' })
    const before = records.length
    expect(due()).toEqual([])
    expect(records.length).toBe(before)
  })
})

describe('persistence', () => {
  function workload() {
    const h = harness()
    const { run, due, clock } = h
    run({ cmd: 'CRON', name: 'minutely', queue: 'a', data: { k: [1] }, schedule: '* * * * *', priority: -2 })
    run({ cmd: 'CRON', name: 'interval', queue: 'b', data: 'x', schedule: '*/7' })
    run({ cmd: 'CRON', name: 'limited', queue: 'c', data: null, repeat_every: 10_000, limit: 2 })
    run({ cmd: 'CRON', name: 'deleted', queue: 'd', data: null, repeat_every: 10_000 })
    for (let second = 0; second < 45; second++) {
      clock.advance(1000)
      due()
    }
    run({ cmd: 'CRONDELETE', name: 'deleted' })
    run({ cmd: 'CRON', name: 'interval', queue: 'b2', data: 'y', schedule: '*/5', limit: 100 })
    for (let second = 0; second < 30; second++) {
      clock.advance(1000)
      due()
    }
    return h
  }

  test('replay from records and from a snapshot give identical state', () => {
    const { table, records } = workload()
    const expected = listOf(table)
    expect(expected.map((job) => job.name)).toEqual(['interval', 'minutely'])
    expect(records.some((record) => record.t === 'cron.fire')).toBe(true)
    expect(records.filter((record) => record.t === 'cron.del').length).toBe(2)
    const fromRecords = replayed(records)
    const fromSnapshot = replayed(table.snapshot())
    expect(listOf(fromRecords)).toEqual(expected)
    expect(listOf(fromSnapshot)).toEqual(expected)
    expect(fromRecords.nextDueMs()).toBe(table.nextDueMs())
    expect(fromSnapshot.nextDueMs()).toBe(table.nextDueMs())
    expect(fromSnapshot.snapshot()).toEqual(JSON.parse(JSON.stringify(table.snapshot())))
  })

  test('no double fire after replay at the same instant', () => {
    const { run, due, clock, records } = harness()
    run({ cmd: 'CRON', name: 'm', queue: 'q', data: null, schedule: '* * * * *' })
    clock.advance(60_000)
    expect(due().length).toBe(1)
    // Crash right after the fire was made durable; restart at the same instant.
    const restarted = replayed(records)
    expect(restarted.due(clock.nowMs(), [])).toEqual([])
    expect(restarted.nextDueMs()).toBe(clock.nowMs() + 60_000)
  })

  test('an entry overdue after a restart fires once', () => {
    const { run, due, clock, records } = harness()
    run({ cmd: 'CRON', name: 'm', queue: 'q', data: 'd', schedule: '* * * * *' })
    run({ cmd: 'CRON', name: 'r', queue: 'q', data: 'e', repeat_every: 5000, limit: 10 })
    clock.advance(60_000)
    expect(due().length).toBe(2)
    const restarted = replayed(records)
    const downMs = 10 * 60_000 + 500 // down for ten minutes
    const restartRecords: LogRecord[] = []
    const pushes = restarted.due(clock.nowMs() + downMs, restartRecords)
    expect(pushes.map((push) => push.cronName)).toEqual(['m', 'r'])
    expect(restarted.due(clock.nowMs() + downMs, restartRecords)).toEqual([])
    expect(restartRecords).toEqual([
      { t: 'cron.fire', name: 'm', executions: 2, next_run: clock.nowMs() + 11 * 60_000 },
      { t: 'cron.fire', name: 'r', executions: 2, next_run: clock.nowMs() + downMs + 5000 },
    ])
  })

  test('a limit reached before a restart deletes at the first due time after it', () => {
    const { run, due, clock, records } = harness()
    run({ cmd: 'CRON', name: 'l', queue: 'q', data: null, repeat_every: 1000, limit: 1 })
    clock.advance(1000)
    expect(due().length).toBe(1)
    const restarted = replayed(records)
    const restartRecords: LogRecord[] = []
    expect(restarted.due(clock.nowMs() + 60_000, restartRecords)).toEqual([])
    expect(restartRecords).toEqual([{ t: 'cron.del', name: 'l' }])
    expect(restarted.size).toBe(0)
  })

  test('replay rejects what is not a cron record', () => {
    expect(() => new CronTable().replay({ t: 'kv.set', name: 'x' })).toThrow('not a cron record: kv.set')
    expect(() => new CronTable().replay({ t: 'cron.fire', name: 'x', executions: 1, next_run: 1 })).toThrow()
  })
})
