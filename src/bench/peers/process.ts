/**
 * Starting and watching a peer server process: a free loopback port, an empty temporary data
 * directory, waiting until it accepts connections, its RSS and CPU time from /proc, and the disk its
 * data directory uses.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'

export type ServerProcess = {
  pid: number
  port: number
  dataDir: string
  stop(): Promise<void>
}

/** A port nobody listens on right now (the kernel's choice for port 0). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = listener.port
  listener.stop(true)
  return port
}

export function tempDataDir(system: string): string {
  return mkdtempSync(join(tmpdir(), `flashq-peers-${system}-`))
}

/** Spawns `command` (which must listen on `port`) and resolves once a TCP connect succeeds. */
export async function spawnServer(command: string[], port: number, dataDir: string, options: { readyTimeoutMs?: number; env?: Record<string, string | undefined> } = {}): Promise<ServerProcess> {
  const child: Subprocess<'ignore', 'ignore', 'pipe'> = Bun.spawn(command, { cwd: dataDir, env: options.env, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' })
  const stderr = new Response(child.stderr).text().catch(() => '')
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000)
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${command[0]} exited at start (${child.exitCode ?? child.signalCode}): ${(await stderr).trim()}`)
    if (await canConnect(port)) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${command[0]} did not listen on ${port} within the start-up timeout`)
    }
    await Bun.sleep(20)
  }
  return { pid: child.pid, port, dataDir, stop: () => stopChild(child, dataDir) }
}

/**
 * Kills the server at once: its data directory is thrown away, and a graceful stop (flashq waits up
 * to 30 s for active jobs) would only lengthen the run.
 */
export async function stopChild(child: Subprocess<'ignore', 'ignore' | 'pipe', 'pipe' | 'inherit'>, dataDir: string | null): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await child.exited
  if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true })
}

async function canConnect(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } })
    socket.end()
    return true
  } catch {
    return false
  }
}

/** Resident memory of a process in bytes (VmRSS), 0 once it is gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? 0 : Number(match[1]) * 1024
  } catch {
    return 0
  }
}

/** CPU seconds (user + system, all threads) a process has used. */
export function processCpuSeconds(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

/** Bytes of the files under `dir` (allocated blocks, like du). */
export function diskBytes(dir: string | null): number {
  if (dir === null) return 0
  let total = 0
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    const stat = statSync(path)
    total += stat.isDirectory() ? diskBytes(path) : stat.blocks * 512
  }
  return total
}

/** Path of `binary` on PATH (or /usr/sbin), or null. */
export function findBinary(binary: string): string | null {
  return Bun.which(binary, { PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` })
}
