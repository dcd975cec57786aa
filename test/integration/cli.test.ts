/** Start-up behaviour of the real process: bad flags, environment variables, the start-up line. */
import { describe, expect, test } from 'bun:test'
import { runToExit, startServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

describe('command line', () => {
  test('bad flags stop the start with a one-line reason and exit code 2', async () => {
    for (const args of [['--port', 'abc'], ['--bogus'], ['--fsync', 'sometimes'], ['--shards', '0'], ['--workers', '3', '--shards', '2']]) {
      const result = await runToExit(args)
      expect(result.code).toBe(2)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toStartWith('flashq: ')
    }
  })

  test('the start-up line names ports, data mode, io, shards and workers; TCP_PORT and NO_HTTP are honoured', async () => {
    const server = await startServer({ args: ['--memory', '--workers', '0'], env: { NO_HTTP: '1' } })
    try {
      expect(server.startupLine).toMatch(/tcp=127\.0\.0\.1:\d+ http=off data=memory .* shards=\d+ workers=0/)
      const client = await WireClient.connect(server.tcpPort)
      expect(await client.request({ cmd: 'PING' })).toMatchObject({ ok: true })
      client.close()
    } finally {
      await server.cleanup()
    }
  })

  test('default workers: the stores leave the main thread when the log would block it in fdatasync (pwrite)', async () => {
    // Whatever the core count: with pwrite the default is at least one Worker (config.ts defaultWorkerCount).
    const server = await startServer({ args: ['--io', 'pwrite', '--shards', '2'] })
    try {
      expect(server.startupLine).toMatch(/io=pwrite .*shards=2 workers=[12]\b/)
    } finally {
      await server.cleanup()
    }
  })

  test('a data directory refuses a different --shards', async () => {
    const server = await startServer({ args: ['--shards', '2'] })
    await server.kill()
    const result = await runToExit(['--port', '0', '--http-port', '0', '--data-dir', server.dataDir, '--shards', '3'])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain('--shards 2')
    await server.cleanup()
  })
})
