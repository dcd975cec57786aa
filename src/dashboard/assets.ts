/**
 * The dashboard's files, held in memory: the page, the script bundle and the stylesheet, each
 * with a gzip copy and an ETag made once at start. Asset names carry a content hash, so browsers
 * may cache them forever; the page itself is revalidated.
 */
import styles from './client/style.css' with { type: 'text' }

export type Asset = { contentType: string; body: Uint8Array<ArrayBuffer>; gzipBody: Uint8Array<ArrayBuffer>; etag: string; immutable: boolean }

const encoder = new TextEncoder()

function makeAsset(text: string, contentType: string, immutable: boolean): Asset {
  const body = encoder.encode(text)
  const hash = Bun.hash(body).toString(36)
  return { contentType, body, gzipBody: Bun.gzipSync(body, { level: 9 }), etag: `"${hash}"`, immutable }
}

function hashedName(stem: string, text: string, extension: string): string {
  return `${stem}.${Bun.hash(text).toString(36).slice(0, 10)}.${extension}`
}

// An inline SVG icon: without a <link rel=icon>, browsers fetch /favicon.ico and log a 404.
const icon = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Cpath d='M9 1 3 9h4l-1 6 6-8H8z' fill='%23e8a317'/%3E%3C/svg%3E"

function page(scriptName: string, styleName: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>flashq</title>
<link rel="icon" href="${icon}">
<link rel="stylesheet" href="/dashboard/assets/${styleName}">
<script type="module" src="/dashboard/assets/${scriptName}"></script>
</head>
<body>
<div id="app"><p class="boot">Loading the flashq dashboard…</p></div>
<noscript>The flashq dashboard needs JavaScript. Everything it shows is also available from the HTTP API.</noscript>
</body>
</html>
`
}

export type Assets = { indexPage: Asset; assetsByName: ReadonlyMap<string, Asset> }

/** The page and its files around a script bundle. */
export function makeAssets(script: string): Assets {
  const scriptName = hashedName('app', script, 'js')
  const styleName = hashedName('app', styles, 'css')
  return {
    indexPage: makeAsset(page(scriptName, styleName), 'text/html; charset=utf-8', false),
    assetsByName: new Map([
      [scriptName, makeAsset(script, 'text/javascript; charset=utf-8', true)],
      [styleName, makeAsset(styles, 'text/css; charset=utf-8', true)],
    ]),
  }
}
