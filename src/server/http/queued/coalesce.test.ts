import { expect, test } from 'bun:test'
import { queuedPollMessagesMax } from '../../../base/limits.ts'
import type { Reply } from '../call.ts'
import { Coalescer } from './coalesce.ts'

/** A stand-in shard: records each command and answers it as the engine would, item by item. */
function recorder(answer: (command: Record<string, unknown>) => Reply) {
  const commands: Array<Record<string, unknown>> = []
  const coalescer = new Coalescer(async (command) => {
    commands.push(command)
    return answer(command)
  })
  return { commands, coalescer }
}

let nextId = 1
const engine = (command: Record<string, unknown>): Reply => {
  if (command.cmd === '_QPUSH') return { ok: true, ids: (command.messages as unknown[]).map(() => nextId++) }
  if (command.cmd === '_QDELETE') return { ok: true, deleted: (command.items as Array<{ id: number }>).map((item) => item.id % 2 === 0) }
  // Only two messages in any queue: fewer messages than tags.
  const tags = (command.tags as string[]).slice(0, 2)
  return { ok: true, messages: tags.map((tag) => ({ id: Number(tag), created_at: 0, poll_count: 1, contents: `for ${tag}` })) }
}

test('the pushes of one turn are one command per queue; each request gets its own id', async () => {
  const { commands, coalescer } = recorder(engine)
  nextId = 10
  const ids = await Promise.all([
    coalescer.push('a', { contents: 'a1', delay_ms: 0 }),
    coalescer.push('b', { contents: 'b1', delay_ms: 5 }),
    coalescer.push('a', { contents: 'a2', delay_ms: 0 }),
  ])
  expect(commands).toEqual([
    { cmd: '_QPUSH', queue: 'a', messages: [{ contents: 'a1', delay_ms: 0 }, { contents: 'a2', delay_ms: 0 }] },
    { cmd: '_QPUSH', queue: 'b', messages: [{ contents: 'b1', delay_ms: 5 }] },
  ])
  expect(ids).toEqual([10, 12, 11])
  // The next turn is a new command.
  await coalescer.push('a', { contents: 'a3', delay_ms: 0 })
  expect(commands).toHaveLength(3)
})

test('polls: one command per queue and visibility; message i goes to the request that gave tag i', async () => {
  const { commands, coalescer } = recorder(engine)
  const [first, second, third, other] = await Promise.all([
    coalescer.poll('q', 30_000, ['1']),
    coalescer.poll('q', 30_000, ['2', '3']),
    coalescer.poll('q', 30_000, ['4']),
    coalescer.poll('q', 1_000, ['5']),
  ])
  expect(commands).toEqual([
    { cmd: '_QPOLL', queue: 'q', visibility_ms: 30_000, tags: ['1', '2', '3', '4'] },
    { cmd: '_QPOLL', queue: 'q', visibility_ms: 1_000, tags: ['5'] },
  ])
  expect(first?.map((message) => message.contents)).toEqual(['for 1'])
  expect(second?.map((message) => message.contents)).toEqual(['for 2'])
  expect(third).toEqual([])
  expect(other?.map((message) => message.contents)).toEqual(['for 5'])
})

test('deletes answer per item; a failed command fails every request in it, and only those', async () => {
  const { commands, coalescer } = recorder(engine)
  expect(await Promise.all([coalescer.delete('q', { id: 2, tag: 't' }), coalescer.delete('q', { id: 3, tag: 't' })])).toEqual([true, false])
  expect(commands).toHaveLength(1)
  const failing = new Coalescer(async (command) => {
    if (command.queue === 'broken') throw new Error('storage error')
    return engine(command)
  })
  const results = await Promise.allSettled([
    failing.delete('broken', { id: 2, tag: 't' }),
    failing.delete('broken', { id: 4, tag: 't' }),
    failing.delete('fine', { id: 6, tag: 't' }),
  ])
  expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'fulfilled'])
})

test(`no merged poll carries more than ${queuedPollMessagesMax} tags, and no request is split`, async () => {
  const { commands, coalescer } = recorder(engine)
  const polls = [coalescer.poll('q', 0, Array.from({ length: queuedPollMessagesMax - 1 }, (_, i) => `${i}`))]
  polls.push(coalescer.poll('q', 0, ['x', 'y']))
  polls.push(coalescer.poll('q', 0, ['z']))
  await Promise.all(polls)
  expect(commands.map((command) => (command.tags as string[]).length)).toEqual([queuedPollMessagesMax - 1, 3])
})
