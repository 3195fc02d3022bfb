/**
 * Ownership of device memory. A Storage is one backend buffer shared by every view of it
 * (reshape, permute, slice, expand create views, not copies). It is released by exactly one of:
 * - `dispose()` (explicit, what tidy() and zeroGrad() call),
 * - the end of a `tidy` scope that created it, unless something returned from the scope uses it,
 * - garbage collection of the last view.
 * The backend's liveBuffers() count is what the leak tests watch.
 *
 * Garbage collection: on the cpu and wasm backends a buffer is a plain typed array that only its
 * Storage references, so the collector frees it as soon as no tensor reaches it, even inside a
 * synchronous training loop that never yields; a user who forgets tidy() pays what plain
 * JavaScript would. The FinalizationRegistry then holds only the backend's bookkeeping callback
 * (Backend.collectable), never the array: a registry's held values stay alive until their
 * callbacks run, and those run only between tasks, so holding the buffer there kept every
 * array of a 2000-step loop alive (issue 11, item 7). On the gpu backend the registry holds the
 * buffer and disposes it (a texture needs an explicit delete); that backend warns when live
 * textures keep growing.
 */
import type { Backend, DeviceBuffer } from './backend.js';

type Held = (() => void) | { backend: Backend; buffer: DeviceBuffer };
const finalizer = new FinalizationRegistry<Held>((held) => {
  if (typeof held === 'function') held();
  else held.backend.dispose(held.buffer);
});

interface Scope {
  created: Set<Storage>;
}
const scopes: Scope[] = [];

export class Storage {
  private buf: DeviceBuffer | null;
  readonly backend: Backend;
  private readonly token = {};

  constructor(backend: Backend, buffer: DeviceBuffer) {
    this.backend = backend;
    this.buf = buffer;
    finalizer.register(this, backend.collectable ? backend.collectable(buffer) : { backend, buffer }, this.token);
    const top = scopes[scopes.length - 1];
    if (top) top.created.add(this);
  }

  get buffer(): DeviceBuffer {
    if (this.buf === null) throw new Error('tensor storage was disposed: it can no longer be read or used');
    return this.buf;
  }

  get disposed(): boolean {
    return this.buf === null;
  }

  dispose(): void {
    if (this.buf === null) return;
    finalizer.unregister(this.token);
    this.backend.dispose(this.buf);
    this.buf = null;
  }

  /** Removes this storage from every open tidy scope: it outlives them. */
  keep(): void {
    for (const s of scopes) s.created.delete(this);
  }
}

/**
 * Runs fn and disposes every storage created inside it, except the storages of tensors reachable
 * from its result (a Tensor, or arrays/objects of them) and those marked kept (parameters,
 * gradients, optimizer state). In the spirit of tf.tidy.
 */
export function tidy<T>(fn: () => T, collectStorages: (result: T) => Set<Storage>): T {
  const scope: Scope = { created: new Set() };
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    // Nothing is returned: everything the scope created is garbage (as tf.tidy does on a throw).
    for (const s of scope.created) s.dispose();
    throw e;
  } finally {
    scopes.pop();
  }
  const keepSet = collectStorages(result);
  const parent = scopes[scopes.length - 1];
  for (const s of scope.created) {
    if (keepSet.has(s)) {
      if (parent) parent.created.add(s);
    } else {
      s.dispose();
    }
  }
  return result;
}
