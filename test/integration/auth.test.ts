/**
 * Authentication over TCP (spec §1.10): with tokens configured every command, PING included, needs
 * AUTH first; the reqId is echoed on refusals. Tokens from the flag and from AUTH_TOKENS.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { freshQueue, shardArgs } from './commands-kit.ts'

setDefaultTimeout(20_000)

let flagServer: TestServer
let envServer: TestServer

beforeAll(async () => {
  ;[flagServer, envServer] = await Promise.all([
    startServer({ args: [...shardArgs, '--auth-token', 'secret', '--memory'] }),
    startServer({ args: [...shardArgs, '--memory'], env: { AUTH_TOKENS: 'a,,b' } }),
  ])
})
afterAll(async () => {
  await Promise.all([flagServer.cleanup(), envServer.cleanup()])
})

for (const mode of ['json', 'msgpack'] as const) {
  describe(`--auth-token (${mode})`, () => {
    test('unauthenticated commands get "Authentication required" with their reqId', async () => {
      const client = await WireClient.connect(flagServer.tcpPort, mode)
      for (const cmd of [{ cmd: 'PING' }, { cmd: 'PUSH', queue: freshQueue('auth'), data: 1 }, { cmd: 'STATS' }, { cmd: 'KVGET', key: 'k' }, { cmd: 'GETJOB', id: 1 }]) {
        const reply = await client.request(cmd)
        expect(reply).toEqual({ reqId: expect.any(String), ok: false, error: 'Authentication required' })
      }
      // Even a malformed or unknown command is refused the same way, reqId echoed.
      expect(await client.request({ cmd: 'NOPE' })).toMatchObject({ reqId: expect.any(String), ok: false })
      client.close()
    })

    test('a wrong token is refused; the right one authenticates the connection', async () => {
      const client = await WireClient.connect(flagServer.tcpPort, mode)
      expect(await client.request({ cmd: 'AUTH', token: 'wrong' })).toEqual({ reqId: expect.any(String), ok: false, error: 'Invalid token' })
      expect(await client.request({ cmd: 'PING' })).toMatchObject({ ok: false, error: 'Authentication required' })
      expect(await client.request({ cmd: 'AUTH', token: 'secret' })).toEqual({ reqId: expect.any(String), ok: true })
      expect(await client.request({ cmd: 'PING' })).toMatchObject({ ok: true, pong: true })
      const queue = freshQueue('auth')
      const pushed = await client.request({ cmd: 'PUSH', queue, data: { a: 1 } })
      expect(pushed).toMatchObject({ ok: true })
      expect((await client.request({ cmd: 'PULL', queue, timeout: 0 })).job?.id).toBe(pushed.id)
      // Authentication is per connection.
      const other = await WireClient.connect(flagServer.tcpPort, mode)
      expect(await other.request({ cmd: 'COUNT', queue })).toMatchObject({ ok: false, error: 'Authentication required' })
      other.close()
      client.close()
    })
  })
}

describe('AUTH_TOKENS=a,,b', () => {
  test('each listed token works; an empty token does not', async () => {
    for (const token of ['a', 'b']) {
      const client = await WireClient.connect(envServer.tcpPort)
      expect(await client.request({ cmd: 'PING' })).toMatchObject({ ok: false, error: 'Authentication required' })
      expect(await client.request({ cmd: 'AUTH', token })).toMatchObject({ ok: true })
      expect(await client.request({ cmd: 'STATS' })).toMatchObject({ ok: true })
      client.close()
    }
    const client = await WireClient.connect(envServer.tcpPort)
    expect(await client.request({ cmd: 'AUTH', token: '' })).toMatchObject({ ok: false, error: 'Invalid token' })
    expect(await client.request({ cmd: 'AUTH', token: 'a,b' })).toMatchObject({ ok: false, error: 'Invalid token' })
    client.close()
  })

  test('requests without reqId are refused in order', async () => {
    const client = await WireClient.connect(envServer.tcpPort)
    expect(await client.requestInOrder({ cmd: 'PING' })).toEqual({ ok: false, error: 'Authentication required' })
    expect(await client.requestInOrder({ cmd: 'AUTH', token: 'b' })).toEqual({ ok: true })
    expect(await client.requestInOrder({ cmd: 'PING' })).toEqual({ ok: true, pong: true })
    client.close()
  })
})
