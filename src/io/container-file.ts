/**
 * Container files on disk (Node only): the byte-level format is in container.ts, which the
 * browser can import; this file adds reading a path and writing one atomically.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { decodeContainer, encodeContainer, type Container } from './container.js';

/** Encode and write atomically: an interrupted save never damages an existing file. */
export function saveContainer(path: string, container: Container): void {
  writeFileAtomic(path, encodeContainer(container));
}

/** Read and decode the file at `path`; errors name `path`. */
export function loadContainer(path: string): Container {
  return decodeContainer(readFileSync(path), path);
}
