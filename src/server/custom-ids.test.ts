import { expect, test } from 'bun:test'
import { CustomIdGate, customIdsOfPush, foundElsewhere, planPush } from './custom-ids.ts'

/** A gate and a log of which pushes started, in order. */
function gateWithLog() {
  const gate = new CustomIdGate()
  const started: string[] = []
  const acquire = (name: string, ids: string[]) => gate.acquire(ids, () => started.push(name))
  return { gate, started, acquire }
}

test('a push whose ids are free starts at once; one needing a busy id starts when it is released', () => {
  const { gate, started, acquire } = gateWithLog()
  acquire('a', ['x'])
  acquire('b', ['x'])
  acquire('c', ['y'])
  expect(started).toEqual(['a', 'c'])
  expect(gate.waitingCount).toBe(1)
  gate.release(['x'])
  expect(started).toEqual(['a', 'c', 'b'])
  expect(gate.waitingCount).toBe(0)
})

test('a push waits for every id it needs, and one blocked elsewhere keeps its place in the queue', () => {
  const { gate, started, acquire } = gateWithLog()
  acquire('holds-x', ['x'])
  acquire('holds-y', ['y'])
  acquire('needs-xy', ['x', 'y'])
  acquire('needs-x', ['x'])
  gate.release(['x']) // needs-xy is still blocked by y: needs-x goes ahead
  expect(started).toEqual(['holds-x', 'holds-y', 'needs-x'])
  gate.release(['y']) // x is busy (needs-x)
  expect(started).toHaveLength(3)
  gate.release(['x']) // the last id needs-xy waited for
  expect(started).toEqual(['holds-x', 'holds-y', 'needs-x', 'needs-xy'])
  gate.release(['x', 'y'])
  expect(gate.waitingCount).toBe(0)
})

test('many pushes of one hot id start one at a time, in arrival order', () => {
  const { gate, started, acquire } = gateWithLog()
  for (let n = 0; n < 5000; n++) acquire(String(n), ['hot'])
  for (let n = 1; n < 5000; n++) {
    gate.release(['hot'])
    expect(started).toHaveLength(n + 1)
  }
  expect(started).toEqual(Array.from({ length: 5000 }, (_, n) => String(n)))
})

test('the custom ids of a push as its shard reads them: job_id, else jobId; none for a batch it refuses whole', () => {
  expect(customIdsOfPush({ cmd: 'PUSH', queue: 'q', job_id: 'a', jobId: 'b' })).toEqual(['a'])
  expect(customIdsOfPush({ cmd: 'PUSH', queue: 'q', job_id: null, jobId: 'b' })).toEqual(['b'])
  expect(customIdsOfPush({ cmd: 'PUSH', queue: 'q', job_id: 7 })).toEqual([])
  expect(customIdsOfPush({ cmd: 'PUSH', job_id: 'a' })).toEqual([])
  expect(customIdsOfPush({ cmd: 'PUSHB', queue: 'q', jobs: [{ job_id: 'a' }, { jobId: 'a' }, {}, null, { job_id: 'c' }] })).toEqual(['a', 'c'])
  expect(customIdsOfPush({ cmd: 'PUSHB', queue: 'q', jobs: Array.from({ length: 1001 }, () => ({ job_id: 'a' })) })).toEqual([])
})

test('a PUSHB with duplicates found elsewhere: the rest is sent, and the reply keeps the request order', () => {
  const request = { cmd: 'PUSHB', queue: 'q', jobs: [{ data: 0 }, { job_id: 'known' }, { data: 2 }, { data: 3 }, { jobId: 'known' }] }
  const found = foundElsewhere(['known', 'other'], [{ ok: true, ids: [null, null] }, { ok: false, error: 'dead' }, { ok: true, ids: [41, null] }])
  expect([...found]).toEqual([['known', 41]])
  const plan = planPush(request, found)
  if (plan.kind !== 'send' || plan.merge === null) throw new Error(`expected a send with a merge, got ${plan.kind}`)
  expect(plan.request.jobs).toEqual([{ data: 0 }, { data: 2 }, { data: 3 }])
  // The shard accepted its items 0 and 2 and refused item 1.
  const merged = plan.merge({ ok: true, ids: [100, 102], errors: [{ index: 1, error: 'Duplicate job' }] })
  expect(merged).toEqual({ ok: true, ids: [100, 41, 102, 41], errors: [{ index: 2, error: 'Duplicate job' }] })
  expect(planPush({ cmd: 'PUSHB', queue: 'q', jobs: [{ job_id: 'known' }] }, found)).toEqual({ kind: 'answer', reply: { ok: true, ids: [41], errors: [] } })
  expect(planPush({ cmd: 'PUSH', queue: 'q', job_id: 'known' }, found)).toEqual({ kind: 'answer', reply: { ok: true, id: 41 } })
  expect(planPush({ cmd: '_PUSHJOB', queue: 'q', jobId: 'known' }, found)).toEqual({ kind: 'existingJob', id: 41 })
  expect(planPush(request, new Map())).toEqual({ kind: 'send', request, merge: null })
})
