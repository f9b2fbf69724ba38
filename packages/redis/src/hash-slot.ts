/** How many hash slots a Redis Cluster divides its keys into. */
const SLOT_COUNT = 16384

/** CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster uses. */
const CRC16_TABLE = new Uint16Array(256)
for (let byte = 0; byte < 256; byte++) {
  let crc = byte << 8
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1
  CRC16_TABLE[byte] = crc & 0xffff
}

/**
 * The Redis Cluster hash slot of a key, as the server computes it: CRC16 of the key's UTF-8
 * bytes mod 16384, or of its hash tag only when the key holds a non-empty `{tag}`.
 * Looking for the braces in the string rather than in its bytes gives the same tag, since no
 * multi-byte UTF-8 sequence contains the bytes of `{` or `}`.
 */
export function hashSlot(key: string): number {
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) key = key.slice(open + 1, close)
  }
  let crc = 0
  for (const byte of Buffer.from(key, 'utf8')) {
    crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!
  }
  return crc % SLOT_COUNT
}
