/**
 * JSON lines vs MessagePack on one pipelined connection (window 512, 100k single PUSHes), against a
 * server you start yourself, e.g. the compiled binary (where msgpackr runs without its native addon):
 *
 *   ./dist/flashq-linux-x64 --memory --port 7795 --http-port 0 &
 *   bun test/bench/wire-modes.ts 7795 json && bun test/bench/wire-modes.ts 7795 msgpack
 */
import { Packr } from 'msgpackr'

const port = Number(process.argv[2])
const mode = process.argv[3] === 'msgpack' ? 'msgpack' : 'json'
const total = 100_000
const windowSize = 512
const packr = new Packr({ useRecords: false })

function encode(index: number): Uint8Array {
  const command = { cmd: 'PUSH', queue: 'wire-modes', data: { index, to: 'user@example.com' }, reqId: String(index) }
  if (mode === 'json') return new TextEncoder().encode(`${JSON.stringify(command)}\n`)
  const body = packr.pack(command)
  const frame = new Uint8Array(4 + body.length)
  new DataView(frame.buffer).setUint32(0, body.length)
  frame.set(body, 4)
  return frame
}

/** Counts complete replies in a byte stream: LF-terminated lines, or length-prefixed frames. */
function replyCounter(): (chunk: Uint8Array) => number {
  let header: number[] = []
  let bodyLeft = 0
  return (chunk) => {
    let replies = 0
    for (let offset = 0; offset < chunk.length; ) {
      if (mode === 'json') {
        const newline = chunk.indexOf(10, offset)
        if (newline < 0) break
        replies++
        offset = newline + 1
      } else if (bodyLeft > 0) {
        const take = Math.min(bodyLeft, chunk.length - offset)
        bodyLeft -= take
        offset += take
        if (bodyLeft === 0) replies++
      } else {
        header.push(chunk[offset++] as number)
        if (header.length === 4) {
          bodyLeft = ((header[0] as number) << 24 | (header[1] as number) << 16 | (header[2] as number) << 8 | (header[3] as number)) >>> 0
          header = []
          if (bodyLeft === 0) replies++
        }
      }
    }
    return replies
  }
}

let received = 0
let sent = 0
const count = replyCounter()
let finish!: () => void
const done = new Promise<void>((resolve) => (finish = resolve))
const socket = await Bun.connect({
  hostname: '127.0.0.1',
  port,
  socket: {
    data(_socket, chunk) {
      received += count(chunk)
      if (received >= total) finish()
      else pump()
    },
  },
})

function pump(): void {
  const parts: Uint8Array[] = []
  while (sent < total && sent - received < windowSize) parts.push(encode(sent++))
  if (parts.length === 0) return
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    bytes.set(part, offset)
    offset += part.length
  }
  socket.write(bytes)
}

const startedMs = performance.now()
pump()
await done
process.stdout.write(`${mode}: ${Math.round(total / ((performance.now() - startedMs) / 1000))} pushes/s\n`)
process.exit(0)
