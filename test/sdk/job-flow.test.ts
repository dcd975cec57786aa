/**
 * Job methods outside a processor, and FlowProducer flows (nested children, getChildrenValues,
 * a failed child keeping its parent waiting).
 */
import { describe, expect, test } from 'bun:test'
import { FlashQ, FlowProducer, Job, Worker } from '../../src/client/index.ts'
import { queueName, sdkTestFile, waitFor } from './kit.ts'

const { fixture, connection, newQueue } = sdkTestFile()

describe('Job', () => {
  test('waitUntilFinished resolves with the return value, or rejects with the failure reason', async () => {
    const queue = newQueue('wait')
    fixture.track(new Worker(queue.name, async (job) => {
      if (job.data.fail) throw new Error('refused')
      return { echo: job.data.v }
    }, { connection: connection(), concurrency: 2 }))
    const ok = await queue.add('ok', { v: 7 })
    const bad = await queue.add('bad', { fail: true })
    expect(await ok.waitUntilFinished(undefined, 10_000)).toEqual({ echo: 7 })
    expect(String(await bad.waitUntilFinished(undefined, 10_000).catch((error: Error) => error))).toBe('Error: refused')
    expect(await ok.isCompleted()).toBe(true)
    expect(await bad.isFailed()).toBe(true)
  })

  test('Job.create and Job.fromId go through the queue', async () => {
    const queue = newQueue('static')
    const created = await Job.create(queue, 'made', { v: 1 })
    expect((await Job.fromId(queue, created.id as string))?.data).toEqual({ v: 1 })
  })

  test('waitUntilFinished with a ttl gives up on a job that does not finish', async () => {
    const queue = newQueue('wait-ttl')
    const job = await queue.add('never', {})
    expect(String(await job.waitUntilFinished(undefined, 300).catch((error: Error) => error))).toContain('timed out')
  })

  test('changePriority re-orders a waiting job; updateData replaces the data; remove deletes it', async () => {
    const queue = newQueue('job-edit')
    const first = await queue.add('first', { v: 1 })
    const second = await queue.add('second', { v: 2 })
    await second.changePriority({ priority: 1 })
    await first.changePriority({ priority: 5 })
    const client = fixture.track(new FlashQ({ host: '127.0.0.1', port: fixture.server.tcpPort }))
    await second.updateData({ v: 22 })
    expect((await queue.getJob(second.id as string))?.data).toEqual({ v: 22 })
    const pulled = await client.pull(queue.name, 0)
    expect(String(pulled?.id)).toBe(second.id as string)
    await client.ack(pulled?.id as number)
    await first.remove()
    expect(await first.getState()).toBe('unknown')
    expect(await queue.count()).toBe(0)
  })

  test('updateProgress (numbers and objects) and log on an active job are visible through the queue', async () => {
    const queue = newQueue('job-progress')
    const client = fixture.track(new FlashQ({ host: '127.0.0.1', port: fixture.server.tcpPort }))
    const job = await queue.add('p', {})
    await client.pull(queue.name, 1000)
    await job.updateProgress(42)
    expect(await job.log('hello')).toBe(1)
    const read = await queue.getJob(job.id as string)
    expect(read?.progress).toBe(42)
    expect(await read?.isActive()).toBe(true)
    expect((await queue.getJobLogs(job.id as string)).logs).toEqual(['hello'])
    await job.updateProgress({ step: 'upload', done: 3 })
    expect((await queue.getJob(job.id as string))?.progress).toEqual({ step: 'upload', done: 3 }) // BullMQ keeps object progress
    await job.updateProgress('halfway')
    expect((await queue.getJob(job.id as string))?.progress).toBe('halfway')
  })
})

describe('FlowProducer', () => {
  test('nested children run first; each parent runs after its children and reads their values', async () => {
    const parents = newQueue('flow-parents')
    const children = newQueue('flow-children')
    const flows = fixture.track(new FlowProducer({ connection: connection() }))
    const tree = await flows.add({
      name: 'assemble',
      queueName: parents.name,
      data: { what: 'car' },
      children: [
        { name: 'wheels', queueName: children.name, data: { n: 4 } },
        {
          name: 'engine',
          queueName: parents.name,
          data: { what: 'engine' },
          children: [
            { name: 'piston', queueName: children.name, data: { n: 1 } },
            { name: 'piston', queueName: children.name, data: { n: 2 } },
          ],
        },
      ],
    })
    expect(tree.job.name).toBe('assemble')
    expect(tree.children?.map((node) => node.job.name)).toEqual(['wheels', 'engine'])
    expect(tree.children?.[1]?.children?.map((node) => node.job.data.n)).toEqual([1, 2])
    expect(await tree.job.getState()).toBe('waiting-children')
    expect(await tree.job.isWaitingChildren()).toBe(true)

    const order: string[] = []
    const parentValues = new Map<string, Record<string, unknown>>()
    fixture.track(new Worker(children.name, async (job: Job) => {
      order.push(`${job.name}:${job.data.n}`)
      return job.data.n * 10
    }, { connection: connection() }))
    fixture.track(new Worker(parents.name, async (job: Job) => {
      order.push(job.name)
      const values = await job.getChildrenValues()
      parentValues.set(job.name, values)
      return { built: job.data.what, parts: Object.values(values) }
    }, { connection: connection() }))

    const result = await tree.job.waitUntilFinished(undefined, 15_000)
    expect(order.indexOf('engine')).toBeGreaterThan(Math.max(order.indexOf('piston:1'), order.indexOf('piston:2')))
    expect(order.at(-1)).toBe('assemble')
    const engineId = tree.children?.[1]?.job.id
    const pistonIds = tree.children?.[1]?.children?.map((node) => node.job.id)
    expect(parentValues.get('engine')).toEqual({ [`bull:${children.name}:${pistonIds?.[0]}`]: 10, [`bull:${children.name}:${pistonIds?.[1]}`]: 20 })
    expect(parentValues.get('assemble')).toEqual({
      [`bull:${children.name}:${tree.children?.[0]?.job.id}`]: 40,
      [`bull:${parents.name}:${engineId}`]: { built: 'engine', parts: [10, 20] },
    })
    expect(result).toEqual({ built: 'car', parts: [40, { built: 'engine', parts: [10, 20] }] })
  })

  test('a child that fails for good leaves its parent waiting for children', async () => {
    const queue = newQueue('flow-fail')
    const flows = fixture.track(new FlowProducer({ connection: connection() }))
    const tree = await flows.add({ name: 'parent', queueName: queue.name, children: [{ name: 'doomed', queueName: queue.name, data: {}, opts: { attempts: 1 } }] })
    const ran: string[] = []
    fixture.track(new Worker(queue.name, async (job) => {
      ran.push(job.name)
      if (job.name === 'doomed') throw new Error('child broke')
    }, { connection: connection() }))
    await waitFor('child failed', async () => (await tree.children?.[0]?.job.getState()) === 'failed')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await tree.job.getState()).toBe('waiting-children')
    expect(ran).toEqual(['doomed'])
  })

  test('FlashQ.pushFlow (the FLOW command) and getChildren', async () => {
    const queue = newQueue('flow-raw')
    const client = fixture.track(new FlashQ({ host: '127.0.0.1', port: fixture.server.tcpPort }))
    const flow = await client.pushFlow(queue.name, { p: 1 }, [{ queue: queue.name, data: { c: 1 } }, { queue: queue.name, data: { c: 2 } }])
    expect(flow.children_ids).toHaveLength(2)
    expect(await client.getChildren(flow.parent_id)).toEqual(flow.children_ids)
    expect(await client.getState(flow.parent_id)).toBe('waitingparent')
  })
})
