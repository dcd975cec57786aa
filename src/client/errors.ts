/**
 * Error classes of the SDK: the flashQ client's classification of server errors by substring
 * (spec §1.8), transport errors, and BullMQ's processor signals (UnrecoverableError, DelayedError).
 */

/** Base class of every error the SDK raises for a server reply or the transport. */
export class FlashQError extends Error {
  constructor(message: string, readonly code: string = 'SERVER_ERROR') {
    super(message)
    this.name = new.target.name
  }
}

export class ConnectionClosedError extends FlashQError {
  constructor(message: string) {
    super(message, 'CONNECTION_CLOSED')
  }
}

export class RequestTimeoutError extends FlashQError {
  constructor(message: string) {
    super(message, 'TIMEOUT')
  }
}

export class AuthenticationError extends FlashQError {
  constructor(message: string) {
    super(message, 'AUTHENTICATION')
  }
}

export class JobNotFoundError extends FlashQError {
  constructor(message: string) {
    super(message, 'JOB_NOT_FOUND')
  }
}

export class QueueNotFoundError extends FlashQError {
  constructor(message: string) {
    super(message, 'QUEUE_NOT_FOUND')
  }
}

export class DuplicateJobError extends FlashQError {
  constructor(message: string) {
    super(message, 'DUPLICATE')
  }
}

export class QueuePausedError extends FlashQError {
  constructor(message: string) {
    super(message, 'PAUSED')
  }
}

/** The message of BullMQ's RateLimitError (its `RATE_LIMIT_ERROR`), by which a Worker knows it. */
export const rateLimitExceededMessage = 'bullmq:rateLimitExceeded'

/**
 * A server rate-limit refusal; thrown by a processor (BullMQ's `new RateLimitError()`, message
 * `bullmq:rateLimitExceeded`, as `Worker.RateLimitError()` makes it) the job goes back to the queue.
 */
export class RateLimitError extends FlashQError {
  constructor(message = rateLimitExceededMessage) {
    super(message, 'RATE_LIMIT')
  }
}

export class ConcurrencyLimitError extends FlashQError {
  constructor(message: string) {
    super(message, 'CONCURRENCY')
  }
}

export class ValidationError extends FlashQError {
  constructor(message: string) {
    super(message, 'VALIDATION')
  }
}

/** Maps a server error text to its class by case-insensitive substring (spec §1.8). */
export function errorFromReply(message: string, command: string): FlashQError {
  const text = message.toLowerCase()
  const full = `${command}: ${message}`
  if (text.includes('job not found') || text.includes('job does not exist')) return new JobNotFoundError(full)
  if (text.includes('queue not found')) return new QueueNotFoundError(full)
  if (text.includes('duplicate') || text.includes('already exists')) return new DuplicateJobError(full)
  if (text.includes('paused')) return new QueuePausedError(full)
  if (text.includes('rate limit')) return new RateLimitError(full)
  if (text.includes('concurrency limit')) return new ConcurrencyLimitError(full)
  if (text.includes('auth') || text.includes('unauthorized') || text.includes('invalid token')) return new AuthenticationError(full)
  return new FlashQError(full)
}

/** Thrown by a processor: the job fails at once, without the retries its `attempts` would allow. */
export class UnrecoverableError extends Error {
  constructor(message?: string) {
    super(message)
    this.name = 'UnrecoverableError'
  }
}

/**
 * Thrown by a processor after `job.moveToDelayed(...)`: the job is neither completed nor failed, it
 * waits in the delayed state for its new time.
 */
export class DelayedError extends Error {
  constructor(message = 'Delayed job') {
    super(message)
    this.name = 'DelayedError'
  }
}

/** Thrown by a processor after `job.moveToWait(...)`: the job waits in the queue again, neither completed nor failed. */
export class WaitingError extends Error {
  constructor(message = 'bullmq:movedToWait') {
    super(message)
    this.name = 'WaitingError'
  }
}

/** Thrown by a processor after `job.moveToWaitingChildren(...)` in BullMQ; accepted for compatibility. */
export class WaitingChildrenError extends Error {
  constructor(message = 'Job waiting for children') {
    super(message)
    this.name = 'WaitingChildrenError'
  }
}
