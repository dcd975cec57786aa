import { expect, test } from 'bun:test'
import { commandNames, internalCommandNames, parseCommand } from './commands.ts'
import { clientSpecOf, commandTable, errorKindOf, specOf } from './table.ts'
import * as errors from './errors.ts'

test('every command has exactly one row, and internal ones are unknown to clients', () => {
  expect(Object.keys(commandTable).sort()).toEqual([...commandNames, ...internalCommandNames].sort())
  for (const name of internalCommandNames) {
    expect(specOf(name)?.internal).toBe(true)
    expect(clientSpecOf(name)).toBeUndefined()
    expect(parseCommand({ cmd: name })).toEqual({ ok: false, error: `Invalid: unknown command '${name}'` })
  }
  for (const name of commandNames) expect(clientSpecOf(name)?.schema).toBeDefined()
  expect(specOf('NOPE')).toBeUndefined()
  expect(specOf('toString')).toBeUndefined() // own properties only
})

test('merges are declared exactly where a command runs on several shards', () => {
  for (const [name, spec] of Object.entries(commandTable)) {
    const fanned = spec.route === 'all' || spec.route === 'split' || spec.route === 'queueOrAll'
    expect(`${name}:${spec.merge !== 'single'}`).toBe(`${name}:${fanned}`)
  }
})

test('error kinds of the catalogue texts', () => {
  expect(errorKindOf(errors.invalid('x'))).toBe('invalid')
  expect(errorKindOf(errors.queueNameEmpty)).toBe('invalid')
  expect(errorKindOf(errors.jobNotFound(3))).toBe('notFound')
  expect(errorKindOf(errors.cronNotFound)).toBe('notFound')
  expect(errorKindOf(errors.duplicateUniqueKey('k'))).toBe('conflict')
  expect(errorKindOf(errors.debounced('d'))).toBe('conflict')
  expect(errorKindOf(errors.jobCannotBeCancelled(3))).toBe('conflict')
  expect(errorKindOf(errors.jobDataTooLarge(1))).toBe('limit')
  expect(errorKindOf(errors.batchTooLarge)).toBe('limit')
  expect(errorKindOf('Disk full: new jobs are refused')).toBe('unavailable')
})
