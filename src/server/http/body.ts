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
  const length = declaredLength(request)
  if (length > maxBytes) throw errors.tooLarge()
  if (length <= httpBodyBytesReservedMax) return reserved(length, errors, async () => new Uint8Array(await request.arrayBuffer()))
  return request.body === null ? new Uint8Array(0) : readInPieces(request.body, maxBytes, errors)
}

/** The body as text (UTF-8); errors as readBodyBytes. */
export async function readBodyText(request: Request, maxBytes: number, errors: BodyErrors): Promise<string> {
  const length = declaredLength(request)
  if (length > maxBytes) throw errors.tooLarge()
  // The common case, a small declared length: Bun's text() is the fastest read.
  if (length <= httpBodyBytesReservedMax) return reserved(length, errors, () => request.text())
  return request.body === null ? '' : utf8.decode(await readInPieces(request.body, maxBytes, errors))
}

const utf8 = new TextDecoder()

/**
 * The declared Content-Length; 0 for a request without a body; NaN for a chunked one. `request.body`
 * is looked at only without a declared length: making it costs every request.
 */
function declaredLength(request: Request): number {
  const declared = request.headers.get('content-length')
  if (declared !== null) return Number(declared)
  return request.body === null ? 0 : Number.NaN
}

function reserved<T>(bytes: number, errors: BodyErrors, read: () => Promise<T>): Promise<T> {
  take(bytes, errors)
  const reading = read()
  // Not an async wrapper: this is every small request's path.
  reading.then(() => void (bytesInFlight -= bytes), () => void (bytesInFlight -= bytes))
  return reading
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
