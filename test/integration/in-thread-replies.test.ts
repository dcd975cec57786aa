/**
 * The in-thread path (--workers 0: requests handed to the host as parsed lines, replies handed back
 * as (token, text) pairs, one flush per socket read) answers byte for byte what the general path
 * answers (a shard Worker: request and reply batches as text). The same raw bytes go to a server of
 * each kind, and what comes back is compared as bytes, timestamps masked.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Packr } from 'msgpackr'
import { startServer, type TestServer } from '../harness/server.ts'
import { frame } from '../harness/wire-client.ts'

/**
 * Opens a raw connection and sends `parts`, each in its own write once `repliesBefore` replies came;
 * returns every byte received once `done` says so.
 */
async function exchange(port: number, parts: Array<{ bytes: Uint8Array | string; repliesBefore: number }>, done: (received: Uint8Array) => boolean): Promise<Uint8Array> {
  let received = new Uint8Array(0)
  let wake = () => {}
  const socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data: (_socket, chunk) => {
        const joined = new Uint8Array(received.byteLength + chunk.byteLength)
        joined.set(received)
        joined.set(chunk, received.byteLength)
        received = joined
        wake()
      },
    },
  })
  const until = async (condition: () => boolean) => {
    const deadline = Date.now() + 10_000
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out with ${new TextDecoder().decode(received)}`)
      await Promise.race([new Promise<void>((resolve) => (wake = resolve)), Bun.sleep(50)])
    }
  }
  for (const part of parts) {
    await until(() => lineCount(received) >= part.repliesBefore)
    socket.write(part.bytes)
    socket.flush()
  }
  await until(() => done(received))
  socket.end()
  return received
}

function lineCount(bytes: Uint8Array): number {
  let count = 0
  for (const byte of bytes) if (byte === 0x0a) count++
  return count
}

/** Times differ between two servers; everything else must not. */
function masked(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes).replace(/\d{13}/g, 'T')
}

const lines = (...requests: string[]) => `${requests.join('\n')}\n`

describe.each(['memory', 'durable'] as const)('in-thread replies (%s) are the Worker path\'s, byte for byte', (mode) => {
  const servers: Record<'inThread' | 'worker', TestServer | null> = { inThread: null, worker: null }
  beforeAll(async () => {
    const extra = mode === 'memory' ? ['--memory'] : []
    servers.inThread = await startServer({ args: ['--workers', '0', '--shards', '2', ...extra] })
    servers.worker = await startServer({ args: ['--workers', '1', '--shards', '2', ...extra] })
  })
  afterAll(async () => {
    await servers.inThread?.cleanup()
    await servers.worker?.cleanup()
  })

  const both = async (conversation: (port: number) => Promise<Uint8Array>) => {
    const inThread = await conversation(servers.inThread!.tcpPort)
    const worker = await conversation(servers.worker!.tcpPort)
    expect(servers.inThread!.startupLine).toContain('workers=0')
    expect(servers.worker!.startupLine).toContain('workers=1')
    return { inThread: masked(inThread), worker: masked(worker) }
  }

  test('pipelined pushes, reqIds of both kinds, errors, a pull and a ping in one write', async () => {
    const script = lines(
      '{"cmd":"PUSH","queue":"a","data":{"x":1}}',
      '{"cmd":"PUSH","queue":"a","data":{"é":"ü\\n"},"reqId":"r1"}',
      '{"cmd":"PUSH","queue":"b","data":2,"reqId":7}',
      '{"cmd":',
      '{"cmd":"NOPE","reqId":"r2"}',
      '{"cmd":"PUSH","reqId":"r3"}',
      '{"cmd":"PULLB","queue":"a","count":2,"timeout":0}',
      '{"cmd":"ACK","id":999999,"reqId":"r4"}',
      '{"cmd":"PING"}',
      '[1]',
    )
    const { inThread, worker } = await both((port) => exchange(port, [{ bytes: script, repliesBefore: 0 }], (bytes) => lineCount(bytes) >= 10))
    expect(inThread).toBe(worker)
    const replies = inThread.trimEnd().split('\n')
    expect(replies.length).toBe(10)
    expect(replies[0]).toMatch(/^\{"ok":true,"id":\d+\}$/)
    expect(replies.some((line) => line.startsWith('{"reqId":"r1","ok":true,"id":'))).toBe(true)
    expect(replies.some((line) => line.startsWith('{"reqId":7,"ok":true,"id":'))).toBe(true)
  })

  test('a PULLB parked first, then woken by a PUSH on the same connection', async () => {
    // In one read or two, the pull runs first and finds nothing: it parks, and the push wakes it.
    const parts = [
      { bytes: lines('{"cmd":"PULLB","queue":"parked","count":5,"timeout":5000,"reqId":"p1"}'), repliesBefore: 0 },
      { bytes: lines('{"cmd":"PUSH","queue":"parked","data":{"n":1},"reqId":"w1"}'), repliesBefore: 0 },
    ]
    const { inThread, worker } = await both((port) => exchange(port, parts, (received) => lineCount(received) >= 2))
    expect(inThread).toBe(worker)
    const replies = inThread.trimEnd().split('\n').sort()
    expect(replies[0]).toMatch(/^\{"reqId":"p1","ok":true,"jobs":\[\{"id":\d+/)
    expect(replies[1]).toMatch(/^\{"reqId":"w1","ok":true,"id":\d+\}$/)
  })

  test('MessagePack frames', async () => {
    const packr = new Packr({ useRecords: false })
    const frames = [{ cmd: 'PUSH', queue: 'm', data: { x: 1 }, reqId: 'm1' }, { cmd: 'PUSH', reqId: 'm2' }, { cmd: 'PING' }]
    const joined = Buffer.concat(frames.map((request) => frame(packr.pack(request))))
    const framesIn = (bytes: Uint8Array) => {
      let count = 0
      for (let at = 0; at + 4 <= bytes.byteLength; at += 4 + new DataView(bytes.buffer, bytes.byteOffset + at).getUint32(0)) count++
      return count
    }
    const inThread = await exchange(servers.inThread!.tcpPort, [{ bytes: joined, repliesBefore: 0 }], (bytes) => framesIn(bytes) >= 3)
    const worker = await exchange(servers.worker!.tcpPort, [{ bytes: joined, repliesBefore: 0 }], (bytes) => framesIn(bytes) >= 3)
    expect(Buffer.from(inThread).toString('hex')).toBe(Buffer.from(worker).toString('hex'))
  })
})
