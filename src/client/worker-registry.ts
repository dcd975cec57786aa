/**
 * BullMQ's queue.getWorkers() over flashQ's worker registry (spec §5: `POST /workers/{id}/heartbeat`,
 * `GET /workers` on the HTTP port). A running SDK Worker posts a heartbeat with its queue,
 * concurrency and jobs processed when it is ready and every workerRegistryHeartbeatMs after; the
 * server lists workers heard from in the last 30 s. The registry is a view, nothing depends on it:
 * a heartbeat that fails (HTTP port unreachable, say) is dropped silently and sent again next time.
 */
import type { FlashQ } from './flashq.ts'

/** How often a running Worker tells the registry it is alive (the server forgets it after 30 s). */
const workerRegistryHeartbeatMs = 10_000

/** One worker in the registry (the server's WorkerInfo). `name` is its queue, as BullMQ's worker name. */
export type WorkerInfo = { id: string; name: string; queues: string[]; concurrency: number; last_heartbeat: number; jobs_processed: number }

type Registered = {
  readonly id: string
  readonly name: string
  readonly client: FlashQ
  readonly concurrency: number
  on(event: 'completed' | 'failed' | 'ready' | 'closed', listener: (...args: any[]) => void): unknown
  once(event: 'ready' | 'closed', listener: () => void): unknown
}

/** Starts the heartbeats of a Worker once it is ready; they stop when it closes. */
export function registerWorker(worker: Registered): void {
  let processed = 0
  let timer: ReturnType<typeof setInterval> | null = null
  const count = () => void processed++
  worker.on('completed', count)
  worker.on('failed', count)
  const beat = () =>
    void registryRequest(worker.client, `/workers/${encodeURIComponent(worker.id)}/heartbeat`, {
      method: 'POST',
      body: JSON.stringify({ queues: [worker.name], concurrency: worker.concurrency, jobs_processed: processed }),
    }).catch(() => {})
  worker.once('ready', () => {
    beat()
    timer = setInterval(beat, workerRegistryHeartbeatMs)
    timer.unref?.()
  })
  worker.once('closed', () => {
    if (timer !== null) clearInterval(timer)
  })
}

/** The workers of `queue` the registry heard from in the last 30 s. */
export async function workersOf(client: FlashQ, queue: string): Promise<WorkerInfo[]> {
  const body = (await registryRequest(client, '/workers', { method: 'GET' })) as { data?: Array<Omit<WorkerInfo, 'name'>> }
  return (body.data ?? []).filter((worker) => worker.queues.includes(queue)).map((worker) => ({ ...worker, name: queue }))
}

async function registryRequest(client: FlashQ, path: string, init: { method: string; body?: string }): Promise<unknown> {
  const token = client.options.token
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token) headers.authorization = `Bearer ${token}`
  const response = await fetch(`http://${hostForUrl(client.connection.host)}:${client.httpPort}${path}`, {
    ...init,
    headers,
    signal: AbortSignal.timeout(client.connection.timeoutMs),
  })
  if (!response.ok) throw new Error(`worker registry: HTTP ${response.status} from ${path}`)
  return response.json()
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
}
