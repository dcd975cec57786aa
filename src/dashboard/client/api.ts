/**
 * The browser side of the public HTTP API: every call carries the session's token, unwraps the
 * `{ok, data}` envelope and turns `ok:false` into an ApiError with the server's text. A 401 tells
 * the auth state that a token is needed, so the app can ask for one.
 */
import { emitChange, subscribeTo } from './signal.ts'

const tokenKey = 'flashq.token'

export class ApiError extends Error {}
export class AuthRequiredError extends ApiError {}

export const auth = {
  /** True once the server answered 401: the token prompt is shown until a call succeeds. */
  required: false,
  rejected: false,
  token(): string | null {
    return sessionStorage.getItem(tokenKey)
  },
  setToken(token: string): void {
    sessionStorage.setItem(tokenKey, token)
    auth.required = false
    emitChange(auth)
  },
  demand(): void {
    auth.rejected = auth.token() !== null
    auth.required = true
    emitChange(auth)
  },
  subscribe: (listener: () => void) => subscribeTo(auth, listener),
}

async function request(method: string, path: string, body: unknown, accept: string): Promise<string> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: accept }
  const token = auth.token()
  if (token !== null) headers.Authorization = `Bearer ${token}`
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  if (response.status === 401) {
    auth.demand()
    throw new AuthRequiredError('The server needs a token')
  }
  const text = await response.text()
  if (!response.ok) throw new ApiError(`${method} ${path}: ${response.status} ${text.slice(0, 200)}`)
  return text
}

/** A plain-text answer (Prometheus exposition). */
export const getText = (path: string) => request('GET', path, undefined, 'text/plain')

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const text = await request(method, path, body, 'application/json')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new ApiError(`${method} ${path}: the answer is not JSON`)
  }
  if (parsed !== null && typeof parsed === 'object' && 'ok' in parsed) {
    const { ok, error, ...rest } = parsed as { ok: boolean; data?: unknown; error?: string }
    if (!ok) throw new ApiError(error ?? `${method} ${path} failed`)
    // Some answers (/health) put their fields beside `ok` instead of under `data`.
    return ('data' in rest ? rest.data : rest) as T
  }
  return parsed as T
}

export const get = <T>(path: string) => api<T>('GET', path)
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body)
export const del = <T>(path: string) => api<T>('DELETE', path)

/** `ws://host/path?token=…`: browsers cannot put a header on a WebSocket upgrade. */
export function socketUrl(path: string): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const token = auth.token()
  return `${scheme}://${location.host}${path}${token === null ? '' : `?token=${encodeURIComponent(token)}`}`
}

export const q = encodeURIComponent
