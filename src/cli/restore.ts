/**
 * `flashq restore <backup.tar> --data-dir <dir>`: unpacks a backup made by `GET /storage/backup`
 * into a new or empty data directory; `flashq --data-dir <dir>` then serves it.
 */
import { BackupError, restoreFromFile } from '../shard/storage-admin.ts'
import { UsageError } from './args.ts'

export const restoreUsage = 'usage: flashq restore <backup.tar> --data-dir <dir>'

export async function restore(argv: string[]): Promise<void> {
  let archive: string | undefined
  let dataDir: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--data-dir') dataDir = argv[++i]
    else if (arg.startsWith('--data-dir=')) dataDir = arg.slice('--data-dir='.length)
    else if (arg.startsWith('-') || archive !== undefined) throw new UsageError(`unknown argument '${arg}' (${restoreUsage})`)
    else archive = arg
  }
  if (archive === undefined || dataDir === undefined || dataDir === '') throw new UsageError(restoreUsage)
  try {
    const report = await restoreFromFile(archive, dataDir)
    process.stdout.write(`restored ${report.files} files (${report.bytes} bytes, ${report.shards} shards) into ${dataDir}\n`)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (error instanceof BackupError || code === 'ENOENT' || code === 'EACCES') throw new UsageError(`restore: ${(error as Error).message}`)
    throw error
  }
}
