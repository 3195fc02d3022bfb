/**
 * The one error every file reader in qgrad throws for bad input: its message always
 * starts with the file (or buffer) name and then says what is wrong, e.g.
 * "model.qgrd: checksum mismatch (file corrupt or truncated)". Callers can catch
 * this class to tell a damaged file from a bug.
 */
export class FileFormatError extends Error {
  override readonly name = 'FileFormatError';

  constructor(
    /** The path or name the bytes came from. */
    readonly source: string,
    /** What is wrong, without the source prefix. */
    readonly problem: string,
  ) {
    super(`${source}: ${problem}`);
  }
}

/**
 * Bytes as they would be quoted in an error message, e.g. 'PK\x03\x04' for a zip file:
 * printable ASCII as itself (except ' and \), everything else as \xNN.
 */
export function printableBytes(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    s += b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return s;
}
