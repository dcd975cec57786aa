/**
 * Command dispatch for the binary: `flashq [serve] [options]` and the operator subcommands. The only
 * place besides main.ts that decides the exit code. Each subcommand lives in its own file and gets
 * the arguments after its name.
 */
import { parseArgs, usage, UsageError } from './args.ts'
import { benchUsage, runBench } from './bench.ts'
import { runInspect } from './inspect.ts'
import { serve } from './serve.ts'
import { restore } from './restore.ts'
import { currentExec, install, parseServiceArgs, uninstall } from './service.ts'
import { versionText } from './version.ts'

type Subcommand = { summary: string; run: (argv: string[], workerUrl: string) => Promise<void> | void }

const subcommands: Record<string, Subcommand> = {
  serve: { summary: 'run the server (the default; see options below)', run: (argv, workerUrl) => serve(parseArgs(argv, process.env), workerUrl) },
  help: { summary: 'this text', run: () => void process.stdout.write(helpText()) },
  version: { summary: 'version, commit and build date', run: () => void process.stdout.write(versionText()) },
  inspect: { summary: '<data-dir> [--json]  manifest, segments, records, jobs by state, corruption', run: runInspect },
  bench: { summary: 'load test a server (or one it starts), like redis-benchmark; flashq bench --help', run: (argv) => (argv.includes('--help') ? void process.stdout.write(`${benchUsage}\n`) : runBench(argv)) },
  restore: { summary: '<backup.tar> --data-dir <dir>  unpack a backup (GET /storage/backup) into an empty directory', run: (argv) => restore(argv) },
  service: { summary: 'install | uninstall  a systemd unit (--data-dir, --user, --port, --http-port, --exec, --root)', run: runService },
}

function runService(argv: string[]): void {
  const [action, ...rest] = argv
  if (action !== 'install' && action !== 'uninstall') throw new UsageError(`service needs 'install' or 'uninstall', got '${action ?? ''}'`)
  const options = parseServiceArgs(rest, currentExec())
  process.stdout.write(action === 'install' ? install(options) : uninstall(options))
}

export function helpText(): string {
  const width = Math.max(...Object.keys(subcommands).map((name) => name.length))
  const lines = Object.entries(subcommands).map(([name, command]) => `  flashq ${name.padEnd(width)}  ${command.summary}`)
  return `flashq: a durable job queue server (flashQ protocol on TCP 6789, HTTP 6790)\n\ncommands:\n${lines.join('\n')}\n\n${usage}\n`
}

export async function run(argv: string[], workerUrl: string): Promise<void> {
  const [first = 'serve', ...rest] = argv
  const aliases: Record<string, string> = { '--help': 'help', '-h': 'help', '--version': 'version', '-V': 'version' }
  const name = aliases[first] ?? first
  const command = subcommands[name]
  const args = command === undefined ? argv : rest
  try {
    // No subcommand name (flags only, or nothing): serve with all of argv.
    await (command ?? subcommands.serve!).run(args, workerUrl)
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`flashq: ${error.message}\n`)
      process.exit(2)
    }
    process.stderr.write(`flashq: ${name === 'serve' || command === undefined ? 'cannot start: ' : `${name}: `}${(error as Error).message}\n`)
    process.exit(1)
  }
}
