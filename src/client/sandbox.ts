/**
 * Sandboxed processors: BullMQ's `new Worker(name, '/path/to/processor.js' | URL, opts)`. The
 * processor file runs in a child process (or, with `useWorkerThreads`, a worker thread), one job at a
 * time per child; children are started as slots need them, up to the Worker's concurrency, and kept
 * for the next jobs. The Worker's process keeps the one connection: the job's updateProgress, log,
 * updateData, moveToDelayed and flow getters inside the sandbox are calls answered here (sandbox-child.ts).
 * A child that exits or crashes while it runs a job fails that job (`Unexpected exit code: …`, as
 * BullMQ words it) and is replaced; the Worker goes on.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Worker as ThreadWorker } from 'node:worker_threads'
import { DelayedError, UnrecoverableError, WaitingChildrenError, WaitingError } from './errors.ts'
import type { Job, JobProgress, JobState } from './job.ts'
import type { Dependencies, DependencyCounts } from './flow-deps.ts'

type SerializedError = { name: string; message: string; stack?: string }
type FromChild =
  | { t: 'ready' }
  | { t: 'initFailed'; error: SerializedError }
  | { t: 'call'; callId: number; method: string; args: unknown[] }
  | { t: 'done'; result: unknown }
  | { t: 'failed'; error: SerializedError }

/** Job methods a sandboxed processor may call (each reaches the server through the Worker's connection). */
const callable = new Set(['updateProgress', 'log', 'updateData', 'moveToDelayed', 'moveToWait', 'getChildrenValues', 'getIgnoredChildrenFailures', 'getDependencies', 'getDependenciesCount', 'getState'])

/** The child's script next to this module: the TypeScript source under Bun, sandbox-child.js in dist/sdk. */
const childScript = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './sandbox-child.ts' : './sandbox-child.js', import.meta.url))

export function isProcessorFile(processor: unknown): processor is string | URL {
  return typeof processor === 'string' || processor instanceof URL
}

export class SandboxPool {
  readonly #file: string
  readonly #idle: SandboxChild[] = []
  readonly #all = new Set<SandboxChild>()
  #closed = false

  constructor(file: string | URL, readonly useWorkerThreads: boolean) {
    this.#file = file instanceof URL ? file.href : file
  }

  /** Runs `job` in an idle child, or a new one. */
  async run(job: Job): Promise<unknown> {
    if (this.#closed) throw new Error('sandboxed processor: the worker is closed')
    const child = this.#idle.pop() ?? this.#spawn()
    try {
      return await child.run(job)
    } finally {
      if (child.alive && !this.#closed) this.#idle.push(child)
      else this.#all.delete(child)
    }
  }

  /** Ends every child (a running job's processing is cut off; the Worker has settled or released it). */
  async close(): Promise<void> {
    this.#closed = true
    this.#idle.length = 0
    await Promise.all([...this.#all].map((child) => child.kill()))
    this.#all.clear()
  }

  #spawn(): SandboxChild {
    const child = new SandboxChild(this.#file, this.useWorkerThreads)
    this.#all.add(child)
    return child
  }
}

type Running = { job: Job; resolve(value: unknown): void; reject(error: Error): void }

/** One child process or thread and the job it runs. */
class SandboxChild {
  alive = true
  readonly #send: (message: unknown) => void
  readonly #stop: () => Promise<unknown>
  readonly #ready: Promise<void>
  #running: Running | null = null
  #exitReason: Error | null = null

  constructor(file: string, useWorkerThreads: boolean) {
    let onReady!: () => void
    let onInitFailed!: (error: Error) => void
    this.#ready = new Promise<void>((resolve, reject) => {
      onReady = resolve
      onInitFailed = reject
    })
    this.#ready.catch(() => {}) // observed by run()
    const onMessage = (message: FromChild) => {
      if (message.t === 'ready') onReady()
      else if (message.t === 'initFailed') {
        onInitFailed(revive(message.error))
        void this.kill()
      } else this.#onMessage(message)
    }
    const onExit = (code: number | null, signal: string | null, thrown?: unknown) => {
      if (!this.alive && this.#exitReason !== null) return
      this.alive = false
      this.#exitReason = thrown === undefined ? new Error(`Unexpected exit code: ${code} signal: ${signal}`) : new Error(`sandboxed processor crashed: ${(thrown as Error)?.message ?? String(thrown)}`)
      onInitFailed(this.#exitReason)
      const running = this.#running
      this.#running = null
      running?.reject(this.#exitReason)
    }
    if (useWorkerThreads) {
      const thread = new ThreadWorker(childScript)
      thread.on('message', onMessage)
      thread.on('error', (error: unknown) => onExit(null, null, error))
      thread.on('exit', (code) => onExit(code, null))
      this.#send = (message) => thread.postMessage(message)
      this.#stop = () => thread.terminate()
    } else {
      const process: ChildProcess = fork(childScript, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      process.on('message', (message) => onMessage(message as FromChild))
      process.on('exit', onExit)
      process.on('error', (error: Error) => onExit(null, null, error))
      this.#send = (message) => process.send?.(message as never)
      this.#stop = async () => {
        if (process.exitCode === null && process.signalCode === null) process.kill('SIGKILL')
      }
    }
    this.#send({ t: 'init', file })
  }

  async run(job: Job): Promise<unknown> {
    await this.#ready
    if (!this.alive) throw this.#exitReason ?? new Error('sandboxed processor exited')
    return new Promise((resolve, reject) => {
      this.#running = { job, resolve, reject }
      this.#send({ t: 'job', job: jobJson(job) })
    })
  }

  kill(): Promise<unknown> {
    this.alive = false
    return this.#stop().catch(() => {})
  }

  #onMessage(message: FromChild): void {
    const running = this.#running
    if (running === null) return
    if (message.t === 'done' || message.t === 'failed') {
      this.#running = null
      if (message.t === 'done') running.resolve(message.result)
      else running.reject(revive(message.error))
    } else if (message.t === 'call') void this.#answer(running.job, message.callId, message.method, message.args)
  }

  async #answer(job: Job, callId: number, method: string, args: unknown[]): Promise<void> {
    try {
      if (!callable.has(method)) throw new Error(`sandboxed job: ${method} is not available`)
      const value = await (job as unknown as Record<string, (...args: unknown[]) => unknown>)[method]?.(...args)
      this.#send({ t: 'reply', callId, value: value ?? null })
    } catch (error) {
      const thrown = error as Error
      this.#send({ t: 'reply', callId, error: { name: thrown.name, message: thrown.message } })
    }
  }
}

/**
 * BullMQ's SandboxedJob: the job a sandboxed processor file gets (`export default async (job: SandboxedJob) => …`),
 * its plain fields and the methods that reach the server through the Worker.
 */
export type SandboxedJob<DataType = any, ReturnType = any> = Pick<Job<DataType, ReturnType>, 'id' | 'name' | 'opts' | 'queueName' | 'progress' | 'attemptsMade' | 'attemptsStarted' | 'timestamp' | 'processedOn' | 'delay' | 'priority' | 'token' | 'parentKey'> & {
  data: DataType
  updateProgress(progress: JobProgress): Promise<void>
  log(row: string): Promise<number>
  updateData(data: DataType): Promise<void>
  moveToDelayed(timestamp: number, token?: string): Promise<void>
  moveToWait(token?: string): Promise<number>
  getChildrenValues<ChildType = any>(): Promise<Record<string, ChildType>>
  getIgnoredChildrenFailures(): Promise<Record<string, string>>
  getDependencies(): Promise<Dependencies>
  getDependenciesCount(opts?: { failed?: boolean; ignored?: boolean; processed?: boolean; unprocessed?: boolean }): Promise<Partial<DependencyCounts>>
  getState(): Promise<JobState | 'unknown'>
}

/** The job as the sandbox sees it: BullMQ's plain fields (JSON-safe: the data came off the wire). */
function jobJson(job: Job): Record<string, unknown> {
  return {
    id: job.id,
    name: job.name,
    data: job.data,
    opts: job.opts,
    queueName: job.queueName,
    progress: job.progress,
    attemptsMade: job.attemptsMade,
    attemptsStarted: job.attemptsStarted,
    timestamp: job.timestamp,
    processedOn: job.processedOn,
    delay: job.delay,
    priority: job.priority,
    token: job.token,
    parentKey: job.parentKey,
  }
}

/** A processor's error, as the class the Worker tells apart (retry.ts), else an Error with its name. */
function revive(error: SerializedError): Error {
  let revived: Error
  if (error.name === 'UnrecoverableError') revived = new UnrecoverableError(error.message)
  else if (error.name === 'DelayedError') revived = new DelayedError(error.message)
  else if (error.name === 'WaitingChildrenError') revived = new WaitingChildrenError(error.message)
  else if (error.name === 'WaitingError') revived = new WaitingError(error.message)
  else {
    revived = new Error(error.message)
    revived.name = error.name
  }
  if (error.stack !== undefined) revived.stack = error.stack
  return revived
}
