/**
 * QAT modules for the functional ops of a traced graph (PyTorch's FloatFunctional /
 * QFunctional role): each runs the float op and fake-quantizes its output where the integer
 * engine requantizes.
 *
 *   QFunctional(add | mul | cat | clamp)   y = afq(op(inputs))   own output quantizer: the
 *                                          integer engine rescales into the output's grid
 *                                          (int8Add / int8Mul, concat by requantizing each input,
 *                                          clamp by requantizing then clamping)
 *   QAvgPool(avgPool2d | globalAvgPool)    y = fq_in(pool(x))    the INPUT's grid: the integer
 *                                          engine divides the sum of levels by the window size
 *                                          with rounding, keeping scale and zero point (TFLite's
 *                                          AVERAGE_POOL_2D and PyTorch's quantized avg_pool2d
 *                                          require equal input and output parameters)
 */
import type { Tensor } from '../../tensor/tensor.js';
import * as F from '../../autograd/functional.js';
import { Module } from '../../nn/module.js';
import type { Attrs } from '../../nn/graph/graph.js';
import { applyFunction } from '../../nn/graph/functional.js';
import { FakeQuantize } from '../fake-quantize-module.js';
import { fakeQuantizeTensor } from '../fake-quantize.js';
import type { LayerQConfig } from './config.js';

export type QuantizedFunction = 'add' | 'mul' | 'cat' | 'clamp';

export class QFunctional extends Module {
  readonly activationFq: FakeQuantize;
  constructor(readonly fn: QuantizedFunction, readonly attrs: Attrs, cfg: LayerQConfig) {
    super();
    this.activationFq = this.module('activation_fq', new FakeQuantize(cfg.activation));
  }
  forward(...inputs: Tensor[]): Tensor {
    return this.activationFq.call(applyFunction(this.fn, inputs, this.attrs));
  }
  protected override extraRepr(): string {
    return `(${this.fn}${Object.keys(this.attrs).length ? ' ' + JSON.stringify(this.attrs) : ''})`;
  }
}

export interface AvgPoolSpec {
  /** null: global average pooling over H and W ([N, C, H, W] -> [N, C]). */
  kernel: [number, number] | null;
  stride: [number, number];
}

export class QAvgPool extends Module {
  constructor(readonly pool: AvgPoolSpec, readonly inputFq: FakeQuantize) {
    super();
  }
  forward(x: Tensor): Tensor {
    const y = this.pool.kernel ? F.avgPool2d(x, this.pool.kernel, { stride: this.pool.stride }) : F.mean(x, [2, 3]);
    if (!this.inputFq.fakeQuantEnabled) return y;
    const p = this.inputFq.currentQParams();
    return fakeQuantizeTensor(y, { scale: p.scale, zeroPoint: p.zeroPoint, qmin: this.inputFq.qmin, qmax: this.inputFq.qmax, axis: null, rounding: this.inputFq.range.rounding });
  }
  protected override extraRepr(): string {
    return this.pool.kernel ? `(kernel ${this.pool.kernel.join('x')}, stride ${this.pool.stride.join('x')})` : '(global)';
  }
}
