/**
 * A custom `jobId` is the job's id everywhere a BullMQ user sees one (job-ids.ts), against a real
 * server: add/addBulk, getJob (live and completed), the Worker's job, QueueEvents, remove, getJobs,
 * getState, manual moveToCompleted/moveToFailed, flows; while the FlashQ client keeps numeric ids.
 */
import { describe, expect, test } from 'bun:test'
import { FlashQ, FlowProducer, Job, QueueEvents, Worker } from '../../src/client/index.ts'
import { queueName, sdkTestFile, waitFor } from './kit.ts'

const { fixture, connection, newQueue } = sdkTestFile()

describe('custom jobId is job.id', () => {
  test('add, Worker, QueueEvents and getJob after completion all use the custom id', async () => {
    const queue = newQueue('cid')
    const events = fixture.track(new QueueEvents(queue.name, { connection: connection() }))
    await events.waitUntilReady()
    const seen: string[] = []
    for (const name of ['added', 'waiting', 'active', 'completed']) events.on(name, ({ jobId }: { jobId: string }) => seen.push(`${name}:${jobId}`))
    const completedById = new Promise((resolve) => events.once('completed:order-42', resolve))

    const job = await queue.add('order', { n: 1 }, { jobId: 'order-42' })
    expect(job.id).toBe('order-42')
    expect(job.serverId).toBeNumber()
    expect((await queue.add('order', { n: 2 }, { jobId: 'order-42' })).id).toBe('order-42') // dedup
    expect((await queue.getJob('order-42'))?.id).toBe('order-42')
    expect(await queue.getJobState('order-42')).toBe('waiting')

    const processed: string[] = []
    fixture.track(new Worker(queue.name, async (active) => {
      processed.push(active.id as string)
      return { ok: active.data.n }
    }, { connection: connection() }))
    expect(await job.waitUntilFinished(events)).toEqual({ ok: 1 })
    expect(await completedById).toMatchObject({ jobId: 'order-42', returnvalue: { ok: 1 } })
    expect(processed).toEqual(['order-42'])
    await waitFor('every event seen', () => seen.includes('completed:order-42'))
    expect(seen).toEqual(['added:order-42', 'waiting:order-42', 'active:order-42', 'completed:order-42'])

    // Completed: the server forgets the custom id, the SDK finds it in the completed history.
    const done = await queue.getJob('order-42')
    expect(done).toMatchObject({ id: 'order-42', name: 'order', data: { n: 1 }, returnvalue: { ok: 1 }, opts: { jobId: 'order-42' } })
    expect(await done?.getState()).toBe('completed')
    expect(await queue.getJobState('order-42')).toBe('completed')
    expect((await queue.getJobs(['completed'])).map((one) => one.id)).toEqual(['order-42'])
    expect((await Job.fromId(queue, 'order-42'))?.returnvalue).toEqual({ ok: 1 })
    expect(await queue.getJob('order-43')).toBeUndefined()
    expect(await queue.getJobState('order-43')).toBe('unknown')
  })

  test("integer custom ids are refused as BullMQ refuses them; '042' is a custom id, not server id 42", async () => {
    const queue = newQueue('cid-int')
    await expect(queue.add('n', {}, { jobId: '42' })).rejects.toThrow('Custom Id cannot be integers')
    await expect(queue.addBulk([{ name: 'n', data: {}, opts: { jobId: '7' } }])).rejects.toThrow('Custom Id cannot be integers')
    await expect(queue.add('n', {}, { jobId: 'a:b' })).rejects.toThrow('Custom Id cannot contain :')
    const plain = await queue.add('plain', { k: 'plain' })
    const padded = await queue.add('padded', { k: 'padded' }, { jobId: `0${plain.id}` })
    expect(padded.id).toBe(`0${plain.id}`)
    expect((await queue.getJob(`0${plain.id}`))?.data).toEqual({ k: 'padded' })
    expect((await queue.getJob(plain.id as string))?.data).toEqual({ k: 'plain' })
    const threeParts = await queue.add('parts', {}, { jobId: 'a:b:c' })
    expect((await queue.getJob('a:b:c'))?.id).toBe(threeParts.id as string)
  })

  test('addBulk, getJobs, job.log, remove and queue.remove by custom id', async () => {
    const queue = newQueue('cid-bulk')
    const events = fixture.track(new QueueEvents(queue.name, { connection: connection() }))
    await events.waitUntilReady()
    const removedIds: string[] = []
    events.on('removed', ({ jobId }: { jobId: string }) => removedIds.push(jobId))
    const jobs = await queue.addBulk([
      { name: 'a', data: {}, opts: { jobId: 'bulk-a' } },
      { name: 'b', data: {} },
      { name: 'c', data: {}, opts: { jobId: 'bulk-c' } },
    ])
    expect(jobs.map((job) => job.id)).toEqual(['bulk-a', expect.stringMatching(/^\d+$/), 'bulk-c'])
    expect((await queue.getWaiting()).map((job) => job.id)).toEqual(jobs.map((job) => job.id))
    await (jobs[0] as Job).log('first line')
    await queue.addJobLog('bulk-a', 'second line')
    expect(await queue.getJobLogs('bulk-a')).toEqual({ logs: ['first line', 'second line'], count: 2 })
    await (jobs[0] as Job).remove()
    expect(await queue.remove('bulk-c')).toBe(1)
    expect(await queue.getJob('bulk-a')).toBeUndefined()
    expect(await queue.getJobState('bulk-c')).toBe('unknown')
    expect((await queue.getWaiting()).map((job) => job.id)).toEqual([jobs[1]?.id])
    await waitFor('removed events', () => removedIds.length === 2)
    expect(removedIds).toEqual(['bulk-a', 'bulk-c'])
  })

  test('manual processing: getNextJob, moveToCompleted and moveToFailed keep the custom id', async () => {
    const queue = newQueue('cid-manual')
    await queue.add('ok', {}, { jobId: 'manual-ok' })
    await queue.add('bad', {}, { jobId: 'manual-bad' })
    const worker = fixture.track(new Worker(queue.name, null, { connection: connection() }))
    const first = await worker.getNextJob('token')
    expect(first?.id).toBe('manual-ok')
    await first?.moveToCompleted('fine', 'token')
    const second = await worker.getNextJob('token')
    expect(second?.id).toBe('manual-bad')
    await second?.moveToFailed(new Error('broken'), 'token')
    expect(await queue.getJob('manual-ok')).toMatchObject({ id: 'manual-ok', returnvalue: 'fine' })
    expect(await queue.getJob('manual-bad')).toMatchObject({ id: 'manual-bad', failedReason: 'broken' })
    expect((await queue.getFailed()).map((job) => job.id)).toEqual(['manual-bad'])
    const fromJson = Job.fromJSON(queue, (await queue.getJob('manual-bad'))!.asJSON())
    await fromJson.retry() // a job without its server id finds it by the custom id
    expect(await queue.getJobState('manual-bad')).toBe('waiting')
  })

  test('flows: parent and child keys use the custom ids; getFlow takes one', async () => {
    const parentQueue = newQueue('cid-parent')
    const childQueue = newQueue('cid-child')
    const flows = fixture.track(new FlowProducer({ connection: connection() }))
    const tree = await flows.add({
      name: 'parent', queueName: parentQueue.name, opts: { jobId: 'flow-top' },
      children: [{ name: 'child', queueName: childQueue.name, data: { n: 2 }, opts: { jobId: 'flow-kid' } }, { name: 'plain', queueName: childQueue.name, data: { n: 3 } }],
    })
    expect(tree.job.id).toBe('flow-top')
    const kid = tree.children?.[0]?.job as Job
    const plain = tree.children?.[1]?.job as Job
    expect(kid.id).toBe('flow-kid')
    expect(kid.parent).toEqual({ id: 'flow-top', queueKey: `bull:${parentQueue.name}` })
    expect(kid.parentKey).toBe(`bull:${parentQueue.name}:flow-top`)
    fixture.track(new Worker(childQueue.name, async (job) => job.data.n * 10, { connection: connection() }))
    const parentValues = new Promise<Record<string, unknown>>((resolve) => {
      fixture.track(new Worker(parentQueue.name, async (job) => {
        resolve(await job.getChildrenValues())
        return job.id
      }, { connection: connection() }))
    })
    expect(await parentValues).toEqual({ [`bull:${childQueue.name}:flow-kid`]: 20, [`bull:${childQueue.name}:${plain.id}`]: 30 })
    const flow = await flows.getFlow({ id: 'flow-top', queueName: parentQueue.name })
    expect(flow?.job.id).toBe('flow-top')
    expect(flow?.children?.map((child) => child.job.id).sort()).toEqual(['flow-kid', plain.id as string].sort())
  })

  test('a failParentOnFailure parent shows its server id, not the generated flow-parent id', async () => {
    const parentQueue = newQueue('cid-fp')
    const flows = fixture.track(new FlowProducer({ connection: connection() }))
    const tree = await flows.add({ name: 'p', queueName: parentQueue.name, children: [{ name: 'c', queueName: parentQueue.name, opts: { failParentOnFailure: true } }] })
    expect(tree.job.id).toMatch(/^\d+$/)
    const read = await parentQueue.getJob(tree.job.id as string)
    expect(read?.id).toBe(tree.job.id as string)
    expect(read?.opts.jobId).toBeUndefined()
  })

  test('the FlashQ client keeps numeric ids for jobs with a custom id', async () => {
    const queue = queueName('cid-flashq')
    const client = fixture.track(new FlashQ({ host: '127.0.0.1', port: fixture.server.tcpPort }))
    const pushed = await client.push(queue, { n: 1 }, { jobId: 'flashq-custom' })
    expect(pushed.id).toBeNumber()
    expect(pushed.custom_id).toBe('flashq-custom')
    const pulled = await client.pull(queue, 0)
    expect(pulled?.id).toBe(pushed.id)
  })
})

test('dependsOn takes custom ids (flashq extension): the job waits for that job', async () => {
  const queue = newQueue('cid-deps')
  const first = await queue.add('first', {}, { jobId: 'dep-first' })
  const second = await queue.add('second', {}, { dependsOn: ['dep-first'] })
  expect(await second.getState()).toBe('waiting-children')
  const worker = fixture.track(new Worker(queue.name, null, { connection: connection() }))
  const taken = await worker.getNextJob('t')
  expect(taken?.id).toBe(first.id as string)
  await taken?.moveToCompleted('ok', 't')
  await waitFor('second released', async () => (await second.getState()) === 'waiting')
})

test('worker.cancelJob and extendJobLocks take the custom id of an active job', async () => {
  const queue = newQueue('cid-cancel')
  await queue.add('long', {}, { jobId: 'cancel-me' })
  let started!: () => void
  const running = new Promise<void>((resolve) => (started = resolve))
  const worker = fixture.track(new Worker(queue.name, async (_job, _token, signal) => {
    started()
    await new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(new Error(String(signal.reason)))))
  }, { connection: connection() }))
  const failed = new Promise<string>((resolve) => worker.once('failed', (job, error) => resolve(`${job?.id}:${error.message}`)))
  await running
  expect(await worker.extendJobLocks(['cancel-me'])).toBe(1)
  expect(worker.cancelJob('cancel-me', 'stop')).toBe(true)
  expect(await failed).toBe('cancel-me:stop')
})
