/**
 * Element-wise add and multiply of quantized tensors, producing quantized output directly.
 *
 * With x_f = x_s (x_q - x_zp) (and likewise y, z), the seed document 002 (002_bd07fd29c31c0885.txt)
 * derives:
 *   multiply:  z_q = M (x_q - x_zp)(y_q - y_zp) + z_zp,                    M = x_s y_s / z_s
 *   add:       z_q = (M_xy / z_s) (M_x (x_q - x_zp) + M_y (y_q - y_zp)) + z_zp,
 *              M_xy = 2 max(x_s, y_s),  M_x = x_s / M_xy,  M_y = y_s / M_xy
 * and the result is rounded and saturated to [qmin, qmax] of the output.
 *
 * Two modes compute these:
 *   'float'      the formulas above in float64 with the named rounding (default 'halfEven'). The
 *                reference a float kernel is compared with.
 *   'fixedPoint' TFLite's reference int8 kernels (reference_integer_ops/add.h and mul.h, parameters as
 *                prepared by kernels/add.cc and mul.cc): only integer operations per element.
 *                ADD: input offsets -x_zp, -y_zp; left_shift = 20; real multipliers
 *                  x_s / (2 max_s), y_s / (2 max_s), (2 max_s) / (2^20 z_s), each as a quantized
 *                  multiplier with shift <= 0 (QuantizeMultiplierSmallerThanOneExp). Per element:
 *                  raw = MBQM((x_q - x_zp) 2^20, m_x) + MBQM((y_q - y_zp) 2^20, m_y)
 *                  z_q = clamp(MBQM(raw, m_out) + z_zp).
 *                  The 2 max_s is the seed's M_xy: both inputs are rescaled to the common scale
 *                  2 max_s / 2^20 with multipliers <= 1/2; the 20 extra fractional bits make the
 *                  rounding of the rescaled inputs cost at most about 2^-18 max_s / z_s output levels.
 *                MUL: z_q = clamp(MBQM((x_q - x_zp)(y_q - y_zp), m) + z_zp), m from x_s y_s / z_s.
 *                Rounding is TFLite's (SaturatingRoundingDoublingHighMul ties up, RoundingDivideByPOT
 *                ties away from zero); naming a rounding mode in this mode is an error.
 *
 * Scales are used as float32 values (TFLite and PyTorch store them as float); the real multipliers
 * are computed from them in float64, as TFLite's Prepare does.
 */
import { fround } from './float32.js';
import { multiplyByQuantizedMultiplier, quantizeMultiplier, type QuantizedMultiplier } from './fixed-point.js';
import { checkRange, checkScaleZeroPoint, type QParams } from './qparams.js';
import { DEFAULT_ROUNDING, type Rounding, rounderFor } from './rounding.js';
import { INT32_MAX } from './int-limits.js';

export type Int8ArithMode = 'float' | 'fixedPoint';

export interface Int8ArithOptions {
  mode: Int8ArithMode;
  /** Only for mode 'float'; default 'halfEven'. */
  rounding?: Rounding;
}

/** TFLite's ArithmeticParams for the int8 ADD, as its Prepare computes them. */
export interface AddFixedPointParams {
  leftShift: number;
  input1: QuantizedMultiplier;
  input2: QuantizedMultiplier;
  output: QuantizedMultiplier;
}

/** TFLite's ArithmeticParams for the int8 MUL. */
export interface MulFixedPointParams {
  output: QuantizedMultiplier;
}

/** TFLite's left_shift for 8-bit ADD: 20 fractional bits of headroom for the rescaled inputs. */
export const ADD_LEFT_SHIFT = 20;

interface Checked {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

function checkParams(p: QParams, name: string, who: string): Checked {
  checkRange(p.qmin, p.qmax, `${who} (${name})`);
  const scale = checkScaleZeroPoint(p.scale, p.zeroPoint, p.qmin, p.qmax, `${who} (${name})`);
  return { scale, zeroPoint: p.zeroPoint, qmin: p.qmin, qmax: p.qmax };
}

/** Largest |q - zeroPoint| over the range: the size of an offset input in integers. */
function span(p: Checked): number {
  return Math.max(p.zeroPoint - p.qmin, p.qmax - p.zeroPoint);
}

function checkLevels(q: ArrayLike<number>, p: Checked, name: string, who: string): void {
  for (let i = 0; i < q.length; i++) {
    const v = q[i];
    if (!Number.isInteger(v) || v < p.qmin || v > p.qmax) {
      throw new Error(`${who}: ${name}[${i}] must be an integer level in [${p.qmin}, ${p.qmax}], got ${v}`);
    }
  }
}

function smallerThanOne(real: number, name: string, who: string): QuantizedMultiplier {
  // TFLite's QuantizeMultiplierSmallerThanOneExp: 0 < real < 1, so the shift is <= 0.
  if (!(real > 0 && real < 1)) {
    throw new Error(`${who}: the ${name} real multiplier must lie in (0, 1) for TFLite's ADD, got ${real}`);
  }
  return quantizeMultiplier(real);
}

/**
 * TFLite's int8 ADD parameters for float32 scales sa, sb (inputs) and so (output).
 * Throws where TFLite's Prepare would: the output multiplier 2 max(sa, sb) / (2^20 so) must be < 1.
 */
export function addFixedPointParams(sa: number, sb: number, so: number): AddFixedPointParams {
  const who = 'addFixedPointParams';
  const twiceMaxInputScale = 2 * Math.max(fround(sa), fround(sb));
  return {
    leftShift: ADD_LEFT_SHIFT,
    input1: smallerThanOne(fround(sa) / twiceMaxInputScale, 'input1', who),
    input2: smallerThanOne(fround(sb) / twiceMaxInputScale, 'input2', who),
    output: smallerThanOne(twiceMaxInputScale / (2 ** ADD_LEFT_SHIFT * fround(so)), 'output', who),
  };
}

/** TFLite's int8 MUL parameters: the quantized multiplier for sa * sb / so (float64 from float32 scales). */
export function mulFixedPointParams(sa: number, sb: number, so: number): MulFixedPointParams {
  return { output: quantizeMultiplier((fround(sa) * fround(sb)) / fround(so)) };
}

function prepare(
  qa: ArrayLike<number>,
  pa: QParams,
  qb: ArrayLike<number>,
  pb: QParams,
  pOut: QParams,
  options: Int8ArithOptions,
  who: string,
): { a: Checked; b: Checked; out: Checked } {
  if (options === undefined || (options.mode !== 'float' && options.mode !== 'fixedPoint')) {
    throw new Error(`${who}: options.mode must be 'float' or 'fixedPoint', got ${JSON.stringify(options?.mode)}`);
  }
  if (options.mode === 'fixedPoint' && options.rounding !== undefined) {
    throw new Error(`${who}: mode 'fixedPoint' rounds as TFLite does; a rounding mode applies only to mode 'float'`);
  }
  if (qa.length !== qb.length) {
    throw new Error(`${who}: inputs must have equal length, got ${qa.length} and ${qb.length}`);
  }
  const a = checkParams(pa, 'input a', who);
  const b = checkParams(pb, 'input b', who);
  const out = checkParams(pOut, 'output', who);
  checkLevels(qa, a, 'qa', who);
  checkLevels(qb, b, 'qb', who);
  return { a, b, out };
}

/** Saturating quantized add: levels of a + b in pOut's range. */
export function int8Add(
  qa: ArrayLike<number>,
  pa: QParams,
  qb: ArrayLike<number>,
  pb: QParams,
  pOut: QParams,
  options: Int8ArithOptions,
): Int32Array {
  const who = 'int8Add';
  const { a, b, out } = prepare(qa, pa, qb, pb, pOut, options, who);
  const n = qa.length;
  const result = new Int32Array(n);
  const { qmin, qmax } = out;
  const zo = out.zeroPoint;

  if (options.mode === 'float') {
    const round = rounderFor(options.rounding ?? DEFAULT_ROUNDING);
    const mXY = 2 * Math.max(a.scale, b.scale);
    const mX = a.scale / mXY;
    const mY = b.scale / mXY;
    const mXYZ = mXY / out.scale;
    const za = a.zeroPoint, zb = b.zeroPoint;
    for (let i = 0; i < n; i++) {
      const z = round(mXYZ * (mX * (qa[i] - za) + mY * (qb[i] - zb))) + zo;
      result[i] = z < qmin ? qmin : z > qmax ? qmax : z;
    }
    return result;
  }

  // (x_q - x_zp) * 2^20 must be an int32, as it is in TFLite's int8 kernel.
  const limit = Math.floor(INT32_MAX / 2 ** ADD_LEFT_SHIFT);
  for (const [name, p] of [['a', a], ['b', b]] as const) {
    if (span(p) > limit) {
      throw new Error(`${who}: input ${name}'s levels lie up to ${span(p)} from its zero point; mode 'fixedPoint' shifts them left by ${ADD_LEFT_SHIFT} bits in int32, which allows at most ${limit}`);
    }
  }
  const params = addFixedPointParams(a.scale, b.scale, out.scale);
  const m1 = params.input1.multiplier, s1 = params.input1.shift;
  const m2 = params.input2.multiplier, s2 = params.input2.shift;
  const mo = params.output.multiplier, so = params.output.shift;
  const za = a.zeroPoint, zb = b.zeroPoint;
  for (let i = 0; i < n; i++) {
    // The offsets fit in 11 bits (checked above), so the shifts cannot overflow int32.
    const scaled1 = multiplyByQuantizedMultiplier((qa[i] - za) << ADD_LEFT_SHIFT, m1, s1);
    const scaled2 = multiplyByQuantizedMultiplier((qb[i] - zb) << ADD_LEFT_SHIFT, m2, s2);
    const z = multiplyByQuantizedMultiplier(scaled1 + scaled2, mo, so) + zo;
    result[i] = z < qmin ? qmin : z > qmax ? qmax : z;
  }
  return result;
}

/** Saturating quantized multiply: levels of a * b in pOut's range. */
export function int8Mul(
  qa: ArrayLike<number>,
  pa: QParams,
  qb: ArrayLike<number>,
  pb: QParams,
  pOut: QParams,
  options: Int8ArithOptions,
): Int32Array {
  const who = 'int8Mul';
  const { a, b, out } = prepare(qa, pa, qb, pb, pOut, options, who);
  const n = qa.length;
  const result = new Int32Array(n);
  const { qmin, qmax } = out;
  const zo = out.zeroPoint;

  if (options.mode === 'float') {
    const round = rounderFor(options.rounding ?? DEFAULT_ROUNDING);
    const m = (a.scale * b.scale) / out.scale;
    const za = a.zeroPoint, zb = b.zeroPoint;
    for (let i = 0; i < n; i++) {
      const z = round(m * ((qa[i] - za) * (qb[i] - zb))) + zo;
      result[i] = z < qmin ? qmin : z > qmax ? qmax : z;
    }
    return result;
  }

  const { multiplier, shift } = mulFixedPointParams(a.scale, b.scale, out.scale).output;
  if (shift > 30) {
    throw new Error(`${who}: x_s * y_s / z_s = ${(a.scale * b.scale) / out.scale} needs a left shift of ${shift} > 30 bits`);
  }
  // The product of offset inputs, shifted left when the multiplier exceeds 1, must be an int32.
  const largest = span(a) * span(b) * 2 ** Math.max(shift, 0);
  if (largest > INT32_MAX) {
    throw new Error(`${who}: (x_q - x_zp)(y_q - y_zp) can reach ${span(a) * span(b)}${shift > 0 ? ` and is shifted left by ${shift}` : ''}, which overflows int32 in mode 'fixedPoint'`);
  }
  const za = a.zeroPoint, zb = b.zeroPoint;
  for (let i = 0; i < n; i++) {
    const z = multiplyByQuantizedMultiplier(Math.imul(qa[i] - za, qb[i] - zb), multiplier, shift) + zo;
    result[i] = z < qmin ? qmin : z > qmax ? qmax : z;
  }
  return result;
}
