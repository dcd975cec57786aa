/** FNV-1a over UTF-16 code units: stable across versions, because shard placement is persisted. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** The shard that owns a queue (or a KV key). Changing this breaks existing data directories. */
export function shardOfName(name: string, shardCount: number): number {
  return fnv1a32(name) % shardCount
}
