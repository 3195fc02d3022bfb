/**
 * Checkpoints: a module's state dict in the qgrad container (src/io/container.ts; layout in
 * docs/formats.md): kind "qgrad.checkpoint", one named array per parameter/buffer, user metadata
 * in the JSON header. Written atomically (temp file + rename); loading checks magic, version,
 * sizes and CRC, then every name and shape against the model before writing anything, so a bad
 * file never leaves a half-loaded model.
 */
import { loadContainer, saveContainer } from '../io/container-file.js';
import type { ContainerArray, JsonObject } from '../io/index.js';
import { FileFormatError } from '../io/index.js';
import { fromArray } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from './module.js';

export const CHECKPOINT_KIND = 'qgrad.checkpoint';

function toArray(t: Tensor): ContainerArray {
  const data = t.toTypedArray();
  if (data instanceof Float32Array) return { dtype: 'float32', shape: t.shape, data };
  if (data instanceof Float64Array) return { dtype: 'float64', shape: t.shape, data };
  return { dtype: 'int32', shape: t.shape, data };
}

export function saveCheckpoint(path: string, model: Module, meta: JsonObject = {}): void {
  const arrays: Record<string, ContainerArray> = {};
  for (const [name, t] of model.stateDict()) arrays[name] = toArray(t);
  saveContainer(path, { kind: CHECKPOINT_KIND, meta: { ...meta, model: model.constructor.name }, arrays });
}

/** Loads a checkpoint into model (strict by default) and returns its metadata. */
export function loadCheckpoint(path: string, model: Module, opts: { strict?: boolean } = {}): JsonObject {
  const c = loadContainer(path);
  if (c.kind !== CHECKPOINT_KIND) throw new FileFormatError(path, `holds a '${c.kind}', not a ${CHECKPOINT_KIND}`);
  const state = new Map<string, Tensor>();
  const expected = new Map(model.stateDict());
  for (const [name, a] of Object.entries(c.arrays)) {
    if (a.dtype !== 'float32' && a.dtype !== 'float64' && a.dtype !== 'int32') throw new FileFormatError(path, `array '${name}' has dtype ${a.dtype}, which a float checkpoint cannot hold`);
    // Type confusion (issue 11): float32 bits labelled int32 would load as integer values, converted
    // silently into float parameters. The dtype a model holds is part of its state: it must match.
    const want = expected.get(name);
    if (want !== undefined && want.dtype !== a.dtype) {
      throw new FileFormatError(path, `array '${name}' is stored as ${a.dtype} but the model's '${name}' is ${want.dtype}; refusing to reinterpret it`);
    }
    state.set(name, fromArray(a.data, a.shape, { dtype: a.dtype }));
  }
  try {
    model.loadStateDict(state, opts);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  return c.meta;
}
