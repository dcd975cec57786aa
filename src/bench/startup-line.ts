/**
 * A benchmark's own server announces itself on stdout with a line containing " listening ". Shared by
 * `flashq bench` (cli/bench.ts) and the peer comparison (bench/peers/flashq.ts).
 */

/**
 * Reads `stdout` up to the start-up line and returns it, then keeps draining the stream so the server
 * never blocks on a full pipe. Returns null, with what was read, if the stream ended first.
 */
export async function readStartupLine(stdout: ReadableStream<Uint8Array>): Promise<{ line: string | null; seen: string }> {
  const reader = stdout.getReader()
  const decoder = new TextDecoder()
  let seen = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return { line: null, seen }
    seen += decoder.decode(value)
    const line = seen.split('\n').find((candidate) => candidate.includes(' listening '))
    if (line === undefined) continue
    void (async () => {
      while (!(await reader.read().catch(() => ({ done: true }))).done) { /* discard */ }
    })()
    return { line, seen }
  }
}
