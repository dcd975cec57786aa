/**
 * The dashboard's routes, in process: the page links its hashed assets, every file is served gzipped
 * when asked and revalidated by ETag, and the first page stays under its transfer budget.
 */
import { expect, test } from 'bun:test'
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dashboardApp } from './app.ts'

const app = dashboardApp()
/** Issue 12: the first page, everything included, under 300 KB gzipped. */
const firstPageGzipBytesMax = 300 * 1024

async function assetPaths(): Promise<string[]> {
  const html = await (await app.request('/')).text()
  return [...html.matchAll(/(?:href|src)="(\/dashboard\/assets\/[^"]+)"/g)].map((match) => match[1] as string)
}

test('/ and /dashboard/ serve the page, which links a script and a stylesheet that exist', async () => {
  for (const path of ['/', '/dashboard/', '/dashboard/queues/anything']) {
    const response = await app.request(path)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toStartWith('text/html')
    expect(await response.text()).toContain('<div id="app">')
  }
  expect((await app.request('/dashboard')).status).toBe(301)
  const paths = await assetPaths()
  expect(paths.map((path) => path.split('.').at(-1))).toEqual(['css', 'js'])
  for (const path of paths) {
    const response = await app.request(path)
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toContain('immutable')
    expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(1000)
  }
  expect((await app.request('/dashboard/assets/app.nothing.js')).status).toBe(404)
})

test('files are gzipped on request, and an unchanged file answers 304', async () => {
  const [script] = await assetPaths()
  const plain = await app.request(script as string)
  const zipped = await app.request(script as string, { headers: { 'Accept-Encoding': 'gzip, deflate, br' } })
  expect(zipped.headers.get('content-encoding')).toBe('gzip')
  const zippedBytes = new Uint8Array(await zipped.arrayBuffer())
  expect(new TextDecoder().decode(Bun.gunzipSync(zippedBytes))).toBe(await plain.text())
  const etag = plain.headers.get('etag') as string
  const again = await app.request(script as string, { headers: { 'If-None-Match': etag } })
  expect(again.status).toBe(304)
})

test('the first page weighs less than 300 KB gzipped', async () => {
  let total = 0
  for (const path of ['/', ...(await assetPaths())]) {
    const response = await app.request(path, { headers: { 'Accept-Encoding': 'gzip' } })
    total += (await response.arrayBuffer()).byteLength
  }
  expect(total).toBeGreaterThan(0)
  expect(total).toBeLessThan(firstPageGzipBytesMax)
})

test('installed under node_modules (npm, bunx), where Bun runs no macros, the page still gets its script', async () => {
  // A copy of src/dashboard inside a package in node_modules, with the repository's dependencies.
  const root = mkdtempSync(join(tmpdir(), 'flashq-npm-'))
  try {
    const packageDir = join(root, 'node_modules', 'flashq')
    cpSync(import.meta.dir, join(packageDir, 'src', 'dashboard'), { recursive: true })
    symlinkSync(join(import.meta.dir, '..', '..', 'node_modules'), join(packageDir, 'node_modules'))
    writeFileSync(join(packageDir, 'package.json'), '{"name":"flashq","type":"module"}')
    const probe = `
      const { dashboardApp } = await import(${JSON.stringify(join(packageDir, 'src', 'dashboard', 'app.ts'))})
      const app = dashboardApp()
      const html = await (await app.request('/')).text()
      const script = /src="([^"]+\\.js)"/.exec(html)[1]
      const response = await app.request(script)
      process.stdout.write(JSON.stringify({ status: response.status, bytes: (await response.text()).length }))`
    const run = Bun.spawnSync([process.execPath, '-e', probe], { cwd: root, stdout: 'pipe', stderr: 'pipe' })
    expect(run.stderr.toString()).not.toContain('error')
    expect(JSON.parse(run.stdout.toString())).toMatchObject({ status: 200 })
    expect(JSON.parse(run.stdout.toString()).bytes).toBeGreaterThan(10_000)
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}, 60_000)
