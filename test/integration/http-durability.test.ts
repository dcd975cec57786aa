/**
 * Durability over HTTP (DESIGN §3): a 2xx for a change means it is on disk. kill -9 the server during
 * an HTTP push/pull/ack load; after a restart every job whose push got a 2xx exists, and every job
 * whose ack got a 2xx is completed.
 */
import { expect, setDefaultTimeout, test } from 'bun:test'
import { startServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { shardArgs } from './commands-kit.ts'

setDefaultTimeout(90_000)

const workerCount = 16

test('kill -9 during HTTP push/ack load loses no acknowledged push or ack', async () => {
  const server = await startServer({ args: shardArgs })
  const base = `http://127.0.0.1:${server.httpPort}`
  const headers = { 'Content-Type': 'application/json' }
  const pushed: number[] = []
  const acked: number[] = []
  let running = true
  const worker = async (index: number) => {
    const queue = `dur-${index % 4}`
    while (running) {
      try {
        const push = await fetch(`${base}/queues/${queue}/jobs`, { method: 'POST', headers, body: JSON.stringify({ data: { index } }) })
        if (push.status !== 200) continue
        const envelope = (await push.json()) as { ok: boolean; data: { id: number } }
        if (envelope.ok) pushed.push(envelope.data.id)
        if (index % 2 === 1) continue // half the workers only push
        const pull = await fetch(`${base}/queues/${queue}/jobs?timeout=0`, { headers })
        const jobs = ((await pull.json()) as { data: Array<{ id: number }> }).data
        for (const job of jobs) {
          const ack = await fetch(`${base}/jobs/${job.id}/ack`, { method: 'POST', headers, body: '{}' })
          if (ack.status === 200 && ((await ack.json()) as { ok: boolean }).ok) acked.push(job.id)
        }
      } catch {
        return // the server died mid-request: that request has no verdict
      }
    }
  }
  const workers = Array.from({ length: workerCount }, (_, index) => worker(index))
  // Load until enough has been acknowledged (never a fixed duration: the machine is shared).
  const deadline = Date.now() + 30_000
  while ((pushed.length < 1500 || acked.length < 300) && Date.now() < deadline) await Bun.sleep(20)
  await server.kill('SIGKILL')
  running = false
  await Promise.all(workers)
  expect(pushed.length).toBeGreaterThan(0)
  expect(acked.length).toBeGreaterThan(0)

  const restarted = await server.restart()
  const client = await WireClient.connect(restarted.tcpPort)
  try {
    const states = await Promise.all(pushed.map((id) => client.request({ cmd: 'GETSTATE', id })))
    const lost = pushed.filter((_, index) => states[index]?.state === 'unknown')
    expect(lost).toEqual([])
    const ackedSet = new Set(acked)
    const notCompleted = pushed.filter((id, index) => ackedSet.has(id) && states[index]?.state !== 'completed')
    expect(notCompleted).toEqual([])
  } finally {
    client.close()
    await restarted.cleanup()
  }
})
