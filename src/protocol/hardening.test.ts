/** Unit checks of the front's hardening helpers (issue 8): nesting, non-finite numbers, reply budgets, error texts. */
import { expect, test } from 'bun:test'
import { Packr } from 'msgpackr'
import { requestNestingDepthMax } from '../base/limits.ts'
import { clientErrorText } from './errors.ts'
import { decodeMsgpackRequest } from './msgpack-frames.ts'
import { fitToReplyBytes, jsonBytes, ReplyBudget } from './reply-budget.ts'
import { nestingProblem } from './validate.ts'

const packr = new Packr({ useRecords: false, variableMapSize: true })

const nested = (depth: number): unknown => {
  let value: unknown = 1
  for (let level = 0; level < depth; level++) value = level % 2 === 0 ? [value] : { k: value }
  return value
}

test('nesting: the limit counts the request itself as level 1, and the walk stops there', () => {
  expect(nestingProblem({ data: nested(requestNestingDepthMax - 1) })).toBeNull()
  expect(nestingProblem({ data: nested(requestNestingDepthMax) })).toBe(`nesting deeper than ${requestNestingDepthMax} levels`)
  expect(nestingProblem({ data: nested(200_000) })).not.toBeNull() // no stack overflow
  expect(nestingProblem('text')).toBeNull()
})

test('MessagePack: non-finite numbers name their field; deep frames are refused as nesting', () => {
  const nan = decodeMsgpackRequest(packr.pack({ cmd: 'PUSH', queue: 'q', data: { list: [1, Number.NaN] } }))
  expect(nan).toEqual({ ok: false, error: "Invalid: field 'data.list[1]' must be a finite number" })
  const infinity = decodeMsgpackRequest(packr.pack({ cmd: 'PULL', queue: 'q', timeout: Number.NEGATIVE_INFINITY, reqId: 'r' }))
  expect(infinity).toEqual({ ok: false, error: "Invalid: field 'timeout' must be a finite number", reqId: 'r' })
  const deep = decodeMsgpackRequest(packr.pack({ cmd: 'PUSH', queue: 'q', data: nested(requestNestingDepthMax) }))
  expect(deep).toMatchObject({ ok: false, error: `Invalid: nesting deeper than ${requestNestingDepthMax} levels` })
  const fine = decodeMsgpackRequest(packr.pack({ cmd: 'PUSH', queue: 'q', data: { n: 1.5, deep: nested(requestNestingDepthMax - 2) } }))
  expect(fine.ok).toBe(true)
})

test('reply budget: items while they fit, never none', () => {
  const items = Array.from({ length: 10 }, (_, n) => 'x'.repeat(100 + n))
  const fitted = fitToReplyBytes(items, 500)
  expect(fitted).toEqual(items.slice(0, 4)) // 103 + 104 + 105 + 106 bytes with commas, the fifth would pass 500
  expect(fitToReplyBytes(['y'.repeat(1000)], 10)).toHaveLength(1)
  const budget = new ReplyBudget(10)
  expect([budget.admit(20), budget.admit(1)]).toEqual([true, false])
  expect(jsonBytes('€')).toBe(5)
})

test('error texts for clients keep the first line and no paths', () => {
  const crash = 'RangeError: Maximum call stack size exceeded.\n    at stringify (/work/x/src/shard/host.ts:12:3)'
  expect(clientErrorText(crash)).toBe('RangeError: Maximum call stack size exceeded.')
  expect(clientErrorText("ENOSPC: no space left on device, write '/var/lib/flashq/shard-00/seg-1.log'"))
    .toBe("ENOSPC: no space left on device, write 'seg-1.log'")
  expect(clientErrorText('Invalid: plain text')).toBe('Invalid: plain text')
})
