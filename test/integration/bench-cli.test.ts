/** `flashq bench` against a server that is already running (--port), and its argument checks. */
import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { repoRoot, runToExit, startServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

test('flashq bench --port drives a running server: the jobs it pushed are there', async () => {
  const server = await startServer({ args: ['--memory'] })
  try {
    const ran = Bun.spawnSync([process.execPath, join(repoRoot, 'src', 'main.ts'), 'bench', '--port', String(server.tcpPort), '-n', '3000', '-t', 'pushb,latency'],
      { stdout: 'pipe', stderr: 'pipe', timeout: 60_000 })
    const table = ran.stdout.toString()
    expect(ran.exitCode).toBe(0)
    expect(table).toContain(`server at 127.0.0.1:${server.tcpPort}`)
    expect(table).toMatch(/^PUSHB 1000 \(4 conns\)\s+3000\s/m)
    expect(table).toMatch(/^PUSH one at a time\s+3000\s+[\d.]+\s+\S+\s+[\d.]+\s+[\d.]+\s+0$/m)
    const client = await WireClient.connect(server.tcpPort)
    const stats = await client.request({ cmd: 'STATS' })
    client.close()
    // 3000 from PUSHB, plus 3000 warm-up and 3000 measured single pushes.
    expect(stats.queued).toBe(9000)
  } finally {
    await server.cleanup()
  }
}, 60_000)

test('bad bench arguments are refused with a reason', async () => {
  for (const args of [['bench', '-t', 'nope'], ['bench', '-n', 'x'], ['bench', '--bogus']]) {
    const result = await runToExit(args)
    expect(result.code).toBe(2)
    expect(result.stderr).toStartWith('flashq: bench: ')
  }
})
