/**
 * prepareQAT: turns a float Sequential into its quantization-aware twin by swapping modules by
 * type (PyTorch's prepare_qat with fusion): a QuantStub first, then
 *   Conv2d [BatchNorm2d] [ReLU]  →  QConv2d / QConvBn2d (ReLU fused before the output quantizer)
 *   Linear [ReLU]                →  QLinear
 *   MaxPool2d, AvgPool2d?, Flatten, ReLU → kept (they keep values on the grid; AvgPool does not,
 *                                  so it is rejected rather than silently mis-simulated)
 * The Q modules share the float model's parameter tensors (as PyTorch's in-place prepare does):
 * clone the float model first if you want to keep it. Layer overrides are keyed by the float
 * model's child names ('0', '3', ...).
 */
import { Module } from '../../nn/module.js';
import { BatchNorm2d, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, ReLU, Sequential } from '../../nn/layers.js';
import { FakeQuantize } from '../fake-quantize-module.js';
import type { QatConfig, LayerQConfig } from './config.js';
import { QConv2d, QConvBn2d, QLinear, QuantStub } from './modules.js';
import type { GraphModule } from '../../nn/graph/graph.js';
import { prepareModuleQAT, type PrepareOptions } from './graph-prepare.js';

export function prepareQAT(model: Sequential, config: QatConfig): Sequential;
/** Any Module: traced on opts.exampleInput, then prepared node by node (graph-prepare.ts). */
export function prepareQAT(model: Module, config: QatConfig, opts: PrepareOptions): GraphModule;
export function prepareQAT(model: Module, config: QatConfig, opts?: PrepareOptions): Sequential | GraphModule {
  if (opts) return prepareModuleQAT(model, config, opts);
  if (!(model instanceof Sequential)) {
    throw new Error(`prepareQAT: a ${model.constructor.name} is not a Sequential; pass { exampleInput } so it can be traced into a graph`);
  }
  return prepareSequential(model, config);
}

function prepareSequential(model: Sequential, config: QatConfig): Sequential {
  const children = model.namedChildren();
  const cfgFor = (name: string): LayerQConfig => config.layers?.[name] ?? config.default;
  const out: Module[] = [];
  const stub = new QuantStub(config.input ?? config.default);
  out.push(stub);
  let lastFq: FakeQuantize = stub.activationFq;
  for (let i = 0; i < children.length; i++) {
    const [name, m] = children[i];
    const next = children[i + 1]?.[1];
    if (m instanceof Conv2d) {
      let bn: BatchNorm2d | null = null;
      let j = i + 1;
      if (next instanceof BatchNorm2d) {
        bn = next;
        j++;
      }
      const relu = children[j]?.[1] instanceof ReLU;
      if (relu) j++;
      const q = bn ? new QConvBn2d(m, bn, cfgFor(name), lastFq, relu) : new QConv2d(m, cfgFor(name), lastFq, relu);
      out.push(q);
      lastFq = q.activationFq;
      i = j - 1;
    } else if (m instanceof Linear) {
      const relu = next instanceof ReLU;
      const q = new QLinear(m, cfgFor(name), lastFq, relu);
      out.push(q);
      lastFq = q.activationFq;
      if (relu) i++;
    } else if (m instanceof MaxPool2d || m instanceof Flatten || m instanceof ReLU || m instanceof Identity || m instanceof Dropout) {
      out.push(m);
    } else {
      throw new Error(`prepareQAT: no quantized counterpart for layer '${name}' (${m.constructor.name}); supported: Conv2d [BatchNorm2d] [ReLU], Linear [ReLU], MaxPool2d, Flatten, ReLU, Dropout`);
    }
  }
  const q = new Sequential(...out);
  q.training = model.training;
  q.train(model.training);
  return q;
}

/** Every FakeQuantize in a model, in forward order. */
export function fakeQuantizers(model: Module): FakeQuantize[] {
  return [...model.namedModules()].map(([, m]) => m).filter((m): m is FakeQuantize => m instanceof FakeQuantize);
}

/** Sets the observer / fake-quant switches of every quantizer (PyTorch's enable_observer etc.). */
export function setQuantState(model: Module, s: { observe?: boolean; fakeQuant?: boolean }): void {
  for (const fq of fakeQuantizers(model)) {
    if (s.observe !== undefined) fq.observerEnabled = s.observe;
    if (s.fakeQuant !== undefined) fq.fakeQuantEnabled = s.fakeQuant;
  }
}

/** Freezes batch-norm statistics of every QConvBn2d (train on the folded form from now on). */
export function freezeBn(model: Module, frozen = true): void {
  for (const [, m] of model.namedModules()) if (m instanceof QConvBn2d) m.bnFrozen = frozen;
}
