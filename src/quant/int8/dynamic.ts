/**
 * Dynamic quantization of a linear layer (PyTorch's quantize_dynamic for nn.Linear; ONNX
 * DynamicQuantizeLinear + MatMulInteger, the graph onnxruntime's quantize_dynamic emits):
 * the weights are int8 levels quantized ahead of time, the activations are quantized at run time
 * from the range the layer actually sees, the product is an integer GEMM with int32 accumulation,
 * and the result is dequantized to float. Input and output are float: the layer is a float island
 * of the int8 engine (model.ts) that calibrates nothing.
 *
 *   weights     w_q[o, k] int8, symmetric per output channel: w ≈ w_q · weightScale[o]
 *   activations (scale_x, zp_x) = DynamicQuantizeLinear's formula over the measured range
 *               (numerics/dynamic-range.ts; uint8 [0, 255] as ONNX, or int8 [-128, 127])
 *               x_q = saturate(round(x / scale_x) + zp_x)
 *   GEMM        acc[n, o] = Σ_k (x_q[n, k] - zp_x) · w_q[o, k]                      exact int32
 *   output      y[n, o] = float32(float32(acc) · float32(scale_x · weightScale[o])) + bias[o]
 *               (MatMulInteger -> Cast -> Mul by the product of the scales -> Add, each in float32)
 *
 * `granularity` chooses what one activation range covers:
 *   'row'    one range per example (per row of the [batch, I] input). An example's output then
 *            depends on that example alone, never on which others share its batch or on how the
 *            engine chunks a batch, and a dim example does not lose resolution to a bright one.
 *            The default, for those reasons (PyTorch and ONNX measure per tensor; per-row/per-token
 *            dynamic ranges are what LLM.int8()-style schemes use).
 *   'tensor' one range for all the examples the layer is given at once, exactly ONNX's per-tensor
 *            DynamicQuantizeLinear. In the engine that is one forward chunk (engine.ts forward()
 *            streams a batch in chunks of about 2^20 activation levels), so results can depend on
 *            the batch.
 *
 * The int32 accumulator cannot overflow: validation checks, per output channel,
 * max|x_q - zp_x| · Σ_k |w_q[o, k]| <= 2^31 - 1 with max|x_q - zp_x| = 255 (any 8-bit range).
 */
import { DYNAMIC_ACTIVATION_RANGES, dynamicQParams, quantizeLinearValue, type DynamicActivationType } from '../numerics/index.js';
import { INT32_MAX } from '../numerics/int-limits.js';
import { selectGemm, type Int32Gemm } from './gemm.js';

export interface DynamicLinearLayer {
  kind: 'dynamicLinear';
  /** [O, I], PyTorch's layout. */
  weightShape: [number, number];
  /** int8 weight levels, row-major [O, I], symmetric (zero point 0). */
  weight: Int8Array;
  /** Per output channel, float32 > 0: w ≈ weight[o, k] · weightScale[o]. */
  weightScale: Float32Array;
  /** float32 bias per output channel, or null. */
  bias: Float32Array | null;
  /** Activation levels: 'uint8' [0, 255] (ONNX) or 'int8' [-128, 127]. */
  activation: DynamicActivationType;
  /** What one measured activation range covers: 'row' (per example) or 'tensor' (per chunk). */
  granularity: 'row' | 'tensor';
}

export const DYNAMIC_LINEAR_KEYS = ['kind', 'weightShape', 'weight', 'weightScale', 'bias', 'activation', 'granularity'];
/** The typed-array fields, stored as arrays in a file (format.ts). */
export const DYNAMIC_LINEAR_ARRAYS = ['weight', 'weightScale', 'bias'] as const;

/** A validated dynamic linear layer, ready to run. */
export interface DynamicLinearPrepared {
  O: number;
  K: number;
  /** The weight levels as int32, [O, K] (the GEMM's operand). */
  weight: Int32Array;
  /** The largest |acc| any input can produce. */
  accBound: number;
  gemm: Int32Gemm;
  parameters: number;
}

type Fail = (problem: string) => never;

/** Check the layer against its per-example input shape; returns its output shape and prepared form. */
export function planDynamicLinear(layer: DynamicLinearLayer, inShape: readonly number[], fail: Fail): { outShape: number[]; prepared: DynamicLinearPrepared } {
  if (inShape.length !== 1) fail(`input must be rank 1 per example (put a flatten before it), got [${inShape.join(', ')}]`);
  const shape = layer.weightShape as unknown;
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    fail(`weightShape must be 2 positive integers [O, I], got ${JSON.stringify(shape)}`);
  }
  const [O, K] = layer.weightShape;
  if (K !== inShape[0]) fail(`weightShape [${O}, ${K}] expects ${K} input features, but the input has ${inShape[0]}`);
  if (!(layer.weight instanceof Int8Array)) fail(`weight must be an Int8Array (int8 levels), got ${typeName(layer.weight)}`);
  if (layer.weight.length !== O * K) fail(`weight has ${layer.weight.length} elements but weightShape [${O}, ${K}] needs ${O * K}`);
  checkFloatArray(layer.weightScale, 'weightScale', O, true, fail);
  if (layer.bias !== null) checkFloatArray(layer.bias, 'bias', O, false, fail);
  if (!Object.hasOwn(DYNAMIC_ACTIVATION_RANGES, layer.activation)) fail(`activation must be 'uint8' or 'int8', got ${JSON.stringify(layer.activation)}`);
  if (layer.granularity !== 'row' && layer.granularity !== 'tensor') fail(`granularity must be 'row' or 'tensor', got ${JSON.stringify(layer.granularity)}`);

  const weight = Int32Array.from(layer.weight);
  let accBound = 0, maxAbsWeight = 0;
  for (let o = 0; o < O; o++) {
    let sumAbs = 0;
    for (let k = 0; k < K; k++) {
      const a = Math.abs(weight[o * K + k]);
      sumAbs += a;
      if (a > maxAbsWeight) maxAbsWeight = a;
    }
    const bound = 255 * sumAbs;
    if (bound > INT32_MAX) {
      fail(`output channel ${o} can accumulate |acc| up to 255 × ${sumAbs} (Σ|w| over ${K} inputs) = ${bound}, which overflows int32; use fewer inputs per output`);
    }
    accBound = Math.max(accBound, bound);
  }
  const gemm = selectGemm(maxAbsWeight, 255, K);
  return { outShape: [O], prepared: { O, K, weight, accBound, gemm, parameters: O * K + (layer.bias ? O : 0) } };
}

/** Rows per GEMM call, so that the quantized rows fit a small scratch buffer. */
const ROWS_PER_GEMM = 64;

/**
 * The layer on `count` examples: x [count, K] float32 -> out [count, O] float32. `scratch` is grown
 * on demand (quantized rows and accumulators).
 */
export function dynamicLinearForward(
  layer: DynamicLinearLayer, p: DynamicLinearPrepared, x: Float32Array, count: number, out: Float32Array,
  scratch: { rows: Int32Array; acc: Int32Array },
): void {
  const { O, K } = p;
  const { qmin, qmax } = DYNAMIC_ACTIVATION_RANGES[layer.activation];
  if (scratch.rows.length < ROWS_PER_GEMM * K) scratch.rows = new Int32Array(ROWS_PER_GEMM * K);
  if (scratch.acc.length < ROWS_PER_GEMM * O) scratch.acc = new Int32Array(ROWS_PER_GEMM * O);
  const { rows, acc } = scratch;
  const tensorParams = layer.granularity === 'tensor' ? rangeParams(x, 0, count * K, qmin, qmax) : null;
  const rowScale = new Float64Array(ROWS_PER_GEMM);
  for (let n0 = 0; n0 < count; n0 += ROWS_PER_GEMM) {
    const m = Math.min(ROWS_PER_GEMM, count - n0);
    for (let r = 0; r < m; r++) {
      const start = (n0 + r) * K;
      const { scale, zeroPoint } = tensorParams ?? rangeParams(x, start, start + K, qmin, qmax);
      rowScale[r] = scale;
      for (let k = 0; k < K; k++) rows[r * K + k] = quantizeLinearValue(x[start + k], scale, zeroPoint, qmin, qmax) - zeroPoint;
    }
    p.gemm(m, O, K, rows, p.weight, acc);
    for (let r = 0; r < m; r++) {
      const base = (n0 + r) * O;
      for (let o = 0; o < O; o++) {
        const y = Math.fround(Math.fround(acc[r * O + o]) * Math.fround(rowScale[r] * layer.weightScale[o]));
        out[base + o] = layer.bias ? Math.fround(y + layer.bias[o]) : y;
      }
    }
  }
}

/** DynamicQuantizeLinear's parameters over x[start, end). */
function rangeParams(x: Float32Array, start: number, end: number, qmin: number, qmax: number): { scale: number; zeroPoint: number } {
  let min = Infinity, max = -Infinity;
  for (let i = start; i < end; i++) {
    const v = x[i];
    if (v < min) min = v;
    if (v > max) max = v;
    if (v !== v) throw new Error(`dynamicLinear: input element ${i - start} of the range is NaN; NaN has no quantization level`);
  }
  if (end <= start) min = max = 0;
  return dynamicQParams(min, max, qmin, qmax);
}

export function describeDynamicLinear(layer: DynamicLinearLayer, p: DynamicLinearPrepared): string {
  return (
    `w [${layer.weightShape.join(', ')}] int8 symmetric per channel, bias ${layer.bias ? 'float32' : 'none'}; ` +
    `activations ${layer.activation} per ${layer.granularity} measured at run time; |acc| <= ${p.accBound}; float32 out`
  );
}

/** Checks a float32 array field: type, length, finite values (and > 0 when `positive`). */
export function checkFloatArray(value: unknown, name: string, length: number, positive: boolean, fail: Fail): Float32Array {
  if (!(value instanceof Float32Array)) return fail(`${name} must be a Float32Array, got ${typeName(value)}`);
  if (value.length !== length) fail(`${name} has ${value.length} elements, expected ${length}`);
  for (let i = 0; i < value.length; i++) {
    const v = value[i];
    if (!Number.isFinite(v) || (positive && !(v > 0 && Number.isFinite(1 / v)))) {
      fail(`${name}[${i}] = ${v} must be finite${positive ? ' and > 0 (with a finite reciprocal)' : ''}`);
    }
  }
  return value;
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
