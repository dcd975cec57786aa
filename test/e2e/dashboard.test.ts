/**
 * The dashboard in a real browser against a real server: Debian's headless Chromium, driven by
 * playwright-core, with jobs pushed and checked over TCP by the raw wire client.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { startServer, type TestServer } from '../harness/server.ts'
import { WireClient } from '../harness/wire-client.ts'
import { launchBrowser, openPage, screenshot, viewports } from './browser.ts'

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
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor()
    await page.waitForTimeout(300) // let the event stream open too; a push before it would only show at the next snapshot
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
      }
      const expected = storageStatsMissing ? ['console: Failed to load resource: the server responded with a status of 404 (Not Found)'] : []
      expect(errors).toEqual(expected)
      await context.close()
    }
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
