/**
 * Request bodies read under a byte cap. A declared length is checked before anything is read; a body
 * without one (chunked) is read in pieces and abandoned at the cap. Every route that reads a body
 * goes through here, so Bun's own cap (serve.ts) can sit far above ours: its 413 has no body, while
 * ours names the limit (queued-api.md §1.8 `request body too large`).
 */

/** The body's bytes; `tooLarge()` is thrown past `maxBytes`. */
export async function readBodyBytes(request: Request, maxBytes: number, tooLarge: () => Error): Promise<Uint8Array> {
  const declared = request.headers.get('content-length')
  if (declared !== null || request.body === null) {
    if (Number(declared ?? 0) > maxBytes) throw tooLarge()
    return new Uint8Array(await request.arrayBuffer())
  }
  const chunks: Uint8Array[] = []
  let bytes = 0
  const reader = request.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    bytes += value.byteLength
    if (bytes > maxBytes) {
      await reader.cancel()
      throw tooLarge()
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}

/** The body as text (UTF-8); `tooLarge()` is thrown past `maxBytes`. */
export async function readBodyText(request: Request, maxBytes: number, tooLarge: () => Error): Promise<string> {
  const declared = request.headers.get('content-length')
  // The common case, a declared length: Bun's text() is the fastest read.
  if (declared !== null || request.body === null) {
    if (Number(declared ?? 0) > maxBytes) throw tooLarge()
    return await request.text()
  }
  return utf8.decode(await readBodyBytes(request, maxBytes, tooLarge))
}

const utf8 = new TextDecoder()
