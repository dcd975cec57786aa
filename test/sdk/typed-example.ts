/**
 * Typed use of the SDK. `tsc --noEmit` checks it in place (root tsconfig), and test/sdk/package.test.ts
 * checks a copy that imports 'flashq' against the built declarations in dist/sdk (strict, nodenext).
 * Each @ts-expect-error line must stay an error: if the generics collapsed to `any`, tsc would
 * report the directive as unused.
 */
import { FlashQ, FlowProducer, type Job, Queue, QueueEvents, UnrecoverableError, Worker } from '../../src/client/index.ts'

type Email = { to: string; subject: string }
type Sent = { messageId: string }
type Names = 'welcome' | 'reset'

export async function typedExample(port: number): Promise<string> {
  const connection = { host: '127.0.0.1', port }
  const queue = new Queue<Email, Sent, Names>('typed-mail', { connection })
  const added: Job<Email, Sent, Names> = await queue.add('welcome', { to: 'a@b.c', subject: 'hi' }, { attempts: 3, backoff: { type: 'exponential', delay: 10 } })
  // @ts-expect-error the data type is Email
  void queue.add('welcome', { to: 1 })
  // @ts-expect-error the name must be one of Names
  void queue.add('other', { to: 'a', subject: 'b' })

  const worker = new Worker<Email, Sent, Names>(
    'typed-mail',
    async (job) => {
      const to: string = job.data.to
      // @ts-expect-error data has no field `from`
      void job.data.from
      if (to === '') throw new UnrecoverableError('no recipient')
      return { messageId: `${job.name}:${to}` }
    },
    { connection, concurrency: 2 },
  )
  const result = await new Promise<Sent>((resolve) => worker.on('completed', (_job, value) => resolve(value)))
  const subject: string = added.data.subject
  void subject

  const flows = new FlowProducer({ connection })
  const tree = await flows.add({ name: 'parent', queueName: 'typed-flow', data: {}, children: [{ name: 'child', queueName: 'typed-flow', data: { n: 1 } }] })
  const childIds: Array<string | undefined> = (tree.children ?? []).map((node) => node.job.id)
  void childIds
  const dependencies: { processed: Record<string, unknown>; unprocessed: string[]; ignored: Record<string, string> } = await tree.job.getDependencies()
  void dependencies
  const ignoredFailures: Record<string, string> = await tree.job.getIgnoredChildrenFailures()
  void ignoredFailures
  // Types only, never called: getFlow's options, flow child options, a sandboxed processor file.
  const typesOnly = () => {
    // @ts-expect-error getFlow needs the queue name
    void flows.getFlow({ id: tree.job.id as string })
    void flows.add({ name: 'p', queueName: 'q', children: [{ name: 'c', queueName: 'q', opts: { ignoreDependencyOnFailure: true, removeDependencyOnFailure: false } }] })
    void new Worker<Email, Sent, Names>('typed-mail', new URL('file:///processor.js'), { connection, useWorkerThreads: true, autorun: false })
    // @ts-expect-error a processor is a function or a file path / URL
    void new Worker('typed-mail', 42, { autorun: false })
    void bullmqDocsCalls(queue, worker, flows)
  }
  void typesOnly

  const client = new FlashQ({ host: '127.0.0.1', port })
  const pushed = await client.push<{ n: number }>('typed-raw', { n: 1 }, { priority: 5, max_attempts: 2 })
  const n: number = pushed.data.n
  void n
  // A BullMQ config with Redis-only options still type-checks (they are ignored).
  const events = new QueueEvents('typed-mail', { connection: { ...connection, maxRetriesPerRequest: null, db: 0 }, autorun: false })
  void events

  await Promise.all([worker.close(), queue.close(), flows.close(), client.close()])
  return result.messageId
}

/** Calls as BullMQ's documentation and declarations write them (types only, never run): each one compiles against flashq too. */
async function bullmqDocsCalls(queue: Queue<Email, Sent, Names>, worker: Worker<Email, Sent, Names>, flows: FlowProducer): Promise<void> {
  const counts: { [index: string]: number } = await queue.getJobCounts('wait', 'completed', 'failed')
  const perPriority: { [index: string]: number } = await queue.getCountsPerPriority([1, 0])
  void [counts, perPriority]
  await queue.add('welcome', { to: 'a', subject: 'b' }, { deduplication: { id: 'mail-a', ttl: 5000 }, removeOnComplete: { age: 3600, count: 1000 }, removeOnFail: { age: 24 * 3600 } })
  const deduplicatedBy: string | null = await queue.getDeduplicationJobId('mail-a')
  void deduplicatedBy
  await queue.upsertJobScheduler('welcome', { pattern: '0 15 3 * * *', tz: 'America/New_York', startDate: new Date(), endDate: Date.now() + 60_000, limit: 10 })
  await queue.remove('1', { removeChildren: true })
  await queue.retryJobs({ count: 10, state: 'failed', timestamp: Date.now() })
  await queue.updateJobProgress('1', { step: 'resize' })
  await queue.addJobLog('1', 'row', 10)
  await queue.drain(true)
  const job = await queue.getJob('1')
  if (job !== undefined) {
    await job.remove({ removeChildren: false })
    await job.retry('failed', { resetAttemptsMade: true })
    const keys: Array<string | number | undefined> = [job.queueQualifiedName, job.stalledCounter, job.deduplicationId, job.processedBy]
    void keys
  }
  worker.on('stalled', (jobId: string, prev: string) => void [jobId, prev])
  await worker.resume()
  await flows.add({ name: 'parent', queueName: 'typed-flow', children: [{ name: 'child', queueName: 'typed-steps' }] }, { queuesOptions: { 'typed-steps': { defaultJobOptions: { attempts: 3 } } } })
}
