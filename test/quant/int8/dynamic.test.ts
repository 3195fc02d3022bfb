/**
 * The dynamicLinear layer of the int8 engine (src/quant/int8/dynamic.ts), against oracles written
 * here: a float64 matmul of the dequantized operands (the activation levels from the reference
 * DynamicQuantizeLinear, itself checked against ONNX's cases in test/quant/numerics), which the
 * int32 GEMM must match up to float32 rounding; the float layer, which it must match within one
 * activation level per input (scale_x / 2 · Σ|w|); a static int8 stack feeding it through an
 * explicit dequantize; and the validation errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Int8Model, type Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { quantizeDynamic } from '../../../src/quant/index.js';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../../../src/index.js';
import type { DynamicLinearLayer } from '../../../src/quant/int8/dynamic.js';
import { dynamicQuantizeLinear } from '../../../src/quant/numerics/index.js';
import { runs } from '../../helpers/assert.js';
import { mulberry32 } from '../../helpers/rng.js';
import { buildInt8Model, mnistCnnLayers, uniform } from './build.js';

function randomLayer(seed: number, O: number, K: number, opts: Partial<DynamicLinearLayer> = {}): DynamicLinearLayer {
  const rnd = mulberry32(seed);
  return {
    kind: 'dynamicLinear',
    weightShape: [O, K],
    weight: Int8Array.from({ length: O * K }, () => Math.round(rnd() * 254) - 127),
    weightScale: Float32Array.from({ length: O }, () => 0.001 + rnd() * 0.01),
    bias: Float32Array.from({ length: O }, () => rnd() - 0.5),
    activation: 'uint8',
    granularity: 'row',
    ...opts,
  };
}

const single = (layer: DynamicLinearLayer): Int8ModelSpec => ({ inputShape: [layer.weightShape[1]], layers: [layer] });

/** The oracle: per row (or over all rows) DynamicQuantizeLinear, then Σ (x_q - zp)·s_x · w_q·s_w + b in float64. */
function oracle(layer: DynamicLinearLayer, x: Float32Array, N: number): { exact: Float64Array; scales: number[] } {
  const [O, K] = layer.weightShape;
  const exact = new Float64Array(N * O);
  const scales: number[] = [];
  const whole = layer.granularity === 'tensor' ? dynamicQuantizeLinear(x, layer.activation) : null;
  for (let n = 0; n < N; n++) {
    const row = x.subarray(n * K, (n + 1) * K);
    const q = whole ? { levels: whole.levels.subarray(n * K, (n + 1) * K), scale: whole.scale, zeroPoint: whole.zeroPoint } : dynamicQuantizeLinear(row, layer.activation);
    scales.push(q.scale);
    for (let o = 0; o < O; o++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (q.levels[k] - q.zeroPoint) * q.scale * (layer.weight[o * K + k] * layer.weightScale[o]);
      exact[n * O + o] = s + (layer.bias ? layer.bias[o] : 0);
    }
  }
  return { exact, scales };
}

describe('dynamicLinear', () => {
  it('equals the float matmul of its dequantized operands up to float32 rounding, for every granularity and activation type (property)', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 30 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 7 }),
        fc.constantFrom('uint8', 'int8'), fc.constantFrom('row', 'tensor'), fc.boolean(), fc.double({ min: -3, max: 3, noNaN: true }),
        (seed, O, K, N, activation, granularity, withBias, shift) => {
          seen.add(`${activation}/${granularity}`);
          const layer = randomLayer(seed, O, K, { activation, granularity, ...(withBias ? {} : { bias: null }) });
          const x = Float32Array.from(uniform(seed + 1, N * K, shift - 1, shift + 1));
          const y = new Int8Model(single(layer)).forward(x, N);
          const { exact } = oracle(layer, x, N);
          for (let i = 0; i < y.length; i++) {
            // float32(acc) is exact (|acc| < 255·127·80 < 2^24); three float32 roundings (scale product, product, bias add).
            const tol = 2 ** -22 * (Math.abs(exact[i]) + Math.abs(layer.bias?.[i % O] ?? 0)) + 1e-30;
            expect(Math.abs(y[i] - exact[i])).toBeLessThanOrEqual(tol);
          }
        },
      ),
      runs(120, 14101),
    );
    expect([...seen].sort()).toEqual(['int8/row', 'int8/tensor', 'uint8/row', 'uint8/tensor']);
  });

  it('stays within one activation level per input of the float layer: |y - y_float| <= scale_x/2 · Σ|w| (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 30 }), fc.integer({ min: 1, max: 64 }), fc.constantFrom('uint8', 'int8'), (seed, K, activation) => {
        const O = 5, N = 3;
        const layer = randomLayer(seed, O, K, { activation });
        const x = Float32Array.from(uniform(seed + 7, N * K, -0.5, 2));
        const y = new Int8Model(single(layer)).forward(x, N);
        const { scales } = oracle(layer, x, N);
        for (let n = 0; n < N; n++) {
          for (let o = 0; o < O; o++) {
            let yFloat = layer.bias![o], sumAbsW = 0;
            for (let k = 0; k < K; k++) {
              const w = layer.weight[o * K + k] * layer.weightScale[o];
              yFloat += x[n * K + k] * w;
              sumAbsW += Math.abs(w);
            }
            expect(Math.abs(y[n * O + o] - yFloat)).toBeLessThanOrEqual((scales[n] / 2) * sumAbsW * (1 + 1e-5) + 1e-6 * (1 + Math.abs(yFloat)));
          }
        }
      }),
      runs(100, 14102),
    );
  });

  it("per row, an example's output does not depend on the rest of its batch; per tensor it does", () => {
    const K = 16;
    const dim = Float32Array.from(uniform(3, K, 0, 0.1)), bright = Float32Array.from(uniform(4, K, 0, 50));
    const both = new Float32Array([...dim, ...bright]);
    const row = new Int8Model(single(randomLayer(5, 4, K)));
    expect(Array.from(row.forward(both, 2).subarray(0, 4))).toEqual(Array.from(row.forward(dim, 1)));
    const tensor = new Int8Model(single(randomLayer(5, 4, K, { granularity: 'tensor' })));
    expect(Array.from(tensor.forward(both, 2).subarray(0, 4))).not.toEqual(Array.from(tensor.forward(dim, 1)));
  });

  it('runs behind a static int8 conv stack: quantize, conv2d ..., flatten, dequantize, dynamicLinear', () => {
    const layers = mnistCnnLayers(7, 6);
    const built = buildInt8Model(layers, [1, 28, 28], uniform(8, 3 * 784, 0, 1), 3);
    const at = built.spec.layers.findIndex((l) => l.kind === 'linear');
    const linear = built.spec.layers[at] as Extract<Int8ModelSpec['layers'][number], { kind: 'linear' }>;
    const inScale = built.scales[at].inScale!;
    const head = randomLayer(11, 10, 150);
    const mixed: Int8ModelSpec = {
      inputShape: [1, 28, 28],
      layers: [...built.spec.layers.slice(0, at), { kind: 'dequantize', scale: inScale, zeroPoint: linear.inZeroPoint }, head],
    };
    const model = new Int8Model(mixed);
    expect(model.forwardPath().kernels).toBe('js');
    expect(model.forwardPath().reason).toMatch(/layer 6 \(dequantize\) works on float activations/);
    const N = 4;
    const x = Float32Array.from(uniform(9, N * 784, 0, 1));
    const y = model.forward(x, N);
    // Oracle: the static model's levels entering its linear layer, dequantized here, then the dynamic oracle.
    const levels = new Int8Model(built.spec).forwardLevels(x, N).layers.find((l) => l.index === at - 1)!.levels;
    const features = Float32Array.from(levels, (q) => (q - linear.inZeroPoint) * Math.fround(inScale));
    const { exact } = oracle(head, features, N);
    for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - exact[i])).toBeLessThanOrEqual(2 ** -22 * (Math.abs(exact[i]) + 1) + 1e-30);
    const trace = model.forwardLevels(x, N);
    expect(trace.layers[trace.layers.length - 1].values).toEqual(y);
    expect(Array.from(model.forward(x, N))).toEqual(Array.from(trace.output));
  });

  it('refuses what the kernels cannot run, naming the layer and field', () => {
    const bad = (edit: Partial<DynamicLinearLayer> | ((l: DynamicLinearLayer) => void)) => {
      const layer = randomLayer(1, 3, 8);
      if (typeof edit === 'function') edit(layer);
      else Object.assign(layer, edit);
      try {
        new Int8Model(single(layer));
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(bad({ weight: new Int32Array(24) as unknown as Int8Array })).toMatch(/^Int8Model: layer 0 \(dynamicLinear\): weight must be an Int8Array \(int8 levels\), got Int32Array/);
    expect(bad({ weightScale: new Float32Array(2) })).toMatch(/layer 0 \(dynamicLinear\): weightScale has 2 elements, expected 3/);
    expect(bad((l) => (l.weightScale[1] = 0))).toMatch(/weightScale\[1\] = 0 must be finite and > 0/);
    expect(bad((l) => (l.bias![2] = NaN))).toMatch(/bias\[2\] = NaN must be finite/);
    expect(bad({ activation: 'uint4' as never })).toMatch(/activation must be 'uint8' or 'int8', got "uint4"/);
    expect(bad({ granularity: 'batch' as never })).toMatch(/granularity must be 'row' or 'tensor', got "batch"/);
    expect(bad({ weightShape: [3, 9] })).toMatch(/layer 0 \(dynamicLinear\): weight has 24 elements but weightShape \[3, 9\] needs 27/);
    expect(() => new Int8Model({ inputShape: [9], layers: [randomLayer(1, 3, 8)] })).toThrow(/weightShape \[3, 8\] expects 8 input features, but the input has 9/);
    expect(bad((l) => ((l as unknown as Record<string, unknown>).rounding = 'halfEven'))).toMatch(/unknown field 'rounding' \(allowed: kind, weightShape/);
    // 255 · 127 · 66,400 > 2^31 - 1: the accumulator bound is checked per output channel.
    const K = 66_400;
    const wide: DynamicLinearLayer = { ...randomLayer(2, 1, 1), weightShape: [1, K], weight: new Int8Array(K).fill(127) };
    expect(() => new Int8Model(single(wide))).toThrow(/output channel 0 can accumulate \|acc\| up to 255 × 8432800 .* overflows int32/);
    expect(() => new Int8Model(single({ ...wide, weightShape: [1, 66_000], weight: new Int8Array(66_000).fill(127) }))).not.toThrow();
  });

  it('refuses float and level mix-ups at the boundaries', () => {
    const built = buildInt8Model(mnistCnnLayers(7, 6), [1, 28, 28], uniform(8, 784, 0, 1), 1);
    const at = built.spec.layers.findIndex((l) => l.kind === 'linear');
    const head = randomLayer(3, 10, 150);
    const noDequantize: Int8ModelSpec = { inputShape: [1, 28, 28], layers: [...built.spec.layers.slice(0, at), head] };
    expect(() => new Int8Model(noDequantize)).toThrow(/layer 6 \(dynamicLinear\): takes float input, but its input is integer levels \(set by layer 3 \(conv2d\)\); put a dequantize before it/);
    const levelsAfterFloat: Int8ModelSpec = { inputShape: [150], layers: [randomLayer(3, 150, 150), built.spec.layers[at]] };
    expect(() => new Int8Model(levelsAfterFloat)).toThrow(/layer 1 \(linear\): takes integer levels, but its input is float .*put a quantize before it/);
    const endsInLevels: Int8ModelSpec = { inputShape: [1, 28, 28], layers: built.spec.layers.slice(0, at) };
    expect(() => new Int8Model(endsInLevels)).toThrow(/layer 5 \(flatten\): the last layer must be dequantize .* or a float layer/);
    expect(() => new Int8Model({ inputShape: [150], layers: [head, { kind: 'relu', zeroPoint: 3 }] })).toThrow(/layer 1 \(relu\): zeroPoint = 3 must be 0 on float input/);
  });

  it('quantizeDynamic: w_q = round(w · 127 / max|w_o|), and a staticSpec hands over through a dequantize at the linear\'s input scale', () => {
    const built = buildInt8Model(mnistCnnLayers(7, 6), [1, 28, 28], uniform(8, 784, 0, 1), 1);
    const at = built.spec.layers.findIndex((l) => l.kind === 'linear');
    const float = new Sequential(new Conv2d(1, 6, 3), new ReLU(), new MaxPool2d(2), new Conv2d(6, 6, 3), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(150, 10));
    float.eval();
    const spec = quantizeDynamic(float, { inputShape: [1, 28, 28], staticSpec: built.spec });
    expect(spec.layers.map((l) => l.kind)).toEqual([...built.spec.layers.slice(0, at).map((l) => l.kind), 'dequantize', 'dynamicLinear']);
    const linear = built.spec.layers[at] as { inZeroPoint: number };
    expect(spec.layers[at]).toEqual({ kind: 'dequantize', scale: built.scales[at].inScale, zeroPoint: linear.inZeroPoint });
    const head = spec.layers[at + 1] as DynamicLinearLayer;
    const w = (float.namedChildren()[7][1] as Linear).weight.toTypedArray();
    for (let o = 0; o < 10; o++) {
      let amax = 0;
      for (let k = 0; k < 150; k++) amax = Math.max(amax, Math.abs(w[o * 150 + k]));
      expect(head.weightScale[o]).toBeCloseTo(amax / 127, 9);
      for (let k = 0; k < 150; k++) expect(Math.abs(head.weight[o * 150 + k] - w[o * 150 + k] / head.weightScale[o])).toBeLessThanOrEqual(0.5 + 1e-4);
    }
    expect(head.activation).toBe('uint8');
    expect(head.granularity).toBe('row');
    expect(spec.meta).toMatchObject({ scheme: 'dynamic', convs: 'static int8' });
    expect(() => quantizeDynamic(new Sequential(new Conv2d(1, 2, 3)), { inputShape: [1, 5, 5] })).toThrow(/no Linear layer/);
    expect(() => quantizeDynamic(float, { inputShape: [1, 28, 28], granularity: 'batch' as never })).toThrow(/granularity must be 'row' or 'tensor', got batch/);
  });
});
