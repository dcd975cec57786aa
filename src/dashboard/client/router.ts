/**
 * Routes live in the URL fragment (`#/queues/mail?state=failed`), so the same page works at `/`
 * and `/dashboard/`, reloads keep the view, and the server needs no route per view.
 */
import { emitChange, subscribeTo } from './signal.ts'

export type Route = { path: string[]; params: URLSearchParams }

function parse(): Route {
  const fragment = location.hash.replace(/^#\/?/, '')
  const [path = '', query = ''] = fragment.split('?')
  return { path: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) }
}

export const router = {
  route: parse(),
  subscribe: (listener: () => void) => subscribeTo(router, listener),
}

addEventListener('hashchange', () => {
  router.route = parse()
  emitChange(router)
})

export function href(path: string[], params: Record<string, string | number | undefined> = {}): string {
  const query = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== '') query.set(key, String(value))
  const text = query.toString()
  return `#/${path.map(encodeURIComponent).join('/')}${text === '' ? '' : `?${text}`}`
}

export function navigate(path: string[], params: Record<string, string | number | undefined> = {}): void {
  location.hash = href(path, params)
}
