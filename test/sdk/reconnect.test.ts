/**
 * A Worker across a server restart (SIGKILL, durable data directory, same port): it reconnects and
 * keeps processing; every job ends completed once; no delivery is acknowledged twice.
 */
import { expect, setDefaultTimeout, test } from 'bun:test'
import { Queue, Worker } from '../../src/client/index.ts'
import { startServer } from '../harness/server.ts'
import { queueName, waitFor } from './kit.ts'

setDefaultTimeout(60_000)

test('jobs continue after the server restarts; nothing is acked twice', () => restartMidDrain(10, 600))

// 1 ms jobs: the Worker prefetches (leases beyond its concurrency) when the server dies; the
// prefetched jobs the restarted server has waiting again must not be run from the old delivery.
test('with prefetched jobs at the restart: every job completes, no delivery is acked twice', () => restartMidDrain(1, 3000))

async function restartMidDrain(jobMs: number, total: number): Promise<void> {
  const first = await startServer()
  const port = first.tcpPort
  let second: Awaited<ReturnType<typeof startServer>> | null = null
  const connection = { host: '127.0.0.1', port, reconnectDelay: 100, maxReconnectDelay: 500 }
  const queue = new Queue(queueName('restart'), { connection })
  // At concurrency 8 the jobs left after the first 100 take ≥ 600 ms (10 ms jobs) or ≥ 360 ms (1 ms),
  // so the kill lands while the worker is busy, however fast the server hands jobs out.
  let peakPrefetched = 0
  const worker = new Worker(queue.name, async (job) => {
    peakPrefetched = Math.max(peakPrefetched, worker.prefetched)
    await new Promise((resolve) => setTimeout(resolve, jobMs))
    return job.data.i
  }, { connection, concurrency: 8, autorun: false })
  try {
    const added = await queue.addBulk(Array.from({ length: total }, (_, i) => ({ name: 'n', data: { i } })))
    // Every ACK/ACKB the worker sends, with the delivery (start time) it acknowledges.
    const acked = new Map<string, number>()
    const deliveries = new Map<string, number>()
    const request = worker.client.connection.request.bind(worker.client.connection)
    worker.client.connection.request = (command, options) => {
      const ids = command.cmd === 'ACK' ? [command.id as number] : command.cmd === 'ACKB' ? (command.ids as number[]) : []
      const reply = request(command, options)
      // Count only acknowledgements the server confirmed.
      void reply.then(() => {
        for (const id of ids) acked.set(`${id}:${deliveries.get(String(id))}`, (acked.get(`${id}:${deliveries.get(String(id))}`) ?? 0) + 1)
      }, () => {})
      return reply
    }
    const completedEvents = new Map<string, number>()
    worker.on('active', (job) => deliveries.set(job.id as string, job.processedOn as number))
    worker.on('completed', (job) => completedEvents.set(job.id as string, (completedEvents.get(job.id as string) ?? 0) + 1))
    const errors: string[] = []
    worker.on('error', (error) => errors.push(error.message))
    void worker.run()

    await waitFor('some jobs done', () => completedEvents.size >= 100)
    await first.kill('SIGKILL')
    second = await startServer({ dataDir: first.dataDir, tcpPort: port })
    await waitFor('every job completed on the server', async () => (await queue.getCompletedCount().catch(() => 0)) >= total, 40_000)

    expect(worker.client.connection.reconnects).toBeGreaterThanOrEqual(1)
    if (jobMs === 1) expect(peakPrefetched).toBeGreaterThan(0)
    expect(await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed')).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: total })
    for (const job of added) expect(await queue.getJobState(job.id as string)).toBe('completed')
    // A job may run again after the restart (its ack was not durable yet), but each delivery is
    // acknowledged at most once.
    expect([...acked.entries()].filter(([, count]) => count > 1)).toEqual([])
    expect(errors.filter((message) => message.includes('acknowledging'))).toEqual([])
  } finally {
    await worker.close(true).catch(() => {})
    await queue.close()
    await second?.cleanup()
    await first.cleanup()
  }
}
