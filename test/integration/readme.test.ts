/**
 * README's curl quick start, run as written against a live server: every `curl …` and
 * `printf … | nc …` line of the "curl (and nc)" section, with the default ports swapped for the test
 * server's. A line that fails, prints nothing, or prints an error reply fails the test.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot, startServer, type TestServer } from '../harness/server.ts'

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
const section = /### curl \(and nc\)\n([\s\S]*?)\n(?=##)/.exec(readme)?.[1] ?? ''
const commands = [...section.matchAll(/```sh\n([\s\S]*?)```/g)]
  .flatMap((block) => block[1]!.split('\n'))
  .filter((line) => line.startsWith('curl ') || line.startsWith('printf '))

let server: TestServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.cleanup())

test('the curl section has commands', () => {
  expect(commands.length).toBeGreaterThanOrEqual(2)
})

const haveTools = Bun.which('curl') !== null && Bun.which('nc') !== null
for (const command of commands) {
  test.skipIf(!haveTools)(`README: ${command.slice(0, 80)}`, () => {
    const local = command
      .replaceAll('localhost:6790', `127.0.0.1:${server.httpPort}`)
      .replaceAll('localhost 6789', `127.0.0.1 ${server.tcpPort}`)
    const ran = Bun.spawnSync(['sh', '-c', local], { stdout: 'pipe', stderr: 'pipe', timeout: 20_000 })
    const stdout = ran.stdout.toString()
    expect(ran.exitCode).toBe(0)
    expect(stdout.trim().length).toBeGreaterThan(0)
    for (const line of stdout.trim().split('\n')) expect(JSON.parse(line)).not.toMatchObject({ ok: false })
  })
}
