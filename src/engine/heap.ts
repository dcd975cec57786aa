/**
 * A binary min-heap that tells each item its position, so that any item can be removed or re-sorted in
 * O(log n) (cancel, promote, change priority). `before(a, b)` is true when `a` must come out first.
 * Removed items get position -1.
 */
export class IndexedHeap<T> {
  readonly items: T[] = []

  constructor(
    private readonly before: (a: T, b: T) => boolean,
    private readonly setIndex: (item: T, index: number) => void,
  ) {}

  get size(): number {
    return this.items.length
  }

  peek(): T | undefined {
    return this.items[0]
  }

  push(item: T): void {
    this.items.push(item)
    this.up(this.items.length - 1, item)
  }

  pop(): T | undefined {
    const items = this.items
    const top = items[0]
    if (top === undefined) return undefined
    const last = items.pop() as T
    if (items.length > 0) this.down(0, last)
    this.setIndex(top, -1)
    return top
  }

  /** Removes the item at `index` (the position the heap reported for it). */
  removeAt(index: number): T {
    const items = this.items
    const item = items[index] as T
    const last = items.pop() as T
    if (index < items.length) {
      if (index > 0 && this.before(last, items[(index - 1) >> 1] as T)) this.up(index, last)
      else this.down(index, last)
    }
    this.setIndex(item, -1)
    return item
  }

  /** Restores order after the key of the item at `index` changed. */
  update(index: number): void {
    const item = this.items[index] as T
    if (index > 0 && this.before(item, this.items[(index - 1) >> 1] as T)) this.up(index, item)
    else this.down(index, item)
  }

  clear(): T[] {
    const all = this.items.splice(0)
    for (const item of all) this.setIndex(item, -1)
    return all
  }

  private up(index: number, item: T): void {
    const items = this.items
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = items[parentIndex] as T
      if (!this.before(item, parent)) break
      items[index] = parent
      this.setIndex(parent, index)
      index = parentIndex
    }
    items[index] = item
    this.setIndex(item, index)
  }

  private down(index: number, item: T): void {
    const items = this.items
    const length = items.length
    for (;;) {
      let child = 2 * index + 1
      if (child >= length) break
      const right = child + 1
      if (right < length && this.before(items[right] as T, items[child] as T)) child = right
      const childItem = items[child] as T
      if (!this.before(childItem, item)) break
      items[index] = childItem
      this.setIndex(childItem, index)
      index = child
    }
    items[index] = item
    this.setIndex(item, index)
  }
}
