/**
 * Request bodies read under a byte cap. A declared length is checked before anything is read; a body
 * without one (chunked) is read in pieces and abandoned at the cap. Every route that reads a body
 * goes through here, so Bun's own cap (serve.ts) can sit far above ours: its 413 has no body, while
 * ours names the limit (queued-api.md §1.8 `request body too large`).
 *
 * All bodies being received count toward httpBodyBytesInFlightMax, by the bytes that arrived (a
 * small declared body by its declared length, reserved up front): clients that send most of a big
 * body and then stall cannot add up past it; a request that would pass it gets `busy()` (503).
 */
import { httpBodyBytesInFlightMax, httpBodyBytesReservedMax } from '../../base/limits.ts'

export type BodyErrors = { tooLarge: () => Error; busy: () => Error }

export const bodiesBusyText = `Server busy: request bodies being received passed ${httpBodyBytesInFlightMax} bytes in all; retry`

let bytesInFlight = 0

/** Bytes of request bodies being received now (for /debug/memory). */
export const bodyBytesInFlight = () => bytesInFlight

/** The body's bytes; `tooLarge()` is thrown past `maxBytes`, `busy()` past the total in flight. */
export async function readBodyBytes(request: Request, maxBytes: number, errors: BodyErrors): Promise<Uint8Array> {
  const declared = request.headers.get('content-length')
  if (request.body === null) return new Uint8Array(0)
  const length = Number(declared ?? Number.NaN)
  if (length > maxBytes) throw errors.tooLarge()
  if (length <= httpBodyBytesReservedMax) return reserved(length, errors, async () => new Uint8Array(await request.arrayBuffer()))
  return readInPieces(request.body, maxBytes, errors)
}

/** The body as text (UTF-8); errors as readBodyBytes. */
export async function readBodyText(request: Request, maxBytes: number, errors: BodyErrors): Promise<string> {
  const declared = request.headers.get('content-length')
  if (request.body === null) return ''
  const length = Number(declared ?? Number.NaN)
  if (length > maxBytes) throw errors.tooLarge()
  // The common case, a small declared length: Bun's text() is the fastest read.
  if (length <= httpBodyBytesReservedMax) return reserved(length, errors, () => request.text())
  return utf8.decode(await readInPieces(request.body, maxBytes, errors))
}

const utf8 = new TextDecoder()

async function reserved<T>(bytes: number, errors: BodyErrors, read: () => Promise<T>): Promise<T> {
  take(bytes, errors)
  try {
    return await read()
  } finally {
    bytesInFlight -= bytes
  }
}

async function readInPieces(body: ReadableStream<Uint8Array>, maxBytes: number, errors: BodyErrors): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let bytes = 0
  const reader = body.getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (bytes + value.byteLength > maxBytes) throw errors.tooLarge()
      take(value.byteLength, errors)
      bytes += value.byteLength
      chunks.push(value)
    }
  } catch (error) {
    await reader.cancel().catch(() => {})
    throw error
  } finally {
    bytesInFlight -= bytes
  }
  return Buffer.concat(chunks)
}

function take(bytes: number, errors: BodyErrors): void {
  if (bytes > 0 && bytesInFlight + bytes > httpBodyBytesInFlightMax) throw errors.busy()
  bytesInFlight += bytes
}
