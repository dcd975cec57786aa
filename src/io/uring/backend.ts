/**
 * The io_uring IoBackend, on a ring set up through liburing or through raw system calls (the same
 * SQEs either way). A durable write goes to the kernel as one write SQE with RWF_DSYNC; the JS
 * thread stays free while it runs (except a small one for an idle caller, see writeDurable).
 * Completions are found by polling the CQ tail from a setImmediate loop that runs only while
 * something is in flight (sleeping in the kernel in slices between turns), and matched to callers by
 * user_data. Every buffer handed to the kernel stays referenced in `#pending` until its
 * CQE arrives (typed-array backing stores do not move, BUN-NOTES).
 */
import { assert } from '../../base/assert.ts'
import { KiB } from '../../base/units.ts'
import { type IoBackend, IoError } from '../backend.ts'
import { SyncFileOperations } from '../file-operations.ts'
import { allocateRange } from '../allocate.ts'
import { syncData, writeAll } from '../blocking-write.ts'
import { InlineWritePolicy } from '../inline-write-policy.ts'
import { errnoName, ioErrorFromResult } from '../errno.ts'
import { syncFileRangeWrite } from '../libc.ts'
import { fsyncDatasync, opcode, Ring, type RingDriver, rwfDsync, stableAddress } from './ring.ts'

/** SQ size. Storage keeps one flush in flight per log, so a few dozen shards fit with room to spare. */
export const ringEntriesDefault = 64
/** One SQE's `len` is a u32 and Linux caps a write at ~2 GiB; larger writes continue as short writes. */
const writeChunkBytesMax = 1 << 30

/** A caller's request; it may take several submissions when a write comes back short. */
type Operation = {
  kind: 'writeDurable' | 'write' | 'sync' | 'writeback'
  fd: number
  bytes: Uint8Array
  offset: number
  /** writeback: the length of the range starting at `offset`. */
  rangeBytes: number
  /** Bytes of `bytes` known written. */
  written: number
  resolve: () => void
  reject: (error: IoError) => void
}

/** One SQE of an operation: a write (with RWF_DSYNC when durable) or an fdatasync. */
type Submission = {
  operation: Operation
  isWrite: boolean
}

/**
 * Largest durable write done blocking on the calling thread for an idle caller (see writeDurable): a
 * few records, or a few records with the zeros that storage writes ahead of them to a 64 KiB
 * boundary (storage/log.ts, zeroAheadBytes; its first write converts the zone's unwritten
 * extent, which its sync waits for). One such flush every ~350 sequential pushes took ~600 µs through the
 * ring against ~350 µs on the thread, enough of them to sit at W1's p99. A bigger batch (a PUSHB of
 * hundreds of jobs) goes to the ring, so the thread never blocks for long.
 */
export const blockingWriteBytesMax = 80 * KiB

/** Non-blocking polls (event-loop turns) before sleeping in the kernel for the completion. */
const spinPollsMax = 2
/**
 * Longest single sleep waiting for a completion; the loop then runs once and sleeps again. The thread
 * handles no request while it sleeps, so this bounds how long a request that needs no flush (a pull
 * of durable jobs) waits behind one in flight: measured with a worker pulling while its acks flush,
 * the pull round trip was ~1,000 µs at 1,000, ~700 at 200 and ~360 at 50 (in memory: ~270).
 */
const completionWaitUsMax = 50

/** File and directory operations come from SyncFileOperations (shared with the pwrite backend). */
export class UringBackend extends SyncFileOperations implements IoBackend {
  readonly name: string
  readonly fallbackReason = null
  #ring: Ring
  /** user_data → submission; holds the Operation, and so its buffer, until the CQE arrives. */
  #pending = new Map<number, Submission>()
  /** Operations waiting for ring space. */
  #backlog: Operation[] = []
  #cqesInFlight = 0
  /** writeDurable operations on the ring or waiting for space on it: a caller waits for each. */
  #durableInFlight = 0
  #nextId = 1
  #pollScheduled = false
  #submitOwed = false

  readonly #inline: InlineWritePolicy

  /**
   * `name` says how the ring was set up: `io_uring (liburing 2.3)` or `io_uring (kernel, no
   * liburing)`. `inline` decides when a hinted write may block this thread (tests pass one on a fake clock).
   */
  constructor(driver: RingDriver, name: string, inline = new InlineWritePolicy()) {
    super()
    this.name = name
    this.#ring = new Ring(driver)
    this.#inline = inline
  }

  allocate(fd: number, offset: number, bytes: number): void {
    allocateRange(fd, offset, bytes)
  }

  /**
   * A small write for an idle caller, with no other durable write in flight, is a blocking pwrite +
   * fdatasync on this thread: the io-wq hand-off and the completion wake-up cost ~50–80 µs of a
   * ~200 µs flush (one PUSH awaited at a time over raw TCP: p50 0.26 → 0.20 ms, p99 1.2 → 0.9 ms;
   * `bun run bench:peers --only W1`: 2.4k → 2.8k jobs/s, p99 2.0 → 1.6 ms; medians of 6 interleaved).
   * Requests that arrive meanwhile wait in the socket and share the next flush,
   * which the log does not hint (group commit under load stays on the ring).
   * Other operations in flight (a checkpoint's writes and syncs) do not stop it: nobody waits for
   * them, and each hop to another thread is one more wake-up that, on a busy machine, can wait a
   * scheduler tick for a CPU (traced during a checkpoint: most slow pushes were such waits).
   * While the disk is slow, hinted writes go to the ring too (InlineWritePolicy).
   */
  writeDurable(fd: number, bytes: Uint8Array, offset: number, waitingIdle = false): Promise<void> {
    const mayBlock = waitingIdle && this.#mayBlock(bytes)
    if (mayBlock && !this.#inline.allowed()) return this.#inline.throughRing(() => this.#start('writeDurable', fd, bytes, offset))
    if (mayBlock) {
      try {
        this.#writeOnThread(fd, bytes, offset)
      } catch (error) {
        return Promise.reject(error)
      }
      return Promise.resolve()
    }
    return this.#start('writeDurable', fd, bytes, offset)
  }

  /** The same blocking write as writeDurable's for an idle caller, reported at once (IoBackend.writeDurableNow). */
  writeDurableNow(fd: number, bytes: Uint8Array, offset: number): boolean {
    if (!this.#mayBlock(bytes) || !this.#inline.allowed()) return false
    this.#writeOnThread(fd, bytes, offset)
    return true
  }

  #mayBlock(bytes: Uint8Array): boolean {
    return bytes.length <= blockingWriteBytesMax && this.#durableInFlight === 0
  }

  #writeOnThread(fd: number, bytes: Uint8Array, offset: number): void {
    const startedMs = this.#inline.started()
    try {
      writeAll(fd, bytes, offset)
      syncData(fd)
    } finally {
      this.#inline.finished(startedMs)
    }
  }

  write(fd: number, bytes: Uint8Array, offset: number): Promise<void> {
    return this.#start('write', fd, bytes, offset)
  }

  sync(fd: number): Promise<void> {
    return this.#start('sync', fd, new Uint8Array(0), 0)
  }

  startWriteback(fd: number, offset: number, bytes: number): Promise<void> {
    return this.#start('writeback', fd, new Uint8Array(0), offset, bytes)
  }

  completionReady(): boolean {
    return this.#ring.hasCompletion()
  }

  /** Waits (blocking) for in-flight operations so no buffer is freed under the kernel, then exits. */
  shutdown(): void {
    for (const operation of this.#backlog.splice(0)) {
      operation.reject(new IoError('ECANCELED', 'io backend shut down'))
    }
    while (this.#cqesInFlight > 0) {
      const result = this.#ring.submitAndWait(1)
      if (result < 0 && -result !== 4 /* EINTR */) break
      this.#complete()
    }
    this.#ring.exit()
  }

  #start(kind: Operation['kind'], fd: number, bytes: Uint8Array, offset: number, rangeBytes = 0): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      return Promise.reject(new IoError('EINVAL', `${kind}: bad offset ${offset}`))
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    const operation: Operation = kind === 'writeDurable'
      ? { kind, fd, bytes, offset, rangeBytes, written: 0, resolve: this.#durableDone(resolve), reject: this.#durableDone(reject) }
      : { kind, fd, bytes, offset, rangeBytes, written: 0, resolve, reject }
    if (kind === 'writeDurable') this.#durableInFlight += 1
    if (kind === 'write' && bytes.length === 0) resolve()
    else if (this.#backlog.length > 0 || !this.#submit(operation)) this.#backlog.push(operation)
    this.#schedulePoll()
    return promise
  }

  #durableDone<T extends unknown[]>(settle: (...args: T) => void): (...args: T) => void {
    return (...args: T) => {
      this.#durableInFlight -= 1
      settle(...args)
    }
  }

  /**
   * Prepares and submits the rest of `operation` as one SQE; false when the ring has no room now.
   * A durable write is a write with RWF_DSYNC (fdatasync semantics for that range) rather than a
   * write linked to an fsync: one io-wq hop instead of two. Measured (src/io/io.bench.ts, 3 runs
   * each): 7.4k–8.9k vs 5.9k–7.1k flushes/s, and sequential durable PUSH p99 1.0 vs 1.4 ms (bench
   * latency). A bare fsync remains for sync() and for a durable write with nothing left to write.
   */
  #submit(operation: Operation): boolean {
    if (this.#cqesInFlight + 1 > this.#ring.cqEntries) return false
    const remaining = operation.bytes.length - operation.written
    const isWrite = (operation.kind === 'write' || operation.kind === 'writeDurable') && remaining > 0
    const id = this.#takeId()
    let prepared: boolean
    if (isWrite) {
      const address = stableAddress(operation.bytes, operation.written)
      const rwFlags = operation.kind === 'writeDurable' ? rwfDsync : 0
      prepared = this.#ring.prepare(opcode.write, operation.fd, address, Math.min(remaining, writeChunkBytesMax),
        operation.offset + operation.written, 0, rwFlags, id)
    } else if (operation.kind === 'writeback') {
      prepared = this.#ring.prepare(opcode.syncFileRange, operation.fd, 0, operation.rangeBytes, operation.offset, 0,
        syncFileRangeWrite, id)
    } else {
      prepared = this.#ring.prepare(opcode.fsync, operation.fd, 0, 0, 0, 0, fsyncDatasync, id)
    }
    if (!prepared) return false
    this.#pending.set(id, { operation, isWrite })
    this.#cqesInFlight += 1
    this.#flush()
    return true
  }

  /** io_uring_submit; a transient refusal (EAGAIN/EBUSY/EINTR) is retried from the poll loop. */
  #flush(): void {
    const result = this.#ring.submit()
    this.#submitOwed = false
    if (result >= 0) return
    const code = errnoName(-result)
    if (code === 'EAGAIN' || code === 'EBUSY' || code === 'EINTR') {
      this.#submitOwed = true
      return
    }
    // The ring itself is broken: nothing in flight will complete.
    const failure = new IoError(code, 'io_uring_submit')
    for (const submission of new Set(this.#pending.values())) submission.operation.reject(failure)
    this.#pending.clear()
    this.#cqesInFlight = 0
  }

  #takeId(): number {
    const id = this.#nextId
    // user_data stays below 2^32 so it is one u32 store; 0 is reserved for "no SQE".
    this.#nextId = id >= 0xffff_fffe ? 1 : id + 1
    return id
  }

  #schedulePoll(): void {
    if (this.#pollScheduled || (this.#cqesInFlight === 0 && this.#backlog.length === 0)) return
    this.#pollScheduled = true
    setImmediate(this.#poll)
  }

  /**
   * Completion polling. A few event-loop turns of non-blocking polls first (so requests that arrive
   * meanwhile are handled and join the next flush), then a short sleep in the kernel until the CQE
   * arrives. Pure setImmediate spinning kept both shard workers at ~50% CPU on 2 cores during
   * flushes (bench), starving the front thread and the clients.
   */
  #poll = (): void => {
    this.#pollScheduled = false
    if (this.#submitOwed) this.#flush()
    const reaped = this.#complete()
    this.#emptyPolls = reaped ? 0 : this.#emptyPolls + 1
    if (!reaped && this.#emptyPolls > spinPollsMax && this.#cqesInFlight > 0) {
      // After a sleep that ran out, one event-loop turn (to handle requests) and sleep again: no
      // more spinning until something completes.
      if (this.#ring.waitForCompletion(completionWaitUsMax) && this.#complete()) this.#emptyPolls = 0
    }
    while (this.#backlog.length > 0 && this.#submit(this.#backlog[0]!)) this.#backlog.shift()
    this.#schedulePoll()
  }
  #emptyPolls = 0

  /** Reaps every visible CQE and settles its submission. */
  #complete(): boolean {
    const completions = this.#ring.reap()
    for (const { userData, res } of completions) {
      const submission = this.#pending.get(userData)
      assert(submission !== undefined, `cqe for unknown user_data ${userData}`)
      this.#pending.delete(userData)
      this.#cqesInFlight -= 1
      this.#settle(submission, res)
    }
    return completions.length > 0
  }

  #settle(submission: Submission, res: number): void {
    const { operation } = submission
    const at = `fd=${operation.fd} at ${operation.offset + operation.written}`
    if (!submission.isWrite) {
      if (res < 0) {
        const call = operation.kind === 'writeback' ? `sync_file_range ${at} +${operation.rangeBytes}` : `fdatasync fd=${operation.fd}`
        return operation.reject(ioErrorFromResult(res, call))
      }
      return operation.resolve()
    }
    if (res < 0) return operation.reject(ioErrorFromResult(res, `write ${at}`))
    // Zero progress would loop forever; a full disk reports its real error (ENOSPC) on the next try.
    if (res === 0) return operation.reject(new IoError('EIO', `write ${at} wrote 0 bytes`))
    operation.written += res
    if (operation.written === operation.bytes.length) return operation.resolve()
    // A short write, or a buffer larger than one SQE may carry: continue with the rest. With
    // RWF_DSYNC the part written so far is already durable.
    if (!this.#submit(operation)) this.#backlog.unshift(operation)
  }
}
