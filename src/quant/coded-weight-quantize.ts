/**
 * A FakeQuantize for weights whose levels come from a code rather than from rounding: binary
 * (BinaryConnect / XNOR-Net, binary.ts) or ternary (TWN, ternary.ts). It plugs into the QAT layers
 * where a uniform weight quantizer would (LayerQConfig.weightCode) and reports its per-channel α as
 * the scale, with zero point 0 and the narrow signed 2-bit range [−1, 1], so the bias scale
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

export type WeightCodeKind = 'binary' | 'ternary';
export const WEIGHT_CODES: readonly WeightCodeKind[] = ['binary', 'ternary'];

export class CodedWeightQuantize extends FakeQuantize {
  constructor(readonly code: WeightCodeKind, base: FakeQuantConfig) {
    if (!WEIGHT_CODES.includes(code)) throw new Error(`weightCode must be one of ${WEIGHT_CODES.join(', ')}; got ${JSON.stringify(code)}`);
    super({ ...base, bits: 2, signed: true, narrow: true, scheme: 'symmetric', channelAxis: 0, learnable: false });
  }

  private codeOf(w: Tensor): WeightCode {
    return (this.code === 'binary' ? binaryCode : ternaryCode)(w.toTypedArray(), w.shape[0]);
  }

  override forward(w: Tensor): Tensor {
    const { alpha } = this.codeOf(w);
    this.qparams = { scale: alpha, zeroPoint: new Int32Array(alpha.length), axis: 0 };
    if (!this.fakeQuantEnabled) return w;
    return this.code === 'binary' ? BinaryWeightFunction.apply(w, 1) : TernaryWeightFunction.apply(w, 1);
  }

  /** The integer levels (−1, 0, +1) that convert() stores for weight w. */
  levels(w: Tensor): Int32Array {
    return this.codeOf(w).levels;
  }
}
