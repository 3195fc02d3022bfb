/**
 * Module: the unit networks are built from (torch.nn.Module). A module owns named parameters
 * (tensors that require grad), named buffers (state that is saved but not trained, such as batch
 * norm's running statistics) and named child modules; it switches between train and eval
 * behaviour; and it saves/loads its state by dotted names ('features.0.weight').
 * Registration is explicit (this.param('weight', t)) rather than by attribute magic.
 */
import { Tensor } from '../tensor/tensor.js';
import { fromArray } from '../tensor/creation.js';
import type { Device } from '../tensor/backend.js';
import { shapeStr } from '../tensor/shape.js';
import { zeroGrad } from '../autograd/engine.js';
import { activeTracer } from './graph/context.js';

export type StateDict = Map<string, Tensor>;

export abstract class Module {
  training = true;
  private readonly _params = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _children = new Map<string, Module>();

  abstract forward(...inputs: Tensor[]): Tensor;

  /** Calls forward (the place for hooks, like torch's __call__; trace() records leaf modules here). */
  call(...inputs: Tensor[]): Tensor {
    const tracer = activeTracer();
    if (tracer) return tracer.callModule(this, inputs, () => this.forward(...inputs));
    return this.forward(...inputs);
  }

  protected param(name: string, t: Tensor): Tensor;
  protected param(name: string, t: Tensor | null): Tensor | null;
  protected param(name: string, t: Tensor | null): Tensor | null {
    if (t) {
      t.requiresGrad = true;
      t.keep();
      t.name = name;
    }
    this._params.set(name, t);
    return t;
  }

  protected buffer(name: string, t: Tensor | null): Tensor | null {
    t?.keep();
    this._buffers.set(name, t);
    return t;
  }

  protected module<M extends Module>(name: string, m: M): M {
    this._children.set(name, m);
    return m;
  }

  /** Replaces a registered child (used by prepareQAT/convert to swap modules by type). */
  setChild(name: string, m: Module): void {
    if (!this._children.has(name)) throw new Error(`${this.constructor.name} has no child '${name}'`);
    this._children.set(name, m);
    (this as unknown as Record<string, unknown>)[name] = m;
  }

  namedChildren(): [string, Module][] {
    return [...this._children.entries()];
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [n, c] of this._children) yield* c.namedModules(prefix ? `${prefix}.${n}` : n);
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this._params) if (p) out.push([prefix + n, p]);
    for (const [n, c] of this._children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, b] of this._buffers) if (b) out.push([prefix + n, b]);
    for (const [n, c] of this._children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    zeroGrad(this.parameters());
  }

  /** Parameters and buffers by dotted name (the tensors themselves, not copies). */
  stateDict(): StateDict {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copies values into this module's parameters and buffers. Every key is checked before anything
   * is written, so a mismatch never leaves a half-loaded model.
   */
  loadStateDict(state: StateDict | Record<string, Tensor>, opts: { strict?: boolean } = {}): void {
    const strict = opts.strict ?? true;
    const src = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length)) {
      throw new Error(`loadStateDict: ${missing.length ? `missing keys: ${missing.join(', ')}` : ''}${missing.length && unexpected.length ? '; ' : ''}${unexpected.length ? `unexpected keys: ${unexpected.join(', ')}` : ''}`);
    }
    for (const [k, t] of own) {
      const s = src.get(k);
      if (s && (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i]))) {
        throw new Error(`loadStateDict: '${k}' has shape ${shapeStr(s.shape)} in the state but ${shapeStr(t.shape)} in the model`);
      }
    }
    for (const [k, t] of own) {
      const s = src.get(k);
      if (s) t.assign_(fromArray(s.toTypedArray(), t.shape, { dtype: t.dtype, device: t.device }));
    }
  }

  /** Moves every parameter and buffer to a device, in place (the tensors keep their identity). */
  to(device: Device): this {
    for (const [, t] of this.stateDict()) {
      if (t.device !== device) t.assign_(fromArray(t.toTypedArray(), t.shape, { dtype: t.dtype, device }));
    }
    return this;
  }

  /** Number of trainable scalars. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  toString(): string {
    const lines = [this.constructor.name + this.extraRepr()];
    for (const [n, c] of this._children) lines.push(`  (${n}): ${c.toString().split('\n').join('\n  ')}`);
    return lines.join('\n');
  }

  protected extraRepr(): string {
    return '';
  }
}
