#!/usr/bin/env bun
/**
 * Binary entry. The same file runs the front (main thread) and the shard hosts (Workers spawned with
 * `new Worker(Bun.main)`): one entry point survives `bun build --compile` (and --bytecode, which bakes
 * import.meta.url to the build machine's path), so the binary can never start without its workers.
 */
import { isMainThread } from 'node:worker_threads'

if (isMainThread) {
  const { run } = await import('./cli/run.ts')
  await run(process.argv.slice(2), Bun.main)
} else {
  await import('./shard/worker.ts')
}
