/**
 * Every TypeScript example in README.md that imports 'flashq' runs against a live server, as a file
 * in a project whose node_modules/flashq is this package: it must exit 0 and write nothing to
 * stderr, and a `console.log(…) // text` line must print that text.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot, startServer, temporaryDirectory, type TestServer } from '../harness/server.ts'

setDefaultTimeout(60_000)

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string).filter((block) => block.includes("from 'flashq'"))

let server: TestServer
let projectDir: string

beforeAll(async () => {
  server = await startServer({ args: ['--memory'] })
  projectDir = temporaryDirectory('flashq-readme-')
  mkdirSync(join(projectDir, 'node_modules'))
  symlinkSync(repoRoot, join(projectDir, 'node_modules', 'flashq'))
  writeFileSync(join(projectDir, 'package.json'), JSON.stringify({ name: 'readme-examples', type: 'module', private: true }))
})

afterAll(async () => {
  await server?.cleanup()
  if (projectDir) rmSync(projectDir, { recursive: true, force: true })
})

test('the README has SDK examples', () => {
  expect(examples.length).toBeGreaterThanOrEqual(3)
})

for (const [index, example] of examples.entries()) {
  test(`README SDK example ${index + 1}: ${example.split('\n')[0]}`, async () => {
    const source = example.replaceAll('port: 6789', `port: ${server.tcpPort}, httpPort: ${server.httpPort}`)
    const file = join(projectDir, `example-${index + 1}.ts`)
    writeFileSync(file, source)
    const child = Bun.spawn([process.execPath, file], { cwd: projectDir, stdout: 'pipe', stderr: 'pipe' })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
    clearTimeout(timer)
    if (code !== 0 || stderr !== '') throw new Error(`exit ${code}\n${source}\nstdout: ${stdout}\nstderr: ${stderr}`)
    expect(stdout.trim().length).toBeGreaterThan(0)
    for (const [, printed] of source.matchAll(/console\.log\(.*\) \/\/ (.+)$/gm)) expect(stdout).toContain(printed as string)
  })
}
