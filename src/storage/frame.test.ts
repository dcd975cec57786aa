import { describe, expect, test } from 'bun:test'
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint.ts'
import { crc32c } from './crc32c.ts'
import { decodeFrame, encodeFrame, encodeFrameV1, frameBytes, frameHeaderBytes } from './frame.ts'

const utf8 = new TextEncoder()
const text = new TextDecoder()

describe('crc32c', () => {
  test('check vectors', () => {
    expect(crc32c(utf8.encode('123456789'))).toBe(0xe3069283)
    expect(crc32c(new Uint8Array(0))).toBe(0)
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa) // RFC 3720 B.4: 32 bytes of zeros
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43) // RFC 3720 B.4: 32 bytes of 0xff
    const ascending = Uint8Array.from({ length: 32 }, (_, i) => i)
    expect(crc32c(ascending)).toBe(0x46dd794e) // RFC 3720 B.4: 0x00 … 0x1f
  })

  test('slice-by-16 agrees with a bit-wise reference at every length and offset, and continues a CRC', () => {
    const reference = (bytes: Uint8Array): number => {
      let crc = ~0
      for (const byte of bytes) {
        crc ^= byte
        for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
      }
      return ~crc >>> 0
    }
    const bytes = Uint8Array.from({ length: 100 }, (_, i) => (i * 131 + 7) & 0xff)
    for (let start = 0; start < 17; start++) {
      for (let end = start; end <= bytes.length; end++) {
        expect(crc32c(bytes, start, end)).toBe(reference(bytes.slice(start, end)))
      }
    }
    // A CRC continued from any split point equals the whole one (checkpoints are summed chunk by chunk).
    const whole = crc32c(bytes)
    for (let split = 0; split <= bytes.length; split++) expect(crc32c(bytes, split, bytes.length, crc32c(bytes, 0, split))).toBe(whole)
  })
})

describe('frames (v2 written, v1 still read)', () => {
  test('round trip, including multi-byte characters and a large lsn', () => {
    const out = new Uint8Array(256)
    let offset = 0
    const bodies = ['{"op":"push"}', 'é✓😀', 'x']
    const lsns = [1, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]
    for (let i = 0; i < bodies.length; i++) {
      offset = encodeFrame(lsns[i] as number, utf8.encode(bodies[i]), out, offset)
    }
    let at = 0
    for (let i = 0; i < bodies.length; i++) {
      const frame = decodeFrame(out, at)
      if (typeof frame === 'string') throw new Error(frame)
      expect(frame.lsn).toBe(lsns[i] as number)
      expect(text.decode(frame.body)).toBe(bodies[i] as string)
      at = frame.end
    }
    expect(at).toBe(offset)
    expect(decodeFrame(out, at)).toBe('end')
  })

  test('truncated → torn, any flipped bit → invalid', () => {
    const body = utf8.encode('{"id":42}')
    const out = new Uint8Array(frameBytes(body.length))
    encodeFrame(7, body, out, 0)
    for (let cut = 1; cut < out.length; cut++) {
      const result = decodeFrame(out.subarray(0, cut), 0)
      expect(result === 'torn' || result === 'invalid').toBe(true)
    }
    for (let byte = 0; byte < out.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = out.slice()
        copy[byte] = (copy[byte] as number) ^ (1 << bit)
        const result = decodeFrame(copy, 0)
        expect(typeof result === 'string' && result !== 'end').toBe(true)
      }
    }
  })

  test('an all-zero header is the end of data', () => {
    expect(decodeFrame(new Uint8Array(64), 0)).toBe('end')
    expect(decodeFrame(new Uint8Array(8), 0)).toBe('end')
    expect(frameHeaderBytes).toBe(20)
  })

  test('v1 and v2 frames decode side by side; v2 carries syncedBelow, v1 reports its own offset', () => {
    const out = new Uint8Array(256)
    const first = encodeFrameV1(1, utf8.encode('old'), out, 0)
    const second = encodeFrame(2, utf8.encode('new'), out, first, 7)
    const v1 = decodeFrame(out, 0)
    const v2 = decodeFrame(out, first)
    if (typeof v1 === 'string' || typeof v2 === 'string') throw new Error(`decoded ${v1} / ${v2}`)
    expect([v1.lsn, text.decode(v1.body), v1.syncedBelow, v1.end]).toEqual([1, 'old', 0, first])
    expect([v2.lsn, text.decode(v2.body), v2.syncedBelow, v2.end]).toEqual([2, 'new', 7, second])
    expect(decodeFrame(out, second)).toBe('end')
  })

  test('encodeFrame refuses an empty body or an unsafe lsn', () => {
    expect(() => encodeFrame(1, new Uint8Array(0), new Uint8Array(64), 0)).toThrow()
    expect(() => encodeFrame(2 ** 53, utf8.encode('x'), new Uint8Array(64), 0)).toThrow()
  })
})

describe('checkpoint v1', () => {
  test('round trip', () => {
    const bodies = Array.from({ length: 5000 }, (_, i) => `{"job":${i},"data":"${'é'.repeat(i % 7)}"}`)
    const bytes = encodeCheckpoint(123_456, bodies)
    const decoded = decodeCheckpoint(bytes)
    if (typeof decoded === 'string') throw new Error(decoded)
    expect(decoded.lsn).toBe(123_456)
    expect(decoded.bodies.map((body) => text.decode(body))).toEqual(bodies)
    const empty = decodeCheckpoint(encodeCheckpoint(0, []))
    expect(typeof empty === 'string' ? empty : empty.bodies.length).toBe(0)
  })

  test('every truncation and a flipped byte are detected', () => {
    const bytes = encodeCheckpoint(9, ['{"a":1}', '{"b":2}', '{"c":3}'])
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(typeof decodeCheckpoint(bytes.subarray(0, cut))).toBe('string')
    }
    for (let byte = 0; byte < bytes.length; byte++) {
      const copy = bytes.slice()
      copy[byte] = (copy[byte] as number) ^ 0x10
      expect(typeof decodeCheckpoint(copy)).toBe('string')
    }
  })
})
