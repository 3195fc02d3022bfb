/**
 * A FakeQuantize for weights whose levels come from a code rather than from rounding: binary
 * (BinaryConnect / XNOR-Net, binary.ts), ternary (TWN, ternary.ts) or power-of-two (pow2.ts). It plugs into the QAT layers
 * where a uniform weight quantizer would (LayerQConfig.weightCode) and reports its per-channel α as
 * the scale, with zero point 0 and the narrow signed 2-bit range [−1, 1] (pow2: the narrow 8-bit
 * range, its levels being up to ±64), so the bias scale
 * s_in·α_o, the requantization multiplier s_in·α_o/s_out and the integer engine need nothing new:
 * convert() stores levels() as the int8 weights.
 *
 * The code is recomputed from the current weights at every forward (like the uniform weight
 * quantizer's averaging constant of 1); the observer switch is irrelevant to it.
 */
import type { Tensor } from '../tensor/tensor.js';
import { FakeQuantize, type FakeQuantConfig } from './fake-quantize-module.js';
import { BinaryWeightFunction, binaryCode, type WeightCode } from './binary.js';
import { TernaryWeightFunction, ternaryCode } from './ternary.js';
import { Pow2WeightFunction, pow2Code, pow2Exponents } from './pow2.js';

export type WeightCodeKind = 'binary' | 'ternary' | 'pow2';
export const WEIGHT_CODES: readonly WeightCodeKind[] = ['binary', 'ternary', 'pow2'];

export class CodedWeightQuantize extends FakeQuantize {
  constructor(readonly code: WeightCodeKind, base: FakeQuantConfig) {
    if (!WEIGHT_CODES.includes(code)) throw new Error(`weightCode must be one of ${WEIGHT_CODES.join(', ')}; got ${JSON.stringify(code)}`);
    // binary / ternary levels fit the narrow 2-bit range [−1, 1]; power-of-two levels (up to ±64) the narrow 8-bit one
    super({ ...base, bits: code === 'pow2' ? 8 : 2, signed: true, narrow: true, scheme: 'symmetric', channelAxis: 0, learnable: false });
    if (code === 'pow2') pow2Exponents(base.bits);
    this.codeBits = base.bits;
  }
  /** The bit width of the code (pow2: 1 sign bit and bits − 1 for the exponent or zero). */
  readonly codeBits: number;

  private codeOf(w: Tensor): WeightCode {
    const v = w.toTypedArray(), O = w.shape[0];
    return this.code === 'binary' ? binaryCode(v, O) : this.code === 'ternary' ? ternaryCode(v, O) : pow2Code(v, O, this.codeBits);
  }

  override forward(w: Tensor): Tensor {
    const { alpha } = this.codeOf(w);
    this.qparams = { scale: alpha, zeroPoint: new Int32Array(alpha.length), axis: 0 };
    if (!this.fakeQuantEnabled) return w;
    if (this.code === 'pow2') return Pow2WeightFunction.apply(w, this.codeBits, 1);
    return this.code === 'binary' ? BinaryWeightFunction.apply(w, 1) : TernaryWeightFunction.apply(w, 1);
  }

  /** The integer levels (−1, 0, +1) that convert() stores for weight w. */
  levels(w: Tensor): Int32Array {
    return this.codeOf(w).levels;
  }
}
