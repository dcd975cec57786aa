/** Start-up behaviour of the real process: bad flags, environment variables, the start-up line. */
import { describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { runToExit, startServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

describe('command line', () => {
  test('bad flags stop the start with a one-line reason and exit code 2', async () => {
    for (const args of [['--port', 'abc'], ['--bogus'], ['--fsync', 'sometimes'], ['--shards', '0'], ['--workers', '3', '--shards', '2'], ['--compiler-nice', '20']]) {
      const result = await runToExit(args)
      expect(result.code).toBe(2)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toStartWith('flashq: ')
    }
  })

  test('JSC\'s compiler threads run at nice 19 (--compiler-nice; 0 leaves them alone), the main thread keeps its own', async () => {
    const niceOf = (pid: number) => {
      const byName = new Map<string, number[]>()
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
        // Field 19 of stat is the nice value: the 17th after the closing parenthesis and the state.
        byName.set(name, [...(byName.get(name) ?? []), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])])
      }
      return byName
    }
    // The server inherits this process's nice value (the tests may run under `nice`).
    const inherited = niceOf(process.pid).get('bun.exe') ?? niceOf(process.pid).get('bun') ?? []
    expect(inherited).toHaveLength(1)
    for (const [args, compilerNice] of [[[], 19], [['--compiler-nice', '0'], inherited[0] as number]] as const) {
      const server = await startServer({ args: ['--memory', ...args] })
      try {
        const threads = niceOf(server.process.pid)
        expect(threads.get('JITWorker')?.length ?? 0).toBeGreaterThan(0) // the warm-up compiled, so they exist
        expect(new Set(threads.get('JITWorker'))).toEqual(new Set([compilerNice]))
        expect(threads.get('bun.exe') ?? threads.get('bun')).toEqual(inherited)
      } finally {
        await server.cleanup()
      }
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
