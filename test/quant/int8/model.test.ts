/**
 * Whole models through Int8Model: every layer's integer output against a float simulation of
 * that layer (dequantized inputs, weights and bias, float64 conv/linear from the naive
 * reference, requantized with the real output scale), plus the engine's API: chunked forward,
 * predict, input checks, private copies of the spec, describe().
 */
import { describe, expect, it } from 'vitest';
import { Int8Model, type Int8Layer, type Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { dequantize, quantize, roundHalfEven } from '../../../src/quant/numerics/index.js';
import * as R from '../../helpers/reference.js';
import { buildInt8Model, floatLayer, mnistCnnLayers, randomConv, randomLinear, uniform, type BuildOptions, type FloatLayer, type LayerScales } from './build.js';

/**
 * Check every layer of `trace` against the float simulation. Returns the fraction of
 * weighted-layer outputs that match the simulation exactly (the rest must be off by one level).
 */
function checkAgainstFloatSimulation(spec: Int8ModelSpec, scales: LayerScales[], trace: ReturnType<Int8Model['forwardLevels']>, batch: number): number {
  let exact = 0, total = 0;
  for (let i = 1; i < spec.layers.length - 1; i++) {
    const layer = spec.layers[i]!;
    const input = trace.layers[i - 1]!, got = trace.layers[i]!;
    const inShape = input.shape;
    if (layer.kind === 'conv2d' || layer.kind === 'linear') {
      const { inScale, outScale, weightScale } = scales[i] as Required<LayerScales>;
      const x = R.nd(inShape, Array.from(input.levels, (q) => (q - layer.inZeroPoint) * inScale));
      const O = layer.weightShape[0], K = layer.weight.length / O;
      const w = Array.from(layer.weight, (q, k) => (q - layer.weightZeroPoint[Math.floor(k / K)]!) * weightScale[Math.floor(k / K)]!);
      const b = layer.bias ? Array.from(layer.bias, (q, o) => q * inScale * weightScale[o]!) : null;
      const y = layer.kind === 'conv2d'
        ? floatLayer({ kind: 'conv2d', weight: w, weightShape: layer.weightShape, bias: b, stride: layer.stride, padding: layer.padding, dilation: layer.dilation, groups: layer.groups }, x)
        : floatLayer({ kind: 'linear', weight: w, weightShape: layer.weightShape, bias: b }, x);
      expect(got.shape).toEqual(y.shape);
      y.data.forEach((v, e) => {
        const expected = Math.min(layer.qmax, Math.max(layer.qmin, layer.outZeroPoint + roundHalfEven(v / outScale)));
        const diff = Math.abs(got.levels[e]! - expected);
        if (diff > 1) expect({ layer: i, element: e, got: got.levels[e], expected }).toBeUndefined();
        if (diff === 0) exact++;
        total++;
      });
    } else if (layer.kind === 'maxpool2d') {
      // Any positive scale works: max pooling commutes with the increasing dequantization.
      const p = { scale: 0.37, zeroPoint: 0, qmin: -(2 ** 24), qmax: 2 ** 24 };
      const pooled = R.maxPool2d(R.nd(inShape, dequantize(input.levels, p)), { kernel: layer.kernel, stride: layer.stride, padding: layer.padding, dilation: layer.dilation ?? [1, 1] });
      expect(Array.from(got.levels)).toEqual(Array.from(quantize(pooled.data, p)));
    } else if (layer.kind === 'relu') {
      expect(Array.from(got.levels)).toEqual(Array.from(input.levels, (q) => Math.max(q, layer.zeroPoint)));
    } else if (layer.kind === 'flatten') {
      expect(got.shape).toEqual([batch, input.levels.length / batch]);
      expect(Array.from(got.levels)).toEqual(Array.from(input.levels));
    }
  }
  // The last layer: float32((q - zp) · scale), as numerics' dequantize.
  const last = spec.layers[spec.layers.length - 1] as Extract<Int8Layer, { kind: 'dequantize' }>;
  const levels = trace.layers[trace.layers.length - 1]!.levels;
  expect(Array.from(trace.output)).toEqual(Array.from(dequantize(levels, { scale: last.scale, zeroPoint: last.zeroPoint, qmin: -(2 ** 24), qmax: 2 ** 24 })));
  return exact / total;
}

function buildAndCheck(layers: FloatLayer[], inputShape: number[], options: BuildOptions, seed: number): void {
  const size = inputShape.reduce((a, b) => a * b, 1);
  const built = buildInt8Model(layers, inputShape, uniform(seed, 6 * size, -1, 1), 6, options);
  const model = new Int8Model(built.spec);
  // Fresh data, a little wider than the calibration set, so some outputs clamp.
  const batch = 5;
  const x = Float32Array.from(uniform(seed + 1, batch * size, -1.2, 1.2));
  const trace = model.forwardLevels(x, batch);
  const exactFraction = checkAgainstFloatSimulation(built.spec, built.scales, trace, batch);
  expect(exactFraction).toBeGreaterThan(0.97);
  expect(Array.from(model.forward(x, batch))).toEqual(Array.from(trace.output));

  // And the quantized model tracks the float model it came from.
  let y = R.nd([batch, ...inputShape], x);
  for (const layer of layers) y = floatLayer(layer, y);
  const outScale = built.scales[built.scales.length - 2]!.outScale!;
  const meanError = y.data.reduce((s, v, i) => s + Math.abs(v - trace.output[i]!), 0) / y.data.length;
  expect(meanError / outScale).toBeLessThan(6);
}

describe('end to end: integer outputs vs a float simulation of every layer (within one level)', () => {
  const layers: FloatLayer[] = [
    randomConv(1, 6, 1, 3, 3, { padding: [1, 1], relu: true }),
    { kind: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [1, 1] },
    randomConv(3, 6, 3, 3, 2, { groups: 2, stride: [2, 1], dilation: [1, 2], padding: [1, 0] }),
    { kind: 'relu' },
    { kind: 'flatten' },
    randomLinear(5, 7, 6 * 3 * 3, { relu: true }),
    randomLinear(7, 4, 7),
  ];

  it('uint8 activations, symmetric per-channel weights, halfEven input rounding', () => {
    buildAndCheck(layers, [1, 9, 8], {}, 10);
  });

  it('int8 activations, asymmetric per-channel weights, halfAwayFromZero input rounding', () => {
    buildAndCheck(layers, [1, 9, 8], { activations: 'int8', weights: 'affine', rounding: 'halfAwayFromZero' }, 20);
  });

  it('the reference MNIST CNN shape (with 4 channels)', () => {
    buildAndCheck(mnistCnnLayers(30, 4), [1, 28, 28], { activations: 'int8' }, 30);
  });
});

describe('Int8Model API', () => {
  const built = buildInt8Model(
    [randomConv(41, 16, 1, 3, 3, { relu: true }), { kind: 'maxpool2d', kernel: [4, 4] }, { kind: 'flatten' }, randomLinear(42, 5, 16 * 15 * 15)],
    [1, 62, 62], uniform(40, 2 * 62 * 62, 0, 1), 2,
  );

  it('forward streams big batches in chunks with the same result as one example at a time', () => {
    const model = new Int8Model(built.spec);
    const batch = 40; // 16·60·60 levels per example: chunks of 18 examples
    const x = Float32Array.from(uniform(43, batch * 62 * 62, 0, 1));
    const all = model.forward(x, batch);
    expect(all.length).toBe(batch * 5);
    for (let n = 0; n < batch; n++) {
      const one = model.forward(x.subarray(n * 62 * 62, (n + 1) * 62 * 62), 1);
      expect(Array.from(all.subarray(n * 5, (n + 1) * 5)), `example ${n}`).toEqual(Array.from(one));
    }
    expect(Array.from(model.forwardLevels(x.subarray(0, 3 * 62 * 62), 3).output)).toEqual(Array.from(all.subarray(0, 15)));
    expect(model.forward(new Float32Array(0), 0).length).toBe(0);
    expect(Array.from(model.forward(Array.from(x.subarray(0, 62 * 62)), 1))).toEqual(Array.from(all.subarray(0, 5))); // plain arrays too
  });

  it('predict is the first arg-max of the logits', () => {
    const model = new Int8Model(built.spec);
    const x = Float32Array.from(uniform(44, 30 * 62 * 62, 0, 1));
    const logits = model.forward(x, 30);
    const classes = model.predict(x, 30);
    for (let n = 0; n < 30; n++) {
      const row = Array.from(logits.subarray(n * 5, n * 5 + 5));
      expect(classes[n]).toBe(row.indexOf(Math.max(...row)));
    }
    expect(new Set(classes).size).toBeGreaterThan(1);
  });

  it('rejects inputs of the wrong size, bad batch sizes and NaN', () => {
    const model = new Int8Model(built.spec);
    expect(() => model.forward(new Float32Array(10), 1)).toThrow(/x has 10 elements, but 1 example\(s\) of shape \[1, 62, 62\] need 3844/);
    expect(() => model.forward(new Float32Array(0), -1)).toThrow(/batch must be a non-negative integer/);
    expect(() => model.predict(new Float32Array(3844), 1.5)).toThrow(/batch must be a non-negative integer/);
    expect(() => model.forward(new Float32Array(3844).fill(NaN), 1)).toThrow(/NaN/);
  });

  it('keeps a private copy of the spec', () => {
    const spec = structuredClone(built.spec);
    const model = new Int8Model(spec);
    const x = Float32Array.from(uniform(45, 62 * 62, 0, 1));
    const before = Array.from(model.forward(x, 1));
    const conv = spec.layers[1] as Extract<Int8Layer, { kind: 'conv2d' }>;
    conv.weight.fill(0);
    conv.multiplier.fill(0);
    expect(Array.from(model.forward(x, 1))).toEqual(before);
    const copy = model.toSpec();
    (copy.layers[1] as Extract<Int8Layer, { kind: 'conv2d' }>).weight.fill(0);
    expect(Array.from(model.forward(x, 1))).toEqual(before);
    expect(Array.from((model.toSpec().layers[1] as Extract<Int8Layer, { kind: 'conv2d' }>).weight)).toEqual(
      Array.from((built.spec.layers[1] as Extract<Int8Layer, { kind: 'conv2d' }>).weight),
    );
  });

  it('describes itself layer by layer', () => {
    const model = new Int8Model(built.spec);
    const text = model.describe();
    expect(text).toMatch(/^Int8Model: input \[1, 62, 62\] -> output \[5\], 6 layers, \d+ parameters, \d+ bytes as a file/);
    expect(text).toContain('conv2d');
    expect(text).toContain('gemm two-lane (forward pools before requantizing)');
    expect(text).toContain('-> [16, 60, 60]');
    expect(text).toContain('-> [3600]');
    expect(model.sizeBytes()).toBe(model.toBytes().length);
    expect(model.inputShape).toEqual([1, 62, 62]);
    expect(model.outputShape).toEqual([5]);
  });
});
