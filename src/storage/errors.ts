/** Typed operating errors of storage/. Each message is one line that names what to do or where to look. */

/** The log holds a record that is not a torn tail: a damaged frame in the middle, or an LSN gap. */
export class LogCorruptionError extends Error {
  override name = 'LogCorruptionError'
  constructor(
    /** Path of the damaged file. */
    readonly file: string,
    /** Byte offset of the first damaged frame in that file. */
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`log corrupt at ${file}@${offset}: ${reason} (start with --repair to drop everything from there on)`)
  }
}

/** The data directory manifest is missing, unreadable, or disagrees with how the server was started. */
export class ManifestError extends Error {
  override name = 'ManifestError'
}

/** The filesystem of the data directory cannot hold a shard's log (too small for two segments). */
export class DiskSpaceError extends Error {
  override name = 'DiskSpaceError'
}
