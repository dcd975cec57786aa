/**
 * JSON text kept as text. A job's payload is stored as its JSON (serialised once at push, so it is
 * canonical: the same bytes JSON.stringify writes for the parsed value) and goes into a log record
 * at push and into the pushed event; parsing it only to serialise it again would cost a parse and a
 * stringify each time, and the parsed object costs more memory than its text.
 *
 * A RawJson serialises correctly anywhere with plain JSON.stringify (toJSON parses it). stringifyJson
 * splices the RawJson fields of an object's top level in unparsed: they are swapped for a marker
 * string while JSON.stringify runs its fast path, and the texts then replace the markers. A client
 * string that happens to contain the marker makes the counts differ, and the value is serialised
 * the plain way instead. (A toJSON method that answered the marker measured slower than parsing:
 * it takes JSON.stringify off its fast path.)
 */

/** A string no request is expected to contain; correctness never depends on that (see above). */
const marker = '\u0000flashq:raw-json\u0000'
const markerJson = JSON.stringify(marker)

export class RawJson {
  constructor(readonly text: string) {}

  toJSON(): unknown {
    return JSON.parse(this.text)
  }
}

/** JSON.stringify(value) (undefined → 'null'), with the RawJson fields of its top level spliced in as text. */
export function stringifyJson(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return JSON.stringify(value) ?? 'null'
  const fields = value as Record<string, unknown>
  let keys: string[] | undefined
  let raws: RawJson[] | undefined
  for (const key in fields) {
    const field = fields[key]
    if (!(field instanceof RawJson)) continue
    ;(keys ??= []).push(key)
    ;(raws ??= []).push(field)
  }
  if (keys === undefined || raws === undefined) return JSON.stringify(value)
  // JSON.stringify writes the fields in the order for…in visits them, so the markers come in `keys` order.
  for (const key of keys) fields[key] = marker
  let json: string
  try {
    json = JSON.stringify(value)
  } finally {
    for (let index = 0; index < keys.length; index++) fields[keys[index] as string] = raws[index]
  }
  const parts = json.split(markerJson)
  if (parts.length !== raws.length + 1) return JSON.stringify(value)
  let spliced = parts[0] as string
  for (let index = 0; index < raws.length; index++) spliced += (raws[index] as RawJson).text + (parts[index + 1] as string)
  return spliced
}
