/**
 * `FlowProducer`: BullMQ flows (a parent that runs after all its children complete, to any depth).
 *
 * Each node is a normal job with its full options. The tree is added bottom-up: leaves first, then
 * each parent with `depends_on` = its children's ids, so the server parks it (waiting-children) until
 * they have all completed. The parent lists its children in its tags (`flashq:child=<queue>:<id>`),
 * which job.getChildrenValues() reads. A child that fails finally leaves its parent waiting, as in
 * BullMQ's default; with `failParentOnFailure` it fails the parent instead: the parent then gets a
 * custom id (its own jobId, or a generated `flow-parent:<uuid>`) that the child carries in a tag, and
 * the worker that fails the child for good fails the parent by that id (retry.ts). With
 * `ignoreDependencyOnFailure` or `removeDependencyOnFailure` instead, that worker releases the parent
 * (flow-deps.ts). Options are exclusive, in that order of precedence, as in BullMQ.
 */
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { FlashQ, checkQueue } from './flashq.ts'
import { childTagOf, Job, readJob, readJobByVisibleId } from './job.ts'
import { checkCustomId } from './job-ids.ts'
import { encodeJobData, failParentTagPrefix, ignoreDependencyTagPrefix, type JobsOptions, type QueueOptions, removeDependencyTagPrefix, toPushOptions } from './options.ts'

export type FlowJob = {
  name: string
  queueName: string
  data?: any
  opts?: Omit<JobsOptions, 'repeat'>
  children?: FlowJob[]
}

export type JobNode = { job: Job; children?: JobNode[] }

/** BullMQ's FlowOpts: per queue name, options whose `defaultJobOptions` apply to that queue's nodes. */
export type FlowOpts = { queuesOptions?: Record<string, Omit<QueueOptions, 'connection' | 'prefix'>> }

/** BullMQ's getFlow options. `prefix` is accepted and ignored. */
export type NodeOpts = { queueName: string; id: string; prefix?: string; depth?: number; maxChildren?: number }

export class FlowProducer extends EventEmitter {
  readonly client: FlashQ

  constructor(readonly opts: QueueOptions = {}) {
    super()
    this.client = new FlashQ({ host: '127.0.0.1', ...opts.connection })
    this.client.connection.onError = (error) => this.emit('error', error)
  }

  async waitUntilReady(): Promise<FlashQ> {
    await this.client.connect()
    return this.client
  }

  /** Adds a tree of jobs; resolves with the same tree of Job objects. */
  async add(flow: FlowJob, opts?: FlowOpts): Promise<JobNode> {
    return this.#addNode(flow, opts?.queuesOptions)
  }

  async addBulk(flows: FlowJob[]): Promise<JobNode[]> {
    return Promise.all(flows.map((flow) => this.#addNode(flow, undefined)))
  }

  /** A node's options: the producer's defaults, its queue's (FlowOpts), then its own. */
  #optionsOf(node: FlowJob, queuesOptions: FlowOpts['queuesOptions']): JobsOptions {
    return { ...this.opts.defaultJobOptions, ...(queuesOptions?.[node.queueName]?.defaultJobOptions as JobsOptions | undefined), ...node.opts }
  }

  /** Adds a node after its children; `parentRef` is the custom id of its parent, when a child may fail it. */
  async #addNode(node: FlowJob, queuesOptions: FlowOpts['queuesOptions'], parentRef?: string): Promise<JobNode> {
    checkQueue(node.queueName)
    const opts = this.#optionsOf(node, queuesOptions)
    if (opts.jobId !== undefined) checkCustomId(opts.jobId)
    const failable = node.children?.some((child) => actsOnParent(this.#optionsOf(child, queuesOptions))) ?? false
    const ownRef = failable ? (opts.jobId ?? `flow-parent:${randomUUID()}`) : undefined
    const children = node.children && node.children.length > 0 ? await Promise.all(node.children.map((child) => this.#addNode(child, queuesOptions, ownRef))) : undefined
    const push = toPushOptions(ownRef === undefined ? opts : { ...opts, jobId: ownRef })
    if (parentRef !== undefined) push.tags = [...(push.tags ?? []), ...parentTags(opts, parentRef)]
    if (children !== undefined) {
      push.depends_on = [...(push.depends_on ?? []), ...children.map((child) => child.job.numericId)]
      push.tags = [...(push.tags ?? []), ...children.map((child) => childTagOf(child.job.queueName, child.job.numericId, child.job.id as string))]
    }
    const pushed = await this.client.push(node.queueName, encodeJobData(node.name, node.data ?? {}), push)
    // A generated `flow-parent:<uuid>` is not shown (job-ids.ts): such a parent's id is its server id.
    const id = opts.jobId ?? String(pushed.id)
    const job = new Job({ name: node.queueName, client: this.client }, node.name, node.data ?? {}, { ...opts, tags: push.tags }, id)
    job.serverId = pushed.id
    for (const child of children ?? []) {
      child.job.parent = { id, queueKey: `bull:${node.queueName}` }
      child.job.parentKey = `bull:${node.queueName}:${id}`
      child.job.parentServerId = pushed.id
    }
    return children === undefined ? { job } : { job, children }
  }

  /**
   * BullMQ's getFlow: the tree under job `id` (its children from the parent's tags), `depth` levels
   * deep (default 10), at most `maxChildren` children per node. Null when the job is not known.
   */
  async getFlow(opts: NodeOpts): Promise<JobNode | null> {
    const job = await readJobByVisibleId({ name: opts.queueName, client: this.client }, opts.id)
    if (job === null) return null
    return this.#treeOf(job, opts.depth ?? 10, opts.maxChildren)
  }

  async #treeOf(job: Job, depth: number, maxChildren: number | undefined): Promise<JobNode> {
    const refs = job.childRefs().slice(0, maxChildren)
    if (depth <= 1 || refs.length === 0) return { job }
    const jobs = await Promise.all(refs.map((ref) => readJob({ name: ref.queue, client: this.client }, ref.id)))
    const children = await Promise.all(jobs.filter((child) => child !== null).map((child) => this.#treeOf(child, depth - 1, maxChildren)))
    return { job, children }
  }

  close(): Promise<void> {
    return this.client.close()
  }

  disconnect(): Promise<void> {
    return this.close()
  }
}

/** Whether a child's failure acts on its parent, which then needs a custom id the child can name. */
function actsOnParent(opts: JobsOptions): boolean {
  return opts.failParentOnFailure === true || opts.ignoreDependencyOnFailure === true || opts.removeDependencyOnFailure === true
}

/** The tags by which a child names the parent its failure acts on (retry.ts, flow-deps.ts). */
function parentTags(opts: JobsOptions, parentRef: string): string[] {
  if (opts.failParentOnFailure === true) return [`${failParentTagPrefix}${parentRef}`]
  if (opts.ignoreDependencyOnFailure === true) return [`${ignoreDependencyTagPrefix}${parentRef}`]
  if (opts.removeDependencyOnFailure === true) return [`${removeDependencyTagPrefix}${parentRef}`]
  return []
}
