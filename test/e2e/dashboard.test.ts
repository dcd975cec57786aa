/**
 * The dashboard in a real browser against a real server: Debian's headless Chromium, driven by
 * playwright-core, with jobs pushed and checked over TCP by the raw wire client.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { join } from 'node:path'
import { repoRoot, startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { launchBrowser, openPage, screenshot, viewports } from './browser.ts'

// Each test runs a browser against real servers; `bun test` alone would allow 5 s.
setDefaultTimeout(30_000)

let browser: Browser
let server: TestServer
let tcp: WireClient
let base: string

beforeAll(async () => {
  ;[browser, server] = await Promise.all([launchBrowser(), startServer({ args: ['--memory'] })])
  tcp = await WireClient.connect(server.tcpPort)
  base = `http://127.0.0.1:${server.httpPort}`
})

afterAll(async () => {
  tcp?.close()
  await browser?.close()
  await server?.cleanup()
})

/** Polls a TCP query until `check` accepts its reply, or fails after `timeoutMs` with the last reply. */
async function eventually(command: Record<string, unknown>, check: (reply: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const deadlineMs = Date.now() + timeoutMs
  for (;;) {
    const reply = await tcp.request(command)
    if (check(reply)) return reply
    if (Date.now() > deadlineMs) throw new Error(`${JSON.stringify(command)} still answers ${JSON.stringify(reply)}`)
    await Bun.sleep(50)
  }
}

describe('dashboard', () => {
  test('the overview loads without console errors and shows a job pushed over TCP within a second', async () => {
    const { page, context, errors } = await openPage(browser)
    await page.goto(`${base}/`)
    // Both sockets open: a push before the event stream is up would only show at the next snapshot.
    await page.locator('[data-testid="connection"][data-events="open"]').filter({ hasText: 'Live' }).waitFor()
    const pushed = await tcp.request({ cmd: 'PUSH', queue: 'e2e-live', data: { name: 'hello' } })
    expect(pushed.ok).toBe(true)
    const row = page.locator('tr[data-queue="e2e-live"] [data-col="waiting"]')
    await row.filter({ hasText: '1' }).waitFor({ timeout: 1000 })
    await screenshot(page, 'overview-desktop')
    expect(errors).toEqual([])
    await context.close()
  })

  test('pausing a queue from the queue view pauses it on the server', async () => {
    await tcp.request({ cmd: 'PUSH', queue: 'e2e-pause', data: { name: 'p' } })
    const { page, context, errors } = await openPage(browser)
    await page.goto(`${base}/#/queues/e2e-pause`)
    await page.getByRole('button', { name: 'Pause', exact: true }).click()
    await eventually({ cmd: 'ISPAUSED', queue: 'e2e-pause' }, (reply) => reply.paused === true)
    await page.getByRole('button', { name: 'Resume', exact: true }).waitFor()
    await screenshot(page, 'queue-desktop')
    expect(errors).toEqual([])
    await context.close()
  })

  test('retrying a DLQ job from the job view moves it back to waiting', async () => {
    const pushed = await tcp.request({ cmd: 'PUSH', queue: 'e2e-dlq', data: { name: 'doomed' }, max_attempts: 1 })
    const pulled = await tcp.request({ cmd: 'PULL', queue: 'e2e-dlq', timeout: 5000 })
    expect(pulled.job.id).toBe(pushed.id)
    await tcp.request({ cmd: 'FAIL', id: pushed.id, error: 'boom: the payload was cursed' })
    await eventually({ cmd: 'GETSTATE', id: pushed.id }, (reply) => reply.state === 'failed')
    const { page, context, errors } = await openPage(browser)
    await page.goto(`${base}/#/jobs/${pushed.id}`)
    await page.getByTestId('job-state').filter({ hasText: 'failed' }).waitFor()
    await screenshot(page, 'job-failed-desktop')
    await page.getByRole('button', { name: 'Retry', exact: true }).click()
    await eventually({ cmd: 'GETSTATE', id: pushed.id }, (reply) => reply.state === 'waiting')
    await page.getByTestId('job-state').filter({ hasText: 'waiting' }).waitFor()
    expect(errors).toEqual([])
    await context.close()
  })

  test('removing a completed job from the job view, after confirming, removes it on the server and shows it gone', async () => {
    const pushed = await tcp.request({ cmd: 'PUSH', queue: 'e2e-remove', data: { name: 'done' } })
    const pulled = await tcp.request({ cmd: 'PULL', queue: 'e2e-remove', timeout: 5000 })
    expect(pulled.job.id).toBe(pushed.id)
    await tcp.request({ cmd: 'ACK', id: pushed.id, result: { sent: true } })
    const { page, context, errors } = await openPage(browser)
    await page.goto(`${base}/#/jobs/${pushed.id}`)
    await page.getByTestId('job-state').filter({ hasText: 'completed' }).waitFor()
    // GETJOB answers no body for a completed job: the page shows its result (and Remove).
    await page.getByText('"sent": true').waitFor()
    await screenshot(page, 'job-completed-desktop')
    // Cancel refuses completed jobs, so the page offers Remove instead.
    expect(await page.getByRole('button', { name: 'Cancel', exact: true }).count()).toBe(0)
    await page.getByRole('button', { name: 'Remove', exact: true }).click()
    const dialog = page.getByRole('dialog', { name: 'Remove' })
    await dialog.getByText(`Remove completed job #${pushed.id}`).waitFor()
    await dialog.getByRole('button', { name: 'Remove', exact: true }).click()
    await page.getByTestId('job-removed').waitFor()
    expect(await page.getByTestId('job-state').count()).toBe(0)
    // Gone from the history and its result with it; its id still counts as completed (depends_on).
    expect(await tcp.request({ cmd: 'GETJOBCOUNTS', queue: 'e2e-remove' })).toMatchObject({ completed: 0 })
    expect(await tcp.request({ cmd: 'GETRESULT', id: pushed.id })).toMatchObject({ ok: true, result: null })
    await screenshot(page, 'job-removed-desktop')
    expect(errors).toEqual([])
    await context.close()
  })

  test('removing a failed job from the job view takes it out of the DLQ', async () => {
    const pushed = await tcp.request({ cmd: 'PUSH', queue: 'e2e-remove-failed', data: { name: 'doomed' }, max_attempts: 1 })
    await tcp.request({ cmd: 'PULL', queue: 'e2e-remove-failed', timeout: 5000 })
    await tcp.request({ cmd: 'FAIL', id: pushed.id, error: 'boom' })
    const { page, context, errors } = await openPage(browser)
    await page.goto(`${base}/#/jobs/${pushed.id}`)
    await page.getByTestId('job-state').filter({ hasText: 'failed' }).waitFor()
    await page.getByRole('button', { name: 'Remove', exact: true }).click()
    const dialog = page.getByRole('dialog', { name: 'Remove' })
    await dialog.getByText(`Remove failed job #${pushed.id} from the DLQ of e2e-remove-failed`).waitFor()
    await dialog.getByRole('button', { name: 'Remove', exact: true }).click()
    await page.getByTestId('job-removed').waitFor()
    expect(await tcp.request({ cmd: 'GETSTATE', id: pushed.id })).toMatchObject({ state: 'unknown' })
    expect(errors).toEqual([])
    await context.close()
  })

  test('works from the keyboard: skip link, Tab to the queue actions, a confirmation dialog that Escape cancels', async () => {
    const { page, context, errors } = await openPage(browser)
    await page.goto(`${base}/#/queues/e2e-live`)
    await page.locator('main h1').first().waitFor()
    await page.keyboard.press('Tab')
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content')
    await page.keyboard.press('Enter')
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main')
    // Tab forward to the Obliterate button, open its dialog with Enter, close it with Escape.
    for (let presses = 0; presses < 40 && (await page.evaluate(() => document.activeElement?.textContent)) !== 'Obliterate'; presses++) await page.keyboard.press('Tab')
    await page.keyboard.press('Enter')
    const dialog = page.getByRole('dialog', { name: 'Obliterate' })
    await dialog.waitFor()
    await page.keyboard.press('Escape')
    await dialog.waitFor({ state: 'hidden' })
    expect(await tcp.request({ cmd: 'COUNT', queue: 'e2e-live' })).toMatchObject({ count: 1 }) // cancelled: nothing removed
    expect(errors).toEqual([])
    await context.close()
  })

  test('every page renders at desktop and phone widths (screenshots for review)', async () => {
    const pages = [['overview', '#/'], ['queue', '#/queues/e2e-live'], ['crons', '#/crons'], ['workers', '#/workers'], ['storage', '#/storage'], ['server', '#/server']]
    // The storage page asks GET /storage/stats and says so when a server lacks it; the browser logs that 404.
    const storageStatsMissing = (await fetch(`${base}/storage/stats`)).status === 404
    for (const [width, viewport] of Object.entries(viewports)) {
      const { page, context, errors } = await openPage(browser, viewport)
      for (const [name, fragment] of pages) {
        await page.goto(`${base}/${fragment}`)
        await page.locator('main h1').first().waitFor()
        await page.waitForLoadState('networkidle')
        await screenshot(page, `${name}-${width}`)
        // Wide tables scroll inside their box; the page itself never scrolls sideways.
        expect(await page.evaluate(() => document.documentElement.scrollWidth - innerWidth)).toBeLessThanOrEqual(0)
      }
      const expected = storageStatsMissing ? ['console: Failed to load resource: the server responded with a status of 404 (Not Found)'] : []
      expect(errors).toEqual(expected)
      await context.close()
    }
  })
})

/** A server on a given HTTP port (the harness always asks for port 0): the one a page was talking to. */
async function serveOnHttpPort(httpPort: number) {
  const child = Bun.spawn([process.execPath, join(repoRoot, 'src', 'main.ts'), '--port', '0', '--http-port', String(httpPort), '--host', '127.0.0.1', '--memory'], { stdout: 'pipe', stderr: 'ignore' })
  const reader = child.stdout.getReader()
  let seen = ''
  while (!seen.includes(' listening ')) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`server did not start: ${seen}`)
    seen += new TextDecoder().decode(value)
  }
  return child
}

describe('dashboard connection', () => {
  test('a lost connection is shown, and the page reconnects when the server is back', async () => {
    const first = await startServer({ args: ['--memory'] })
    const { page, context, errors } = await openPage(browser)
    await page.goto(`http://127.0.0.1:${first.httpPort}/`)
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor()
    await first.cleanup()
    await page.getByText('Lost the live connection to the server').waitFor()
    await page.getByTestId('connection').filter({ hasText: 'Disconnected' }).waitFor()
    await screenshot(page, 'connection-lost-desktop')
    const second = await serveOnHttpPort(first.httpPort as number)
    try {
      // The page's own backoff may reconnect first, taking the banner (and its button) away.
      await page.getByRole('button', { name: 'Retry now' }).click({ timeout: 2000 }).catch(() => {})
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor()
      expect(await page.getByText('Lost the live connection to the server').count()).toBe(0)
    } finally {
      second.kill('SIGKILL')
      await second.exited
    }
    // While the server was down the browser logged failed connection attempts; nothing else.
    expect(errors.filter((error) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to fetch/.test(error))).toEqual([])
    await context.close()
  })
})

describe('dashboard with auth on', () => {
  test('asks for the token, keeps it for the session, then works', async () => {
    const secured = await startServer({ args: ['--memory', '--auth-token', 'e2e-secret'] })
    try {
      const client = await WireClient.connect(secured.tcpPort)
      expect((await client.request({ cmd: 'AUTH', token: 'e2e-secret' })).ok).toBe(true)
      await client.request({ cmd: 'PUSH', queue: 'e2e-secured', data: {} })
      client.close()
      const { page, context, errors } = await openPage(browser)
      await page.goto(`http://127.0.0.1:${secured.httpPort}/dashboard/`)
      const token = page.getByLabel('Token')
      await token.waitFor()
      await screenshot(page, 'token-prompt-desktop')
      await token.fill('wrong')
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByText('The server rejected that token.').waitFor()
      await token.fill('e2e-secret')
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.locator('tr[data-queue="e2e-secured"]').waitFor()
      await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor()
      expect(await page.evaluate(() => sessionStorage.getItem('flashq.token'))).toBe('e2e-secret')
      // The 401s of the wrong token are expected; nothing else may fail.
      expect(errors.filter((error) => !/401/.test(error))).toEqual([])
      await context.close()
    } finally {
      await secured.cleanup()
    }
  })
})
