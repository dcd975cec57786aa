/**
 * Job ids as BullMQ users see them, over the server's numeric ids.
 *
 * The server numbers every job and keeps the `jobId` given at add time as its `custom_id`. The
 * BullMQ-style classes show one id per job, its *visible* id: the custom id when the job has one,
 * else the server id as a decimal string. Internally they always talk server ids to the server.
 *
 * The rule that keeps the two apart is BullMQ's own validation: a custom id can be neither an integer
 * in canonical form (`'42'`; `'042'` and `'4.2'` are fine) nor contain `:` unless it has exactly three
 * `:`-separated parts. So an id text that is a canonical integer always names a server id, and any
 * other text names a custom id. A custom id that breaks the rule (set by another client, or the SDK's
 * own `flow-parent:<uuid>`) is not shown: such a job's visible id is its server id.
 */
import { pullBatchJobsMax } from '../base/limits.ts'
import type { FlashQ } from './flashq.ts'
import type { WireJob } from './wire-types.ts'

/** Whether `text` is an integer as BullMQ writes one (`${parseInt(text, 10)}` === text). */
export function isIntegerText(text: string): boolean {
  return `${Number.parseInt(text, 10)}` === text
}

/** BullMQ's check of a custom `jobId` (Job.validateOptions), with its messages. */
export function checkCustomId(jobId: string): void {
  if (isIntegerText(jobId)) throw new Error('Custom Id cannot be integers')
  if (jobId.includes(':') && jobId.split(':').length !== 3) throw new Error('Custom Id cannot contain :')
}

/** A custom id a BullMQ user could have given, shown as the job's id. */
export function isVisibleCustomId(customId: string | null): customId is string {
  return customId !== null && customId !== '' && !isIntegerText(customId) && (!customId.includes(':') || customId.split(':').length === 3)
}

/** The id a BullMQ user sees for a server job record. */
export function visibleIdOf(wire: Pick<WireJob, 'id' | 'custom_id'>): string {
  const customId = wire.custom_id
  return customId !== null && isVisibleCustomId(customId) ? customId : String(wire.id)
}

/** The server id an id text names without asking the server (a canonical integer), else null. */
export function serverIdOfText(id: string): number | null {
  return isIntegerText(id) ? Number(id) : null
}

/**
 * The server id of the job a BullMQ user names, or null when no job has it. A custom id is looked up
 * among live jobs first (GETJOBBYCUSTOMID, which answers null once a job completed), then in the
 * queue's completed history (newest first), so a completed job is found by its custom id too.
 */
export async function resolveJobId(client: FlashQ, queue: string, id: string): Promise<number | null> {
  const serverId = serverIdOfText(id)
  if (serverId !== null) return serverId
  const live = await client.getJobByCustomId(id)
  if (live !== null) return live.job.id
  const completed = await findCompleted(client, queue, (job) => job.custom_id === id)
  return completed?.id ?? null
}

/** The newest job of `queue`'s completed history that `matches`, paging through all of it. */
export async function findCompleted(client: FlashQ, queue: string, matches: (job: WireJob) => boolean): Promise<WireJob | null> {
  for (let offset = 0; ; offset += pullBatchJobsMax) {
    const page = await client.getJobs({ queue, state: 'completed', limit: pullBatchJobsMax, offset })
    const found = page.jobs.find((item) => matches(item.job))
    if (found !== undefined) return found.job
    if (page.jobs.length < pullBatchJobsMax || offset + page.jobs.length >= page.total) return null
  }
}
