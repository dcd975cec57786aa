import { expect, test } from 'bun:test'
import { RawJson, stringifyJson } from './raw-json.ts'

const payload = '{"n":1,"s":"é\\u0000\\n","list":[1,2.5,null,true]}'

test('stringifyJson splices top-level raw texts in order, as JSON.stringify of the parsed values would write them', () => {
  const value = { t: 'j', i: 1, d: new RawJson(payload), c: 5, e: new RawJson('"text"'), tail: 'x' }
  const plain = { t: 'j', i: 1, d: JSON.parse(payload), c: 5, e: 'text', tail: 'x' }
  expect(stringifyJson(value)).toBe(JSON.stringify(plain))
  expect(value.d).toBeInstanceOf(RawJson) // the value is left as it was
})

test('nested RawJson values are spliced too, with the same output', () => {
  const value = { ok: true, jobs: [{ id: 1, data: new RawJson(payload) }, { id: 2, data: new RawJson('"text"') }] }
  const plain = { ok: true, jobs: [{ id: 1, data: JSON.parse(payload) }, { id: 2, data: 'text' }] }
  expect(stringifyJson(value)).toBe(JSON.stringify(plain))
})

test('plain JSON.stringify of a RawJson gives the same text (toJSON parses)', () => {
  const value = { a: new RawJson(payload), b: [new RawJson('3')] }
  expect(JSON.stringify(value)).toBe(stringifyJson(value))
})

test('a client string that contains the marker falls back to the plain path, with the right output', () => {
  const marker = '\u0000flashq:raw-json\u0000'
  const value = { tag: marker, data: new RawJson(payload), more: [marker, new RawJson('[1]')] }
  const expected = JSON.stringify({ tag: marker, data: JSON.parse(payload), more: [marker, [1]] })
  expect(stringifyJson(value)).toBe(expected)
})

test('a client string with the nested marker, or both markers in one value, falls back correctly', () => {
  const nestedMarker = '\u0000flashq:raw-json-nested\u0000'
  const topMarker = '\u0000flashq:raw-json\u0000'
  const value = { d: new RawJson('[1]'), job: { data: new RawJson(payload), tag: nestedMarker }, note: topMarker }
  const expected = JSON.stringify({ d: [1], job: { data: JSON.parse(payload), tag: nestedMarker }, note: topMarker })
  expect(stringifyJson(value)).toBe(expected)
  expect(stringifyJson({ tag: nestedMarker, n: 1 })).toBe(JSON.stringify({ tag: nestedMarker, n: 1 }))
  expect(stringifyJson([new RawJson('{"a":1}'), 2])).toBe('[{"a":1},2]')
})

test('values without RawJson are plain JSON.stringify; undefined becomes null', () => {
  expect(stringifyJson({ a: [1, 'b'], c: undefined })).toBe('{"a":[1,"b"]}')
  expect(stringifyJson(undefined)).toBe('null')
})

test('a value that cannot be serialised throws, and is left as it was', () => {
  const raw = new RawJson('1')
  const cyclic: Record<string, unknown> = { data: raw }
  cyclic.self = cyclic
  expect(() => stringifyJson(cyclic)).toThrow()
  expect(cyclic.data).toBe(raw)
})

test('one RawJson field (a record) next to a client string holding a marker, before or after it: the right output', () => {
  const topMarker = '\u0000flashq:raw-json\u0000'
  const nestedMarker = '\u0000flashq:raw-json-nested\u0000'
  for (const tag of [topMarker, nestedMarker, `x${topMarker}y`]) {
    const before = { t: 'j', tag, d: new RawJson(payload), c: 5 }
    expect(stringifyJson(before)).toBe(JSON.stringify({ t: 'j', tag, d: JSON.parse(payload), c: 5 }))
    const after = { t: 'j', d: new RawJson(payload), tag }
    expect(stringifyJson(after)).toBe(JSON.stringify({ t: 'j', d: JSON.parse(payload), tag }))
  }
  expect(stringifyJson({ t: 'j', d: new RawJson(payload), c: 5 })).toBe(JSON.stringify({ t: 'j', d: JSON.parse(payload), c: 5 }))
})

test('a PUSH reply ({ok: true, id}) and values close to it are written as JSON.stringify writes them', () => {
  const values: object[] = [
    { ok: true, id: 42 }, { ok: true, id: 0 }, { ok: true, id: -0 }, { ok: true, id: Number.MAX_SAFE_INTEGER }, { ok: true, id: 2 ** 60 },
    { ok: true, id: 1.5 }, { ok: true, id: NaN }, { ok: true, id: '7' }, { ok: false, id: 1 }, { id: 1, ok: true }, { ok: true, id: 1, x: 2 },
    { ok: true }, { ok: 1, id: 1 }, { ok: true, id: new RawJson('3') }, { ok: true, id: 1e21 },
  ]
  for (const value of values) expect(stringifyJson(value)).toBe(JSON.stringify(value))
})
