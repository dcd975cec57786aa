/**
 * A fresh machine has no liburing. The server must still get io_uring there, through raw system
 * calls, and say so on its start-up line. The test hides liburing from one server process: in a
 * private mount namespace (unshare -m) /dev/null is bind-mounted over the library file, so dlopen
 * of liburing.so.2 fails exactly as on a machine without the package. Needs root and unshare; the
 * skip says why when either is missing.
 */
import { afterAll, expect, test } from 'bun:test'
import { chmodSync, existsSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot, startServer, temporaryDirectory } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

const libraryDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib']
const installed = libraryDirs.map((dir) => join(dir, 'liburing.so.2')).filter((path) => existsSync(path))
const scratch = temporaryDirectory('flashq-fresh-')
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** A launcher that runs `bun src/main.ts` with every liburing.so.2 on the machine unloadable. */
function launcherWithoutLiburing(): string {
  const hide = installed.map((path) => `mount --bind /dev/null ${realpathSync(path)}`).join(' && ')
  const launcher = join(scratch, 'flashq-without-liburing')
  writeFileSync(launcher, `#!/bin/sh
exec unshare -m --propagation private sh -c '${hide || 'true'} && exec "$0" "$@"' ${process.execPath} ${join(repoRoot, 'src', 'main.ts')} "$@"
`)
  chmodSync(launcher, 0o755)
  return launcher
}

/** Why liburing cannot be hidden here (not root, no unshare, a container without CAP_SYS_ADMIN), or null. */
function cannotHide(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to bind-mount over liburing'
  if (Bun.which('unshare') === null) return 'unshare is not installed'
  const hide = installed.map((path) => `mount --bind /dev/null ${realpathSync(path)}`).join(' && ') || 'true'
  const probe = Bun.spawnSync(['unshare', '-m', '--propagation', 'private', 'sh', '-c', hide], { stderr: 'pipe' })
  return probe.exitCode === 0 ? null : `cannot bind-mount in a private mount namespace: ${probe.stderr.toString().trim()}`
}
const cannot = cannotHide()

test.skipIf(cannot !== null)(`without liburing, auto picks io_uring by raw syscalls${cannot ? ` — SKIPPED: ${cannot}` : ''}`, async () => {
  const server = await startServer({ binary: launcherWithoutLiburing(), args: ['--io', 'auto'] })
  try {
    expect(server.startupLine).toContain('io=io_uring (kernel, no liburing) ')
    const client = await WireClient.connect(server.tcpPort)
    const pushed = await client.request({ cmd: 'PUSH', queue: 'fresh', data: { n: 1 } })
    client.close()
    const again = await server.restart()
    const after = await WireClient.connect(again.tcpPort)
    expect(await after.request({ cmd: 'GETSTATE', id: pushed.id })).toMatchObject({ state: 'waiting' })
    after.close()
    await again.cleanup()
  } finally {
    await server.cleanup()
  }
}, 60_000)

test.skipIf(cannot !== null)(`without liburing, a forced --io liburing refuses to start and says why${cannot ? ` — SKIPPED: ${cannot}` : ''}`, async () => {
  const launcher = launcherWithoutLiburing()
  const child = Bun.spawn([launcher, '--port', '0', '--http-port', '0', '--data-dir', join(scratch, 'forced'), '--io', 'liburing'], { stdout: 'pipe', stderr: 'pipe' })
  const [stderr, code] = await Promise.all([new Response(child.stderr).text(), child.exited])
  expect(code).toBe(1)
  expect(stderr).toContain('--io liburing: cannot load liburing.so.2')
}, 30_000)
