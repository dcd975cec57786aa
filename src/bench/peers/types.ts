/** A system under comparison, in one durability setting, and what a started one offers the harness. */
import type { PeerSystem } from '../workloads.ts'
import type { WorkloadId } from './workloads.ts'

/** `floor` is a reference, not a queue (floor.ts): it is not charted and has no targets of its own. */
export type SystemName = 'flashq' | 'bullmq' | 'beanstalkd' | 'nats' | 'floor'

export type PeerVariant = {
  /** Column key, e.g. 'flashq-durable'. */
  id: string
  system: SystemName
  /** Column heading, e.g. 'BullMQ (Redis, AOF always)'. */
  label: string
  durable: boolean
  /** What a push's acknowledgement promises, for the report. */
  durability: string
  /** Server binary this variant needs, and the Debian package that has it (none for flashq). */
  binary?: { name: string; debianPackage: string }
  /** The only workloads this variant runs (the floor keeps no jobs); all when absent. */
  workloads?: readonly WorkloadId[]
  start(): Promise<RunningPeer>
}

export type RunningPeer = {
  system: PeerSystem
  /** The server process (for RSS and CPU). */
  pid: number
  dataDir: string | null
  stop(): Promise<void>
}

/** A variant as the report knows it (what survives a JSON round trip of the results). */
export type VariantInfo = Omit<PeerVariant, 'start'>
