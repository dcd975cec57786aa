/**
 * Every `curl` example in README.md runs against a live server, so the documentation cannot rot:
 * each ```sh block that contains `curl` runs as one bash script (set -e, pipefail) with the ports
 * rewritten; it must exit 0 and no answer may be `"ok":false`.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot, startServer, type TestServer } from '../harness/server.ts'

setDefaultTimeout(60_000)

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1] as string).filter((block) => /^\s*[^#\n]*\bcurl /m.test(block))

let server: TestServer
beforeAll(async () => {
  server = await startServer({ args: ['--memory'] })
})
afterAll(() => server.cleanup())

test('the README has curl examples for the HTTP API', () => {
  const curls = blocks.join('\n').split('\n').filter((line) => line.includes('curl '))
  expect(curls.length).toBeGreaterThanOrEqual(20)
})

for (const [index, block] of blocks.entries()) {
  test(`README curl block ${index + 1}: ${block.split('\n')[0]?.slice(0, 60)}`, async () => {
    const script = block
      .replaceAll('localhost:6790', `127.0.0.1:${server.httpPort}`)
      .replaceAll('localhost 6789', `127.0.0.1 ${server.tcpPort}`)
    const child = Bun.spawn(['bash', '-e', '-o', 'pipefail', '-c', script], { stdout: 'pipe', stderr: 'pipe' })
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
    if (code !== 0) throw new Error(`exit ${code}\n${script}\nstdout: ${stdout}\nstderr: ${stderr}`)
    expect(stdout).not.toContain('"ok":false')
    expect(stdout.length).toBeGreaterThan(0)
  })
}
