/** Fixed-capacity FIFO rings for bounded retention (completed ids, results, history, logs). */

/** A ring of numbers; push returns the evicted value, or -1 when nothing was evicted. */
export class NumberRing {
  private readonly slots: Float64Array
  private head = 0
  size = 0

  constructor(readonly capacity: number) {
    this.slots = new Float64Array(capacity)
  }

  push(value: number): number {
    let evicted = -1
    const tail = (this.head + this.size) % this.capacity
    if (this.size === this.capacity) {
      evicted = this.slots[this.head] as number
      this.head = (this.head + 1) % this.capacity
    } else {
      this.size++
    }
    this.slots[tail] = value
    return evicted
  }

  /** Oldest first. */
  *values(): IterableIterator<number> {
    for (let i = 0; i < this.size; i++) yield this.slots[(this.head + i) % this.capacity] as number
  }
}

/** A ring of objects; push returns the evicted item, or undefined. */
export class ObjectRing<T> {
  private readonly slots: Array<T | undefined>
  private head = 0
  size = 0

  constructor(readonly capacity: number) {
    this.slots = new Array<T | undefined>(capacity)
  }

  push(item: T): T | undefined {
    let evicted: T | undefined
    const tail = (this.head + this.size) % this.capacity
    if (this.size === this.capacity) {
      evicted = this.slots[this.head]
      this.head = (this.head + 1) % this.capacity
    } else {
      this.size++
    }
    this.slots[tail] = item
    return evicted
  }

  /** Oldest first. */
  *values(): IterableIterator<T> {
    for (let i = 0; i < this.size; i++) yield this.slots[(this.head + i) % this.capacity] as T
  }
}
