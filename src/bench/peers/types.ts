/** A system under comparison, in one durability setting, and what a started one offers the harness. */
import type { PeerSystem } from '../workloads.ts'

export type SystemName = 'flashq' | 'bullmq' | 'beanstalkd' | 'nats'

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
