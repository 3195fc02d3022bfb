/**
 * A module's state dict as safetensors, the way PyTorch's state_dict() names it: qgrad's
 * Sequential names children '0', '1', ... and layers name their tensors weight, bias,
 * running_mean, running_var, num_batches_tracked, exactly as torch.nn does, so the keys of
 * mnistCnn() equal those of the same nn.Sequential in PyTorch ('0.weight', '3.bias', '7.weight').
 * The one difference is num_batches_tracked: PyTorch keeps a 0-d int64, qgrad a float32 of
 * shape [1]. It is written as a 0-d I64 (so torch's load_state_dict takes it) and read from
 * either form.
 *
 * Loading validates every key (missing, unexpected), dtype and shape against the model before
 * writing anything, so a bad file leaves the model untouched; each error names the key.
 * Node-free: bytes in, bytes out (file I/O in safetensors-file.ts).
 */
import { decodeSafetensors, encodeSafetensors, type SafetensorsInput, type SafetensorsTensor } from '../io/safetensors.js';
import { FileFormatError } from '../io/format-error.js';
import { fromArray } from '../tensor/creation.js';
import { shapeStr } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from './module.js';

/** PyTorch stores this counter as a 0-d int64; qgrad as a float32 [1]. */
function isBatchCounter(key: string): boolean {
  return key === 'num_batches_tracked' || key.endsWith('.num_batches_tracked');
}

/** The model's parameters and buffers as safetensors bytes, with PyTorch's key names and dtypes. */
export function stateDictToSafetensors(model: Module, metadata: Record<string, string> = {}): Uint8Array {
  const entries: [string, SafetensorsInput][] = [];
  for (const [key, t] of model.stateDict()) {
    const data = t.toTypedArray();
    if (isBatchCounter(key) && t.size === 1) entries.push([key, { shape: [], data: Int32Array.of(Math.round(data[0])), dtype: 'I64' }]);
    else entries.push([key, { shape: t.shape, data }]);
  }
  return encodeSafetensors(entries, { format: 'pt', ...metadata });
}

const FLOAT_DTYPES = ['F32', 'F64', 'F16', 'BF16'];
const INT_DTYPES = ['I32', 'I64'];

function checkDtype(key: string, t: Tensor, s: SafetensorsTensor): string | null {
  const allowed = isBatchCounter(key) ? [...INT_DTYPES, ...FLOAT_DTYPES] : t.dtype === 'int32' ? INT_DTYPES : FLOAT_DTYPES;
  return allowed.includes(s.dtype) ? null : `'${key}' has dtype ${s.dtype} in the file but the model holds ${t.dtype} (accepted: ${allowed.join(', ')})`;
}

function checkShape(key: string, t: Tensor, s: SafetensorsTensor): string | null {
  const same = s.shape.length === t.shape.length && s.shape.every((d, i) => d === t.shape[i]);
  const counter = isBatchCounter(key) && t.size === 1 && s.data.length === 1;
  return same || counter ? null : `'${key}' has shape ${shapeStr(s.shape)} in the file but ${shapeStr(t.shape)} in the model`;
}

/**
 * Loads safetensors bytes into the model's parameters and buffers (strict: every model key present,
 * no extra key). Returns the file's __metadata__. Throws FileFormatError naming `source` and the key.
 */
export function loadSafetensorsState(model: Module, bytes: Uint8Array, source = '<safetensors>'): Record<string, string> {
  const file = decodeSafetensors(bytes, source);
  const own = model.stateDict();
  const problems: string[] = [];
  const missing = [...own.keys()].filter((k) => !file.tensors.has(k));
  const extra = [...file.tensors.keys()].filter((k) => !own.has(k));
  if (missing.length) problems.push(`missing key${missing.length > 1 ? 's' : ''} ${missing.map((k) => `'${k}'`).join(', ')}`);
  if (extra.length) problems.push(`unexpected key${extra.length > 1 ? 's' : ''} ${extra.map((k) => `'${k}'`).join(', ')}`);
  for (const [key, t] of own) {
    const s = file.tensors.get(key);
    if (!s) continue;
    const p = checkDtype(key, t, s) ?? checkShape(key, t, s);
    if (p) problems.push(p);
  }
  if (problems.length) throw new FileFormatError(source, problems.join('; '));
  // Everything checked: now convert (fromArray can still reject a device/dtype pair, so build all
  // replacements first) and only then assign.
  const replacements = [...own].map(([key, t]) => [t, fromArray(file.tensors.get(key)!.data, t.shape, { dtype: t.dtype, device: t.device })] as const);
  for (const [t, v] of replacements) t.assign_(v);
  return file.metadata;
}
