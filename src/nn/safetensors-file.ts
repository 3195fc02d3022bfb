/**
 * safetensors files for a module's state dict (Node only: the byte-level logic is in
 * src/nn/safetensors.ts and src/io/safetensors.ts, which the browser can import).
 * Saving goes through writeFileAtomic, so a crash never leaves a half-written file.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import type { Module } from './module.js';
import { loadSafetensorsState, stateDictToSafetensors } from './safetensors.js';

/** Writes the model's state dict to `path` as safetensors (PyTorch's key names; see safetensors.ts). */
export function saveSafetensors(path: string, model: Module, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, stateDictToSafetensors(model, metadata));
}

/** Loads a safetensors state dict (e.g. torch's model.state_dict() saved with safetensors.torch.save_file) into the model. */
export function loadSafetensors(path: string, model: Module): Record<string, string> {
  return loadSafetensorsState(model, readFileSync(path), path);
}
