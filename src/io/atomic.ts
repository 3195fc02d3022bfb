/**
 * Atomic file replacement: a reader (or a later run after a crash) sees either the old
 * file or the complete new one, never a half-written checkpoint.
 *
 * Recipe (the one used by write-file-atomic, SQLite and most databases):
 *   1. write everything to a uniquely named temp file in the SAME directory
 *      (rename(2) is only atomic within one filesystem);
 *   2. fsync the temp file, so its data is on disk before its name is;
 *   3. rename it over the target: POSIX guarantees rename(2) replaces the target
 *      atomically (POSIX.1-2017, rename: "a link named new shall remain visible to
 *      other threads throughout the renaming operation");
 *   4. fsync the directory, so the rename itself survives a power loss (best effort:
 *      not every platform can open a directory).
 * On any error before the rename the temp file is removed and the target is untouched.
 * A process killed between steps 1 and 3 can leave a `.<name>.<pid>.<hex>.tmp` file
 * behind, but never a damaged target. Such leftovers are removed by the next successful save of
 * the same target (issue 11: 20 killed streamed saves had left 177 MB): a temp file is stale
 * when it was last modified before this process started and the process that made it (the pid
 * in its name) is gone or is this one, so a concurrent writer's temp file is never touched.
 *
 * Synchronous on purpose: checkpoints are written between training steps, and a
 * synchronous write cannot interleave with a second save of the same file.
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  readdirSync,
  fsyncSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * What can be written: bytes, a UTF-8 string, or an iterable of byte chunks (a
 * generator lets a large file be streamed, and if it throws nothing is replaced).
 */
export type AtomicWriteData = Uint8Array | string | Iterable<Uint8Array>;

export interface WriteFileAtomicOptions {
  /** Permission bits of the new file. Default: those of the file being replaced, else 0o666 minus umask. */
  mode?: number;
}

/** Replace the file at `path` with `data` atomically (see the module comment). */
export function writeFileAtomic(path: string, data: AtomicWriteData, options: WriteFileAtomicOptions = {}): void {
  const target = resolve(path);
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

  let mode = options.mode;
  if (mode === undefined) {
    try {
      mode = statSync(target).mode & 0o7777;
    } catch {
      // No existing file: let open() apply the default mode and the umask.
    }
  }

  // 'wx' = O_CREAT | O_EXCL: never write into a file that someone else created.
  // If this throws (missing directory, no permission) there is nothing to clean up.
  let fd = openSync(temp, 'wx');
  try {
    if (mode !== undefined) fchmodSync(fd, mode);
    for (const chunk of chunksOf(data)) writeAll(fd, chunk);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(temp, target);
  } catch (error) {
    if (fd !== -1) {
      try {
        closeSync(fd);
      } catch {
        // Already failing; the original error is the one worth reporting.
      }
    }
    try {
      unlinkSync(temp);
    } catch {
      // The temp file may already be gone (e.g. its directory was removed).
    }
    throw error;
  }
  fsyncDirectory(dir);
  removeStaleTemps(dir, basename(target));
}

/** When this process started, in ms since the epoch (the line between "stale" and "maybe in use"). */
const PROCESS_START_MS = Date.now() - process.uptime() * 1000;

/** Removes `.<name>.<pid>.<hex>.tmp` files of this target left by killed saves (best effort). */
export function removeStaleTemps(dir: string, name: string): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return removed;
  }
  const prefix = `.${name}.`;
  for (const entry of entries) {
    if (!entry.startsWith(prefix) || !entry.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(entry.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    const path = join(dir, entry);
    try {
      if (statSync(path).mtimeMs >= PROCESS_START_MS) continue;
      if (pid !== process.pid && processAlive(pid)) continue;
      unlinkSync(path);
      removed.push(path);
    } catch {
      // Gone already, or not ours to remove: leave it.
    }
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function* chunksOf(data: AtomicWriteData): Iterable<Uint8Array> {
  if (typeof data === 'string') yield Buffer.from(data, 'utf8');
  else if (data instanceof Uint8Array) yield data;
  else yield* data;
}

/** write(2) may write fewer bytes than asked; loop until the chunk is out. */
function writeAll(fd: number, chunk: Uint8Array): void {
  let offset = 0;
  while (offset < chunk.length) {
    offset += writeSync(fd, chunk, offset, chunk.length - offset);
  }
}

function fsyncDirectory(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows cannot open directories, some filesystems refuse fsync on them: the
    // rename has still happened, only its durability across power loss is weaker.
  } finally {
    if (fd !== -1) closeSync(fd);
  }
}
