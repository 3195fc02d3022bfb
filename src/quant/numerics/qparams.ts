/**
 * Quantization parameters: what they are, how they are checked, and how an observer derives them
 * from a float range.
 *
 * Affine quantization (Jacob et al. 2018, eq. 1) represents a real value r by an integer level q with
 *     r = scale * (q - zeroPoint),   q in [qmin, qmax].
 * `scale` is a positive real and `zeroPoint` is the level that represents 0.0 exactly.
 *
 * computeQParams reproduces PyTorch 1.13's MinMaxObserver._calculate_qparams
 * (torch/ao/quantization/observer.py) bit for bit, including where it computes in float32:
 *   - min/max are float32 (observer buffers) and are widened to include 0
 *       minNeg = min(min, 0), maxPos = max(max, 0)
 *   - affine:    scale = max((maxPos - minNeg) / (qmax - qmin), eps)
 *                zeroPoint = clamp(qmin - round(minNeg / scale), qmin, qmax)
 *   - symmetric: scale = max(max(-minNeg, maxPos) / ((qmax - qmin) / 2), eps)
 *                zeroPoint = 0 for a signed range (qmin < 0), a midpoint for an unsigned one
 * with eps = float32 machine epsilon and round = torch.round (ties to even). Division by the Python
 * float (qmax - qmin) or (qmax - qmin)/2 is a correctly rounded float32 division (measured on 1.13:
 * it is not a multiplication by a reciprocal).
 */
import { FLOAT32_EPS, fround } from './float32.js';
import { DEFAULT_ROUNDING, type Rounding, rounderFor } from './rounding.js';

/** Per-tensor quantization parameters. `scale` is used as a float32 (PyTorch passes it as float). */
export interface QParams {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
  /** Tie rule for round(x / scale); default 'halfEven' (PyTorch). */
  rounding?: Rounding;
}

/**
 * Per-channel quantization parameters for row-major data of the given `shape`: element
 * (i_0, ..., i_axis, ...) uses scale[i_axis] and zeroPoint[i_axis].
 */
export interface QParamsPerChannel {
  scale: ArrayLike<number>;
  zeroPoint: ArrayLike<number>;
  qmin: number;
  qmax: number;
  axis: number;
  shape: readonly number[];
  rounding?: Rounding;
}

export type AnyQParams = QParams | QParamsPerChannel;

export function isPerChannel(p: AnyQParams): p is QParamsPerChannel {
  return typeof p.scale !== 'number';
}

export type QScheme = 'affine' | 'symmetric';

export interface ComputeQParamsOptions {
  qmin: number;
  qmax: number;
  scheme: QScheme;
  /** Smallest scale allowed; default float32 eps (2^-23), as PyTorch's observers. */
  eps?: number;
  /** Tie rule for round(minNeg / scale) in the affine zero point; default 'halfEven' (torch.round). */
  rounding?: Rounding;
  /**
   * Zero point of a symmetric scheme on an unsigned range (qmin >= 0).
   * 'floorMidpoint' (default): floor((qmin + qmax) / 2), what PyTorch does whenever quant_min/quant_max
   *   are given (its "customized range"; qgrad always passes the range explicitly).
   * 'ceilMidpoint': ceil((qmin + qmax) / 2), which for 0..255 is the 128 of PyTorch's default quint8
   *   observer (no custom range).
   */
  unsignedSymmetricZeroPoint?: 'floorMidpoint' | 'ceilMidpoint';
}

export interface ScaleZeroPoint {
  scale: number;
  zeroPoint: number;
}

/** Levels must be exact in float32 (PyTorch computes zp + round(x / scale) in float32). */
const LEVEL_LIMIT = 2 ** 24;

/** Throw unless [qmin, qmax] is a usable integer range. `who` prefixes the message. */
export function checkRange(qmin: number, qmax: number, who: string): void {
  if (!Number.isInteger(qmin) || !Number.isInteger(qmax)) {
    throw new Error(`${who}: qmin and qmax must be integers, got qmin=${qmin}, qmax=${qmax}`);
  }
  if (qmin >= qmax) throw new Error(`${who}: qmin must be < qmax, got qmin=${qmin}, qmax=${qmax}`);
  if (qmin < -LEVEL_LIMIT || qmax > LEVEL_LIMIT) {
    throw new Error(`${who}: qmin and qmax must lie in [-2^24, 2^24] so levels are exact in float32, got ${qmin}..${qmax}`);
  }
}

/**
 * Throw unless (scale, zeroPoint) can quantize over [qmin, qmax]; returns the float32 scale.
 * The scale and its float32 reciprocal must be finite and positive (a reciprocal that overflows
 * would turn every x * (1/scale) into +-Infinity or NaN).
 */
export function checkScaleZeroPoint(scale: number, zeroPoint: number, qmin: number, qmax: number, who: string): number {
  const s = fround(scale);
  if (!(s > 0) || s === Infinity || !Number.isFinite(fround(1 / s)) || fround(1 / s) === 0) {
    throw new Error(`${who}: scale must be a finite number > 0 whose float32 value and reciprocal are finite and non-zero, got ${scale}`);
  }
  if (!Number.isInteger(zeroPoint) || zeroPoint < qmin || zeroPoint > qmax) {
    throw new Error(`${who}: zeroPoint must be an integer in [qmin, qmax] = [${qmin}, ${qmax}], got ${zeroPoint}`);
  }
  return s;
}

/** Row-major layout of a per-channel tensor: `outer` blocks of `channels` runs of `inner` elements. */
export interface ChannelLayout {
  outer: number;
  channels: number;
  inner: number;
  size: number;
}

/** Validate a per-channel shape/axis against the per-channel arrays and the data length. */
export function channelLayout(
  shape: readonly number[],
  axis: number,
  channelArrays: Record<string, ArrayLike<number>>,
  dataLength: number | undefined,
  who: string,
): ChannelLayout {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`${who}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) {
    throw new Error(`${who}: axis must be an integer in [0, ${shape.length - 1}] for shape ${JSON.stringify(shape)}, got ${axis}`);
  }
  const channels = shape[axis];
  for (const [name, arr] of Object.entries(channelArrays)) {
    if (arr.length !== channels) {
      throw new Error(`${who}: ${name} has length ${arr.length} but shape[${axis}] = ${channels} (shape ${JSON.stringify(shape)})`);
    }
  }
  let outer = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d];
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d];
  const size = outer * channels * inner;
  if (dataLength !== undefined && dataLength !== size) {
    throw new Error(`${who}: data has ${dataLength} elements but shape ${JSON.stringify(shape)} holds ${size}`);
  }
  return { outer, channels, inner, size };
}

function checkMinMax(min: number, max: number, who: string): void {
  for (const [name, v] of [['min', min], ['max', max]] as const) {
    if (Number.isNaN(v)) throw new Error(`${who}: ${name} is NaN`);
    if (!Number.isFinite(v) || !Number.isFinite(fround(v))) {
      throw new Error(`${who}: ${name} must be finite in float32, got ${v}`);
    }
  }
  if (min > max) throw new Error(`${who}: min must be <= max, got min=${min}, max=${max}`);
}

/**
 * Scale and zero point for the float range [min, max], bit for bit as PyTorch 1.13's observers
 * (see the file comment for the formulas). Throws on NaN or infinite bounds or min > max.
 */
export function computeQParams(min: number, max: number, options: ComputeQParamsOptions): ScaleZeroPoint {
  const who = 'computeQParams';
  const { qmin, qmax, scheme } = options;
  checkRange(qmin, qmax, who);
  checkMinMax(min, max, who);
  const eps = fround(options.eps ?? FLOAT32_EPS);
  if (!(eps > 0)) throw new Error(`${who}: eps must be > 0 in float32, got ${options.eps}`);
  const round = rounderFor(options.rounding ?? DEFAULT_ROUNDING);

  // PyTorch keeps min/max in float32 buffers and widens the range to include 0.
  const minNeg = Math.min(fround(min), 0);
  const maxPos = Math.max(fround(max), 0);

  let scale: number;
  let zeroPoint: number;
  if (scheme === 'symmetric') {
    const amax = Math.max(-minNeg, maxPos);
    scale = Math.max(fround(amax / fround((qmax - qmin) / 2)), eps);
    if (qmin < 0) {
      zeroPoint = 0;
    } else {
      const mode = options.unsignedSymmetricZeroPoint ?? 'floorMidpoint';
      if (mode !== 'floorMidpoint' && mode !== 'ceilMidpoint') {
        throw new Error(`${who}: unsignedSymmetricZeroPoint must be 'floorMidpoint' or 'ceilMidpoint', got ${String(mode)}`);
      }
      zeroPoint = mode === 'floorMidpoint' ? Math.floor((qmin + qmax) / 2) : Math.ceil((qmin + qmax) / 2);
    }
  } else if (scheme === 'affine') {
    scale = Math.max(fround(fround(maxPos - minNeg) / (qmax - qmin)), eps);
    zeroPoint = qmin - round(fround(minNeg / scale));
    zeroPoint = Math.min(qmax, Math.max(qmin, zeroPoint));
  } else {
    throw new Error(`${who}: scheme must be 'affine' or 'symmetric', got ${JSON.stringify(scheme)}`);
  }
  if (!Number.isFinite(scale)) {
    throw new Error(`${who}: the range [${min}, ${max}] is too wide for a float32 scale over ${qmin}..${qmax}`);
  }
  return { scale, zeroPoint: zeroPoint + 0 };
}

/**
 * computeQParams for each channel (PyTorch's PerChannelMinMaxObserver uses the same formulas
 * per channel). Returns float32 scales and int32 zero points.
 */
export function computeQParamsPerChannel(
  mins: ArrayLike<number>,
  maxs: ArrayLike<number>,
  options: ComputeQParamsOptions,
): { scale: Float32Array; zeroPoint: Int32Array } {
  if (mins.length !== maxs.length) {
    throw new Error(`computeQParamsPerChannel: mins has ${mins.length} channels but maxs has ${maxs.length}`);
  }
  const scale = new Float32Array(mins.length);
  const zeroPoint = new Int32Array(mins.length);
  for (let c = 0; c < mins.length; c++) {
    try {
      const p = computeQParams(mins[c], maxs[c], options);
      scale[c] = p.scale;
      zeroPoint[c] = p.zeroPoint;
    } catch (e) {
      throw new Error(`computeQParamsPerChannel: channel ${c}: ${(e as Error).message}`);
    }
  }
  return { scale, zeroPoint };
}
