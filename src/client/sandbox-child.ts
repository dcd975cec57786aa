/**
 * The process (or thread) of a sandboxed processor (sandbox.ts): loads the processor file once, then
 * runs one job at a time. The job it hands the processor has BullMQ's fields and the methods that
 * reach the server (updateProgress, log, updateData, moveToDelayed, the flow getters); each is a call
 * to the Worker's process, which owns the connection. Self-contained: it imports only node modules.
 */
import { pathToFileURL } from 'node:url'
import { isMainThread, parentPort } from 'node:worker_threads'

type ToParent =
  | { t: 'ready' }
  | { t: 'initFailed'; error: SerializedError }
  | { t: 'call'; callId: number; method: string; args: unknown[] }
  | { t: 'done'; result: unknown }
  | { t: 'failed'; error: SerializedError }
type FromParent = { t: 'init'; file: string } | { t: 'job'; job: Record<string, unknown> } | { t: 'reply'; callId: number; value?: unknown; error?: SerializedError }
type SerializedError = { name: string; message: string; stack?: string }

const thread = !isMainThread && parentPort !== null
const send = (message: ToParent): void => {
  if (thread) parentPort?.postMessage(message)
  else process.send?.(message)
}
const onMessage = (listener: (message: FromParent) => void): void => {
  if (thread) parentPort?.on('message', listener)
  else process.on('message', listener as (message: unknown) => void)
}

// A child process whose Worker died (the IPC channel closed) has no one to answer: it ends too.
if (!thread) process.on('disconnect', () => process.exit(0))

type ProcessorFn = (job: Record<string, unknown>, token?: string) => unknown
let processor: ProcessorFn | null = null
const calls = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
let lastCallId = 0

function call(method: string, args: unknown[]): Promise<unknown> {
  const callId = ++lastCallId
  return new Promise((resolve, reject) => {
    calls.set(callId, { resolve, reject })
    send({ t: 'call', callId, method, args })
  })
}

function serialize(thrown: unknown): SerializedError {
  if (thrown instanceof Error) return { name: thrown.name, message: thrown.message, stack: thrown.stack }
  return { name: 'Error', message: typeof thrown === 'string' ? thrown : `non-Error thrown: ${String(thrown)}` }
}

function revive(error: SerializedError): Error {
  const revived = new Error(error.message)
  revived.name = error.name
  return revived
}

/** The processor's module: a default export, or the module itself (CommonJS `module.exports = fn`). */
async function load(file: string): Promise<ProcessorFn> {
  const loaded = (await import(file.startsWith('file:') ? file : pathToFileURL(file).href)) as Record<string, unknown>
  const candidate = typeof loaded.default === 'function' ? loaded.default : (loaded.default as Record<string, unknown> | undefined)?.default ?? loaded
  if (typeof candidate !== 'function') throw new Error(`sandboxed processor ${file} exports no function (export default async (job) => …)`)
  return candidate as ProcessorFn
}

function sandboxedJob(json: Record<string, unknown>): Record<string, unknown> {
  const job: Record<string, unknown> = {
    ...json,
    async updateProgress(progress: unknown) {
      job.progress = progress
      await call('updateProgress', [progress])
    },
    log: (row: string) => call('log', [row]),
    async updateData(data: unknown) {
      job.data = data
      await call('updateData', [data])
    },
    moveToDelayed: (timestamp: number, token?: string) => call('moveToDelayed', [timestamp, token]),
    moveToWait: (token?: string) => call('moveToWait', [token]),
    getChildrenValues: () => call('getChildrenValues', []),
    getIgnoredChildrenFailures: () => call('getIgnoredChildrenFailures', []),
    getDependencies: () => call('getDependencies', []),
    getDependenciesCount: (opts?: unknown) => call('getDependenciesCount', [opts]),
    getState: () => call('getState', []),
  }
  return job
}

onMessage((message) => {
  if (message.t === 'init') {
    load(message.file).then(
      (loaded) => {
        processor = loaded
        send({ t: 'ready' })
      },
      (error: unknown) => send({ t: 'initFailed', error: serialize(error) }),
    )
  } else if (message.t === 'job') {
    const job = sandboxedJob(message.job)
    Promise.resolve()
      .then(() => (processor as ProcessorFn)(job, job.token as string | undefined))
      .then(
        (result) => send({ t: 'done', result: result === undefined ? null : result }),
        (error: unknown) => send({ t: 'failed', error: serialize(error) }),
      )
  } else if (message.t === 'reply') {
    const pending = calls.get(message.callId)
    calls.delete(message.callId)
    if (message.error !== undefined) pending?.reject(revive(message.error))
    else pending?.resolve(message.value)
  }
})
