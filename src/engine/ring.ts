/**
 * FIFO rings for bounded retention (completed ids, results, history, logs). The slots are allocated
 * once at `capacity` (the named maximum); `limit` (at most the capacity) is how many are kept now,
 * a runtime setting (POST /settings/cleanup).
 */
import { assert } from '../base/assert.ts'

class Ring<T> {
  protected head = 0
  size = 0
  limit: number

  constructor(readonly capacity: number, protected readonly slots: { [index: number]: T }, limit = capacity) {
    this.limit = limit
    this.setLimit(limit)
  }

  setLimit(limit: number): void {
    assert(Number.isSafeInteger(limit) && limit >= 1 && limit <= this.capacity, 'ring limit within 1..capacity')
    this.limit = limit
  }

  /** Adds at the tail; returns the oldest when that makes more than `limit`. */
  protected add(value: T): T | undefined {
    const evicted = this.size >= this.limit ? this.shift() : undefined
    this.slots[(this.head + this.size) % this.capacity] = value
    this.size++
    return evicted
  }

  /** Removes and returns the oldest entries beyond `limit` (after the limit was lowered). */
  trim(): T[] {
    const evicted: T[] = []
    while (this.size > this.limit) evicted.push(this.shift() as T)
    return evicted
  }

  private shift(): T | undefined {
    if (this.size === 0) return undefined
    const value = this.slots[this.head]
    this.head = (this.head + 1) % this.capacity
    this.size--
    return value
  }

  /** Oldest first. */
  *values(): IterableIterator<T> {
    for (let i = 0; i < this.size; i++) yield this.slots[(this.head + i) % this.capacity] as T
  }
}

/** A ring of numbers; push returns the evicted value, or -1 when nothing was evicted. */
export class NumberRing extends Ring<number> {
  constructor(capacity: number, limit = capacity) {
    super(capacity, new Float64Array(capacity), limit)
  }

  push(value: number): number {
    return this.add(value) ?? -1
  }
}

/** A ring of objects; push returns the evicted item, or undefined. */
export class ObjectRing<T> extends Ring<T> {
  constructor(capacity: number, limit = capacity) {
    super(capacity, new Array<T | undefined>(capacity) as { [index: number]: T }, limit)
  }

  push(item: T): T | undefined {
    return this.add(item)
  }
}
