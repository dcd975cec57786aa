/**
 * The shard's jobs by id, with the part of Map's interface the engine uses. A shard's ids are
 * sequence × shardCount + shardIndex with an increasing sequence (base/ids.ts), so the sequence
 * indexes a dense table: 8 bytes per job instead of a Map entry (~70 bytes measured), which matters
 * with a million waiting jobs.
 *
 * The table is cut into pages of pageSlots slots, kept in a Map by page number. A page is dropped
 * when its last job leaves, and an older page down to a few jobs (long-lived ones among many
 * finished) becomes a small Map, so a straggler never pins a whole page. Ids that are not this shard's (never
 * stored by the engine, but looked up) are told apart by the job's own id.
 *
 * The table also keeps its jobs' payloads as bytes in a PayloadArena (payload-arena.ts): moved there
 * at the end of the batch that stored the job (settlePayloads), released when it is deleted.
 *
 * A plain waiting job (no JobExtras, in its queue's ready or delay heap, payload in the arena) is
 * frozen at the end of its batch: kept as numbers in columns of its page (payload place, `bits`, an
 * index of its shared JobHome, one per page while its frozen jobs share one) and as a number in its
 * heap (job-heap.ts), with no Job object: 24 bytes instead of ~66 (W5: a million waiting jobs). The
 * first read of it (get, a walk, a heap's peek or pop) thaws it into a Job object again, which the page keeps, so every read in and after
 * that batch gets the same object; the end of the batch freezes it again if it is still plain and
 * waiting. Nothing may hold a Job past its batch (as with a deleted job): a frozen job's old object
 * reads as gone (LOC_GONE) and its payload read throws.
 */
import { type Job, LOC_DELAYED, LOC_GONE, LOC_READY, type SharedHome, locOfBits, restoreJob, sharedHomeOf, bitsWithHeapIndex, showJob } from './job.ts'
import { isListed } from './job-index.ts'
import { PayloadArena, chunkIdOf, frozenAwayPlace, placeChunkSplit } from './payload-arena.ts'

/** What JobTable.glance reads of a job. */
export type JobGlance = { queue: string; loc: number; createdAt: number; runAt: number }

const pageBits = 10
const pageSlots = 1 << pageBits
/**
 * A dense page that new ids have moved past becomes sparse below this many jobs (a Map of that size
 * takes about a quarter of a dense page); a sparse page that grows to denseFrom jobs (replay) is made
 * dense again.
 */
const sparseBelow = 32
const denseFrom = 4 * sparseBelow
/**
 * Batches a dense page's object array (8 KiB) or frozen columns (12 KiB, up to 28 with a home and a wide place column) are kept after the last job
 * in them left: a page that thaws or freezes a job every few batches (a push then a pull on the
 * newest page, a peek at the delay heap's top) would otherwise make one per batch.
 */
const spareKeptBatches = 64
/** Entries of the emptied-pages list already handled before it is spliced (and half of it): each entry moves O(1) times. */
const emptiedPagesSpliceMin = 1024
/** Jobs a compaction visits per batch: ~0.3 ms of copying, so no turn stalls on it (issue #7). */
const compactionJobsPerBatch = 4096
/** A frozen job's place for a payload that is absent (undefined) or JSON null. */
const placeAbsent = -2
const placeNull = -1
/**
 * The place column's codes for placeAbsent and placeNull: an arena place is coded as place − baseChunk ×
 * placeChunkSplit (chunk − baseChunk in the top 4 bits, then offset and length), whose length field
 * (≤ 3072) never reaches these.
 */
const codeAbsent = 2 ** 32 - 1
const codeNull = 2 ** 32 - 2
/** Chunks before the first frozen job's that a page's place codes reach (of 16). */
const baseChunkLeeway = 7
/**
 * A frozen job's handle (its number in a heap, job-heap.ts): homeIndex × handleHomeSplit + pageIndex
 * × pageSlots + slot, so a heap's comparison finds the home without reading the page's columns (half
 * the time of a million-job drain went to those reads). Jobs of a page or home with an index beyond
 * these bounds (4M pages or 2M homes held at once: never seen) are not frozen.
 */
const handleHomeSplit = 2 ** 32
const perHandleHomeSplit = 2 ** -32
const handlePagesMax = 2 ** 22
const handleHomesMax = 2 ** 21

/**
 * The frozen jobs of a dense page, by slot: 4 + 8 bytes each, and 4 more for the home only once the
 * page holds frozen jobs of two homes. The jobs of a page were mostly pushed together, to one queue
 * with one priority (W5: every page has one home), so its home is one number; and their payloads
 * went into a few consecutive chunks (1024 payloads of ~100 bytes span 2–3 chunks of 64 KiB), so a
 * place is 32 bits relative to a base chunk (7 before the first frozen job's): 8 MB less per million
 * waiting jobs than 8 + 8 + 4. A page with a payload outside baseChunk … baseChunk + 15 (jobs that
 * came over a long time, payloads near 1 KiB, or moved by a compaction while others of the page
 * stayed) keeps whole places in `wide`.
 */
class FrozenColumns {
  /** Job.dataJson: codeAbsent, codeNull, or an arena place as place − baseChunk × placeChunkSplit. */
  readonly place = new Uint32Array(pageSlots)
  /** Job.dataJson as placeAbsent, placeNull or the place itself, by slot, once `place` cannot hold one; else null. */
  wide: Float64Array | null = null
  /** The chunk `place` codes are relative to, once a frozen job has an arena place (hasBase). */
  baseChunk = 0
  hasBase = false
  /** Job.bits (never 0 for a frozen job: its location is READY or DELAYED); 0 for a slot not frozen. */
  readonly bits = new Float64Array(pageSlots)
  /** The jobs' JobHome, as its index in the table's home registry, by slot; null while they share soleHome. */
  home: Uint32Array | null = null
  /** The one home index of every frozen job here, while `home` is null (-1: none frozen yet). */
  soleHome = -1

  /** Keeps a job's place (an arena place, placeAbsent or placeNull); `frozenCount` jobs are frozen here already. */
  setPlace(slot: number, place: number, frozenCount: number): void {
    if (frozenCount === 0) {
      this.wide = null
      this.hasBase = false
    }
    if (this.wide !== null) {
      this.wide[slot] = place
    } else if (place === placeAbsent) {
      this.place[slot] = codeAbsent
    } else if (place === placeNull) {
      this.place[slot] = codeNull
    } else {
      if (!this.hasBase) {
        // The first job to freeze is not always the page's first: a batch's jobs in the page it just
        // left freeze before that page's earlier ones, whose payloads are in earlier chunks.
        this.baseChunk = chunkIdOf(place) - baseChunkLeeway
        this.hasBase = true
      }
      const code = place - this.baseChunk * placeChunkSplit
      if (code >= 0 && code < codeNull) {
        this.place[slot] = code
      } else {
        // Slots not frozen get whatever their stale code says: never read.
        const wide = new Float64Array(pageSlots)
        for (let other = 0; other < pageSlots; other++) wide[other] = this.#placeOf(this.place[other] as number)
        wide[slot] = place
        this.wide = wide
      }
    }
  }

  /** Job.dataJson of the job in `slot`. */
  dataAt(slot: number): string | number | undefined {
    const place = this.wide === null ? this.#placeOf(this.place[slot] as number) : (this.wide[slot] as number)
    return place >= 0 ? place : place === placeNull ? 'null' : undefined
  }

  #placeOf(code: number): number {
    return code === codeAbsent ? placeAbsent : code === codeNull ? placeNull : this.baseChunk * placeChunkSplit + code
  }

  homeAt(slot: number): number {
    return this.home === null ? this.soleHome : (this.home[slot] as number)
  }

  setHome(slot: number, homeIndex: number, frozenCount: number): void {
    if (frozenCount === 0) {
      this.home = null
      this.soleHome = homeIndex
    } else if (this.home !== null) {
      this.home[slot] = homeIndex
    } else if (this.soleHome !== homeIndex) {
      // A second home: every frozen job gets its own entry (slots not frozen are never read).
      this.home = new Uint32Array(pageSlots).fill(this.soleHome)
      this.home[slot] = homeIndex
    }
  }
}

class Page {
  count = 0
  /** Job objects by slot, while the page is dense (null while it has none: all its jobs frozen). */
  objects: Array<Job | undefined> | null = null
  objectCount = 0
  /** Frozen jobs (dense pages only), null while there are none. */
  frozen: FrozenColumns | null = null
  frozenCount = 0
  /** Jobs by slot, once few are left (a sparse page has no frozen jobs). */
  sparse: Map<number, Job> | null = null
  /** In JobTable's list of pages whose empty object array or frozen columns go at trimAt (a batch count). */
  trimQueued = false
  trimAt = 0

  constructor(
    readonly number: number,
    /** Position in JobTable's page list: a frozen job's handle is index × pageSlots + slot. */
    readonly index: number,
  ) {}
}

/** What the table needs of a queue's ready or delay heap to swap a job for its handle and back (job-heap.ts). */
export type HeapItems = { readonly items: Array<Job | number> }
export type HeapFinder = (queue: string, loc: number) => HeapItems | undefined

export class JobTable {
  readonly #pages = new Map<number, Page>()
  /** Pages by Page.index (frozen jobs' handles resolve through it without a Map lookup). */
  readonly #pageList: Array<Page | undefined> = []
  readonly #freePageIndexes: number[] = []
  /** Jobs whose id is not of this shard (kept apart; not expected, but never mixed up). */
  readonly #foreign = new Map<number, Job>()
  #size = 0
  /** The highest page number used: the page new ids go to, never made sparse while they do. */
  #newestPage = 0
  readonly payloads = new PayloadArena()
  /** Jobs stored since the last settlePayloads(): their payloads are still strings. */
  #unsettled: Job[] = []
  /** Jobs thawed since the last settlePayloads(): frozen again there if still plain and waiting. */
  #thawed: Job[] = []
  /** Pages new ids moved past since the last settlePayloads(): their waiting jobs are frozen there. */
  #retired: Page[] = []
  /** Dense pages that lost their last Job object or frozen job, in order of trimAt (about). */
  #emptiedPages: Page[] = []
  #emptiedAt = 0
  /** settlePayloads() calls: the clock of spareKeptBatches. */
  #batches = 0
  /** A compaction under way: where it is in the table, and the chunks it empties. */
  #compaction: { jobs: Iterator<Job>; oldChunks: Set<number> } | null = null
  /** The frozen jobs' JobHomes: by index, their counts of frozen jobs, and the index of each. */
  readonly #homes: Array<SharedHome | undefined> = []
  readonly #homeRefs: number[] = []
  readonly #homeIndexes = new Map<SharedHome, number>()
  readonly #freeHomeIndexes: number[] = []
  /** The queues' heaps, once the core attached them: nothing is frozen before. */
  #heapOf: HeapFinder | null = null
  /** #heapFor's last answer, good for one settlePayloads() (a queue may go between batches). */
  #lastHeapQueue: string | null = null
  #lastHeapLoc = 0
  #lastHeap: HeapItems | undefined = undefined
  /** #holdHome's last home and its index (null once that index is freed). */
  #lastHome: SharedHome | null = null
  #lastHomeIndex = 0
  /** The object a viewing walk shows frozen jobs through, and the slot it shows now. */
  #view: Job | null = null
  #viewPage: Page | null = null
  #viewSlot = 0
  /** Off: no job is frozen (tests compare both ways). */
  freezing = true

  constructor(
    private readonly shardIndex: number,
    private readonly shardCount: number,
  ) {}

  get size(): number {
    return this.#size
  }

  /** Jobs kept as numbers now (tests, diagnostics). */
  get frozenCount(): number {
    let count = 0
    for (const page of this.#pages.values()) count += page.frozenCount
    return count
  }

  /** Lets the table freeze waiting jobs into their queue's heap as numbers (Core, once). */
  attachHeaps(heapOf: HeapFinder): void {
    this.#heapOf = heapOf
  }

  #isLocal(id: number): boolean {
    return id % this.shardCount === this.shardIndex
  }

  get(id: number): Job | undefined {
    if (!this.#isLocal(id)) return this.#foreign.get(id)
    const sequence = Math.floor(id / this.shardCount)
    const page = this.#pages.get(sequence >>> pageBits)
    if (page === undefined) return undefined
    return this.#jobAt(page, sequence & (pageSlots - 1))
  }

  /** The job in a slot, thawed if it is frozen (to be frozen again at the batch's end). */
  #jobAt(page: Page, slot: number): Job | undefined {
    if (page.sparse !== null) return page.sparse.get(slot)
    const job = page.objects?.[slot]
    if (job !== undefined) return job
    return page.frozen !== null && page.frozen.bits[slot] !== 0 ? this.#thaw(page, slot) : undefined
  }

  /**
   * The queue, place and times of the job with this id, read without thawing it when it is frozen
   * (CLEAN walks a queue's ids to choose its victims: thawing each of 500,000 cost ~0.4 s). The
   * object is this table's own, overwritten by the next call; null when no job has the id.
   */
  glance(id: number): JobGlance | null {
    const glance = this.#glance
    let job: Job | undefined
    if (!this.#isLocal(id)) job = this.#foreign.get(id)
    else {
      const sequence = Math.floor(id / this.shardCount)
      const page = this.#pages.get(sequence >>> pageBits)
      if (page === undefined) return null
      const slot = sequence & (pageSlots - 1)
      job = page.sparse !== null ? page.sparse.get(slot) : page.objects?.[slot]
      if (job === undefined) {
        const bits = page.frozen === null ? 0 : (page.frozen.bits[slot] as number)
        if (bits === 0) return null
        const home = this.#homes[(page.frozen as FrozenColumns).homeAt(slot)] as SharedHome
        glance.queue = home.queue
        glance.loc = locOfBits(bits)
        glance.createdAt = home.createdAt
        glance.runAt = home.runAt
        return glance
      }
    }
    if (job === undefined) return null
    glance.queue = job.queue
    glance.loc = job.loc
    glance.createdAt = job.createdAt
    glance.runAt = job.runAt
    return glance
  }

  readonly #glance: JobGlance = { queue: '', loc: 0, createdAt: 0, runAt: 0 }

  /** The Job object in the id's slot, without thawing (undefined for a frozen job). */
  #objectOf(id: number): Job | undefined {
    if (!this.#isLocal(id)) return this.#foreign.get(id)
    const sequence = Math.floor(id / this.shardCount)
    const page = this.#pages.get(sequence >>> pageBits)
    if (page === undefined) return undefined
    const slot = sequence & (pageSlots - 1)
    return page.sparse !== null ? page.sparse.get(slot) : page.objects?.[slot]
  }

  has(id: number): boolean {
    if (!this.#isLocal(id)) return this.#foreign.has(id)
    const sequence = Math.floor(id / this.shardCount)
    const page = this.#pages.get(sequence >>> pageBits)
    if (page === undefined) return false
    const slot = sequence & (pageSlots - 1)
    if (page.sparse !== null) return page.sparse.has(slot)
    return page.objects?.[slot] !== undefined || (page.frozen !== null && page.frozen.bits[slot] !== 0)
  }

  /** Stores `job` under its own id (`id` must be job.id). */
  set(id: number, job: Job): this {
    const previous = this.get(id)
    if (previous !== job) {
      if (previous !== undefined) this.payloads.release(previous)
      this.#unsettled.push(job)
    }
    if (!this.#isLocal(id)) {
      if (!this.#foreign.has(id)) this.#size++
      this.#foreign.set(id, job)
      return this
    }
    const sequence = Math.floor(id / this.shardCount)
    const pageNumber = sequence >>> pageBits
    let page = this.#pages.get(pageNumber)
    if (page === undefined) {
      page = this.#newPage(pageNumber)
      if (pageNumber > this.#newestPage) {
        const retired = this.#pages.get(this.#newestPage)
        if (retired !== undefined) this.#retired.push(retired)
        this.#newestPage = pageNumber
      }
    }
    const slot = sequence & (pageSlots - 1)
    if (page.sparse === null) {
      // A frozen previous job was thawed by get() above: the slot holds an object or nothing.
      const objects = (page.objects ??= new Array(pageSlots))
      if (objects[slot] === undefined) {
        this.#added(page)
        page.objectCount++
      }
      objects[slot] = job
    } else {
      const sparse = page.sparse
      if (!sparse.has(slot)) this.#added(page)
      sparse.set(slot, job)
      if (page.count >= denseFrom) this.#makeDense(page)
    }
    return this
  }

  #newPage(pageNumber: number): Page {
    const index = this.#freePageIndexes.pop() ?? this.#pageList.length
    const page = new Page(pageNumber, index)
    this.#pageList[index] = page
    this.#pages.set(pageNumber, page)
    return page
  }

  /**
   * Moves the payloads of the jobs stored since the last call into the arena, lets the arena drop
   * the chunks the batch emptied, and freezes the plain waiting jobs the batch stored or thawed.
   * Called once per batch (Core.drain), after the batch's records and events took the payload
   * texts as they were and its replies were made: nothing holds its Job objects any more.
   */
  settlePayloads(): void {
    this.#lastHeapQueue = null // (#heapFor's answers hold for this pass only)
    const stored = this.#unsettled
    if (stored.length > 0) {
      this.#unsettled = []
      for (const job of stored) if (this.#objectOf(job.id) === job) this.payloads.store(job)
    }
    this.#compactSome()
    this.payloads.endBatch()
    for (const job of stored) this.#freeze(job)
    if (this.#retired.length > 0 && this.freezing && this.#heapOf !== null) {
      for (const page of this.#retired) {
        const objects = page.objects
        if (objects === null || page.sparse !== null || this.#pages.get(page.number) !== page) continue
        for (let slot = 0; slot < pageSlots && page.objects === objects; slot++) {
          const job = objects[slot]
          if (job !== undefined) this.#freezeAt(page, slot, job)
        }
      }
    }
    this.#retired = []
    if (this.#thawed.length > 0) {
      const thawed = this.#thawed
      this.#thawed = []
      for (const job of thawed) this.#freeze(job)
    }
    this.#lastHeapQueue = null
    this.#lastHeap = undefined
    this.#trimSome(++this.#batches)
  }

  /** Drops the empty object arrays and frozen columns that have been empty for spareKeptBatches. */
  #trimSome(batch: number): void {
    const pages = this.#emptiedPages
    while (this.#emptiedAt < pages.length) {
      const page = pages[this.#emptiedAt] as Page
      if (page.trimAt > batch) break
      this.#emptiedAt++
      this.#trim(page)
    }
    if (this.#emptiedAt >= pages.length) {
      pages.length = 0
      this.#emptiedAt = 0
    } else if (this.#emptiedAt >= emptiedPagesSpliceMin && this.#emptiedAt * 2 >= pages.length) {
      pages.splice(0, this.#emptiedAt)
      this.#emptiedAt = 0
    }
  }

  #trim(page: Page): void {
    page.trimQueued = false
    if (page.objectCount === 0) page.objects = null
    if (page.frozenCount === 0) page.frozen = null
  }

  /** The page lost its last Job object or frozen job: what held them goes once the page stays so for a while. */
  #emptied(page: Page): void {
    page.trimAt = this.#batches + spareKeptBatches
    if (!page.trimQueued) {
      page.trimQueued = true
      this.#emptiedPages.push(page)
    }
  }

  #objectLeft(page: Page): void {
    if (--page.objectCount === 0) this.#emptied(page)
  }

  /** Keeps `job` as numbers if it is plain, waiting in a heap, in a dense page, with its payload in the arena. */
  #freeze(job: Job): void {
    const heapOf = this.#heapOf
    if (!this.freezing || heapOf === null) return
    const id = job.id
    if (!this.#isLocal(id)) return
    const sequence = Math.floor(id / this.shardCount)
    const pageNumber = sequence >>> pageBits
    // Jobs of the page new ids go to wait as objects: most leave soon (pulled), and freezing then
    // thawing each would cost a push and pull ~10% more; the page's waiting jobs freeze when it retires.
    if (pageNumber === this.#newestPage) return
    const page = this.#pages.get(pageNumber)
    if (page === undefined || page.sparse !== null) return
    const slot = sequence & (pageSlots - 1)
    const objects = page.objects
    if (objects === null || objects[slot] !== job) return
    this.#freezeAt(page, slot, job)
  }

  /** The queue's heap for a location (the last one asked for, again, without a lookup: a page's jobs share theirs). */
  #heapFor(queue: string, loc: number): HeapItems | undefined {
    if (queue !== this.#lastHeapQueue || loc !== this.#lastHeapLoc) {
      this.#lastHeap = (this.#heapOf as HeapFinder)(queue, loc)
      this.#lastHeapQueue = queue
      this.#lastHeapLoc = loc
    }
    return this.#lastHeap
  }

  /** #freeze of the job in a dense page's slot (of `page.objects`). */
  #freezeAt(page: Page, slot: number, job: Job): void {
    const objects = page.objects as Array<Job | undefined>
    const bits = job.bits
    const loc = locOfBits(bits)
    if (loc !== LOC_READY && loc !== LOC_DELAYED) return
    const home = sharedHomeOf(job)
    if (home === null) return
    const at = job.dataJson
    const place = typeof at === 'number' ? at : at === undefined ? placeAbsent : at === 'null' ? placeNull : -3
    if (place === -3) return
    const heapIndex = job.heapIndex
    const heap = this.#heapFor(home.queue, loc)
    if (heap === undefined || heap.items[heapIndex] !== job || page.index >= handlePagesMax) return
    const homeIndex = this.#holdHome(home)
    if (homeIndex < 0) return
    const columns = (page.frozen ??= new FrozenColumns())
    columns.setPlace(slot, place, page.frozenCount)
    columns.bits[slot] = bits
    columns.setHome(slot, homeIndex, page.frozenCount)
    page.frozenCount++
    objects[slot] = undefined
    this.#objectLeft(page)
    heap.items[heapIndex] = homeIndex * handleHomeSplit + page.index * pageSlots + slot
    // The object is no longer the job: a stale holder reads it as gone, and its payload read throws.
    job.bits = LOC_GONE
    job.dataJson = frozenAwayPlace
  }

  /** Makes the frozen job in a slot a Job object again (kept by the page; put back in its heap). */
  #thaw(page: Page, slot: number): Job {
    const columns = page.frozen as FrozenColumns
    const id = (page.number * pageSlots + slot) * this.shardCount + this.shardIndex
    const bits = columns.bits[slot] as number
    const homeIndex = columns.homeAt(slot)
    const home = this.#homes[homeIndex] as SharedHome
    const job = restoreJob(id, columns.dataAt(slot), bits, home)
    columns.bits[slot] = 0
    this.#dropHome(homeIndex)
    if (--page.frozenCount === 0) this.#emptied(page)
    ;(page.objects ??= new Array(pageSlots))[slot] = job
    page.objectCount++
    this.#thawed.push(job)
    const heapIndex = job.heapIndex
    if (heapIndex >= 0) {
      const heap = (this.#heapOf as HeapFinder)(home.queue, locOfBits(bits))
      const handle = homeIndex * handleHomeSplit + page.index * pageSlots + slot
      if (heap === undefined || heap.items[heapIndex] !== handle) throw new Error(`job table: frozen job ${id} is not at its heap position ${heapIndex}`)
      heap.items[heapIndex] = job
    }
    return job
  }

  /** The home's index in the registry, counting one more frozen job in it; -1 when the registry is full. */
  #holdHome(home: SharedHome): number {
    let index = home === this.#lastHome ? this.#lastHomeIndex : this.#homeIndexes.get(home)
    if (index === undefined) {
      if (this.#freeHomeIndexes.length === 0 && this.#homes.length >= handleHomesMax) return -1
      index = this.#freeHomeIndexes.pop() ?? this.#homes.length
      this.#homes[index] = home
      this.#homeRefs[index] = 0
      this.#homeIndexes.set(home, index)
    }
    this.#homeRefs[index] = (this.#homeRefs[index] as number) + 1
    this.#lastHome = home
    this.#lastHomeIndex = index
    return index
  }

  #dropHome(index: number): void {
    const refs = (this.#homeRefs[index] as number) - 1
    this.#homeRefs[index] = refs
    if (refs > 0) return
    if (index === this.#lastHomeIndex) this.#lastHome = null
    this.#homeIndexes.delete(this.#homes[index] as SharedHome)
    this.#homes[index] = undefined
    this.#freeHomeIndexes.push(index)
  }

  /** Bytes of the frozen jobs' columns (tests, diagnostics: a page of one home has no home column). */
  get frozenColumnBytes(): number {
    let bytes = 0
    for (const page of this.#pages.values()) {
      const columns = page.frozen
      if (columns !== null) bytes += columns.place.byteLength + (columns.wide?.byteLength ?? 0) + columns.bits.byteLength + (columns.home?.byteLength ?? 0)
    }
    return bytes
  }

  /** Shared homes frozen jobs refer to (tests: the registry lets go of a home with no frozen job). */
  get frozenHomeCount(): number {
    return this.#homeIndexes.size
  }

  // A frozen job's handle: see handleHomeSplit.

  /** The id of the frozen job readFrozen read last. */
  frozenIdRead = 0

  /** A frozen job's home; its id goes to frozenIdRead (a heap reads both at once: job-heap.ts). */
  readFrozen(handle: number): SharedHome {
    const homeIndex = Math.floor(handle * perHandleHomeSplit)
    const place = handle - homeIndex * handleHomeSplit
    const page = this.#pageList[place >>> pageBits] as Page
    this.frozenIdRead = (page.number * pageSlots + (place & (pageSlots - 1))) * this.shardCount + this.shardIndex
    return this.#homes[homeIndex] as SharedHome
  }

  setFrozenHeapIndex(handle: number, index: number): void {
    const place = handle - Math.floor(handle * perHandleHomeSplit) * handleHomeSplit
    const bits = ((this.#pageList[place >>> pageBits] as Page).frozen as FrozenColumns).bits
    const slot = place & (pageSlots - 1)
    bits[slot] = bitsWithHeapIndex(bits[slot] as number, index)
  }

  /** The job of a handle, thawed (for a job still in its heap, the heap gets the object back). */
  thawHandle(handle: number): Job {
    const place = handle - Math.floor(handle * perHandleHomeSplit) * handleHomeSplit
    return this.#thaw(this.#pageList[place >>> pageBits] as Page, place & (pageSlots - 1))
  }

  /**
   * One step of a running compaction (starting one when the arena needs it): moves the payloads of
   * the next compactionJobsPerBatch jobs, in id order, out of the chunks the arena held when it
   * started. Jobs deleted or replaced since are skipped; jobs added since are already in new chunks.
   */
  #compactSome(): void {
    if (this.#compaction === null) {
      if (!this.payloads.needsCompaction()) return
      this.#compaction = { jobs: this.values(), oldChunks: this.payloads.chunks() }
    }
    const { jobs, oldChunks } = this.#compaction
    for (let visited = 0; visited < compactionJobsPerBatch; visited++) {
      const next = jobs.next()
      if (next.done === true) {
        this.#compaction = null
        return
      }
      const job = next.value
      const at = job.dataJson
      if (typeof at === 'number' && oldChunks.has(chunkIdOf(at)) && this.#objectOf(job.id) === job) this.payloads.move(job)
    }
  }

  delete(id: number): boolean {
    const job = this.get(id)
    if (job === undefined) return false
    this.#remove(id)
    this.payloads.release(job)
    return true
  }

  #remove(id: number): void {
    if (!this.#isLocal(id)) {
      this.#foreign.delete(id)
      this.#size--
      return
    }
    const sequence = Math.floor(id / this.shardCount)
    const pageNumber = sequence >>> pageBits
    const page = this.#pages.get(pageNumber) as Page
    const slot = sequence & (pageSlots - 1)
    if (page.sparse === null) {
      ;(page.objects as Array<Job | undefined>)[slot] = undefined
      this.#objectLeft(page)
    } else page.sparse.delete(slot)
    this.#size--
    if (--page.count === 0) {
      this.#pages.delete(pageNumber)
      this.#pageList[page.index] = undefined
      this.#freePageIndexes.push(page.index)
    } else if (page.sparse === null && page.count < sparseBelow && pageNumber < this.#newestPage) this.#makeSparse(page)
  }

  /**
   * Every job, in id order: a live walk (jobs that leave before it reaches them are not met; jobs
   * added since it started may be), one result object reused for every step, so a checkpoint's
   * walk of a million jobs leaves no garbage per job (JobCursor). A frozen job is thawed when the
   * walk reaches it and frozen again at the batch's end; a `viewing` walk (the checkpoint's, which
   * runs between batches and keeps no job past the next step) shows it through one reused Job
   * object instead (see keepViewBits).
   */
  values(viewing = false): IterableIterator<Job> {
    const pageNumbers = [...this.#pages.keys()].sort((a, b) => a - b)
    const foreign = [...this.#foreign.values()].sort((a, b) => a.id - b.id)
    return new JobCursor(this.#pages, pageNumbers, foreign, {
      get: (id) => this.get(id),
      jobAt: (page, slot) => this.#jobAt(page, slot),
      viewAt: (page, slot) => this.#viewAt(page, slot),
    }, viewing)
  }

  /** The frozen job in a slot, shown by the table's one view object (a viewing walk's). */
  #viewAt(page: Page, slot: number): Job | undefined {
    const columns = page.frozen
    if (page.sparse !== null || columns === null || columns.bits[slot] === 0) return undefined
    const home = this.#homes[columns.homeAt(slot)] as SharedHome
    const view = (this.#view ??= restoreJob(0, undefined, LOC_GONE, home))
    showJob(view, (page.number * pageSlots + slot) * this.shardCount + this.shardIndex, columns.dataAt(slot), columns.bits[slot] as number, home)
    this.#viewPage = page
    this.#viewSlot = slot
    return view
  }

  /**
   * A viewing walk's reader changed `job`'s bits (the checkpoint marks the jobs it took): when it is
   * the view of a frozen job, they go back to the job's column now, before any batch reads it.
   */
  keepViewBits(job: Job): void {
    const page = this.#viewPage
    if (job !== this.#view || page === null) return
    const columns = page.frozen
    if (columns !== null && columns.bits[this.#viewSlot] !== 0) columns.bits[this.#viewSlot] = job.bits
  }

  /** Every job, newest (highest id) first. */
  *newestFirst(): IterableIterator<Job> {
    const pageNumbers = [...this.#pages.keys()].sort((a, b) => b - a)
    const foreign = [...this.#foreign.values()].sort((a, b) => b.id - a.id)
    let next = 0
    for (const pageNumber of pageNumbers) {
      const page = this.#pages.get(pageNumber) as Page
      const jobs: Job[] = []
      if (page.sparse === null) {
        for (let slot = pageSlots - 1; slot >= 0; slot--) {
          const job = this.#jobAt(page, slot)
          if (job !== undefined) jobs.push(job)
        }
      } else {
        for (const [, job] of [...page.sparse.entries()].sort((a, b) => b[0] - a[0])) jobs.push(job)
      }
      for (const job of jobs) {
        while (next < foreign.length && (foreign[next] as Job).id > job.id) yield foreign[next++] as Job
        yield job
      }
    }
    while (next < foreign.length) yield foreign[next++] as Job
  }

  /**
   * GETJOBS without a queue: the listed jobs (job-index.ts) that pass `keep`, newest first, skipping
   * `offset` of them, at most `limit`. The table is already in id order, so the shard needs no
   * second list of all its jobs. Gives up (null) after visiting `visitMax` jobs, for a caller that
   * has a cheaper way once that many were needed (as JobIndex.page).
   */
  page(keep: (job: Job) => boolean, offset: number, limit: number, visitMax = Infinity): Job[] | null {
    const page: Job[] = []
    let skipped = 0
    let visited = 0
    if (limit <= 0) return page
    for (const job of this.newestFirst()) {
      if (++visited > visitMax) return null
      if (!isListed(job) || !keep(job)) continue
      if (skipped < offset) skipped++
      else if (page.push(job) >= limit) break
    }
    return page
  }

  /** Every job id, in id order (frozen jobs stay frozen). */
  *keys(): IterableIterator<number> {
    const ids: number[] = []
    for (const [pageNumber, page] of this.#pages) {
      const first = pageNumber * pageSlots
      if (page.sparse !== null) for (const slot of page.sparse.keys()) ids.push((first + slot) * this.shardCount + this.shardIndex)
      else {
        for (let slot = 0; slot < pageSlots; slot++) {
          if (page.objects?.[slot] !== undefined || (page.frozen !== null && page.frozen.bits[slot] !== 0)) {
            ids.push((first + slot) * this.shardCount + this.shardIndex)
          }
        }
      }
    }
    for (const id of this.#foreign.keys()) ids.push(id)
    yield* ids.sort((a, b) => a - b)
  }

  #added(page: Page): void {
    page.count++
    this.#size++
  }

  #makeDense(page: Page): void {
    const objects = new Array<Job | undefined>(pageSlots)
    for (const [slot, job] of page.sparse as Map<number, Job>) objects[slot] = job
    page.objectCount = (page.sparse as Map<number, Job>).size
    page.sparse = null
    page.objects = objects
  }

  #makeSparse(page: Page): void {
    const sparse = new Map<number, Job>()
    for (let slot = 0; slot < pageSlots; slot++) {
      const job = this.#jobAt(page, slot)
      if (job !== undefined) sparse.set(slot, job)
    }
    page.objects = null
    page.objectCount = 0
    page.sparse = sparse
  }
}

type CursorTable = {
  get(id: number): Job | undefined
  jobAt(page: Page, slot: number): Job | undefined
  /** The frozen job in the slot through the table's view object, undefined if the slot holds none. */
  viewAt(page: Page, slot: number): Job | undefined
}

/** JobTable.values(): the jobs of the pages, in page order, merged by id with the foreign jobs. */
class JobCursor implements IterableIterator<Job> {
  readonly #result: { done: false; value: Job } = { done: false, value: undefined as unknown as Job }
  readonly #done: IteratorResult<Job> = { done: true, value: undefined }
  #pageAt = 0
  #page: Page | null = null
  #slot = 0
  /** A sparse page's jobs from #slot on, by slot (each checked to be there still when its turn comes). */
  #list: Array<[number, Job]> | null = null
  #listAt = 0
  /** The next job of the pages, once looked at (null: no more; undefined: not looked at). */
  #pending: Job | null | undefined = undefined
  #foreignAt = 0

  constructor(
    private readonly pages: Map<number, Page>,
    private readonly pageNumbers: number[],
    private readonly foreign: Job[],
    private readonly table: CursorTable,
    /** Show frozen jobs through the table's view object, not thawed: for a reader that keeps no job past its step. */
    private readonly viewing: boolean,
  ) {}

  [Symbol.iterator](): IterableIterator<Job> {
    return this
  }

  #isHeld(job: Job): boolean {
    return this.table.get(job.id) === job
  }

  next(): IteratorResult<Job> {
    // A job looked at in an earlier step (foreign jobs went first) may have left, or been frozen, since.
    if (this.#pending !== undefined && this.#pending !== null && !this.#isHeld(this.#pending)) {
      this.#pending = this.table.get(this.#pending.id) ?? undefined
    }
    if (this.#pending === undefined) this.#pending = this.#nextOfPages()
    const pending = this.#pending
    let foreign = this.foreign[this.#foreignAt]
    while (foreign !== undefined && !this.#isHeld(foreign)) foreign = this.foreign[++this.#foreignAt]
    if (foreign !== undefined && (pending === null || foreign.id < pending.id)) {
      this.#foreignAt++
      this.#result.value = foreign
      return this.#result
    }
    if (pending === null) return this.#done
    this.#pending = undefined
    this.#result.value = pending
    return this.#result
  }

  #nextOfPages(): Job | null {
    for (;;) {
      const page = this.#page
      if (page !== null && page.sparse === null && this.#list === null) {
        while (this.#slot < pageSlots) {
          const slot = this.#slot++
          const job = (this.viewing ? this.table.viewAt(page, slot) : undefined) ?? this.table.jobAt(page, slot)
          if (job !== undefined) return job
        }
      } else if (page !== null) {
        // A sparse page (or one made sparse under the walk): its jobs from the walk's slot on.
        const list = (this.#list ??= [...(page.sparse as Map<number, Job>).entries()]
          .filter(([slot]) => slot >= this.#slot).sort((a, b) => a[0] - b[0]))
        while (this.#listAt < list.length) {
          const [slot, job] = list[this.#listAt++] as [number, Job]
          if ((page.sparse !== null ? page.sparse.get(slot) : page.objects?.[slot]) === job) return job
        }
      }
      if (this.#pageAt >= this.pageNumbers.length) return null
      this.#page = this.pages.get(this.pageNumbers[this.#pageAt++] as number) ?? null
      this.#slot = 0
      this.#list = null
      this.#listAt = 0
    }
  }
}
