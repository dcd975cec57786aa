/**
 * JSON text kept as text. A job's payload is stored as its JSON (serialised once at push, so it is
 * canonical: the same bytes JSON.stringify writes for the parsed value). Parsing it only to
 * serialise it again costs a parse and a stringify each time, and the parsed object costs more
 * memory than its text.
 *
 * A RawJson serialises correctly anywhere with plain JSON.stringify (toJSON parses it). stringifyJson
 * splices the texts in unparsed, two ways:
 * - RawJson fields of the value's top level (log records, events) are swapped for a marker string
 *   while JSON.stringify runs, which keeps it on its fast path;
 * - nested ones (a big payload inside a reply's job) answer another marker from toJSON while
 *   stringifyJson runs. A toJSON method takes JSON.stringify off its fast path, so small payloads
 *   in replies are better parsed (job.ts decides).
 * The markers are then replaced by the texts in document order. A client string that happens to
 * contain a marker makes the counts differ, and the value is serialised the plain way instead.
 */

/** Strings no request is expected to contain; correctness never depends on that (see above). */
const topMarker = '\u0000flashq:raw-json\u0000'
const nestedMarker = '\u0000flashq:raw-json-nested\u0000'
const topMarkerJson = JSON.stringify(topMarker)
const nestedMarkerJson = JSON.stringify(nestedMarker)
const markers = new RegExp(`(${escapeRegExp(topMarkerJson)}|${escapeRegExp(nestedMarkerJson)})`)

/** The texts of nested RawJson values met by the JSON.stringify that stringifyJson runs, in order. */
let nestedTexts: string[] | null = null
/** An empty array for the next stringifyJson's nestedTexts (null while one is in use: calls may nest through toJSON). */
let spareNested: string[] | null = null
const noKeys: string[] = []
const noTopTexts: RawJson[] = []

export class RawJson {
  constructor(readonly text: string) {}

  toJSON(): unknown {
    if (nestedTexts === null) return JSON.parse(this.text)
    nestedTexts.push(this.text)
    return nestedMarker
  }
}

/** JSON.stringify(value) (undefined → 'null'), with every RawJson in it spliced in as its text. */
export function stringifyJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null'
  const fields = value as Record<string, unknown>
  // Allocated only when a RawJson is met: most replies (a push's `{ok, id}`) have none, and this runs per reply.
  let keys: string[] = noKeys
  let topTexts: RawJson[] = noTopTexts
  if (!Array.isArray(value)) {
    // Whether the value is `{ok: true, id: <integer>}` and nothing else, as far as the loop has seen.
    let okAndIdSeen = 0
    for (const key in fields) {
      const field = fields[key]
      if (okAndIdSeen === 0 ? key === 'ok' && field === true : okAndIdSeen === 1 && key === 'id' && Number.isSafeInteger(field)) okAndIdSeen++
      else okAndIdSeen = -1
      if (!(field instanceof RawJson)) continue
      if (keys === noKeys) {
        keys = []
        topTexts = []
      }
      keys.push(key)
      topTexts.push(field)
    }
    // Every PUSH's reply, the most frequent one: the same text as JSON.stringify's, without running it.
    if (okAndIdSeen === 2) return `{"ok":true,"id":${fields.id as number}}`
  }
  // JSON.stringify writes the fields in the order for…in visits them, so top markers come in `keys` order.
  for (const key of keys) fields[key] = topMarker
  // Reused while empty: a RawJson.toJSON met in this stringify is what makes it non-empty.
  const nested = spareNested ?? []
  spareNested = null
  nestedTexts = nested
  let json: string
  try {
    json = JSON.stringify(value)
  } finally {
    nestedTexts = null
    for (let index = 0; index < keys.length; index++) fields[keys[index] as string] = topTexts[index]
    if (nested.length === 0) spareNested = nested
  }
  if (keys.length === 0 && nested.length === 0) return json
  if (keys.length === 1 && nested.length === 0) {
    // A record's payload, the common case: one marker to replace, found without a regex split (a
    // checkpoint serializes a million of these). A second one is a client string: the general way.
    const at = json.indexOf(topMarkerJson)
    const after = at + topMarkerJson.length
    if (at >= 0 && json.indexOf(topMarkerJson, after) < 0) {
      return json.slice(0, at) + (topTexts[0] as RawJson).text + json.slice(after)
    }
  }
  const parts = json.split(markers)
  let spliced = parts[0] as string
  let top = 0
  let inner = 0
  for (let index = 1; index < parts.length; index += 2) {
    const text = parts[index] === topMarkerJson ? topTexts[top++]?.text : nested[inner++]
    // Each RawJson wrote one marker; a client string can only add more, so running out means one did.
    if (text === undefined) return JSON.stringify(value)
    spliced += text + (parts[index + 1] as string)
  }
  return spliced
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')
}
