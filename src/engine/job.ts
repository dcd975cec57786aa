/**
 * The job record the engine keeps, and its wire form (spec §2.1: exactly 31 fields, in order, always
 * present). Fields use the wire's meaning with camelCase names; `loc` says where the job lives now.
 */
import { RawJson } from '../protocol/raw-json.ts'
import { readPayload } from './payload-arena.ts'

/** Where a job is. The wire state is derived from it (and from runAt for queued jobs). */
export const LOC_GONE = 0
/** In its queue's ready heap (run_at ≤ now when it entered). */
export const LOC_READY = 1
/** In its queue's delay heap. */
export const LOC_DELAYED = 2
/** Ready, but set aside because its group has an active job; back to the heap when the group frees. */
export const LOC_GROUP_WAIT = 3
export const LOC_ACTIVE = 4
export const LOC_COMPLETED = 5
export const LOC_DLQ = 6
/** waitingchildren: parked on depends_on. */
export const LOC_PARKED = 7
/** waitingparent: flow parent waiting for its children. */
export const LOC_PARENT = 8

export type JobState =
  | 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'waitingchildren' | 'waitingparent' | 'unknown'

const noNumbers: readonly number[] = Object.freeze([])
const noStrings: readonly string[] = Object.freeze([])
export const emptyNumbers = noNumbers as number[]
export const emptyStrings = noStrings as string[]

/**
 * UTF-8 bytes of the request that creates a job (an upper bound of its data's size, so a push
 * measures its data only when the request is large): a plain number for a request that creates one
 * job, an object shared by the jobs of one PUSHB.
 */
export type RequestSize = number | { readonly bytes: number }

export function requestBytesOf(request: RequestSize): number {
  return typeof request === 'number' ? request : request.bytes
}

/**
 * Job.bits: flags × heapSlots + heapIndex + 1, where the flags are the location (LOC_*), one bit
 * per boolean and the checkpoint epoch above them. Both parts are read with a multiply and a floor
 * (flagsOf): a bitwise operator on the whole number would leave the int32 range, which JSC handles
 * on a slow path.
 */
const LOC_MASK = 15
const FLAG_REMOVE_ON_COMPLETE = 16
const FLAG_REMOVE_ON_FAIL = 32
const FLAG_HOLDS_KEY = 64
const FLAG_IN_HISTORY = 128
/**
 * The epoch of the checkpoint capture that holds this job's record already (snapshot.ts), modulo
 * snapshotEpochsMod. A wrapped epoch can only be mistaken for a current one by a job that every one
 * of the last 2^18 captures failed to reach: each capture that completes marks every job it started with.
 */
const SNAPSHOT_SHIFT = 8
export const snapshotEpochsMod = 1 << 18
/** heapIndex + 1 takes the low 26 bits (jobsPerShardMax, 50M, stays below), the flags the 26 above. */
const heapSlots = 2 ** 26
const perHeapSlots = 2 ** -26

function flagsOf(job: { bits: number }): number {
  return Math.floor(job.bits * perHeapSlots)
}

function setFlags(job: { bits: number }, flags: number): void {
  const bits = job.bits
  job.bits = flags * heapSlots + (bits - Math.floor(bits * perHeapSlots) * heapSlots)
}

/**
 * Job.prio: deliveryKey × prioSplit + attempts × triesSplit + maxAttempts, where deliveryKey is
 * (priority + 2^31) × 2 + lifo (33 bits: a higher key is delivered first, readyBefore), while
 * attempts and maxAttempts are below triesWide; triesWide in the maxAttempts bits means both moved
 * to JobExtras. triesOf reads the low part with a multiply and a floor, then int32 bit operations.
 */
const prioSplit = 2 ** 20
const perPrioSplit = 2 ** -20
const triesSplit = 2 ** 10
const triesWide = triesSplit - 1

function triesOf(prio: number): number {
  return prio - Math.floor(prio * perPrioSplit) * prioSplit
}
const priorityBias = 2 ** 31

/**
 * The fields most jobs leave at their defaults (spec §2.1 wire fields and bookkeeping): they live in
 * one object, allocated on the first write of a non-default value, so a plain job does not carry them.
 * It takes the place of the job's JobHome, so it holds the queue's name, the priority word and the
 * times too (this job's own, written in place). 30 fields at most: 256 bytes in JSC, where 31 take
 * 320 (hence WideTries).
 */
class JobExtras {
  constructor(
    readonly queue: string,
    public prio: number,
    public createdAt: number,
    public runAt: number,
  ) {}

  uniqueKey: string | null = null
  dependsOn: number[] = emptyNumbers
  progress = 0
  progressMsg: string | null = null
  tags: string[] = emptyStrings
  stallTimeout = 0
  stallCount = 0
  parentId: number | null = null
  childrenIds: number[] = emptyNumbers
  childrenCompleted = 0
  customId: string | null = null
  keepCompletedAge = 0
  keepCompletedCount = 0
  completedAt = 0
  groupId: string | null = null
  /** Position in the TTL heap, or -1. */
  ttlIndex = -1
  /** Dependencies not completed yet (parked jobs only). */
  pendingDeps: number[] = emptyNumbers
  /** Reason of the final failure (DLQ jobs). */
  failReason: string | null = null
  /** queued API (engine/queued-store.ts): polls so far, -1 for a job not pushed through that API. */
  pollCount = -1
  /** queued API: the current poll tag (fencing token), null until the first poll. */
  pollTag: string | null = null
  // Set once a job is first handed out (a waiting job has neither).
  startedAt = 0
  lastHeartbeat = 0
  // Job options many jobs leave at 0 (the SDK sends them only when asked).
  backoff = 0
  ttl = 0
  timeout = 0
  /** attempts and maxAttempts, once one of them is too large to share Job.prio. */
  wideTries: WideTries | null = null
}

/** attempts and maxAttempts of a job where one is too large for Job.prio: one JobExtras field for both (rare). */
class WideTries {
  constructor(
    public attempts: number,
    public maxAttempts: number,
  ) {}
}

/**
 * The queue's name, the priority word (Job.prio) and created_at / run_at of every job that has the
 * same four values: the jobs one batch pushes into a queue share one (they are made in the same
 * millisecond with the same options), so a job carries one pointer for all four instead of two
 * fields of its own (6 → 4 fields: 64 → 48 bytes in JSC). Never changed once made: a job whose
 * values change moves to another home (Job.rehome), or to its JobExtras once it has one.
 */
class JobHome {
  constructor(
    readonly queue: string,
    readonly prio: number,
    readonly createdAt: number,
    readonly runAt: number,
  ) {}
}

const defaultPrio = priorityBias * 2 * prioSplit

/**
 * The homes made last in this thread, newest at recentAt: the jobs of one batch (or millisecond)
 * find theirs, and so does a job that moves on to another with the same options as the one before
 * it (a push with max_attempts and lifo makes a job in one home and moves it twice). A job whose
 * home is in none of them gets a new one: 48 bytes more for a job that shares it with no other.
 */
const recentHomesMax = 8
const recentHomes: JobHome[] = Array.from({ length: recentHomesMax }, () => new JobHome('', defaultPrio, 0, 0))
let recentAt = 0

function homeFor(queue: string, prio: number, createdAt: number, runAt: number): JobHome {
  for (let back = 0; back < recentHomesMax; back++) {
    const home = recentHomes[(recentAt - back + recentHomesMax) % recentHomesMax] as JobHome
    if (home.createdAt === createdAt && home.runAt === runAt && home.prio === prio && home.queue === queue) return home
  }
  const home = new JobHome(queue, prio, createdAt, runAt)
  recentAt = (recentAt + 1) % recentHomesMax
  recentHomes[recentAt] = home
  return home
}

/** The shared home for `from`'s queue with these values (`from` itself when they are its own). */
function homeAfter(from: JobHome, prio: number, createdAt: number, runAt: number): JobHome {
  if (from.createdAt === createdAt && from.runAt === runAt && from.prio === prio) return from
  return homeFor(from.queue, prio, createdAt, runAt)
}

/**
 * Job's accessors, on a prototype of their own above Job's: JSC sizes the objects a constructor
 * makes by the fields it writes plus every property of its class's prototype that is not a function
 * (accessors count), up to 6 fields (possibleDefaultPropertyCount in JSC's ObjectAllocationProfile).
 * With them on Job.prototype a job of 4 fields took 64 bytes, as one of 6 did; from here, 48.
 */
abstract class JobAccessors {
  declare dataJson: string | number | undefined
  declare bits: number
  declare readonly id: number
  protected declare home: JobHome | JobExtras

  get queue(): string {
    return this.home.queue
  }

  /** True when both jobs are in one shared home: the same queue, priority word and times. */
  sharesHome(other: JobAccessors): boolean {
    return this.home === other.home
  }

  /** Priority, lifo, attempts and maxAttempts (see prioSplit); read through the accessors, compared whole by readyBefore. */
  get prio(): number {
    return this.home.prio
  }

  get createdAt(): number {
    return this.home.createdAt
  }

  set createdAt(value: number) {
    this.rehome(this.home.prio, value, this.home.runAt)
  }

  get runAt(): number {
    return this.home.runAt
  }

  set runAt(value: number) {
    this.rehome(this.home.prio, this.home.createdAt, value)
  }

  /** Writes the priority word and the times: in the job's own JobExtras, or by moving to the shared home with those values. */
  private rehome(prio: number, createdAt: number, runAt: number): void {
    const home = this.home
    if (home instanceof JobExtras) {
      home.prio = prio
      home.createdAt = createdAt
      home.runAt = runAt
    } else this.home = homeAfter(home, prio, createdAt, runAt)
  }

  private setPrio(value: number): void {
    this.rehome(value, this.home.createdAt, this.home.runAt)
  }

  /** The rarely set fields, null while all of them have their defaults. */
  private get extras(): JobExtras | null {
    const home = this.home
    // Told apart by a field a JobHome lacks: compiled, a read that misses is a structure check, where
    // instanceof walks a JobHome's prototype chain (jobToWire asks ~20 times per job).
    return (home as Partial<JobExtras>).pollCount === undefined ? null : (home as JobExtras)
  }

  private moreFields(): JobExtras {
    const home = this.home
    const extras = new JobExtras(home.queue, home.prio, home.createdAt, home.runAt)
    this.home = extras
    return extras
  }

  /** The payload as a value (parsed from its JSON text on each read). */
  get data(): unknown {
    const text = payloadText(this)
    return text === undefined ? undefined : JSON.parse(text)
  }

  /** A new payload is kept as a string (the arena takes it when the table stores the job again). */
  set data(value: unknown) {
    this.dataJson = value === null ? 'null' : JSON.stringify(value)
  }

  get priority(): number {
    return Math.floor(this.prio * perPrioSplit * 0.5) - priorityBias
  }

  set priority(value: number) {
    const key = this.deliveryKey
    this.setPrio(((value + priorityBias) * 2 + (key - Math.floor(key * 0.5) * 2)) * prioSplit + triesOf(this.prio))
  }

  /** Priority and lifo as one number: a job with a higher key is delivered first (readyBefore). */
  get deliveryKey(): number {
    return Math.floor(this.prio * perPrioSplit)
  }

  get lifo(): boolean {
    const key = this.deliveryKey
    return key - Math.floor(key * 0.5) * 2 === 1
  }

  set lifo(value: boolean) {
    const key = this.deliveryKey
    this.setPrio((Math.floor(key * 0.5) * 2 + (value ? 1 : 0)) * prioSplit + triesOf(this.prio))
  }

  get attempts(): number {
    const tries = triesOf(this.prio)
    return (tries & triesWide) !== triesWide ? tries >>> 10 : this.widenTries().attempts
  }

  set attempts(value: number) {
    const tries = triesOf(this.prio)
    if ((tries & triesWide) !== triesWide && value >= 0 && value < triesWide) this.setPrio(this.prio + (value - (tries >>> 10)) * triesSplit)
    else this.widenTries().attempts = value
  }

  get maxAttempts(): number {
    const maxAttempts = triesOf(this.prio) & triesWide
    return maxAttempts !== triesWide ? maxAttempts : this.widenTries().maxAttempts
  }

  set maxAttempts(value: number) {
    const maxAttempts = triesOf(this.prio) & triesWide
    if (maxAttempts !== triesWide && value >= 0 && value < triesWide) this.setPrio(this.prio + value - maxAttempts)
    else this.widenTries().maxAttempts = value
  }

  /** attempts and maxAttempts in JobExtras, moved there first if they are still in Job.prio (a value too large to share it). */
  private widenTries(): WideTries {
    const extras = this.extras ?? this.moreFields()
    const tries = triesOf(this.prio)
    if ((tries & triesWide) !== triesWide) {
      extras.wideTries = new WideTries(tries >>> 10, tries & triesWide)
      this.setPrio(this.prio + triesWide - tries)
    }
    return extras.wideTries as WideTries
  }

  /** Position in the ready, delay or timeout heap (a job is in at most one), or -1. */
  get heapIndex(): number {
    const bits = this.bits
    return bits - Math.floor(bits * perHeapSlots) * heapSlots - 1
  }

  set heapIndex(index: number) {
    if (index + 1 >= heapSlots) throw new Error(`heap position ${index} beyond ${heapSlots - 2}`)
    this.bits = Math.floor(this.bits * perHeapSlots) * heapSlots + index + 1
  }

  get uniqueKey(): string | null {
    return this.extras === null ? null : this.extras.uniqueKey
  }

  set uniqueKey(value: string | null) {
    if (this.extras !== null) this.extras.uniqueKey = value
    else if (value !== null) this.moreFields().uniqueKey = value
  }

  get dependsOn(): number[] {
    return this.extras === null ? emptyNumbers : this.extras.dependsOn
  }

  set dependsOn(value: number[]) {
    if (this.extras !== null) this.extras.dependsOn = value
    else if (value.length > 0) this.moreFields().dependsOn = value
  }

  get progress(): number {
    return this.extras === null ? 0 : this.extras.progress
  }

  set progress(value: number) {
    if (this.extras !== null) this.extras.progress = value
    else if (value !== 0) this.moreFields().progress = value
  }

  get progressMsg(): string | null {
    return this.extras === null ? null : this.extras.progressMsg
  }

  set progressMsg(value: string | null) {
    if (this.extras !== null) this.extras.progressMsg = value
    else if (value !== null) this.moreFields().progressMsg = value
  }

  get tags(): string[] {
    return this.extras === null ? emptyStrings : this.extras.tags
  }

  set tags(value: string[]) {
    if (this.extras !== null) this.extras.tags = value
    else if (value.length > 0) this.moreFields().tags = value
  }

  get stallTimeout(): number {
    return this.extras === null ? 0 : this.extras.stallTimeout
  }

  set stallTimeout(value: number) {
    if (this.extras !== null) this.extras.stallTimeout = value
    else if (value !== 0) this.moreFields().stallTimeout = value
  }

  get stallCount(): number {
    return this.extras === null ? 0 : this.extras.stallCount
  }

  set stallCount(value: number) {
    if (this.extras !== null) this.extras.stallCount = value
    else if (value !== 0) this.moreFields().stallCount = value
  }

  get parentId(): number | null {
    return this.extras === null ? null : this.extras.parentId
  }

  set parentId(value: number | null) {
    if (this.extras !== null) this.extras.parentId = value
    else if (value !== null) this.moreFields().parentId = value
  }

  get childrenIds(): number[] {
    return this.extras === null ? emptyNumbers : this.extras.childrenIds
  }

  set childrenIds(value: number[]) {
    if (this.extras !== null) this.extras.childrenIds = value
    else if (value.length > 0) this.moreFields().childrenIds = value
  }

  get childrenCompleted(): number {
    return this.extras === null ? 0 : this.extras.childrenCompleted
  }

  set childrenCompleted(value: number) {
    if (this.extras !== null) this.extras.childrenCompleted = value
    else if (value !== 0) this.moreFields().childrenCompleted = value
  }

  get customId(): string | null {
    return this.extras === null ? null : this.extras.customId
  }

  set customId(value: string | null) {
    if (this.extras !== null) this.extras.customId = value
    else if (value !== null) this.moreFields().customId = value
  }

  get keepCompletedAge(): number {
    return this.extras === null ? 0 : this.extras.keepCompletedAge
  }

  set keepCompletedAge(value: number) {
    if (this.extras !== null) this.extras.keepCompletedAge = value
    else if (value !== 0) this.moreFields().keepCompletedAge = value
  }

  get keepCompletedCount(): number {
    return this.extras === null ? 0 : this.extras.keepCompletedCount
  }

  set keepCompletedCount(value: number) {
    if (this.extras !== null) this.extras.keepCompletedCount = value
    else if (value !== 0) this.moreFields().keepCompletedCount = value
  }

  get completedAt(): number {
    return this.extras === null ? 0 : this.extras.completedAt
  }

  set completedAt(value: number) {
    if (this.extras !== null) this.extras.completedAt = value
    else if (value !== 0) this.moreFields().completedAt = value
  }

  get groupId(): string | null {
    return this.extras === null ? null : this.extras.groupId
  }

  set groupId(value: string | null) {
    if (this.extras !== null) this.extras.groupId = value
    else if (value !== null) this.moreFields().groupId = value
  }

  /** Position in the TTL heap, or -1. */
  get ttlIndex(): number {
    return this.extras === null ? -1 : this.extras.ttlIndex
  }

  set ttlIndex(value: number) {
    if (this.extras !== null) this.extras.ttlIndex = value
    else if (value !== -1) this.moreFields().ttlIndex = value
  }

  /** Dependencies not completed yet (parked jobs only). */
  get pendingDeps(): number[] {
    return this.extras === null ? emptyNumbers : this.extras.pendingDeps
  }

  set pendingDeps(value: number[]) {
    if (this.extras !== null) this.extras.pendingDeps = value
    else if (value.length > 0) this.moreFields().pendingDeps = value
  }

  /** Reason of the final failure (DLQ jobs). */
  get failReason(): string | null {
    return this.extras === null ? null : this.extras.failReason
  }

  set failReason(value: string | null) {
    if (this.extras !== null) this.extras.failReason = value
    else if (value !== null) this.moreFields().failReason = value
  }

  /** queued API (engine/queued-store.ts): polls so far, -1 for a job not pushed through that API. */
  get pollCount(): number {
    return this.extras === null ? -1 : this.extras.pollCount
  }

  set pollCount(value: number) {
    if (this.extras !== null) this.extras.pollCount = value
    else if (value !== -1) this.moreFields().pollCount = value
  }

  /** queued API: the current poll tag (fencing token), null until the first poll. */
  get pollTag(): string | null {
    return this.extras === null ? null : this.extras.pollTag
  }

  set pollTag(value: string | null) {
    if (this.extras !== null) this.extras.pollTag = value
    else if (value !== null) this.moreFields().pollTag = value
  }

  get removeOnComplete(): boolean {
    return (flagsOf(this) & FLAG_REMOVE_ON_COMPLETE) !== 0
  }

  set removeOnComplete(value: boolean) {
    const flags = flagsOf(this)
    setFlags(this, value ? flags | FLAG_REMOVE_ON_COMPLETE : flags & ~FLAG_REMOVE_ON_COMPLETE)
  }

  get removeOnFail(): boolean {
    return (flagsOf(this) & FLAG_REMOVE_ON_FAIL) !== 0
  }

  set removeOnFail(value: boolean) {
    const flags = flagsOf(this)
    setFlags(this, value ? flags | FLAG_REMOVE_ON_FAIL : flags & ~FLAG_REMOVE_ON_FAIL)
  }

  /** True while this job holds its unique key in the queue's key set. */
  get holdsKey(): boolean {
    return (flagsOf(this) & FLAG_HOLDS_KEY) !== 0
  }

  set holdsKey(value: boolean) {
    const flags = flagsOf(this)
    setFlags(this, value ? flags | FLAG_HOLDS_KEY : flags & ~FLAG_HOLDS_KEY)
  }

  /** True while the job is in the completed history (its body is kept). */
  get startedAt(): number {
    return this.extras === null ? 0 : this.extras.startedAt
  }

  set startedAt(value: number) {
    if (this.extras !== null) this.extras.startedAt = value
    else if (value !== 0) this.moreFields().startedAt = value
  }

  get lastHeartbeat(): number {
    return this.extras === null ? 0 : this.extras.lastHeartbeat
  }

  set lastHeartbeat(value: number) {
    if (this.extras !== null) this.extras.lastHeartbeat = value
    else if (value !== 0) this.moreFields().lastHeartbeat = value
  }

  get backoff(): number {
    return this.extras === null ? 0 : this.extras.backoff
  }

  set backoff(value: number) {
    if (this.extras !== null) this.extras.backoff = value
    else if (value !== 0) this.moreFields().backoff = value
  }

  get ttl(): number {
    return this.extras === null ? 0 : this.extras.ttl
  }

  set ttl(value: number) {
    if (this.extras !== null) this.extras.ttl = value
    else if (value !== 0) this.moreFields().ttl = value
  }

  get timeout(): number {
    return this.extras === null ? 0 : this.extras.timeout
  }

  set timeout(value: number) {
    if (this.extras !== null) this.extras.timeout = value
    else if (value !== 0) this.moreFields().timeout = value
  }

  /** Where the job is (LOC_*). */
  get loc(): number {
    return flagsOf(this) & LOC_MASK
  }

  set loc(value: number) {
    setFlags(this, (flagsOf(this) & ~LOC_MASK) | value)
  }

  /** 1 to snapshotEpochsMod - 1; 0 for a job no capture has held. */
  get snapshotMark(): number {
    return flagsOf(this) >>> SNAPSHOT_SHIFT
  }

  set snapshotMark(epoch: number) {
    setFlags(this, (flagsOf(this) & ((1 << SNAPSHOT_SHIFT) - 1)) | (epoch << SNAPSHOT_SHIFT))
  }

  get inHistory(): boolean {
    return (flagsOf(this) & FLAG_IN_HISTORY) !== 0
  }

  set inHistory(value: boolean) {
    const flags = flagsOf(this)
    setFlags(this, value ? flags | FLAG_IN_HISTORY : flags & ~FLAG_IN_HISTORY)
  }
}

/**
 * A job. Memory per job matters (a million waiting jobs are normal), so the object holds 4 fields
 * (JSC allocates 48 bytes for 3–4 fields, 64 for 5–6, 80 for 7–8, 112 for 9–12): the id, the
 * payload's place, `bits` (location, booleans, checkpoint epoch, heap position, packed) and the
 * home: a JobHome shared with the jobs of the same queue, priority word and times, or, once the job
 * has a rare field set, its own JobExtras. The rarely set fields live in JobExtras behind accessors
 * (on JobAccessors' prototype: no bytes per job). The payload is its JSON text: first as a string, then, once
 * the job table holds the job, as UTF-8 bytes in a shared chunk of the table's PayloadArena
 * (payload-arena.ts: about 120 bytes for 100 characters against about 185 for a string). `data`
 * parses it for replies, rawData() splices it unparsed into log records and events.
 */
export class Job extends JobAccessors {
  /**
   * The payload's JSON text, or its place in the arena (payload-arena.ts) as a number; undefined
   * when the job has no `data` (the wire then omits it).
   */
  override dataJson: string | number | undefined = 'null'
  /** Location, booleans, checkpoint epoch and heap position (see heapSlots). */
  override bits = LOC_GONE
  /** Queue, priority word and times, shared (JobHome), or this job's own with its rare fields (JobExtras). */
  protected override home: JobHome | JobExtras

  constructor(
    override readonly id: number,
    queue: string,
    createdAt = 0,
    runAt = createdAt,
    home?: JobHome,
  ) {
    super()
    this.home = home ?? homeFor(queue, defaultPrio, createdAt, runAt)
  }
}

/** The shared part of a plain job (JobHome), as the job table keeps it for a frozen job (job-table.ts). */
export type SharedHome = JobHome
/** What the heaps order by: a JobHome or a job's own JobExtras (both hold the queue, priority word and times). */
export type HomeLike = JobHome | JobExtras

/**
 * The job's home, shared (JobHome) or its own (JobExtras): for the job table and the heaps, which
 * keep and compare it for jobs that have no object (an accessor on Job would cost it a field).
 */
export function homeOf(job: Job): HomeLike {
  return (job as unknown as { home: HomeLike }).home
}

/** The shared home of a job without rare fields, or null when it has a JobExtras. */
export function sharedHomeOf(job: Job): SharedHome | null {
  const home = homeOf(job)
  return (home as Partial<JobExtras>).pollCount === undefined ? (home as JobHome) : null
}

/** A plain job made again from what the job table kept of it (job-table.ts thaws a frozen job). */
export function restoreJob(id: number, dataJson: string | number | undefined, bits: number, home: SharedHome): Job {
  const job = new Job(id, home.queue, home.createdAt, home.runAt, home)
  job.dataJson = dataJson
  job.bits = bits
  return job
}

/**
 * Makes `view` show a frozen job: the checkpoint's walk reads frozen jobs through one reused object
 * (job-table.ts), so a walk of a million of them makes no object per job.
 */
export function showJob(view: Job, id: number, dataJson: string | number | undefined, bits: number, home: SharedHome): void {
  const fields = view as unknown as { id: number; home: HomeLike }
  fields.id = id
  fields.home = home
  view.dataJson = dataJson
  view.bits = bits
}

/** `bits` with the heap position `index` (see heapSlots): Job.heapIndex's setter, for a job kept as numbers. */
export function bitsWithHeapIndex(bits: number, index: number): number {
  if (index + 1 >= heapSlots) throw new Error(`heap position ${index} beyond ${heapSlots - 2}`)
  return Math.floor(bits * perHeapSlots) * heapSlots + index + 1
}

/** The location (LOC_*) in `bits`. */
export function locOfBits(bits: number): number {
  return Math.floor(bits * perHeapSlots) & LOC_MASK
}

/**
 * Payloads from this many characters on go into replies as text (spliced by stringifyJson); shorter
 * ones are parsed, which keeps JSON.stringify of a reply on its fast path (raw-json.ts): measured
 * faster for 100-byte payloads, while a 1 MiB payload would cost a parse per reply.
 */
const wireTextCharsMin = 1024

/** The payload's JSON text (read from the arena chunk when it is there), or undefined. */
export function payloadText(job: Pick<Job, 'dataJson'>): string | undefined {
  const at = job.dataJson
  return typeof at === 'number' ? readPayload(at) : at
}

/** The payload for a reply. */
export function wireData(job: Job): unknown {
  const text = payloadText(job)
  if (text === undefined) return undefined
  return text.length >= wireTextCharsMin ? new RawJson(text) : JSON.parse(text)
}

/** The payload for a record or an event: its JSON text, spliced unparsed by stringifyJson. */
export function rawData(job: Job): RawJson | undefined {
  const text = payloadText(job)
  return text === undefined ? undefined : new RawJson(text)
}

export function expiresAt(job: Job): number {
  return job.ttl > 0 ? job.createdAt + job.ttl : Infinity
}

export function stateOf(job: Job, nowMs: number): JobState {
  switch (job.loc) {
    case LOC_READY:
    case LOC_DELAYED:
    case LOC_GROUP_WAIT:
      return job.runAt > nowMs ? 'delayed' : 'waiting'
    case LOC_ACTIVE:
      return 'active'
    case LOC_COMPLETED:
      return 'completed'
    case LOC_DLQ:
      return 'failed'
    case LOC_PARKED:
      return 'waitingchildren'
    case LOC_PARENT:
      return 'waitingparent'
    default:
      return 'unknown'
  }
}

/** The wire object: 31 fields in spec order. One literal, so the engine builds one shape. */
export function jobToWire(job: Job) {
  return {
    id: job.id,
    queue: job.queue,
    data: wireData(job),
    priority: job.priority,
    created_at: job.createdAt,
    run_at: job.runAt,
    started_at: job.startedAt,
    attempts: job.attempts,
    max_attempts: job.maxAttempts,
    backoff: job.backoff,
    ttl: job.ttl,
    timeout: job.timeout,
    unique_key: job.uniqueKey,
    depends_on: job.dependsOn,
    progress: job.progress,
    progress_msg: job.progressMsg,
    tags: job.tags,
    lifo: job.lifo,
    remove_on_complete: job.removeOnComplete,
    remove_on_fail: job.removeOnFail,
    last_heartbeat: job.lastHeartbeat,
    stall_timeout: job.stallTimeout,
    stall_count: job.stallCount,
    parent_id: job.parentId,
    children_ids: job.childrenIds,
    children_completed: job.childrenCompleted,
    custom_id: job.customId,
    keep_completed_age: job.keepCompletedAge,
    keep_completed_count: job.keepCompletedCount,
    completed_at: job.completedAt,
    group_id: job.groupId,
  }
}
export type WireJob = ReturnType<typeof jobToWire>

/** JobBrowserItem (GETJOBS, GETJOBSBATCH): the 31 fields, `state`, and the nested `job` (extension). */
export function jobToBrowserItem(job: Job, nowMs: number) {
  const wire = jobToWire(job)
  return { ...wire, state: stateOf(job, nowMs), job: wire }
}

/** Delivery order (spec §4.1): priority desc; lifo first, highest id first; then run_at asc, id asc. */
export function readyBefore(a: Job, b: Job): boolean {
  return readyBeforeParts(a.id, homeOf(a), b.id, homeOf(b))
}

function isLifo(prio: number): boolean {
  const key = Math.floor(prio * perPrioSplit)
  return key - Math.floor(key * 0.5) * 2 === 1
}

/** readyBefore for jobs given as id and home (the heaps hold frozen jobs as numbers: job-heap.ts). */
export function readyBeforeParts(id: number, home: HomeLike, otherId: number, otherHome: HomeLike): boolean {
  // One home (the jobs of one batch): same priority, lifo and run_at, so the ids decide.
  if (home === otherHome) return isLifo(home.prio) ? id > otherId : id < otherId
  // Equal prio numbers (the common case) mean equal priority and lifo: no key to compute.
  if (home.prio !== otherHome.prio) {
    const key = Math.floor(home.prio * perPrioSplit)
    const otherKey = Math.floor(otherHome.prio * perPrioSplit)
    if (key !== otherKey) return key > otherKey
  }
  if (isLifo(home.prio)) return id > otherId
  if (home.runAt !== otherHome.runAt) return home.runAt < otherHome.runAt
  return id < otherId
}

export function runAtBefore(a: Job, b: Job): boolean {
  return runAtBeforeParts(a.id, homeOf(a), b.id, homeOf(b))
}

export function runAtBeforeParts(id: number, home: HomeLike, otherId: number, otherHome: HomeLike): boolean {
  return home.runAt !== otherHome.runAt ? home.runAt < otherHome.runAt : id < otherId
}

export function setHeapIndex(job: Job, index: number): void {
  job.heapIndex = index
}

export function setTtlIndex(job: Job, index: number): void {
  job.ttlIndex = index
}
