/**
 * Webhook URL validation (spec §5.6): only http(s), and never a destination inside the server's own
 * network: loopback, private, link-local, CGNAT and documentation addresses, `localhost`, internal
 * name suffixes and cloud metadata hosts. A server that posts wherever a client asks must not become
 * a way into that network (SSRF).
 *
 * `allowPrivate` (FLASHQ_WEBHOOKS_ALLOW_PRIVATE=1) lifts the address and name rules, for receivers on
 * the same host or intranet (and tests); the scheme rule stays.
 */

const blockedSuffixes = ['.local', '.localhost', '.internal', '.lan', '.svc.cluster.local']

/** Returns why the URL is refused, or null when it may be used. */
export function webhookUrlProblem(text: string, allowPrivate = false): string | null {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return `'${text}' is not a valid URL`
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `scheme '${url.protocol.slice(0, -1)}' is not allowed (use http or https)`
  if (url.username !== '' || url.password !== '') return 'credentials in the URL are not allowed (use the secret)'
  if (allowPrivate) return null
  const host = url.hostname.toLowerCase().replace(/\.$/, '')
  if (host.startsWith('[')) return ipv6Problem(host.slice(1, -1))
  const v4 = parseIpv4(host)
  if (v4 !== null) return ipv4Problem(v4)
  if (host === 'localhost' || blockedSuffixes.some((suffix) => host.endsWith(suffix))) return `host '${host}' is an internal name`
  if (host === 'metadata' || host.startsWith('metadata.')) return `host '${host}' is a metadata service`
  return null
}

/** [cidr base, prefix bits, what it is] */
const blockedV4: Array<[number, number, string]> = [
  [ipv4(0, 0, 0, 0), 8, 'a "this network" address'],
  [ipv4(10, 0, 0, 0), 8, 'a private address'],
  [ipv4(100, 64, 0, 0), 10, 'a CGNAT address'],
  [ipv4(127, 0, 0, 0), 8, 'a loopback address'],
  [ipv4(169, 254, 0, 0), 16, 'a link-local address'],
  [ipv4(172, 16, 0, 0), 12, 'a private address'],
  [ipv4(192, 0, 0, 0), 24, 'a reserved address'],
  [ipv4(192, 0, 2, 0), 24, 'a documentation address'],
  [ipv4(192, 168, 0, 0), 16, 'a private address'],
  [ipv4(198, 18, 0, 0), 15, 'a benchmarking address'],
  [ipv4(198, 51, 100, 0), 24, 'a documentation address'],
  [ipv4(203, 0, 113, 0), 24, 'a documentation address'],
  [ipv4(224, 0, 0, 0), 4, 'a multicast address'],
  [ipv4(240, 0, 0, 0), 4, 'a reserved address'],
]

function ipv4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) >>> 0) + (b << 16) + (c << 8) + d
}

function parseIpv4(host: string): number | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host)
  if (match === null) return null
  const parts = match.slice(1).map(Number)
  if (parts.some((part) => part > 255)) return null
  return ipv4(parts[0] as number, parts[1] as number, parts[2] as number, parts[3] as number)
}

function ipv4Problem(address: number): string | null {
  for (const [base, bits, what] of blockedV4) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
    if (((address & mask) >>> 0) === base) return `${formatV4(address)} is ${what}`
  }
  return null
}

function formatV4(address: number): string {
  return [address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255].join('.')
}

/** The eight 16-bit groups of an IPv6 address (URL hostnames are already normalised by WHATWG URL). */
function ipv6Groups(text: string): number[] | null {
  let head = text
  let tail: number[] = []
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (v4) {
    const address = parseIpv4(v4[1] as string)
    if (address === null) return null
    tail = [address >>> 16, address & 0xffff]
    head = text.slice(0, -(v4[1] as string).length).replace(/:$/, '') || ':'
    if (head === ':') head = '::'
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined]
  const parse = (part: string | undefined) => (part === undefined || part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)))
  const leftGroups = parse(left)
  const rightGroups = [...parse(right), ...tail]
  const missing = 8 - leftGroups.length - rightGroups.length
  if (right === undefined && missing !== 0) return null
  const groups = [...leftGroups, ...Array(Math.max(0, missing)).fill(0), ...rightGroups]
  return groups.length === 8 && groups.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff) ? groups : null
}

function ipv6Problem(text: string): string | null {
  const groups = ipv6Groups(text)
  if (groups === null) return `'${text}' is not a valid IPv6 address`
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number]
  const zeroPrefix = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0
  if (zeroPrefix && g5 === 0 && g6 === 0 && (g7 === 0 || g7 === 1)) return `[${text}] is a loopback or unspecified address`
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible addresses carry an IPv4 address: judge that.
  if (zeroPrefix && (g5 === 0xffff || g5 === 0)) return ipv4Problem(((g6 << 16) >>> 0) + g7)
  if ((g0 & 0xfe00) === 0xfc00) return `[${text}] is a private (unique local) address`
  if ((g0 & 0xffc0) === 0xfe80) return `[${text}] is a link-local address`
  if (g0 === 0x2001 && g1 === 0x0db8) return `[${text}] is a documentation address`
  if ((g0 & 0xff00) === 0xff00) return `[${text}] is a multicast address`
  if (g0 === 0x0064 && g1 === 0xff9b) return ipv4Problem(((g6 << 16) >>> 0) + g7) // NAT64
  return null
}
