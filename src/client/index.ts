/**
 * The flashq SDK: `import { Queue, Worker, … } from 'flashq'`. BullMQ's API (Queue, Worker, Job,
 * QueueEvents, FlowProducer) and flashQ's own client (FlashQ), over the flashQ wire protocol.
 * Runs in Bun and Node (node:net only); it never loads the server.
 */
export { EventSubscriber, FlashQ, type ClientOptions } from './flashq.ts'
export { Connection, type ConnectionOptions as TransportOptions, type Reply, type RequestOptions } from './connection.ts'
export { Queue, type JobType, type JobSchedulerJson, type JobCountsResult } from './queue.ts'
export { Worker, type Processor, type WorkerListener } from './worker.ts'
export type { SandboxedJob } from './sandbox.ts'
export type { WorkerInfo } from './worker-registry.ts'
export { Job, type JobJson, type JobState, type JobProgress, type FinishedStatus } from './job.ts'
export type { Dependencies, DependencyCounts } from './flow-deps.ts'
export { QueueEvents } from './queue-events.ts'
export { FlowProducer, type FlowJob, type FlowOpts, type JobNode, type NodeOpts } from './flow-producer.ts'
export type { BackoffStrategy } from './retry.ts'
export type { BackoffOptions, ConnectionOptions, DeduplicationOptions, JobsOptions, KeepJobs, QueueEventsOptions, QueueOptions, RateLimiterOptions, RepeatOptions, WorkerOptions } from './options.ts'
export * from './errors.ts'
export type * from './wire-types.ts'
