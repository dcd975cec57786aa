/**
 * Worker entry: hosts some shards in this thread. The front sends `init` first and nothing else until
 * the host answers `ready` (recovery may take a while on a big log).
 */
import { recoveryFailed } from '../protocol/errors.ts'
import { ShardHost } from './host.ts'
import type { ToHost } from './messages.ts'

declare const self: Worker

export function startWorker(early: MessageEvent[]): void {
  let host: ShardHost | null = null
  const onMessage = (event: MessageEvent<ToHost | string>) => {
    const message = event.data
    if (typeof message === 'string') return host?.handleBatch(message)
    if (message.k === 'init') {
      host = new ShardHost(message, (out) => self.postMessage(out))
      host.start().catch((error: Error) => self.postMessage({ k: 'fatal', error: recoveryFailed(error.message) }))
      return
    }
    host?.handle(message)
  }
  self.onmessage = onMessage
  for (const event of early) onMessage(event)
}
