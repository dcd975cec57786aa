/**
 * `flashq service install|uninstall` and running under systemd: the generated unit passes
 * `systemd-analyze verify` with no complaint, readiness reaches a (fake) NOTIFY_SOCKET as READY=1
 * once the server listens, and a stop with the unit's own KillSignal under load, within its
 * TimeoutStopSec, exits 0 and loses no acknowledged job.
 */
import { afterAll, expect, test } from 'bun:test'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { bindNotifySocket } from '../harness/notify-socket.ts'
import { repoRoot, startServer, temporaryDirectory } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

const root = temporaryDirectory('flashq-service-')
afterAll(() => rmSync(root, { recursive: true, force: true }))

function flashq(args: string[]): { code: number; stdout: string; stderr: string } {
  const ran = Bun.spawnSync([process.execPath, join(repoRoot, 'src', 'main.ts'), ...args], { stdout: 'pipe', stderr: 'pipe' })
  return { code: ran.exitCode, stdout: ran.stdout.toString(), stderr: ran.stderr.toString() }
}

function installUnit(extra: string[] = []): string {
  const installed = flashq(['service', 'install', '--root', root, '--data-dir', '/var/lib/flashq-test', '--port', '7789', ...extra])
  expect(installed.stderr).toBe('')
  expect(installed.code).toBe(0)
  expect(installed.stdout).toContain('systemctl enable --now flashq')
  return readFileSync(join(root, 'etc/systemd/system/flashq.service'), 'utf8')
}

/** `Key=value` of the [Service] section. */
function directive(unit: string, key: string): string {
  const value = new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1]
  if (value === undefined) throw new Error(`unit has no ${key}=`)
  return value
}

test('install writes a hardened Type=notify unit and the data directory; uninstall removes the unit', () => {
  const unit = installUnit()
  expect(directive(unit, 'Type')).toBe('notify')
  expect(directive(unit, 'Restart')).toBe('on-failure')
  expect(directive(unit, 'ProtectSystem')).toBe('strict')
  expect(directive(unit, 'ReadWritePaths')).toBe('/var/lib/flashq-test')
  expect(directive(unit, 'NoNewPrivileges')).toBe('yes')
  expect(Number(directive(unit, 'LimitNOFILE'))).toBeGreaterThanOrEqual(10_000)
  expect(directive(unit, 'ExecStart')).toContain('serve --data-dir /var/lib/flashq-test --port 7789')
  expect(existsSync(join(root, 'var/lib/flashq-test'))).toBe(true)
  const removed = flashq(['service', 'uninstall', '--root', root])
  expect(removed.code).toBe(0)
  expect(existsSync(join(root, 'etc/systemd/system/flashq.service'))).toBe(false)
  expect(flashq(['service', 'uninstall', '--root', root]).code).toBe(1)
  expect(flashq(['service', 'install', '--root', root, '--data-dir', 'relative']).code).toBe(2)
})

const analyze = Bun.which('systemd-analyze')
test.skipIf(analyze === null)(`systemd-analyze verify accepts the unit without a warning${analyze === null ? ' — SKIPPED: systemd-analyze not installed' : ''}`, () => {
  installUnit()
  const verified = Bun.spawnSync([analyze as string, 'verify', join(root, 'etc/systemd/system/flashq.service')], { stdout: 'pipe', stderr: 'pipe' })
  // verify exits 0 even for unknown keys and bad values: any output at all is a finding.
  expect(verified.stderr.toString() + verified.stdout.toString()).toBe('')
  expect(verified.exitCode).toBe(0)
})

test('readiness: READY=1 reaches NOTIFY_SOCKET once the server listens, STOPPING=1 on SIGTERM', async () => {
  const socket = bindNotifySocket(root)
  const server = await startServer({ env: { NOTIFY_SOCKET: socket.path } })
  try {
    const ready = await socket.waitFor('READY=1', 10_000)
    // STATUS carries the start-up message (the log line around it adds time, level and event).
    const status = /STATUS=(.*)/.exec(ready)?.[1] ?? ''
    expect(status).toStartWith('flashq ')
    expect(server.startupLine).toContain(status)
    server.process.kill('SIGTERM')
    await socket.waitFor('STOPPING=1', 10_000)
    expect(await server.process.exited).toBe(0)
  } finally {
    socket.close()
    await server.cleanup()
  }
})

test("stop under load with the unit's KillSignal and TimeoutStopSec: exit 0 in time, nothing acknowledged lost", async () => {
  const unit = installUnit()
  const killSignal = directive(unit, 'KillSignal') as NodeJS.Signals
  const timeoutStopMs = Number(/^(\d+)s$/.exec(directive(unit, 'TimeoutStopSec'))?.[1]) * 1000
  const grace = /--shutdown-grace-ms (\d+)/.exec(directive(unit, 'ExecStart'))?.[1]
  expect(grace).toBeDefined()
  const server = await startServer({ args: ['--shutdown-grace-ms', grace as string] })
  // Requests cut off by the exit get no reply: give up on them soon (they count as not acknowledged).
  const replyWaitMs = 3000
  const pushed = new Set<number>()
  const acked = new Set<number>()
  let stopped = false
  const pusher = async (client: WireClient) => {
    while (!stopped) {
      const batch = Array.from({ length: 64 }, (_, i) => client.request({ cmd: 'PUSH', queue: 'svc', data: { i } }, replyWaitMs).catch(() => null))
      for (const reply of await Promise.all(batch)) if (reply?.ok) pushed.add(reply.id)
      if (batch.length === 0) break
    }
  }
  const worker = async (client: WireClient) => {
    while (!stopped) {
      const pulled = await client.request({ cmd: 'PULLB', queue: 'svc', count: 32, timeout: 50 }, replyWaitMs).catch(() => null)
      const ids = ((pulled?.jobs ?? []) as { id: number }[]).map((job) => job.id)
      if (ids.length === 0) continue
      const reply = await client.request({ cmd: 'ACKB', ids }, replyWaitMs).catch(() => null)
      if (reply?.ok) for (const id of ids) acked.add(id)
    }
  }
  const clients = await Promise.all([0, 1, 2].map(() => WireClient.connect(server.tcpPort)))
  const load = Promise.all([pusher(clients[0]!), pusher(clients[1]!), worker(clients[2]!)])
  while (pushed.size < 2000) await Bun.sleep(10)
  const signalledAt = Date.now()
  server.process.kill(killSignal)
  const code = await server.process.exited
  const stopMs = Date.now() - signalledAt
  stopped = true
  for (const client of clients) client.close()
  await load
  console.log(`stopped in ${stopMs} ms with ${pushed.size} pushed, ${acked.size} acked`)
  expect(code).toBe(0)
  expect(stopMs).toBeLessThan(timeoutStopMs)

  const again = await server.restart()
  try {
    const client = await WireClient.connect(again.tcpPort)
    const lost: number[] = []
    const notCompleted: number[] = []
    for (const id of pushed) {
      const { state } = await client.request({ cmd: 'GETSTATE', id })
      if (state === null || state === 'unknown') lost.push(id)
      else if (acked.has(id) && state !== 'completed') notCompleted.push(id)
    }
    client.close()
    expect(lost).toEqual([])
    expect(notCompleted).toEqual([])
    expect(acked.size).toBeGreaterThan(0)
  } finally {
    await again.cleanup()
  }
}, 120_000)
