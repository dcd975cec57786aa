/**
 * A job waiting on many others (`depends_on`, as a FlowProducer parent waits on its children): the
 * push of the dependent job, then PULLB 100 + ACKB of all its dependencies, on a fresh memory-mode
 * server. jobDependsOnIdsMax (limits table) is chosen from this.
 *
 *   bun test/bench/depends-on.ts [--dependencies 10000]
 */
import { parseArgs } from 'node:util'
import { startServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'

const { values } = parseArgs({ options: { dependencies: { type: 'string', default: '10000' } } })
const dependencies = Number(values.dependencies)
const server = await startServer({ args: ['--memory'], preset: 'production' })
const client = await WireClient.connect(server.tcpPort)
const ids: number[] = []
while (ids.length < dependencies) {
  const count = Math.min(1000, dependencies - ids.length)
  ids.push(...(await client.request({ cmd: 'PUSHB', queue: 'deps', jobs: Array.from({ length: count }, (_, n) => ({ data: n })) })).ids)
}
let start = performance.now()
const parent = await client.request({ cmd: 'PUSH', queue: 'parent', data: null, depends_on: ids })
if (!parent.ok) throw new Error(`push refused: ${parent.error}`)
const pushMs = performance.now() - start
start = performance.now()
let slowestAckMs = 0
for (let done = 0; done < dependencies;) {
  const pulled = await client.request({ cmd: 'PULLB', queue: 'deps', count: 100, timeout: 1000 })
  const ackStart = performance.now()
  await client.request({ cmd: 'ACKB', ids: pulled.jobs.map((job: { id: number }) => job.id) })
  slowestAckMs = Math.max(slowestAckMs, performance.now() - ackStart)
  done += pulled.jobs.length
}
const drainMs = performance.now() - start
let state = ''
for (let tries = 0; tries < 50 && state !== 'waiting'; tries++) {
  state = (await client.request({ cmd: 'GETSTATE', id: parent.id })).state
  if (state !== 'waiting') await Bun.sleep(20)
}
console.log(`${dependencies} dependencies: push ${pushMs.toFixed(1)} ms, drain ${drainMs.toFixed(0)} ms (slowest ACKB of 100: ${slowestAckMs.toFixed(1)} ms), then the dependent job is ${state}`)
client.close()
await server.cleanup()
