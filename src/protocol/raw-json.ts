/**
 * JSON text kept as text. A job's payload is stored as the JSON its client sent (re-serialised once,
 * so it is canonical), and goes into log records and replies many times: parsing it only to
 * serialise it again would cost a parse and a stringify per reply, and the parsed object costs more
 * memory than its text.
 *
 * A RawJson inside any value serialises correctly with plain JSON.stringify (toJSON parses it), and
 * stringifyJson splices the text in unparsed: while it runs, toJSON answers a marker string and
 * collects the texts, which then replace the markers in order. A client string that happens to
 * contain the marker makes the counts differ, and the value is serialised the plain way instead.
 */

/** A string no request is expected to contain; correctness never depends on that (see above). */
const marker = '\u0000flashq:raw-json\u0000'
const markerJson = JSON.stringify(marker)

/** The texts of the RawJson values met by the JSON.stringify that stringifyJson runs, in order. */
let collected: string[] | null = null

export class RawJson {
  constructor(readonly text: string) {}

  toJSON(): unknown {
    if (collected === null) return JSON.parse(this.text)
    collected.push(this.text)
    return marker
  }
}

/** JSON.stringify(value), with every RawJson spliced in as its text (the same output, faster). */
export function stringifyJson(value: unknown): string {
  const texts: string[] = []
  collected = texts
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } finally {
    collected = null
  }
  if (json === undefined) return 'null'
  if (texts.length === 0) return json
  const parts = json.split(markerJson)
  if (parts.length !== texts.length + 1) return JSON.stringify(value)
  let spliced = parts[0] as string
  for (let index = 0; index < texts.length; index++) spliced += (texts[index] as string) + (parts[index + 1] as string)
  return spliced
}
