/**
 * tidy(): scoped ownership of device memory, in the spirit of tf.tidy. Every tensor created inside
 * fn is disposed when fn returns, except the tensors it returns (a Tensor, or arrays / plain
 * objects holding Tensors) and tensors marked with keep() (parameters, gradients, optimizer state).
 */
import { Storage, tidy as tidyStorages } from './storage.js';
import { Tensor } from './tensor.js';

export function tidy<T>(fn: () => T): T {
  return tidyStorages(fn, (result) => {
    const found = new Set<Storage>();
    const seen = new Set<unknown>();
    const visit = (v: unknown): void => {
      if (v === null || typeof v !== 'object' || seen.has(v)) return;
      seen.add(v);
      if (v instanceof Tensor) {
        found.add(v.storage);
        return;
      }
      if (Array.isArray(v)) v.forEach(visit);
      else if (Object.getPrototypeOf(v) === Object.prototype) Object.values(v).forEach(visit);
    };
    visit(result);
    return found;
  });
}
