/**
 * HTTP-only state kept in the front's memory, as the reference keeps it: worker heartbeats
 * (`POST /workers/{id}/heartbeat`, `GET /workers`) and the metrics history sampled every
 * metricsHistoryIntervalMs. Both bounded; neither is durable (they describe the running process).
 */
import { metricsHistoryPointsMax, workersTrackedMax } from '../../base/limits.ts'

/** Workers count as active for 30 s after their last heartbeat (spec §5.2). */
const workerActiveMs = 30_000

export type WorkerInfo = { id: string; queues: string[]; concurrency: number; last_heartbeat: number; jobs_processed: number }

export class WorkerRegistry {
  private readonly workers = new Map<string, WorkerInfo>()

  heartbeat(info: WorkerInfo): void {
    this.workers.delete(info.id) // re-insert: Map order becomes least-recently-seen first
    this.workers.set(info.id, info)
    while (this.workers.size > workersTrackedMax) {
      const oldest = this.workers.keys().next().value as string
      this.workers.delete(oldest)
    }
  }

  active(nowMs: number): WorkerInfo[] {
    return [...this.workers.values()].filter((worker) => nowMs - worker.last_heartbeat <= workerActiveMs)
  }
}

export type HistoryPoint = {
  timestamp: number
  queued: number
  processing: number
  completed: number
  failed: number
  throughput: number
  latency_ms: number
}

export class MetricsHistory {
  private readonly points: HistoryPoint[] = []

  add(point: HistoryPoint): void {
    this.points.push(point)
    if (this.points.length > metricsHistoryPointsMax) this.points.shift()
  }

  list(): HistoryPoint[] {
    return [...this.points]
  }

  clear(): void {
    this.points.length = 0
  }
}
