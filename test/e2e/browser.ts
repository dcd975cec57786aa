/**
 * Headless Chromium for the dashboard's end-to-end tests: Debian's `chromium` (never a downloaded
 * browser) driven by playwright-core. Collects console errors and failed requests per page, and
 * writes screenshots under test/e2e/artifacts/ (gitignored) for a person to look at.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'

export const artifactsDir = join(import.meta.dir, 'artifacts')
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export const viewports = {
  desktop: { width: 1366, height: 900 },
  phone: { width: 390, height: 844 },
} as const

export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: apt-get install chromium (or set CHROMIUM_PATH)`)
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', ...extraArgs] })
}

export type WatchedPage = { page: Page; context: BrowserContext; errors: string[] }

/** A new page whose console errors, page errors and failed requests end up in `errors`. */
export async function openPage(browser: Browser, viewport: { width: number; height: number } = viewports.desktop, colorScheme: 'light' | 'dark' = 'light'): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport, colorScheme })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('console', (message) => message.type() === 'error' && errors.push(`console: ${message.text()}`))
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
  page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()} ${request.failure()?.errorText}`))
  return { page, context, errors }
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(artifactsDir, { recursive: true })
  await page.screenshot({ path: join(artifactsDir, `${name}.png`), fullPage: true })
}
