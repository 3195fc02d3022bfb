/**
 * The FakeQuantize module (torch.ao.quantization.FakeQuantize): an observer plus a fake-quantize
 * op, with two independent switches:
 *
 *   observerEnabled   update the observed range from each batch and recompute scale/zero point
 *   fakeQuantEnabled  apply quantize→dequantize in forward (with the STE in backward)
 *
 * Typical phases: calibration (observe on, fake-quant off), QAT (both on), frozen QAT or
 * evaluation (observe off, fake-quant on). The combination "fake-quant on, observer never run"
 * has no qparams and is an error, not a silent identity; `state()` prints the switches and the
 * current qparams so the phase is always visible.
 */
import { Tensor } from '../tensor/tensor.js';
import { fromArray, zeros } from '../tensor/creation.js';
import { Module } from '../nn/module.js';
import { fakeQuantizeTensor } from './fake-quantize.js';
import { LearnableFakeQuantizeFunction } from './lsq.js';
import {
  HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver, PerChannelMinMaxObserver,
  type CalibrationMethod, type ObservedQParams, type Observer, type QuantRange,
} from './observer.js';
import { qrange, roundWith, type QScheme, type Rounding } from './numerics/index.js';
import { PerChannelMseWeightObserver } from './mse-weight-observer.js';

const NO_QPARAMS =
  'FakeQuantize: fake quantization is enabled but no quantization parameters exist yet (the observer has not seen data): calibrate with observerEnabled first';

export type ObserverKind = 'minmax' | 'movingAverage' | 'histogram';
/** Every ObserverKind, for run-time checks (plain JavaScript callers, command lines). */
export const OBSERVER_KINDS: readonly ObserverKind[] = ['minmax', 'movingAverage', 'histogram'];

export interface FakeQuantConfig {
  bits: number;
  /** Signed levels (weights) or unsigned (activations). */
  signed: boolean;
  scheme: QScheme;
  /** TFLite's narrow symmetric range (-127..127 at 8 bits). */
  narrow?: boolean;
  /** Per-channel parameters along this axis (weights: 0, the output channel). */
  channelAxis?: number | null;
  observer: ObserverKind;
  averagingConstant?: number;
  calibration?: CalibrationMethod;
  rounding?: Rounding;
  /** LSQ: scale and zero point become trainable parameters (per-tensor only). */
  learnable?: boolean;
  /**
   * How a per-channel signed (weight) quantizer picks each channel's range: 'minmax' (default, the
   * observer's min..max) or 'mse', the scale minimising the weights' own quantization error
   * (mse-weight-observer.ts; worth it at 2 bits, where min/max zeroes most weights).
   */
  rangeMethod?: 'minmax' | 'mse';
}

export function makeObserver(c: FakeQuantConfig): Observer {
  // Types vanish at run time: a misspelt kind from JavaScript or JSON would otherwise fall
  // through the switch and surface later as "cannot read properties of undefined".
  if (!OBSERVER_KINDS.includes(c.observer)) {
    throw new Error(`FakeQuantConfig.observer must be one of ${OBSERVER_KINDS.join(', ')}; got ${JSON.stringify(c.observer)}`);
  }
  const axis = c.channelAxis ?? null;
  if (c.rangeMethod !== undefined && c.rangeMethod !== 'minmax') {
    if (c.rangeMethod !== 'mse') throw new Error(`FakeQuantConfig.rangeMethod must be 'minmax' or 'mse'; got ${JSON.stringify(c.rangeMethod)}`);
    if (axis === null || !c.signed) throw new Error("FakeQuantConfig.rangeMethod 'mse' is for per-channel signed (weight) quantizers: set channelAxis and signed");
    const { qmin, qmax } = qrange(c.bits, c.signed, { narrow: c.narrow });
    return new PerChannelMseWeightObserver(axis, { qmin, qmax });
  }
  if (axis !== null) {
    return c.observer === 'movingAverage' ? new MovingAveragePerChannelMinMaxObserver(axis, c.averagingConstant ?? 0.01) : new PerChannelMinMaxObserver(axis);
  }
  switch (c.observer) {
    case 'minmax':
      return new MinMaxObserver();
    case 'movingAverage':
      return new MovingAverageMinMaxObserver(c.averagingConstant ?? 0.01);
    case 'histogram':
      return new HistogramObserver({ method: c.calibration ?? 'mse' });
  }
}

export class FakeQuantize extends Module {
  observerEnabled = true;
  fakeQuantEnabled = true;
  readonly observer: Observer;
  readonly range: QuantRange;
  qparams: ObservedQParams | null = null;
  /** LSQ parameters (only when config.learnable). */
  readonly learnedScale: Tensor | null;
  readonly learnedZeroPoint: Tensor | null;

  constructor(readonly config: FakeQuantConfig) {
    super();
    const { qmin, qmax } = qrange(config.bits, config.signed, { narrow: config.narrow });
    this.range = { qmin, qmax, scheme: config.scheme, rounding: config.rounding };
    this.observer = makeObserver(config);
    if (config.learnable && (config.channelAxis ?? null) !== null) throw new Error('FakeQuantize: learnable (LSQ) quantization is per-tensor only here');
    this.learnedScale = this.param('scale', config.learnable ? zeros([1]) : null);
    this.learnedZeroPoint = this.param('zero_point', config.learnable ? zeros([1]) : null);
  }

  get qmin(): number {
    return this.range.qmin;
  }
  get qmax(): number {
    return this.range.qmax;
  }

  forward(x: Tensor): Tensor {
    if (this.observerEnabled) {
      this.observer.observe(x.detach());
      this.qparams = this.observer.computeQParams(this.range);
      if (this.learnedScale && this.learnedZeroPoint) {
        this.learnedScale.assign_(this.learnedScale.detach().mul(0).add(this.qparams.scale[0]));
        this.learnedZeroPoint.assign_(this.learnedZeroPoint.detach().mul(0).add(this.qparams.zeroPoint[0]));
      }
    }
    if (!this.fakeQuantEnabled) return x;
    if (this.learnedScale && this.learnedZeroPoint) {
      if (!this.hasLearnedQParams()) throw new Error(NO_QPARAMS);
      const gradFactor = 1 / Math.sqrt(x.size * Math.max(this.qmax, 1));
      return LearnableFakeQuantizeFunction.apply(x, this.learnedScale, this.learnedZeroPoint, this.qmin, this.qmax, gradFactor, this.range.rounding ?? 'halfEven');
    }
    const p = this.computeQParams();
    return fakeQuantizeTensor(x, { scale: p.scale, zeroPoint: p.zeroPoint, qmin: this.qmin, qmax: this.qmax, axis: p.axis, rounding: this.range.rounding });
  }

  /** @deprecated The old name of computeQParams. */
  currentQParams(): ObservedQParams {
    return this.computeQParams();
  }

  /** The parameters forward uses now (learned ones rounded as the forward rounds them). */
  computeQParams(): ObservedQParams {
    if (this.learnedScale && this.learnedZeroPoint && this.hasLearnedQParams()) {
      const s = Math.max(this.learnedScale.item(), 1e-8);
      // rounded and clamped exactly as LearnableFakeQuantizeFunction's forward does
      const z = Math.min(Math.max(roundWith(this.learnedZeroPoint.item(), this.range.rounding ?? 'halfEven'), this.qmin), this.qmax);
      return { scale: Float32Array.of(s), zeroPoint: Int32Array.of(z), axis: null };
    }
    if (!this.qparams) throw new Error(NO_QPARAMS);
    return this.qparams;
  }

  /**
   * LSQ parameters exist once the observer has initialised them or a checkpoint has loaded them;
   * before that the learned scale is still its initial 0 (which the forward would floor to 1e-8).
   */
  private hasLearnedQParams(): boolean {
    return this.qparams !== null || (this.learnedScale !== null && this.learnedScale.item() > 0);
  }

  /**
   * What a resumed QAT run needs besides the LSQ parameters: the switches, the current qparams
   * and everything the observer has seen (float64, so moving averages resume exactly).
   */
  protected override extraState(): [string, Tensor][] {
    const p = this.qparams;
    const out: [string, Tensor][] = [
      ['observer_enabled', fromArray(Int32Array.of(this.observerEnabled ? 1 : 0), [1], { dtype: 'int32' })],
      ['fake_quant_enabled', fromArray(Int32Array.of(this.fakeQuantEnabled ? 1 : 0), [1], { dtype: 'int32' })],
      ['qparams.scale', fromArray(p ? p.scale.slice() : new Float32Array(0), [p ? p.scale.length : 0], { dtype: 'float32' })],
      ['qparams.zero_point', fromArray(p ? p.zeroPoint.slice() : new Int32Array(0), [p ? p.zeroPoint.length : 0], { dtype: 'int32' })],
    ];
    for (const [k, a] of Object.entries(this.observer.stateArrays())) out.push([`observer.${k}`, fromArray(a, [a.length], { dtype: 'float64' })]);
    return out;
  }

  protected override loadExtraState(state: Map<string, Tensor>): () => void {
    const flag = (k: string): boolean => {
      const v = state.get(k)!.toTypedArray();
      if (v.length !== 1 || (v[0] !== 0 && v[0] !== 1)) throw new Error(`'${k}' must be one 0 or 1`);
      return v[0] === 1;
    };
    const observe = flag('observer_enabled'), fake = flag('fake_quant_enabled');
    const scale = Float32Array.from(state.get('qparams.scale')!.toTypedArray());
    const zp = Int32Array.from(state.get('qparams.zero_point')!.toTypedArray());
    if (scale.length !== zp.length) throw new Error(`'qparams.scale' has ${scale.length} values but 'qparams.zero_point' ${zp.length}`);
    for (let i = 0; i < scale.length; i++) {
      if (!(scale[i] > 0) || !Number.isFinite(scale[i])) throw new Error(`'qparams.scale'[${i}] = ${scale[i]} is not a positive finite scale`);
      if (zp[i] < this.qmin || zp[i] > this.qmax) throw new Error(`'qparams.zero_point'[${i}] = ${zp[i]} is outside [${this.qmin}, ${this.qmax}]`);
    }
    const arrays: Record<string, Float64Array> = {};
    for (const [k, t] of state) if (k.startsWith('observer.')) arrays[k.slice('observer.'.length)] = Float64Array.from(t.toTypedArray());
    const restoreObserver = this.observer.loadStateArrays(arrays);
    const axis = this.config.channelAxis ?? null;
    return () => {
      this.observerEnabled = observe;
      this.fakeQuantEnabled = fake;
      this.qparams = scale.length ? { scale, zeroPoint: zp, axis } : null;
      restoreObserver();
    };
  }

  enableObserver(on = true): this {
    this.observerEnabled = on;
    return this;
  }
  enableFakeQuant(on = true): this {
    this.fakeQuantEnabled = on;
    return this;
  }

  /** A one-line summary: switches, bits, scheme, and the current scale/zero point. */
  state(): string {
    const c = this.config;
    let q = 'no qparams yet';
    if (this.qparams || this.learnedScale) {
      try {
        const p = this.computeQParams();
        q = p.scale.length === 1 ? `scale ${p.scale[0].toPrecision(5)} zp ${p.zeroPoint[0]}` : `${p.scale.length} channels, scale ${Math.min(...p.scale).toPrecision(3)}..${Math.max(...p.scale).toPrecision(3)}`;
      } catch {
        /* keep 'no qparams yet' */
      }
    }
    return `FakeQuantize(${c.bits}-bit ${c.signed ? 'signed' : 'unsigned'} ${c.scheme}${c.channelAxis != null ? ` per-channel(axis ${c.channelAxis})` : ''}, observer ${this.observerEnabled ? 'on' : 'off'}, fake-quant ${this.fakeQuantEnabled ? 'on' : 'off'}${c.learnable ? ', learnable' : ''}: ${q})`;
  }

  protected override extraRepr(): string {
    return ` ${this.state()}`;
  }
}
