/**
 * flashQ's UNIX_SOCKET (spec §1): when set, the TCP protocol is served on /tmp/flashq.sock instead of
 * TCP. A socket file left by a killed server is cleared; a live server's socket and a regular file are
 * not touched.
 */
import { afterAll, expect, test } from 'bun:test'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type TestServer } from '../harness/server.ts'

const socketPath = '/tmp/flashq.sock'
const env = { UNIX_SOCKET: '1' }
const servers: TestServer[] = []
const repoRoot = join(import.meta.dir, '..', '..')

afterAll(async () => {
  for (const server of servers) await server.cleanup()
  rmSync(socketPath, { force: true })
})

/** Sends JSON lines over the Unix socket and collects one reply per line. */
async function exchange(lines: object[]): Promise<Array<Record<string, unknown>>> {
  const { promise, resolve, reject } = Promise.withResolvers<Array<Record<string, unknown>>>()
  let text = ''
  const socket = await Bun.connect({
    unix: socketPath,
    socket: {
      data(_socket, chunk) {
        text += chunk.toString()
        const replies = text.split('\n').filter((line) => line.length > 0)
        if (replies.length >= lines.length) resolve(replies.map((line) => JSON.parse(line)))
      },
      error: (_socket, error) => reject(error),
    },
  })
  socket.write(lines.map((line) => `${JSON.stringify(line)}\n`).join(''))
  const replies = await promise
  socket.end()
  return replies
}

async function startFailure(): Promise<{ code: number; stderr: string }> {
  const child = Bun.spawn([process.execPath, 'src/main.ts', '--memory', '--http-port', '0'], {
    cwd: repoRoot, env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe',
  })
  const code = await child.exited
  return { code, stderr: await new Response(child.stderr).text() }
}

test('serves the protocol on /tmp/flashq.sock, and starts again after kill -9 left the socket file', async () => {
  rmSync(socketPath, { force: true })
  const first = await startServer({ env })
  servers.push(first)
  expect(first.startupLine).toContain(`tcp=${socketPath}`)
  const [pushed, pulled] = await exchange([{ cmd: 'PUSH', queue: 'unix', data: 1, reqId: 1 }, { cmd: 'PULL', queue: 'unix', timeout: 0, reqId: 2 }])
  expect(pushed).toMatchObject({ ok: true, reqId: 1 })
  expect(pulled).toMatchObject({ ok: true, reqId: 2, job: { id: pushed!.id } })

  // A live server's socket is never taken over.
  const second = await startFailure()
  expect(second.code).not.toBe(0)
  expect(second.stderr).toContain(`another server is listening on ${socketPath}`)

  await first.kill('SIGKILL')
  expect(existsSync(socketPath)).toBe(true)
  const again = await first.restart()
  servers.push(again)
  expect(await exchange([{ cmd: 'GETSTATE', id: pushed!.id }])).toEqual([{ ok: true, id: pushed!.id, state: 'waiting' }])
  expect(await again.kill('SIGTERM')).toBe(0)
  expect(existsSync(socketPath)).toBe(false)
}, 30_000)

test('a regular file at the socket path is refused with a clear message, not deleted', async () => {
  writeFileSync(socketPath, 'not a socket')
  const { code, stderr } = await startFailure()
  expect(code).not.toBe(0)
  expect(stderr).toContain(`${socketPath} exists and is not a socket`)
  expect(existsSync(socketPath)).toBe(true)
  rmSync(socketPath)
})
