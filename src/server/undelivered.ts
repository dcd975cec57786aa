/**
 * Jobs that were handed out but never reached their worker: a PULL or PULLB reply that could not be
 * written because the client was gone (TCP connection closed or half-closed, HTTP client gone).
 * They go back to waiting with the `requeue` host message, without counting an attempt; a job is
 * only given back while it is still active from that very delivery (same id and started_at), so a
 * late or repeated request can never take a job from the worker that holds it now.
 */

/** One delivery: the job id and the started_at (ms) that the reply carried. */
export type Delivery = [id: number, startedAtMs: number]

type WireJobLike = { id?: unknown; started_at?: unknown }

/** The deliveries in a PULL / PULLB reply text (JSON, with or without reqId); none for anything else. */
export function deliveriesOf(replyJson: string): Delivery[] {
  if (!replyJson.includes('"started_at"')) return []
  let reply: { job?: WireJobLike | null; jobs?: WireJobLike[] }
  try {
    reply = JSON.parse(replyJson) as typeof reply
  } catch {
    return []
  }
  const jobs = reply.job !== undefined && reply.job !== null ? [reply.job] : Array.isArray(reply.jobs) ? reply.jobs : []
  const deliveries: Delivery[] = []
  for (const job of jobs) {
    if (typeof job?.id === 'number' && typeof job.started_at === 'number') deliveries.push([job.id, job.started_at])
  }
  return deliveries
}
