/**
 * Single pushes, polls and deletes of the queued API that arrive in the same event-loop turn are
 * merged into one command per queue (and visibility, for polls): one line to the shard, one parse,
 * one engine call and one log append for what were dozens, while each HTTP request still gets its
 * own answer, and only once the merged command's records are durable. Under many concurrent
 * clients this is most of the queued API's cost at the shards (queued-api.md §1.5 is unchanged:
 * a 2xx still means on disk).
 *
 * The engine answers a merged command item by item in order (ids, deleted flags, one message per
 * tag), so each request takes its own slice. A failure of the merged command is every member's.
 */
import { queuedBatchMessagesCap, queuedPollMessagesMax } from '../../../base/limits.ts'
import type { PolledMessage } from '../../../engine/queued-store.ts'
import type { Reply } from '../call.ts'

type PushItem = { contents: string; delay_ms: number }
type DeleteItem = { id: number; tag: string }

/** One request's part of a merged command: how many items it added, and how to answer it. */
type Member<T> = { count: number; resolve: (value: T) => void; reject: (error: unknown) => void }

type Group<Item, T> = { queue: string; visibilityMs: number; items: Item[]; members: Array<Member<T>> }

export class Coalescer {
  private readonly pushes = new Map<string, Group<PushItem, number>>()
  private readonly deletes = new Map<string, Group<DeleteItem, boolean>>()
  private readonly polls = new Map<string, Group<string, PolledMessage[]>>()
  private scheduled = false

  /** `send` runs one command (the queued API's `call`: a failure is thrown as the answer to give). */
  constructor(private readonly send: (request: Record<string, unknown>) => Promise<Reply>) {}

  /** The id of the pushed message. */
  push(queue: string, item: PushItem): Promise<number> {
    return this.join(this.pushes, queue, queue, 0, [item])
  }

  /** Whether the message was deleted (found with that tag). */
  delete(queue: string, item: DeleteItem): Promise<boolean> {
    return this.join(this.deletes, queue, queue, 0, [item])
  }

  /** The polled messages, the i-th leased with `tags[i]` (fewer, or none, when the queue has fewer). */
  poll(queue: string, visibilityMs: number, tags: string[]): Promise<PolledMessage[]> {
    return this.join(this.polls, `${visibilityMs} ${queue}`, queue, visibilityMs, tags)
  }

  private join<Item, T>(groups: Map<string, Group<Item, T>>, key: string, queue: string, visibilityMs: number, items: Item[]): Promise<T> {
    let group = groups.get(key)
    if (group === undefined) groups.set(key, (group = { queue, visibilityMs, items: [], members: [] }))
    const { promise, resolve, reject } = Promise.withResolvers<T>()
    for (const item of items) group.items.push(item)
    group.members.push({ count: items.length, resolve, reject })
    if (!this.scheduled) {
      this.scheduled = true
      // After this turn's other requests (each arrives in its own callback): the same moment the
      // shard pool would have sent them.
      setImmediate(() => this.flush())
    }
    return promise
  }

  private flush(): void {
    this.scheduled = false
    for (const group of this.pushes.values()) {
      this.run(group, queuedBatchMessagesCap, (items) => ({ cmd: '_QPUSH', queue: group.queue, messages: items }), (reply) => reply.ids as number[])
    }
    for (const group of this.deletes.values()) {
      this.run(group, queuedBatchMessagesCap, (items) => ({ cmd: '_QDELETE', queue: group.queue, items }), (reply) => reply.deleted as boolean[])
    }
    for (const group of this.polls.values()) {
      const command = (tags: string[]) => ({ cmd: '_QPOLL', queue: group.queue, visibility_ms: group.visibilityMs, tags })
      this.runPoll(group, command)
    }
    this.pushes.clear()
    this.deletes.clear()
    this.polls.clear()
  }

  /** Push and delete: one result per item, one item per member. */
  private run<Item, T>(group: Group<Item, T>, itemsMax: number, command: (items: Item[]) => Record<string, unknown>, results: (reply: Reply) => T[]): void {
    for (const [items, members] of chunks(group, itemsMax)) {
      this.send(command(items)).then(
        (reply) => {
          const values = results(reply)
          members.forEach((member, index) => member.resolve(values[index] as T))
        },
        (error: unknown) => members.forEach((member) => member.reject(error)),
      )
    }
  }

  /** Polls: message i was leased with tag i; each member takes the messages of its own tags. */
  private runPoll(group: Group<string, PolledMessage[]>, command: (tags: string[]) => Record<string, unknown>): void {
    for (const [tags, members] of chunks(group, queuedPollMessagesMax)) {
      this.send(command(tags)).then(
        (reply) => {
          const messages = reply.messages as PolledMessage[]
          let next = 0
          for (const member of members) {
            member.resolve(messages.slice(next, next + member.count))
            next += member.count
          }
        },
        (error: unknown) => members.forEach((member) => member.reject(error)),
      )
    }
  }
}

/** Members in order, cut so that no command carries more than `itemsMax` items (a member is never split). */
function chunks<Item, T>(group: Group<Item, T>, itemsMax: number): Array<[Item[], Array<Member<T>>]> {
  const result: Array<[Item[], Array<Member<T>>]> = []
  let start = 0
  let members: Array<Member<T>> = []
  let count = 0
  for (const member of group.members) {
    if (count + member.count > itemsMax && members.length > 0) {
      result.push([group.items.slice(start, start + count), members])
      start += count
      members = []
      count = 0
    }
    members.push(member)
    count += member.count
  }
  if (members.length > 0) result.push([start === 0 && count === group.items.length ? group.items : group.items.slice(start, start + count), members])
  return result
}
