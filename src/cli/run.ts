/** Command dispatch for the binary. The only place besides main.ts that decides the exit code. */
import { parseArgs, usage, UsageError } from './args.ts'
import { serve } from './serve.ts'
import { restore } from './restore.ts'
import { version } from './version.ts'

export async function run(argv: string[], workerUrl: string): Promise<void> {
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') return void process.stdout.write(`${usage}\n`)
  if (argv[0] === '--version' || argv[0] === 'version') return void process.stdout.write(`flashq ${version}\n`)
  try {
    if (argv[0] === 'restore') return restore(argv.slice(1))
    await serve(parseArgs(argv, process.env), workerUrl)
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`flashq: ${error.message}\n`)
      process.exit(2)
    }
    process.stderr.write(`flashq: cannot start: ${(error as Error).message}\n`)
    process.exit(1)
  }
}
