/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every log frame.
 * Slice-by-16: sixteen 256-entry tables let the loop consume 16 bytes per iteration (measured
 * ~53 µs per 120 KB against ~74 for slice-by-8, a durable PUSHB of 1000 jobs' frame; reading
 * 4 bytes at a time through an Int32Array view was slower, for the view made per call).
 * Check value: crc32c("123456789") = 0xE3069283.
 */

const polynomial = 0x82f63b78
const sliceBytes = 16

/** tables[k * 256 + b] = CRC of byte b followed by k zero bytes. */
const tables = new Int32Array(sliceBytes * 256)
for (let b = 0; b < 256; b++) {
  let crc = b
  for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ polynomial : crc >>> 1
  tables[b] = crc
}
for (let b = 0; b < 256; b++) {
  let crc = tables[b] as number
  for (let k = 1; k < sliceBytes; k++) {
    crc = (tables[crc & 0xff] as number) ^ (crc >>> 8)
    tables[k * 256 + b] = crc
  }
}

/** CRC32C of bytes[start, end); pass the CRC of the preceding bytes as `previous` to continue it. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, previous = 0): number {
  const t = tables
  let crc = ~previous
  let i = start
  const end16 = end - ((end - i) & 15)
  while (i < end16) {
    // The running CRC folds into the first 4 bytes; each byte then looks up the table of its
    // distance from the end of the 16.
    const low = crc ^ ((bytes[i] as number) | ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24))
    crc =
      (t[15 * 256 + (low & 0xff)] as number) ^
      (t[14 * 256 + ((low >>> 8) & 0xff)] as number) ^
      (t[13 * 256 + ((low >>> 16) & 0xff)] as number) ^
      (t[12 * 256 + (low >>> 24)] as number) ^
      (t[11 * 256 + (bytes[i + 4] as number)] as number) ^
      (t[10 * 256 + (bytes[i + 5] as number)] as number) ^
      (t[9 * 256 + (bytes[i + 6] as number)] as number) ^
      (t[8 * 256 + (bytes[i + 7] as number)] as number) ^
      (t[7 * 256 + (bytes[i + 8] as number)] as number) ^
      (t[6 * 256 + (bytes[i + 9] as number)] as number) ^
      (t[5 * 256 + (bytes[i + 10] as number)] as number) ^
      (t[4 * 256 + (bytes[i + 11] as number)] as number) ^
      (t[3 * 256 + (bytes[i + 12] as number)] as number) ^
      (t[2 * 256 + (bytes[i + 13] as number)] as number) ^
      (t[256 + (bytes[i + 14] as number)] as number) ^
      (t[bytes[i + 15] as number] as number)
    i += 16
  }
  while (i < end) {
    crc = (t[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8)
    i++
  }
  return ~crc >>> 0
}
