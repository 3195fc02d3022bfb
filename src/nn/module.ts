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

  /**
   * State that is neither a parameter nor a buffer but must survive a save and load (PyTorch's
   * get_extra_state): a quantizer's observed range, qparams and switches, a frozen-BN flag.
   * Names are relative to this module and fixed for the module's configuration; shapes may vary
   * with what has been observed, so loading checks them in loadExtraState, not by shape.
   */
  protected extraState(): [string, Tensor][] {
    return [];
  }

  /**
   * Checks `state` (this module's extraState names, all present) and returns a function that
   * applies it. Throws, naming the entry, when a value is invalid; applies nothing by itself, so
   * loadStateDict can check every module before changing any.
   */
  protected loadExtraState(state: Map<string, Tensor>): () => void {
    if (state.size) throw new Error(`${this.constructor.name} has no extra state, got ${[...state.keys()].join(', ')}`);
    return () => {};
  }

  /** Every module's extra state by dotted name. */
  namedExtraState(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules()) for (const [k, t] of m.extraState()) out.push([path ? `${path}.${k}` : k, t]);
    return out;
  }

  /** Parameters, buffers and extra state by dotted name (parameters and buffers are the tensors themselves, not copies). */
  stateDict(): StateDict {
    return new Map([...this.namedParameters(), ...this.namedBuffers(), ...this.namedExtraState()]);
  }

  /**
   * Copies values into this module's parameters and buffers. Every key is checked before anything
   * is written, so a mismatch never leaves a half-loaded model.
   */
  loadStateDict(state: StateDict | Record<string, Tensor>, opts: { strict?: boolean } = {}): void {
    const strict = opts.strict ?? true;
    const src = state instanceof Map ? state : new Map(Object.entries(state));
    const own = new Map([...this.namedParameters(), ...this.namedBuffers()]);
    const extraKeys = new Set(this.namedExtraState().map(([k]) => k));
    // Extra state may be absent as a whole (checkpoints from before it existed load as they did),
    // but a module's extra state is taken all or nothing (checked below).
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k) && !extraKeys.has(k));
    if (strict && (missing.length || unexpected.length)) {
      throw new Error(`loadStateDict: ${missing.length ? `missing keys: ${missing.join(', ')}` : ''}${missing.length && unexpected.length ? '; ' : ''}${unexpected.length ? `unexpected keys: ${unexpected.join(', ')}` : ''}`);
    }
    for (const [k, t] of own) {
      const s = src.get(k);
      if (s && (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i]))) {
        throw new Error(`loadStateDict: '${k}' has shape ${shapeStr(s.shape)} in the state but ${shapeStr(t.shape)} in the model`);
      }
    }
    // Extra state: each module checks its entries now and applies them after the tensors.
    const commits: (() => void)[] = [];
    for (const [path, m] of this.namedModules()) {
      const names = m.extraState().map(([k]) => k);
      if (!names.length) continue;
      const mine = new Map<string, Tensor>();
      for (const k of names) {
        const s = src.get(path ? `${path}.${k}` : k);
        if (s) mine.set(k, s);
      }
      if (mine.size === 0) continue; // absent: the module keeps its own
      if (mine.size !== names.length) throw new Error(`loadStateDict: '${path}' needs all of ${names.join(', ')}`);
      try {
        commits.push(m.loadExtraState(mine));
      } catch (e) {
        throw new Error(`loadStateDict: '${path || '<root>'}': ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    for (const [k, t] of own) {
      const s = src.get(k);
      if (s) t.assign_(fromArray(s.toTypedArray(), t.shape, { dtype: t.dtype, device: t.device }));
    }
    for (const commit of commits) commit();
  }

  /** Moves every parameter and buffer to a device, in place (the tensors keep their identity). */
  to(device: Device): this {
    for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
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
