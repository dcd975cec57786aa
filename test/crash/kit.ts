/**
 * Helpers for the crash tests: a wire client that survives its server being killed (every request
 * pending when the connection drops resolves to null: "no reply", never an exception or a 20 s
 * timer), segment file inspection with the real frame codec, and a tmpfs mount helper.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Socket } from 'bun'
import { Packr, Unpackr } from 'msgpackr'
import { decodeFrame } from '../../src/storage/frame.ts'
import { expect } from 'bun:test'
import { frame } from '../harness/wire-client.ts'

export type Reply = { ok: boolean; error?: string; reqId?: string; [field: string]: unknown }
export type Mode = 'json' | 'msgpack'

const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A client whose pending requests resolve to null once the connection is gone. */
export class CrashClient {
  private socket!: Socket<undefined>
  private chunks: Uint8Array[] = []
  private buffered = 0
  private readonly pending = new Map<string, (reply: Reply | null) => void>()
  private nextReqId = 1
  private outbox: Uint8Array[] = []
  isClosed = false

  private constructor(readonly mode: Mode) {}

  static async connect(port: number, mode: Mode): Promise<CrashClient> {
    const client = new CrashClient(mode)
    client.socket = await Bun.connect({
      hostname: '127.0.0.1',
      port,
      socket: {
        data: (_socket, chunk) => client.onData(chunk),
        drain: () => client.flushOutbox(),
        close: () => client.onClose(),
        error: () => client.onClose(),
      },
    })
    return client
  }

  /** Resolves with the reply, or null when the connection closed before it arrived. */
  request(command: Record<string, unknown>): Promise<Reply | null> {
    if (this.isClosed) return Promise.resolve(null)
    const reqId = `c${this.nextReqId++}`
    const reply = new Promise<Reply | null>((resolve) => this.pending.set(reqId, resolve))
    const body = { ...command, reqId }
    this.outbox.push(this.mode === 'json' ? encoder.encode(`${JSON.stringify(body)}\n`) : frame(packr.pack(body)))
    this.flushOutbox()
    return reply
  }

  /** Like request, but a missing reply is an error (for verification against a live server). */
  async must(command: Record<string, unknown>): Promise<Reply> {
    const reply = await this.request(command)
    if (reply === null) throw new Error(`connection closed before a reply to ${JSON.stringify(command).slice(0, 200)}`)
    return reply
  }

  close(): void {
    if (!this.isClosed) this.socket.end()
  }

  private flushOutbox(): void {
    while (this.outbox.length > 0 && !this.isClosed) {
      const head = this.outbox[0] as Uint8Array
      const written = this.socket.write(head)
      if (written < 0) return this.onClose()
      if (written < head.byteLength) {
        this.outbox[0] = head.subarray(Math.max(0, written))
        return // wait for drain
      }
      this.outbox.shift()
    }
  }

  private onClose(): void {
    if (this.isClosed) return
    this.isClosed = true
    for (const resolve of this.pending.values()) resolve(null)
    this.pending.clear()
    this.outbox = []
  }

  private onData(chunk: Uint8Array): void {
    this.chunks.push(new Uint8Array(chunk))
    this.buffered += chunk.byteLength
    let buffer = this.joined()
    let offset = 0
    if (this.mode === 'json') {
      let newline: number
      while ((newline = buffer.indexOf(0x0a, offset)) >= 0) {
        this.dispatch(JSON.parse(decoder.decode(buffer.subarray(offset, newline))) as Reply)
        offset = newline + 1
      }
    } else {
      const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
      while (buffer.byteLength - offset >= 4) {
        const length = view.getUint32(offset)
        if (buffer.byteLength - offset - 4 < length) break
        this.dispatch(unpackr.unpack(buffer.subarray(offset + 4, offset + 4 + length)) as Reply)
        offset += 4 + length
      }
    }
    buffer = buffer.slice(offset)
    this.chunks = buffer.byteLength > 0 ? [buffer] : []
    this.buffered = buffer.byteLength
  }

  private joined(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0] as Uint8Array
    const out = new Uint8Array(this.buffered)
    let at = 0
    for (const chunk of this.chunks) {
      out.set(chunk, at)
      at += chunk.byteLength
    }
    return out
  }

  private dispatch(reply: Reply): void {
    const resolve = typeof reply.reqId === 'string' ? this.pending.get(reply.reqId) : undefined
    if (resolve === undefined) throw new Error(`unmatched reply ${JSON.stringify(reply).slice(0, 200)}`)
    this.pending.delete(reply.reqId as string)
    resolve(reply)
  }
}

/** Runs `fn` over `items` with at most `width` in flight; keeps order of results. */
export async function pipelined<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index] as T)
    }
  })
  await Promise.all(lanes)
  return results
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------------
// Segment files

export function shardDirectories(dataDir: string): string[] {
  return readdirSync(dataDir)
    .filter((name) => /^shard-\d+$/.test(name))
    .sort()
    .map((name) => join(dataDir, name))
}

export function segmentFiles(shardDir: string): string[] {
  if (!existsSync(shardDir)) return []
  return readdirSync(shardDir)
    .filter((name) => /^\d{16}\.seg$/.test(name))
    .sort()
    .map((name) => join(shardDir, name))
}

export type FrameInfo = { offset: number; end: number; lsn: number; body: string }

/** Every valid frame of a segment from its start, stopping at the first non-frame (zeros or damage). */
export function framesOf(file: string): { frames: FrameInfo[]; stop: number; stoppedOn: string } {
  const bytes = new Uint8Array(readFileSync(file))
  const frames: FrameInfo[] = []
  let offset = 0
  for (;;) {
    const decoded = decodeFrame(bytes, offset)
    if (typeof decoded === 'string') return { frames, stop: offset, stoppedOn: decoded }
    frames.push({ offset, end: decoded.end, lsn: decoded.lsn, body: decoder.decode(decoded.body) })
    offset = decoded.end
  }
}

/** The last segment (highest first LSN) of a shard that holds at least one frame, or null. */
export function lastUsedSegment(shardDir: string): string | null {
  const files = segmentFiles(shardDir)
  for (let i = files.length - 1; i >= 0; i--) {
    if (framesOf(files[i] as string).frames.length > 0) return files[i] as string
  }
  return null
}

// ---------------------------------------------------------------------------------------------------
// tmpfs

/** Mounts a tmpfs of `size` at `dir`; returns null on success or the reason it could not. */
export async function mountTmpfs(dir: string, size: string): Promise<string | null> {
  const child = Bun.spawn(['mount', '-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdout: 'pipe', stderr: 'pipe' })
  const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()])
  return code === 0 ? null : `mount -t tmpfs failed (exit ${code}): ${stderr.trim()}`
}

/**
 * Unmounts `dir`. A server just killed with SIGKILL may still pin the mount for a moment: the kernel
 * tears down its io_uring (and the files the ring holds) asynchronously after the process is gone, so
 * umount can fail with EBUSY. Retry for a while, then detach lazily (`umount -l`: the kernel frees the
 * tmpfs once the last reference drops), so the caller can always remove the directory.
 */
export async function unmount(dir: string): Promise<void> {
  const retryUntilMs = Date.now() + 5000
  let stderr = ''
  do {
    const child = Bun.spawn(['umount', dir], { stdout: 'ignore', stderr: 'pipe' })
    const [code, text] = await Promise.all([child.exited, new Response(child.stderr).text()])
    if (code === 0) return
    stderr = text.trim()
    await sleep(50)
  } while (Date.now() < retryUntilMs)
  const lazy = Bun.spawn(['umount', '-l', dir], { stdout: 'ignore', stderr: 'pipe' })
  const [code, text] = await Promise.all([lazy.exited, new Response(lazy.stderr).text()])
  if (code !== 0) throw new Error(`umount ${dir} failed: ${stderr}; umount -l too: ${text.trim()}`)
}

/**
 * Waits until the server's output matches (the recovery report lines follow the start-up line, which
 * the harness returns on, so they may arrive a moment later). Returns the output either way.
 */
export async function outputMatching(output: () => string, pattern: RegExp, waitMs = 5000): Promise<string> {
  const deadline = Date.now() + waitMs
  while (!pattern.test(output()) && Date.now() < deadline) await sleep(20)
  return output()
}

/**
 * Pushes one job per marker, one at a time (each job is one record, so the last record is the last
 * job), each with a 400-byte pad so a few hundred jobs span several testMin segments.
 */
export async function pushMarkers(port: number, queue: string, markers: string[]): Promise<Map<string, number>> {
  const client = await CrashClient.connect(port, 'json')
  const ids = new Map<string, number>()
  for (const marker of markers) {
    const reply = await client.must({ cmd: 'PUSH', queue, data: { m: marker, pad: 'p'.repeat(400) } })
    expect(reply).toMatchObject({ ok: true })
    ids.set(marker, reply.id as number)
  }
  client.close()
  return ids
}

/** States of the given jobs: marker → 'waiting' (with the right payload) or what was found instead. */
export async function markerStates(port: number, ids: Map<string, number>): Promise<Map<string, string>> {
  const client = await CrashClient.connect(port, 'msgpack')
  const states = new Map<string, string>()
  await Promise.all(
    [...ids].map(async ([marker, id]) => {
      const reply = await client.must({ cmd: 'GETJOB', id })
      const data = (reply.job as { data?: { m?: string } } | null)?.data
      states.set(marker, reply.state === 'waiting' && data?.m !== marker ? `waiting with payload ${data?.m}` : (reply.state as string))
    }),
  )
  client.close()
  return states
}
