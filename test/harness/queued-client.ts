/** A tiny client for the queued-compatible HTTP API (tests and the benchmark). */

export type QueuedAnswer = { status: number; text: string; json: any; headers: Headers }

export type QueuedRequest = {
  queue?: string
  method?: string
  token?: string
  headers?: Record<string, string>
  /** A raw body instead of JSON.stringify(body). */
  raw?: string
}

export function queuedClient(port: number) {
  const base = `http://127.0.0.1:${port}`
  return async (path: string, body?: unknown, options: QueuedRequest = {}): Promise<QueuedAnswer> => {
    const url = new URL(path, base)
    if (options.queue !== undefined) url.searchParams.set('queue', options.queue)
    const headers: Record<string, string> = { 'Content-Type': 'application/json', ...options.headers }
    if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`
    const payload = options.raw ?? (body === undefined ? undefined : JSON.stringify(body))
    const response = await fetch(url, { method: options.method ?? (payload === undefined ? 'GET' : 'POST'), headers, body: payload })
    const text = await response.text()
    let json: any = null
    try {
      json = JSON.parse(text)
    } catch {
      // plain-text error bodies
    }
    return { status: response.status, text, json, headers: response.headers }
  }
}

/** The value of one sample of a Prometheus text exposition (no labels), or undefined. */
export function metricValue(text: string, name: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}
