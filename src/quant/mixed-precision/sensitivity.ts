/**
 * Per-layer sensitivity to weight quantization, measured the way HAWQ's argument needs it (Dong et
 * al. 2019 §3; ZeroQ, Cai et al. 2020 §3.3): one layer at a time, at each candidate bit width,
 * with every other layer left in float, so that the change of a metric is that layer's alone.
 *
 * For each (layer, bits): a fresh float copy is prepared with `configFor(layer, bits)`, calibrated
 * by the caller (PTQ: observers see float data, src/quant/qat/calibrate.ts), and then every
 * FakeQuantize is switched off except that layer's weight quantizer: the input quantizer, the
 * activation quantizers and the other layers' weights run in float (the fake-quant layers then
 * also skip bias quantization and the requantization simulation, which both need the input
 * quantizer). The metric is the caller's (accuracy or loss on a validation split: never the test
 * set, or the chosen configuration is fitted to it). Its degradation from the float model is the
 * sensitivity that allocate.ts adds up.
 */
import type { Module } from '../../nn/module.js';
import { Conv2d, Linear, type Sequential } from '../../nn/layers.js';
import type { QatConfig } from '../qat/config.js';
import { prepareQAT, setQuantState } from '../qat/prepare.js';
import { QConv2d, QConvBn2d, QLinear } from '../qat/modules.js';
import { checkBits, packedLayerBytes, type QuantLayerInfo } from './size.js';
import type { LayerChoices } from './allocate.js';

export interface SensitivityOptions {
  /** A fresh float copy of the model per call (prepareQAT takes over its parameters). */
  cloneFloat: () => Sequential;
  /** Child names of the conv2d / linear layers to measure (size.ts quantizableLayers). */
  layers: readonly string[];
  candidateBits: readonly number[];
  /** The quantization config that puts `layer`'s weights at `bits` (the other layers' settings do not matter: they run in float). */
  configFor: (layer: string, bits: number) => QatConfig;
  /** PTQ calibration of a prepared model (e.g. `m => calibrate(m, loader)`). */
  calibrate: (model: Sequential) => void;
  /** The metric on validation data; `better` says which direction is good. */
  metric: (model: Sequential) => number;
  better: 'higher' | 'lower';
  /** Called after each measurement (progress). */
  onMeasure?: (m: SensitivityEntry) => void;
}

export interface SensitivityEntry {
  layer: string;
  bits: number;
  /** The metric with this layer's weights at `bits`, the rest float. */
  metric: number;
  /** How much worse than float: baseline − metric when higher is better, metric − baseline when lower is. */
  degradation: number;
}

export interface SensitivityTable {
  better: 'higher' | 'lower';
  /** The metric of the float model. */
  baseline: number;
  entries: SensitivityEntry[];
}

export function measureSensitivity(o: SensitivityOptions): SensitivityTable {
  if (o.layers.length === 0) throw new Error('measureSensitivity: no layers given');
  if (o.candidateBits.length === 0) throw new Error('measureSensitivity: no candidate bit widths given');
  for (const b of o.candidateBits) checkBits(b, 'measureSensitivity: candidateBits');
  if (o.better !== 'higher' && o.better !== 'lower') throw new Error(`measureSensitivity: better must be 'higher' or 'lower', got ${JSON.stringify(o.better)}`);
  // every layer name must exist before any (slow) measurement starts
  const probe = o.cloneFloat();
  for (const name of o.layers) floatLayer(probe, name);

  const baseline = o.metric(o.cloneFloat());
  const entries: SensitivityEntry[] = [];
  for (const layer of o.layers) {
    for (const bits of o.candidateBits) {
      const float = o.cloneFloat();
      const target = floatLayer(float, layer);
      const q = prepareQAT(float, o.configFor(layer, bits));
      o.calibrate(q);
      onlyWeightsOf(q, target, layer);
      const metric = o.metric(q);
      const entry = { layer, bits, metric, degradation: o.better === 'higher' ? baseline - metric : metric - baseline };
      entries.push(entry);
      o.onMeasure?.(entry);
    }
  }
  return { better: o.better, baseline, entries };
}

function floatLayer(model: Sequential, name: string): Module {
  const children = model.namedChildren();
  const found = children.find(([n]) => n === name);
  if (!found) throw new Error(`measureSensitivity: the model has no layer '${name}' (layers: ${children.map(([n, m]) => `${n} ${m.constructor.name}`).join(', ')})`);
  if (!(found[1] instanceof Conv2d || found[1] instanceof Linear)) {
    throw new Error(`measureSensitivity: layer '${name}' (${found[1].constructor.name}) is not quantized by prepareQAT (only Conv2d and Linear have weights to quantize)`);
  }
  return found[1];
}

/** Fake quantization off everywhere except the weights of the layer that wraps `target`. */
function onlyWeightsOf(q: Sequential, target: Module, name: string): void {
  setQuantState(q, { observe: false, fakeQuant: false });
  const layer = [...q.namedModules()].map(([, m]) => m).find((m) =>
    (m instanceof QConv2d || m instanceof QConvBn2d) ? m.conv === target : m instanceof QLinear ? m.linear === target : false);
  if (!(layer instanceof QConv2d || layer instanceof QConvBn2d || layer instanceof QLinear)) {
    throw new Error(`measureSensitivity: layer '${name}' (${target.constructor.name}) is not quantized by prepareQAT (only Conv2d and Linear have weights to quantize)`);
  }
  layer.weightFq.fakeQuantEnabled = true;
}

/**
 * The allocator's input: for each layer, each measured width with its packed size (size.ts) and
 * its degradation as the estimated loss (layers may have been measured at different widths).
 */
export function layerChoices(table: SensitivityTable, layers: readonly QuantLayerInfo[]): LayerChoices[] {
  return layers.map((layer) => {
    const measured = table.entries.filter((e) => e.layer === layer.name);
    if (measured.length === 0) throw new Error(`layerChoices: layer '${layer.name}' was not measured (measured: ${[...new Set(table.entries.map((e) => e.layer))].join(', ')})`);
    return { name: layer.name, options: measured.map((e) => ({ bits: e.bits, bytes: packedLayerBytes(layer, e.bits), loss: e.degradation })) };
  });
}
