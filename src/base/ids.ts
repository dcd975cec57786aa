/**
 * Job ids encode their shard: id = sequence × shardCount + shardIndex, with sequence ≥ 1 and strictly
 * increasing within a shard. A command that names only an id routes without a lookup.
 */
import { assert } from './assert.ts'

export function jobIdOf(sequence: number, shardIndex: number, shardCount: number): number {
  const id = sequence * shardCount + shardIndex
  assert(Number.isSafeInteger(id), 'job id overflow')
  return id
}

export function shardOfJobId(id: number, shardCount: number): number {
  return id % shardCount
}

export function sequenceOfJobId(id: number, shardCount: number): number {
  return Math.floor(id / shardCount)
}
