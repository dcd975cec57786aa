/**
 * Shared pieces of the SDK integration tests: one real server per test file, unique queue names,
 * and polling for a condition (never a fixed sleep as the assertion).
 */
import { afterAll, beforeAll, setDefaultTimeout } from 'bun:test'
import { Queue } from '../../src/client/index.ts'
import { startServer, type TestServer } from '../harness/server.ts'

let counter = 0

/** A queue name unique within this process. */
export function queueName(label: string): string {
  return `sdk-${label}-${process.pid}-${++counter}`
}

/** Polls `check` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Resolves with the event's arguments the next time `emitter` emits `event`. */
export function nextEvent<T extends unknown[]>(emitter: { once(event: string, listener: (...args: any[]) => void): unknown }, event: string): Promise<T> {
  return new Promise<T>((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T)))
}

export type Closable = { close(): Promise<unknown> }

/** Starts a server for a test file; `track` registers clients closed before the server stops. */
export function serverFixture(args: string[] = ['--memory']) {
  const opened: Closable[] = []
  const fixture = {
    server: null as unknown as TestServer,
    get connection() {
      return { host: '127.0.0.1', port: fixture.server.tcpPort, httpPort: fixture.server.httpPort ?? undefined }
    },
    async start() {
      fixture.server = await startServer({ args })
    },
    track<T extends Closable>(value: T): T {
      opened.push(value)
      return value
    },
    async stop() {
      for (const value of opened.splice(0)) await value.close().catch(() => {})
      await fixture.server?.cleanup()
    },
  }
  return fixture
}

/** The usual SDK test file: one server for the file, started before its tests and stopped after, and tracked queues. */
export function sdkTestFile(args?: string[]) {
  setDefaultTimeout(30_000)
  const fixture = serverFixture(args)
  beforeAll(() => fixture.start())
  afterAll(() => fixture.stop())
  const connection = () => fixture.connection
  const newQueue = (label: string) => fixture.track(new Queue(queueName(label), { connection: connection() }))
  return { fixture, connection, newQueue }
}
