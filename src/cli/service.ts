/**
 * `flashq service install|uninstall`: a systemd unit for the server. install writes the unit, creates
 * the system user and the data directory, and prints the systemctl commands to start it; it does not
 * start anything itself. `--root <dir>` writes under <dir> instead of / (tests, image builds) and
 * then creates no user. Readiness is Type=notify: the server sends READY=1 once it listens (serve.ts).
 */
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { shutdownGraceMsDefault } from '../base/limits.ts'
import { UsageError } from './args.ts'

export type ServiceOptions = {
  name: string
  dataDir: string
  user: string
  tcpPort: number
  httpPort: number
  /** The command that runs the server: the compiled binary, or bun + main.ts when run from source. */
  exec: string[]
  root: string
  shutdownGraceMs: number
  createUser: boolean
}

/** Open files: every client connection and every segment file is one; 10 000 connections is the limit. */
const limitNofile = 65536
/** Seconds systemd waits after KillSignal before SIGKILL: the grace period plus time to flush. */
const stopFlushSeconds = 15

export function unitText(options: ServiceOptions): string {
  const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/["\\]/g, '\\$&')}"`)
  const exec = [...options.exec, 'serve', '--data-dir', options.dataDir, '--port', String(options.tcpPort),
    '--http-port', String(options.httpPort), '--shutdown-grace-ms', String(options.shutdownGraceMs)]
  // ProtectHome=yes hides /home and /root; a bun or binary living there must stay readable.
  const underHome = options.exec.some((part) => /^\/(home|root)(\/|$)/.test(part))
  return `[Unit]
Description=flashq job queue server (TCP ${options.tcpPort}, HTTP ${options.httpPort})
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart=${exec.map(quote).join(' ')}
User=${options.user}
Group=${options.user}
WorkingDirectory=${options.dataDir}
Restart=on-failure
RestartSec=2s
# SIGTERM: stop accepting, let workers finish active jobs for --shutdown-grace-ms, flush, exit 0.
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=${Math.ceil(options.shutdownGraceMs / 1000) + stopFlushSeconds}s
LimitNOFILE=${limitNofile}
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=${options.dataDir}
ProtectHome=${underHome ? 'read-only' : 'yes'}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6

[Install]
WantedBy=multi-user.target
`
}

export function unitPath(options: Pick<ServiceOptions, 'root' | 'name'>): string {
  return join(options.root, 'etc', 'systemd', 'system', `${options.name}.service`)
}

export function parseServiceArgs(argv: string[], defaultExec: string[]): ServiceOptions {
  const options: ServiceOptions = {
    name: 'flashq', dataDir: '/var/lib/flashq', user: 'flashq', tcpPort: 6789, httpPort: 6790,
    exec: defaultExec, root: '/', shutdownGraceMs: shutdownGraceMsDefault, createUser: true,
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string
    const value = (): string => {
      const next = argv[++i]
      if (next === undefined) throw new UsageError(`service: ${flag} needs a value`)
      return next
    }
    const port = (text: string): number => {
      if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new UsageError(`service: ${flag} must be a port from 1 to 65535, got '${text}'`)
      return Number(text)
    }
    if (flag === '--data-dir') options.dataDir = value()
    else if (flag === '--user') options.user = value()
    else if (flag === '--port') options.tcpPort = port(value())
    else if (flag === '--http-port') options.httpPort = port(value())
    else if (flag === '--name') options.name = value()
    else if (flag === '--root') options.root = value()
    else if (flag === '--exec') options.exec = [value()]
    else if (flag === '--no-create-user') options.createUser = false
    else throw new UsageError(`service: unknown argument '${flag}' (see flashq help)`)
  }
  if (!isAbsolute(options.dataDir)) throw new UsageError(`service: --data-dir must be an absolute path, got '${options.dataDir}'`)
  if (!/^[a-z_][a-z0-9_-]*$/.test(options.user)) throw new UsageError(`service: --user '${options.user}' is not a valid user name`)
  if (!/^[\w@.-]+$/.test(options.name)) throw new UsageError(`service: --name '${options.name}' is not a valid unit name`)
  options.root = resolve(options.root)
  return options
}

/** The command systemd should run: this binary, or `bun <main.ts>` when running from source. */
export function currentExec(): string[] {
  const compiled = Bun.main.startsWith('/$bunfs/')
  return compiled ? [process.execPath] : [process.execPath, resolve(Bun.main)]
}

export function install(options: ServiceOptions): string {
  const lines: string[] = []
  const onRealRoot = options.root === '/'
  if (options.createUser && onRealRoot) lines.push(ensureUser(options.user))
  else lines.push(`user ${options.user}: not created (${onRealRoot ? '--no-create-user' : `--root ${options.root}`})`)
  const dataDir = join(options.root, options.dataDir)
  mkdirSync(dataDir, { recursive: true, mode: 0o750 })
  if (options.createUser && onRealRoot) chownSync(dataDir, uidOf(options.user), gidOf(options.user))
  lines.push(`data directory ${dataDir}`)
  const path = unitPath(options)
  mkdirSync(join(options.root, 'etc', 'systemd', 'system'), { recursive: true })
  writeFileSync(path, unitText(options), { mode: 0o644 })
  lines.push(`wrote ${path}`)
  // bunx runs the package from a cache directory that may be cleaned; systemd needs a stable path.
  if (options.exec.some((part) => /^\/(tmp|var\/tmp)\//.test(part) || part.includes('/bunx-'))) {
    lines.push(`warning: ExecStart runs ${options.exec.join(' ')}, a temporary path; install the binary (for example /usr/local/bin/flashq) and pass --exec <path>`)
  }
  lines.push('', 'start it with:', '  systemctl daemon-reload', `  systemctl enable --now ${options.name}`,
    `  systemctl status ${options.name}`, `  journalctl -u ${options.name} -f`)
  return `${lines.join('\n')}\n`
}

export function uninstall(options: ServiceOptions): string {
  const path = unitPath(options)
  const wants = join(options.root, 'etc', 'systemd', 'system', 'multi-user.target.wants', `${options.name}.service`)
  if (!existsSync(path)) throw new Error(`${path} does not exist (nothing to uninstall)`)
  rmSync(wants, { force: true })
  rmSync(path)
  return `removed ${path}\nkept the data directory and the user ${options.user}\n\nthen run:\n  systemctl stop ${options.name}\n  systemctl daemon-reload\n`
}

function ensureUser(user: string): string {
  if (Bun.spawnSync(['id', '-u', user], { stderr: 'ignore', stdout: 'ignore' }).exitCode === 0) return `user ${user}: exists`
  const shell = existsSync('/usr/sbin/nologin') ? '/usr/sbin/nologin' : '/bin/false'
  const made = Bun.spawnSync(['useradd', '--system', '--no-create-home', '--user-group', '--shell', shell, user], { stderr: 'pipe' })
  if (made.exitCode !== 0) throw new Error(`useradd ${user} failed: ${made.stderr.toString().trim()}`)
  return `user ${user}: created (system user, no login)`
}

function uidOf(user: string): number {
  return Number(Bun.spawnSync(['id', '-u', user]).stdout.toString().trim())
}

function gidOf(user: string): number {
  return Number(Bun.spawnSync(['id', '-g', user]).stdout.toString().trim())
}
