import { describe, expect, test } from 'bun:test'
import { pack, Unpackr } from 'msgpackr'
import { prng, seedFromEnv } from '../base/prng.ts'
import { parseCommand } from './commands.ts'
import { decodeMsgpackRequest, encodeMsgpackFrame, MsgpackFrameDecoder } from './msgpack-frames.ts'

// Reference decoder for the encoder tests (int64 as numbers, as clients decode them).
const referenceUnpackr = new Unpackr({ useRecords: false, int64AsType: 'number' })
const unpack = (bytes: Uint8Array): unknown => referenceUnpackr.unpack(bytes)

const requests = [
  { cmd: 'PING', reqId: 'r1' },
  { cmd: 'PUSH', queue: 'q', data: { name: 'é — 中文 😀', n: 1.5, big: 2 ** 40 }, priority: null, delay: null, reqId: 'r2' },
  { cmd: 'ACKB', ids: Array.from({ length: 40 }, (_, index) => index * 1000) },
  { cmd: 'KVSET', key: 'k', value: 'x'.repeat(300) },
]

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

const wire = concat(requests.map((request) => encodeMsgpackFrame(request)))

/** Feeds chunks and decodes each frame at once, then scribbles over the chunk (buffers get reused). */
function feed(decoder: MsgpackFrameDecoder, chunks: Uint8Array[]): unknown[] {
  const values: unknown[] = []
  for (const chunk of chunks) {
    const copy = chunk.slice()
    for (const body of decoder.push(copy)) {
      const request = decodeMsgpackRequest(body)
      values.push(request.ok ? request.value : request.error)
    }
    copy.fill(0xc1)
  }
  return values
}

describe('MsgpackFrameDecoder', () => {
  test('one chunk', () => {
    expect(feed(new MsgpackFrameDecoder(1 << 20), [wire])).toEqual(requests)
  })

  test('every 2-chunk split point', () => {
    for (let split = 0; split <= wire.length; split++) {
      expect(feed(new MsgpackFrameDecoder(1 << 20), [wire.subarray(0, split), wire.subarray(split)])).toEqual(requests)
    }
  })

  test('random chunkings', () => {
    const seed = seedFromEnv()
    console.log(`msgpack-frames random chunkings seed=${seed}`)
    const random = prng(seed)
    for (let round = 0; round < 300; round++) {
      const chunks: Uint8Array[] = []
      for (let offset = 0; offset < wire.length; ) {
        const size = 1 + random.int(round % 2 === 0 ? 6 : 120)
        chunks.push(wire.subarray(offset, offset + size))
        offset += size
      }
      expect(feed(new MsgpackFrameDecoder(1 << 20), chunks)).toEqual(requests)
    }
  })

  test('N = 0 gives an empty body that decodes to an error; the stream continues', () => {
    const decoder = new MsgpackFrameDecoder(1 << 20)
    const stream = concat([new Uint8Array(4), encodeMsgpackFrame({ cmd: 'PING' })])
    expect(feed(decoder, [stream])).toEqual(['MessagePack deserialize error: empty frame', { cmd: 'PING' }])
    expect(decoder.overflowed).toBe(false)
  })

  test('a frame longer than the limit overflows after the frames before it', () => {
    const decoder = new MsgpackFrameDecoder(100)
    const ok = encodeMsgpackFrame({ cmd: 'PING' })
    const header = Uint8Array.of(0, 0, 0, 101)
    expect(feed(decoder, [concat([ok, header.subarray(0, 2)]), header.subarray(2)])).toEqual([{ cmd: 'PING' }])
    expect(decoder.overflowed).toBe(true)
    expect(decoder.push(ok)).toEqual([])
  })

  test('a frame of exactly the limit is accepted', () => {
    const body = pack({ k: 'x'.repeat(90) })
    const frame = concat([Uint8Array.of(0, 0, 0, body.length), body])
    const decoder = new MsgpackFrameDecoder(body.length)
    expect(feed(decoder, [frame])).toEqual([{ k: 'x'.repeat(90) }])
  })

  test('a header announcing 4 GiB - 1 overflows', () => {
    const decoder = new MsgpackFrameDecoder(16 << 20)
    decoder.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff))
    expect(decoder.overflowed).toBe(true)
  })
})

describe('decodeMsgpackRequest', () => {
  const body = (value: unknown) => new Uint8Array(pack(value))

  test('nil is absent through parseCommand', () => {
    const request = decodeMsgpackRequest(body({ cmd: 'PULL', queue: 'q', timeout: null, reqId: 'x' }))
    expect(request.ok).toBe(true)
    if (!request.ok) return
    expect(parseCommand(request.value)).toEqual({ ok: true, command: { cmd: 'PULL', queue: 'q', timeout: 60_000 } })
  })

  test('int64 and uint64 come out as numbers', () => {
    // d3 / cf: explicit 64-bit encodings.
    const int64 = Uint8Array.of(0x82, 0xa1, 0x61, 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xa1, 0x62, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0)
    expect(decodeMsgpackRequest(int64)).toEqual({ ok: true, value: { a: -2, b: 2 ** 32 } })
  })

  test('fixints 0x40..0x7f are plain integers (records are off)', () => {
    expect(decodeMsgpackRequest(Uint8Array.of(0x81, 0xa1, 0x61, 0x45))).toEqual({ ok: true, value: { a: 0x45 } })
  })

  test('bin anywhere is rejected, with reqId recovered', () => {
    const request = decodeMsgpackRequest(body({ cmd: 'PUSH', queue: 'q', data: { deep: [1, new Uint8Array([1, 2])] }, reqId: 'r' }))
    expect(request).toEqual({ ok: false, error: 'MessagePack deserialize error: binary (bin) values are not supported', reqId: 'r' })
  })

  test('msgpackr\'s undefined (ext 0: d4 00 00) counts as an absent field', () => {
    const request = decodeMsgpackRequest(Uint8Array.of(0x82, 0xa1, 0x61, 0xd4, 0x00, 0x00, 0xa5, 0x72, 0x65, 0x71, 0x49, 0x64, 0xa1, 0x78))
    expect(request.ok).toBe(true)
    if (request.ok) expect(JSON.parse(JSON.stringify(request.value))).toEqual({ reqId: 'x' })
  })

  test('extension types are rejected', () => {
    // fixext1 type 5 and a timestamp (ext -1).
    for (const ext of [[0xd4, 0x05, 0x00], [0xd6, 0xff, 0, 0, 0, 1]]) {
      const request = decodeMsgpackRequest(Uint8Array.of(0x82, 0xa1, 0x61, ...ext, 0xa5, 0x72, 0x65, 0x71, 0x49, 0x64, 0xa1, 0x78))
      expect(request.ok).toBe(false)
      if (!request.ok) expect(request.error).toStartWith('MessagePack deserialize error: ')
    }
  })

  test('a non-map is Invalid without reqId', () => {
    expect(decodeMsgpackRequest(body([1, 2]))).toEqual({ ok: false, error: 'Invalid: request must be a map with string keys' })
    expect(decodeMsgpackRequest(body(7))).toEqual({ ok: false, error: 'Invalid: request must be a map with string keys' })
  })

  test('garbage and truncation are deserialize errors', () => {
    for (const bytes of [Uint8Array.of(0x81, 0xa1), Uint8Array.of(0x81, 0xa1, 0x61, 0x01, 0x02), Uint8Array.of(0xc1)]) {
      const request = decodeMsgpackRequest(bytes)
      expect(request.ok).toBe(false)
      if (!request.ok) expect(request.error).toStartWith('MessagePack deserialize error: ')
    }
  })

  test('random bytes never throw', () => {
    const seed = seedFromEnv()
    console.log(`msgpack random bytes seed=${seed}`)
    const random = prng(seed)
    for (let round = 0; round < 2000; round++) {
      const bytes = Uint8Array.from({ length: 1 + random.int(24) }, () => random.int(256))
      const request = decodeMsgpackRequest(bytes)
      expect(typeof request.ok).toBe('boolean')
    }
  })
})

describe('encodeMsgpackFrame', () => {
  const bodyOf = (frame: Uint8Array) => {
    const length = new DataView(frame.buffer, frame.byteOffset).getUint32(0)
    expect(length).toBe(frame.length - 4)
    return frame.subarray(4)
  }

  test('round-trips through msgpackr', () => {
    const value = {
      reqId: 'r',
      ok: true,
      job: { id: 2 ** 53 - 1, created_at: 1_760_000_000_000, priority: -5, neg: -(2 ** 40), progress_msg: null, tags: ['a', 'é'] },
      text: 'x'.repeat(70_000),
      mid: 'y'.repeat(300),
      many: Object.fromEntries(Array.from({ length: 20 }, (_, index) => [`k${index}`, index])),
      float: 0.1,
    }
    expect(unpack(bodyOf(encodeMsgpackFrame(value)))).toEqual(value)
  })

  test('integers beyond 32 bits are ints, never floats', () => {
    expect([...bodyOf(encodeMsgpackFrame({ t: 2 ** 40 }))]).toEqual([0x81, 0xa1, 0x74, 0xcf, 0, 0, 1, 0, 0, 0, 0, 0])
    expect([...bodyOf(encodeMsgpackFrame({ t: -(2 ** 40) }))]).toEqual([0x81, 0xa1, 0x74, 0xd3, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0])
  })

  test('non-integral numbers are float64, never float32', () => {
    expect([...bodyOf(encodeMsgpackFrame({ f: 1.5 }))]).toEqual([0x81, 0xa1, 0x66, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0])
  })

  test('null is nil and undefined properties are omitted, as in JSON', () => {
    expect(unpack(bodyOf(encodeMsgpackFrame({ ok: false, error: 'e', gone: undefined, none: null })))).toEqual({
      ok: false,
      error: 'e',
      none: null,
    })
  })

  test('agrees with JSON on random values', () => {
    const seed = seedFromEnv()
    console.log(`msgpack encode seed=${seed}`)
    const random = prng(seed)
    const leaf = (): unknown =>
      random.pick([
        () => null,
        () => random.next() < 0.5,
        () => random.int(2 ** 31) - 2 ** 30,
        () => random.int(2 ** 53),
        () => random.next() * 1e6,
        () => 'é😀中x'.repeat(random.int(12)),
      ])()
    const value = (depth: number): unknown => {
      if (depth > 2 || random.next() < 0.4) return leaf()
      if (random.next() < 0.5) return Array.from({ length: random.int(8) }, () => value(depth + 1))
      return Object.fromEntries(Array.from({ length: random.int(8) }, (_, index) => [`k${index}`, value(depth + 1)]))
    }
    for (let round = 0; round < 300; round++) {
      const reply = { ok: true, v: value(0) }
      expect(unpack(bodyOf(encodeMsgpackFrame(reply)))).toEqual(JSON.parse(JSON.stringify(reply)))
    }
  })
})

test('decodes without msgpackr\'s native addon (as in a compiled binary)', () => {
  const script = `
    import { decodeMsgpackRequest, encodeMsgpackFrame } from '${import.meta.dir}/msgpack-frames.ts'
    const frame = encodeMsgpackFrame({ cmd: 'PUSH', queue: 'q', data: { s: 'é'.repeat(40), n: 2 ** 40 }, reqId: 'r' })
    const bad = Uint8Array.of(0x82, 0xa5, 0x72, 0x65, 0x71, 0x49, 0x64, 0xa1, 0x78, 0xa1, 0x62, 0xc4, 0x01, 0x00)
    console.log(JSON.stringify([decodeMsgpackRequest(frame.subarray(4)), decodeMsgpackRequest(bad)]))
  `
  const run = Bun.spawnSync([process.execPath, '-e', script], {
    env: { ...process.env, MSGPACKR_NATIVE_ACCELERATION_DISABLED: 'true' },
  })
  expect(run.stderr.toString()).toBe('')
  expect(JSON.parse(run.stdout.toString())).toEqual([
    { ok: true, value: { cmd: 'PUSH', queue: 'q', data: { s: 'é'.repeat(40), n: 2 ** 40 }, reqId: 'r' } },
    { ok: false, error: 'MessagePack deserialize error: binary (bin) values are not supported', reqId: 'x' },
  ])
})
