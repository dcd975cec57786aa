/**
 * The one server an audit file drives (spec-audit.test.ts, http-audit-2.test.ts): started with the
 * file's arguments, with its HTTP base URL and a client for it; and fresh queue names per file.
 */
import { startServer, type TestServer } from '../harness/server.ts'
import { HttpClient } from '../integration/http-kit.ts'

export async function startAuditServer(args: string[]): Promise<{ server: TestServer; http: HttpClient; base: string }> {
  const server = await startServer({ args: [...args, '--no-warmup'] })
  const base = `http://127.0.0.1:${server.httpPort}`
  return { server, http: new HttpClient(base), base }
}

/** `prefix-0`, `prefix-1`, …: a queue no other test of the file touched. */
export function queueNamer(): (prefix: string) => string {
  let counter = 0
  return (prefix) => `${prefix}-${counter++}`
}
