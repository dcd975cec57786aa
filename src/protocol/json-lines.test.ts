import { describe, expect, test } from 'bun:test'
import { prng, seedFromEnv } from '../base/prng.ts'
import { JsonLinesDecoder } from './json-lines.ts'

const encoder = new TextEncoder()

// Multibyte characters of 2, 3 and 4 bytes, blank lines, CRLF, a whitespace-only line.
const wireText =
  '{"cmd":"PING","reqId":"a"}\n' +
  '\n' +
  '{"cmd":"PUSH","queue":"q","data":{"name":"é — 中文 😀"}}\r\n' +
  '\r\n' +
  '   \n' +
  '{"cmd":"ACK","id":1}\n' +
  '{"x":"ünï😀😀"}\n'
const expectedLines = [
  '{"cmd":"PING","reqId":"a"}',
  '{"cmd":"PUSH","queue":"q","data":{"name":"é — 中文 😀"}}',
  '{"cmd":"ACK","id":1}',
  '{"x":"ünï😀😀"}',
]
const wire = encoder.encode(wireText)

/** Feeds `chunks` through one decoder, scribbling over each chunk afterwards (buffers get reused). */
function feed(decoder: JsonLinesDecoder, chunks: Uint8Array[]): string[] {
  const lines: string[] = []
  for (const chunk of chunks) {
    const copy = chunk.slice()
    lines.push(...decoder.push(copy))
    copy.fill(0x41)
  }
  return lines
}

describe('JsonLinesDecoder', () => {
  test('one chunk', () => {
    expect(feed(new JsonLinesDecoder(1024), [wire])).toEqual(expectedLines)
  })

  test('every 2-chunk split point', () => {
    for (let split = 0; split <= wire.length; split++) {
      const lines = feed(new JsonLinesDecoder(1024), [wire.subarray(0, split), wire.subarray(split)])
      expect(lines).toEqual(expectedLines)
    }
  })

  test('random chunkings', () => {
    const seed = seedFromEnv()
    console.log(`json-lines random chunkings seed=${seed}`)
    const random = prng(seed)
    const big = encoder.encode(wireText.repeat(20))
    const bigExpected = Array.from({ length: 20 }, () => expectedLines).flat()
    for (let round = 0; round < 200; round++) {
      const chunks: Uint8Array[] = []
      for (let offset = 0; offset < big.length; ) {
        const size = 1 + random.int(round % 2 === 0 ? 8 : 200)
        chunks.push(big.subarray(offset, offset + size))
        offset += size
      }
      expect(feed(new JsonLinesDecoder(1024), chunks)).toEqual(bigExpected)
    }
  })

  test('single bytes', () => {
    const chunks = Array.from(wire, (byte) => Uint8Array.of(byte))
    expect(feed(new JsonLinesDecoder(1024), chunks)).toEqual(expectedLines)
  })

  test('keeps an unterminated tail until its LF arrives', () => {
    const decoder = new JsonLinesDecoder(1024)
    expect(decoder.push(encoder.encode('{"a":1}\n{"b"'))).toEqual(['{"a":1}'])
    expect(decoder.pendingBytes).toBe(4)
    expect(decoder.push(encoder.encode(':2}'))).toEqual([])
    expect(decoder.push(encoder.encode('\n'))).toEqual(['{"b":2}'])
    expect(decoder.pendingBytes).toBe(0)
  })

  test('a line of exactly lineBytesMax is accepted', () => {
    const decoder = new JsonLinesDecoder(10)
    const line = '{"a":"12"}' // 10 bytes
    expect(feed(decoder, [encoder.encode(line.slice(0, 4)), encoder.encode(`${line.slice(4)}\n`)])).toEqual([line])
    expect(decoder.overflowed).toBe(false)
  })

  test('an overlong complete line overflows after the lines before it', () => {
    const decoder = new JsonLinesDecoder(10)
    const lines = decoder.push(encoder.encode('{"a":1}\n{"a":"123456"}\n{"b":1}\n'))
    expect(lines).toEqual(['{"a":1}'])
    expect(decoder.overflowed).toBe(true)
    expect(decoder.push(encoder.encode('{"c":1}\n'))).toEqual([])
  })

  test('an overlong partial line overflows before its LF arrives', () => {
    const decoder = new JsonLinesDecoder(10)
    expect(decoder.push(encoder.encode('{"a":"1234'))).toEqual([])
    expect(decoder.overflowed).toBe(false)
    expect(decoder.push(encoder.encode('567890'))).toEqual([])
    expect(decoder.overflowed).toBe(true)
    expect(decoder.pendingBytes).toBe(0)
  })

  test('an overlong line split across chunks overflows at its LF', () => {
    const decoder = new JsonLinesDecoder(10)
    expect(decoder.push(encoder.encode('{"a":"12'))).toEqual([])
    expect(decoder.push(encoder.encode('345"}\n{"b":1}\n'))).toEqual([])
    expect(decoder.overflowed).toBe(true)
  })

  test('invalid UTF-8 and BOMs decode as TextDecoder with ignoreBOM does, in any chunking and at any byte offset', () => {
    const reference = new TextDecoder('utf-8', { ignoreBOM: true })
    const random = prng(seedFromEnv())
    // Bytes around the edges of UTF-8: stray continuations, overlong leads, surrogates, > U+10FFFF, a BOM.
    const tricky = [0x41, 0x7b, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xbb, 0xf0, 0xf4, 0xf5, 0xff, 0x0d, 0x20]
    for (let round = 0; round < 300; round++) {
      const lineCount = 1 + random.int(3)
      const bodies = Array.from({ length: lineCount }, () => Uint8Array.from({ length: 1 + random.int(12) }, () => tricky[random.int(tricky.length)] as number))
      const wireBytes = Uint8Array.from(bodies.flatMap((body) => [0x7b, ...body, 0x0a]))
      const expected = bodies.map((body) => reference.decode(Uint8Array.of(0x7b, ...body))).map((text) => (text.endsWith('\r') ? text.slice(0, -1) : text))
      // A view at an offset into a larger buffer, as a socket's chunk is.
      const padded = new Uint8Array(wireBytes.length + 7)
      padded.set(wireBytes, 3)
      expect(feed(new JsonLinesDecoder(1024), [padded.subarray(3, 3 + wireBytes.length)])).toEqual(expected)
      const split = random.int(wireBytes.length + 1)
      expect(feed(new JsonLinesDecoder(1024), [wireBytes.subarray(0, split), wireBytes.subarray(split)])).toEqual(expected)
    }
  })

  test('many small lines in one chunk', () => {
    const line = '{"cmd":"ACK","id":123456}'
    const count = 50_000
    const lines = new JsonLinesDecoder(1024).push(encoder.encode(`${line}\n`.repeat(count)))
    expect(lines.length).toBe(count)
    expect(lines[count - 1]).toBe(line)
  })
})
