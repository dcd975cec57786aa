/**
 * Flow dependencies as BullMQ reports them (job.getDependencies, getIgnoredChildrenFailures), and what
 * happens when a child with `ignoreDependencyOnFailure` or `removeDependencyOnFailure` fails for good.
 *
 * A FlowProducer parent waits on its children with depends_on. A child with one of these options
 * carries a tag naming its parent's custom id (as for failParentOnFailure). When the SDK fails it for
 * good, it notes the outcome in the parent's log (level `ignored-child`: the child's key and reason;
 * `removed-child`: the key) and sends DROPDEP, so the parent stops waiting for that child and runs
 * once its other children complete. Those notes are what getDependencies and
 * getIgnoredChildrenFailures read. A worker that dies between failing the child and sending DROPDEP
 * leaves the parent waiting, as a failed child without the options does.
 */
import type { FlashQ } from './flashq.ts'
import { failParentTagPrefix, ignoreDependencyTagPrefix, removeDependencyTagPrefix } from './options.ts'
import type { JobState, WireJob } from './wire-types.ts'
import type { ChildRef } from './job.ts'
import { visibleIdOf } from './job-ids.ts'
export const ignoredChildLogLevel = 'ignored-child'
export const removedChildLogLevel = 'removed-child'

export type Dependencies = {
  /** Completed children: key → return value. */
  processed: Record<string, unknown>
  /** Children the parent still waits for (a failed child without options stays here, as in BullMQ). */
  unprocessed: string[]
  /** Children that failed for good and failed the parent (failParentOnFailure). */
  failed: string[]
  /** Children that failed with ignoreDependencyOnFailure: key → failure reason. */
  ignored: Record<string, string>
}

export type DependencyCounts = { processed: number; unprocessed: number; failed: number; ignored: number }

export function childKey(queue: string, id: number | string): string {
  return `bull:${queue}:${id}`
}

/** After a child failed for good: releases its parent when the child carries ignore/removeDependencyOnFailure. */
export async function releaseParentOnFailure(client: FlashQ, child: WireJob, childQueue: string, reason: string): Promise<void> {
  const tag = child.tags.find((candidate) => candidate.startsWith(ignoreDependencyTagPrefix) || candidate.startsWith(removeDependencyTagPrefix))
  if (tag === undefined) return
  const ignore = tag.startsWith(ignoreDependencyTagPrefix)
  const parent = await client.getJobByCustomId(tag.slice((ignore ? ignoreDependencyTagPrefix : removeDependencyTagPrefix).length))
  if (parent === null || !parent.job.depends_on.includes(child.id) || !isParked(parent.state)) return
  try {
    if (!ignore) return await removeChild(client, parent.job.id, childQueue, child.id, visibleIdOf(child))
    await client.log(parent.job.id, `${childKey(childQueue, visibleIdOf(child))} ${reason}`, ignoredChildLogLevel)
    await client.dropDependency(parent.job.id, child.id)
  } catch (error) {
    // The parent moved on meanwhile (removed, or the DROPDEP was re-sent after a reconnect): nothing left to release.
    if (!(error as Error).message.includes('not waiting for')) throw error
  }
}

/** The child leaves the parent's dependencies: noted in the parent's log (getDependencies omits it), then DROPDEP. */
export async function removeChild(client: FlashQ, parentId: number, childQueue: string, childId: number, childVisibleId: string): Promise<void> {
  await client.log(parentId, childKey(childQueue, childVisibleId), removedChildLogLevel)
  await client.dropDependency(parentId, childId)
}

function isParked(state: JobState): boolean {
  return state === 'waitingchildren' || state === 'waitingparent'
}

/** The children of `parentId` (from its tags) sorted by outcome. */
export async function dependenciesOf(client: FlashQ, parentId: number, children: ChildRef[]): Promise<Dependencies> {
  const [found, logs] = await Promise.all([client.getJobsBatch(children.map((child) => child.id)), client.getLogs(parentId).catch(() => [])])
  const ignored: Record<string, string> = {}
  const removed = new Set<string>()
  for (const entry of logs) {
    if (entry.level === removedChildLogLevel) removed.add(entry.message)
    else if (entry.level === ignoredChildLogLevel) {
      const space = entry.message.indexOf(' ')
      ignored[space < 0 ? entry.message : entry.message.slice(0, space)] = space < 0 ? '' : entry.message.slice(space + 1)
    }
  }
  const byId = new Map(found.map((item) => [item.job.id, item]))
  // GETJOBSBATCH leaves out completed jobs: those ask GETSTATE (a cancelled child reads unknown).
  const absent = children.filter((child) => !byId.has(child.id))
  const absentStates = await Promise.all(absent.map((child) => client.getState(child.id)))
  const completed = absent.filter((_child, index) => absentStates[index] === 'completed')
  const results = await Promise.all(completed.map((child) => client.getResult(child.id)))
  const processed: Record<string, unknown> = {}
  completed.forEach((child, index) => (processed[childKey(child.queue, child.visibleId)] = results[index]))
  const unprocessed: string[] = []
  const failed: string[] = []
  for (const child of children) {
    const item = byId.get(child.id)
    const key = childKey(child.queue, item === undefined ? child.visibleId : visibleIdOf(item.job))
    if (item === undefined || removed.has(key) || key in ignored) continue
    if (item.state === 'failed' && item.job.tags.some((tag) => tag.startsWith(failParentTagPrefix))) failed.push(key)
    else unprocessed.push(key)
  }
  return { processed, unprocessed, failed, ignored }
}
