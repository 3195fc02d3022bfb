/**
 * CRC-32 as used by zlib, gzip, PNG and ZIP (ISO 3309 / ITU-T V.42): reflected
 * polynomial 0xEDB88320, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF.
 * Check value: crc32("123456789") = 0xCBF43926.
 *
 * Table-driven, one byte per step (Sarwate 1988). A CRC of 32 bits detects every
 * error burst of up to 32 bits, so any single corrupted byte in a file is caught.
 */

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32 of `bytes`. Pass a previous result as `crc` to continue over a further
 * chunk: `crc32(b, crc32(a))` equals `crc32(a ++ b)`.
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
