/**
 * Issue 8, connection side: refusing connections past the limit, clients that never read their
 * replies, workers that die while waiting in PULL, and start-up refusals (items 1, 4, 5, 11).
 * Each test runs against a real server process over real sockets.
 */
import { describe, expect, test } from 'bun:test'
import { connect, type Socket as NetSocket } from 'node:net'
import { connectionsMax } from '../../src/base/limits.ts'
import { listenFailure } from '../../src/server/tcp.ts'
import { runToExit, startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

/** Resident set size of a process, from /proc (bytes). */
async function rssBytes(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text()
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024
}

/** Opens a raw TCP connection and resolves once it is connected. */
function rawConnect(port: number): Promise<NetSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket))
    socket.once('error', reject)
  })
}

describe('connection limit (item 1)', () => {
  test(`${connectionsMax * 2} connection attempts leave the server serving`, async () => {
    const server = await startServer({ args: ['--memory', '--no-http'] })
    const held: NetSocket[] = []
    try {
      const first = await WireClient.connect(server.tcpPort)
      expect(await first.request({ cmd: 'PING' })).toMatchObject({ ok: true })
      // Fill up to the limit (the first client counts), in waves so the machine is not flooded.
      const wave = 500
      while (held.length < connectionsMax - 1) {
        const count = Math.min(wave, connectionsMax - 1 - held.length)
        held.push(...(await Promise.all(Array.from({ length: count }, () => rawConnect(server.tcpPort)))))
      }
      // Every further attempt is refused: the server closes it (and must not exit doing so).
      let refused = 0
      for (let attempt = 0; attempt < connectionsMax; attempt += wave) {
        const closes = Array.from({ length: wave }, () => new Promise<boolean>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port: server.tcpPort })
          socket.on('close', () => resolve(true))
          socket.on('error', () => {})
          socket.setTimeout(10_000, () => (socket.destroy(), resolve(false)))
        }))
        refused += (await Promise.all(closes)).filter(Boolean).length
      }
      expect(refused).toBe(connectionsMax)
      expect(server.process.exitCode).toBeNull()
      expect(await first.request({ cmd: 'PING' })).toMatchObject({ ok: true })
      // Closing connections frees room for new ones.
      for (const socket of held.splice(0, 10)) socket.destroy()
      await Bun.sleep(200)
      const late = await WireClient.connect(server.tcpPort)
      expect(await late.request({ cmd: 'PING' })).toMatchObject({ ok: true })
      late.close()
      first.close()
    } finally {
      for (const socket of held) socket.destroy()
      await server.cleanup()
    }
  }, 120_000)
})

describe('a client that never reads its replies (item 4)', () => {
  test('is closed once its unread replies pass the limit; server RSS stays bounded', async () => {
    const server = await startServer({ args: ['--memory', '--no-http'] })
    try {
      const client = await WireClient.connect(server.tcpPort)
      const queue = 'unread'
      const data = 'x'.repeat(1024 * 1024)
      const { id } = await client.request({ cmd: 'PUSH', queue, data })
      const before = await rssBytes(server.process.pid)
      // 5,000 GETJOBs of a 1 MiB job (5 GiB of replies) on a socket that never reads.
      const socket = await rawConnect(server.tcpPort)
      socket.pause()
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
      socket.on('error', () => {})
      socket.write(`${JSON.stringify({ cmd: 'GETJOB', id })}\n`.repeat(5000))
      let peak = before
      let done = false
      void closed.then(() => (done = true))
      for (let probe = 0; probe < 100 && !done; probe++) {
        await Bun.sleep(100)
        peak = Math.max(peak, await rssBytes(server.process.pid))
      }
      expect(done).toBe(true) // the server gave up on the connection
      process.stderr.write(`unread replies: server RSS grew by at most ${Math.round((peak - before) / 2 ** 20)} MiB\n`)
      expect(peak - before).toBeLessThan(600 * 1024 * 1024)
      // And it still serves everyone else.
      expect(await client.request({ cmd: 'GETJOB', id })).toMatchObject({ ok: true, state: 'waiting' })
      client.close()
    } finally {
      await server.cleanup()
    }
  }, 60_000)
})

describe('a worker killed while waiting in PULL (item 5)', () => {
  for (const mode of ['json', 'msgpack'] as const) {
    test(`${mode}: the next job goes to a live worker, not to the dead connection`, async () => {
      const server = await startServer({ args: ['--memory', '--no-http'] })
      try {
        const queue = `dead-${mode}`
        const dead = await WireClient.connect(server.tcpPort, mode)
        void dead.request({ cmd: 'PULL', queue, timeout: 30_000 }).catch(() => {})
        void dead.request({ cmd: 'PULLB', queue, count: 5, timeout: 30_000 }).catch(() => {})
        await Bun.sleep(100)
        dead.close() // FIN, as the kernel sends for a killed process
        await Bun.sleep(100)
        const producer = await WireClient.connect(server.tcpPort)
        const { id } = await producer.request({ cmd: 'PUSH', queue, data: 'next' })
        const pulled = await producer.request({ cmd: 'PULL', queue, timeout: 2000 })
        expect(pulled.job?.id).toBe(id)
        producer.close()
      } finally {
        await server.cleanup()
      }
    })
  }

  test('a half-closed client still gets a job that was waiting (printf … | nc)', async () => {
    const server = await startServer({ args: ['--memory', '--no-http'] })
    try {
      const client = await WireClient.connect(server.tcpPort)
      const { id } = await client.request({ cmd: 'PUSH', queue: 'half', data: 'ready' })
      const socket = await rawConnect(server.tcpPort)
      let text = ''
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
      socket.end(`${JSON.stringify({ cmd: 'PULL', queue: 'half' })}\n`)
      await closed
      expect(JSON.parse(text)).toMatchObject({ ok: true, job: { id } })
      client.close()
    } finally {
      await server.cleanup()
    }
  })

  test('a pull reply that was never written gives its jobs back to waiting, attempts unchanged', async () => {
    const server = await startServer({ args: ['--memory', '--no-http'] })
    try {
      const queue = 'never-written'
      const client = await WireClient.connect(server.tcpPort)
      await client.request({ cmd: 'PUSHB', queue, jobs: [{ data: 1 }, { data: 2 }] })
      const { id: blocker } = await client.request({ cmd: 'PUSH', queue: 'elsewhere', data: 0 })
      // Without reqId, replies go out in request order: the PULLB reply (with both jobs) waits
      // behind the WAITJOB, and the connection dies before either is written.
      const worker = await rawConnect(server.tcpPort)
      worker.on('error', () => {})
      worker.write(`${JSON.stringify({ cmd: 'WAITJOB', id: blocker, timeout: 30_000 })}\n${JSON.stringify({ cmd: 'PULLB', queue, count: 2, timeout: 0 })}\n`)
      await Bun.sleep(300)
      expect(await client.request({ cmd: 'GETJOBCOUNTS', queue })).toMatchObject({ waiting: 0, active: 2 })
      worker.resetAndDestroy() // RST: the connection is gone before anything is written
      await Bun.sleep(300)
      expect(await client.request({ cmd: 'GETJOBCOUNTS', queue })).toMatchObject({ waiting: 2, active: 0 })
      const again = await client.request({ cmd: 'PULLB', queue, count: 2, timeout: 1000 })
      expect(again.jobs.map((job: { attempts: number }) => job.attempts)).toEqual([0, 0])
      client.close()
    } finally {
      await server.cleanup()
    }
  })
})

describe('start-up refusals (item 11)', () => {
  test('--auth-token "" is refused at start', async () => {
    const result = await runToExit(['--memory', '--no-http', '--port', '0', '--auth-token', ''])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('--auth-token')
    expect(result.stderr).toContain('empty')
  })

  test('listen failures are spelled out (EACCES cannot be provoked here: the tests may run as root)', () => {
    const denied = Object.assign(new Error('Failed to listen at 0.0.0.0'), { code: 'EACCES' })
    expect(listenFailure('TCP', '0.0.0.0:80', denied).message).toBe(
      'cannot listen for TCP on 0.0.0.0:80: permission denied (ports below 1024 need privileges) (EACCES)')
    const inUse = Object.assign(new Error('Failed to listen at ::'), { code: 'EADDRINUSE' })
    expect(listenFailure('HTTP', '[::]:6790', inUse).message).toContain('[::]:6790: address in use')
  })

  test('a port in use names the address, the port and the reason', async () => {
    let first: TestServer | null = null
    try {
      first = await startServer({ args: ['--memory', '--no-http'] })
      const result = await runToExit(['--memory', '--no-http', '--host', '127.0.0.1', '--port', String(first.tcpPort)])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(`127.0.0.1:${first.tcpPort}`)
      expect(result.stderr).toContain('address in use')
      expect(result.stderr).not.toContain('    at ')
    } finally {
      await first?.cleanup()
    }
  })
})
