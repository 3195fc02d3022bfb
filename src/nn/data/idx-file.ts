/**
 * IDX files on disk (Node only): parsing and encoding are in idx.ts, which the browser can import.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../io/atomic.js';
import { encodeIdx, parseIdx, type IdxArray } from './idx.js';

/** Read and parse an IDX file; errors name `path`. Byte data is a view of the file's own buffer. */
export function readIdx(path: string): IdxArray {
  return parseIdx(readFileSync(path), path, { view: true });
}

/** Write an IDX file atomically. */
export function writeIdx(path: string, array: IdxArray): void {
  writeFileAtomic(path, encodeIdx(array));
}
