#!/usr/bin/env bun
/**
 * Binary entry. The same file runs the front (main thread) and the shard hosts (Workers spawned with
 * `new Worker(Bun.main)`): one entry point survives `bun build --compile` (and --bytecode, which bakes
 * import.meta.url to the build machine's path), so the binary can never start without its workers.
 */
import { isMainThread } from 'node:worker_threads'

declare const self: Worker

if (isMainThread) {
  const { run } = await import('./cli/run.ts')
  await run(process.argv.slice(2), Bun.main)
} else {
  // Messages that arrive while the worker module is still loading would be dropped (no handler yet):
  // keep them and hand them over.
  const early: MessageEvent[] = []
  self.onmessage = (event: MessageEvent) => early.push(event)
  const { startWorker } = await import('./shard/worker.ts')
  startWorker(early)
}
