/**
 * The fields a `sparse` PULLB leaves out of a job (flashq extension, src/engine/sparse-wire.ts) are
 * the ones at their default value; a pulled job gets them back as the prototype of its object. That
 * costs one prototype change per job, where copying them costs more than the shorter reply saves:
 * reading `job.attempts` works as for a full job, only `Object.keys` and JSON.stringify of the raw
 * wire object show fewer fields (the Worker keeps it inside its Job).
 */
import { wireJobDefaults } from '../protocol/wire-job-defaults.ts'
import type { WireJob } from './wire-types.ts'

/** Gives the jobs of a sparse reply their default fields back (in place); returns them. */
export function withWireDefaults<Data>(jobs: Array<Partial<WireJob<Data>>>): WireJob<Data>[] {
  for (const job of jobs) Object.setPrototypeOf(job, wireJobDefaults)
  return jobs as WireJob<Data>[]
}
