/**
 * Starts a real flashq server process for tests: `bun src/main.ts` or the compiled binary, on port 0
 * with a temporary data directory, and waits for its start-up line to learn the ports.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'

const repoRoot = join(import.meta.dir, '..', '..')

export type ServerOptions = {
  /** Extra flags, e.g. ['--memory'] or ['--workers', '0']. */
  args?: string[]
  /** Reuse a data directory (restart tests); a fresh temporary one otherwise. */
  dataDir?: string
  /** Path of a compiled binary to run instead of `bun src/main.ts`. */
  binary?: string
  env?: Record<string, string>
  /** Working directory of the process (the binary test runs it from an empty directory). */
  cwd?: string
  /** TCP port to listen on (default 0: any free port); a restart test reuses the first port. */
  tcpPort?: number
  /** The config preset (default testMin: tiny segments and limits, the short warm-up). */
  preset?: 'production' | 'testMin'
}

export type TestServer = {
  tcpPort: number
  httpPort: number | null
  dataDir: string
  startupLine: string
  process: Subprocess<'ignore', 'pipe', 'pipe'>
  output: () => string
  kill(signal?: NodeJS.Signals | number): Promise<number>
  /** Kills (SIGKILL) if running and starts again on the same data directory. */
  restart(extraArgs?: string[]): Promise<TestServer>
  /** Stops and removes the temporary data directory. */
  cleanup(): Promise<void>
}

export function temporaryDirectory(prefix = 'flashq-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? temporaryDirectory()
  const command = options.binary !== undefined ? [options.binary] : [process.execPath, join(repoRoot, 'src', 'main.ts')]
  const args = ['--port', String(options.tcpPort ?? 0), '--http-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--preset', options.preset ?? 'testMin', ...(options.args ?? [])]
  const child = Bun.spawn([...command, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...options.env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let output = ''
  const startupLine = await readStartupLine(child, (text) => (output += text))
  const tcpPort = Number(/tcp=[^ ]*:(\d+)/.exec(startupLine)?.[1])
  const httpMatch = /http=[^ ]*:(\d+)/.exec(startupLine)
  const server: TestServer = {
    tcpPort,
    httpPort: httpMatch ? Number(httpMatch[1]) : null,
    dataDir,
    startupLine,
    process: child,
    output: () => output,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return await child.exited
    },
    async restart(extraArgs = []) {
      await server.kill('SIGKILL')
      return startServer({ ...options, dataDir, args: [...(options.args ?? []), ...extraArgs] })
    },
    async cleanup() {
      await server.kill('SIGKILL')
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true })
    },
  }
  return server
}

/** Reads stdout until the `listening` line; fails with everything the process printed otherwise. */
async function readStartupLine(child: Subprocess<'ignore', 'pipe', 'pipe'>, record: (text: string) => void): Promise<string> {
  const reader = child.stdout.getReader()
  const decoder = new TextDecoder()
  let seen = ''
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const { value, done } = await reader.read()
    if (done) break
    const text = decoder.decode(value)
    seen += text
    record(text)
    const line = seen.split('\n').find((candidate) => candidate.includes(' listening '))
    if (line !== undefined) {
      void drain(reader, decoder, record)
      void drainStderr(child, record)
      return line
    }
  }
  const stderr = await new Response(child.stderr).text()
  throw new Error(`server did not start (exit ${child.exitCode}):\n${seen}\n${stderr}`)
}

async function drain(reader: { read(): Promise<{ value?: Uint8Array; done: boolean }> }, decoder: TextDecoder, record: (text: string) => void): Promise<void> {
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
    if (done) return
    record(decoder.decode(value))
  }
}

async function drainStderr(child: Subprocess<'ignore', 'pipe', 'pipe'>, record: (text: string) => void): Promise<void> {
  const text = await new Response(child.stderr).text().catch(() => '')
  record(text)
}

/** Runs a process to completion and returns its exit code and output (for bad-flag tests). */
export async function runToExit(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([process.execPath, join(repoRoot, 'src', 'main.ts'), ...args], {
    cwd: repoRoot, env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe',
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** Starts a second server on `dataDir` and waits for it to exit (a locked data directory refuses it). */
export function startAgainOn(dataDir: string) {
  return runToExit(['--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--preset', 'testMin', '--no-warmup'])
}

export { repoRoot }
