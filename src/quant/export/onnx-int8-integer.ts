/**
 * ONNX export of an integer graph in the **integer form**: the integer engine's own arithmetic
 * written out with ONNX integer operators, so that any conforming runtime computes qgrad's levels
 * bit for bit (docs/onnx.md, "The integer form"). The QDQ form (onnx-int8-graph.ts) lets the
 * runtime requantize in float (onnxruntime: one float32 multiply, round half to even), while qgrad
 * requantizes with TFLite's fixed point, whose two roundings (SaturatingRoundingDoublingHighMul,
 * then RoundingDivideByPOT) differ from one rounding by a level wherever the exact product lies
 * within 2^-(k+1) below a .5 (k = the right shift): about one value in 2^(k+1).
 *
 * Levels travel as uint8 (or int8) tensors, as in the QDQ form, and each node is:
 *
 *   quantize      Round(Mul(x, float32(1/s))) + z, Clip, Cast: qgrad's round(fround(x · fround(1/s)))
 *                 (Round is half to even, ONNX Round-11; half away from zero as Sign·Floor(|y| + 0.5) in double)
 *   conv2d        ConvInteger(x, w - z_w int8, z_x) (+ bias) -> int64 -> MBQM -> + z_out, Clip, Cast
 *   linear        MatMulInteger(x, (w - z_w)ᵀ, z_x) (+ bias) -> the same
 *   add, mul      TFLite's ADD / MUL on int64 (mode 'fixedPoint'), or the seed formulas in double
 *                 (mode 'float', Cast to double, the same operations in the same order, Round)
 *   concat, clamp MBQM(q - z_in) + z_out per input, Clip, Cast (then Concat)
 *   avgpool2d     window sums of (q - z) by a depthwise float Conv with a ones kernel (integers
 *                 below 2^24 are exact in float32), then roundDiv in int64
 *   globalavgpool ReduceSum over H, W in int64, then roundDiv
 *   maxpool2d, relu, flatten, reshape, dequantize: as in the QDQ form (MaxPool, Clip on the levels,
 *                 Flatten, Reshape, DequantizeLinear)
 *
 * MBQM(x, m, shift) = TFLite's MultiplyByQuantizedMultiplier (src/quant/numerics/fixed-point.ts) in
 * int64 ONNX arithmetic (Mul, Add, Div: integer Div truncates toward zero, so the dividends are made
 * non-negative first):
 *   xl = x · 2^max(shift, 0)
 *   h  = floor((xl · m + 2^30) / 2^31)           SaturatingRoundingDoublingHighMul (ties up)
 *      = Div(xl · m + 2^30 + 2^62, 2^31) - 2^31   (for int32 xl and m < 2^31: |xl · m| < 2^62, so the
 *                                                  dividend lies in (0, 2^63): no int64 overflow, and Div's
 *                                                  truncation is the floor)
 *   r  = Sign(h) · Div(|h| + 2^(k-1), 2^k)        RoundingDivideByPOT, k = max(-shift, 0) (ties away from zero)
 * roundDiv(n, d) (exact integer division with the tie rule, graph-engine.ts):
 *   f = Div(n - Mod(n, d), d), r = Mod(n, d) (ONNX Mod with fmod 0 takes the divisor's sign: r in [0, d))
 *   f + (2r > d  or  2r = d and (f odd  [halfEven]  |  n >= 0  [halfAwayFromZero]))
 *
 * The price: onnxruntime runs ConvInteger/MatMulInteger and element-wise int64 operators instead
 * of its fused QLinearConv/QGemm, so this form is for checking and for runtimes where bit-exact
 * agreement matters more than speed. Node-free.
 */
import type { Conv2dLayer, LinearLayer } from '../int8/model.js';
import type { Int8GraphSpec } from '../int8/graph.js';
import { GRAPH_INPUT } from '../int8/graph.js';
import { planInt8Graph } from '../int8/validate-graph.js';
import { addFixedPointParams, mulFixedPointParams } from '../numerics/int8-arith.js';
import { DataType, node, tensor, valueInfo, type AttributeValue, type DataTypeCode, type NodeMessage, type OnnxParts, type TensorMessage } from './onnx-proto.js';
import { OnnxExportError } from './onnx-float.js';

/** How errors and ONNX node names refer to a node (the graph exporter by name, the chain exporter by layer index). */
export interface NodeLabels {
  fn: string;
  label: (name: string, index: number, kind: string) => string;
  prefix: (name: string, index: number, kind: string) => string;
  docString: string;
}

export interface Int8IntegerOnnxOptions {
  name?: string;
  metadata?: Record<string, string>;
  /** Also output every integer node's levels as `<node>:levels` (debugging; see onnx-int8-graph.ts). */
  tapLevels?: boolean;
}

interface Levels {
  tensor: string;
  type: DataTypeCode;
}

const TWO_30 = 2 ** 30;
const TWO_31 = 2 ** 31;
/** x · 2^max(shift, 0) must be an int32, as in TFLite (the engine's validation keeps it so; checked again here). */
const MBQM_LIMIT = TWO_31;

/** The 8-bit ONNX type that holds levels in [lo, hi], or null. */
function levelType(lo: number, hi: number): DataTypeCode | null {
  if (lo >= 0 && hi <= 255) return DataType.UINT8;
  if (lo >= -128 && hi <= 127) return DataType.INT8;
  return null;
}

/** The integer form's parts before encoding (int8GraphOnnxParts dispatches here for form 'integer'). */
export function int8GraphIntegerOnnxParts(spec: Int8GraphSpec, opts: Int8IntegerOnnxOptions, labels: NodeLabels): OnnxParts {
  const plans = planInt8Graph(spec);
  const { fn } = labels;
  const nodes: NodeMessage[] = [];
  const inits: TensorMessage[] = [];
  const values = new Map<string, Levels>();
  let outputTensor: { tensor: string; dims: (number | string)[] } | null = null;
  let counter = 0;

  const constant = (name: string, type: DataTypeCode, dims: readonly number[], vals: ArrayLike<number>) => {
    inits.push(tensor(`${name}#${counter++}`, type, dims, vals));
    return inits[inits.length - 1].name;
  };
  const i64 = (name: string, v: number | readonly number[], dims: readonly number[] = []) => constant(name, DataType.INT64, dims, typeof v === 'number' ? [v] : v);
  const emit = (op: string, name: string, inputs: string[], attrs: Record<string, AttributeValue> = {}) => {
    const out = `${name}.${op}#${counter++}`;
    nodes.push(node(op, out, inputs, [out], attrs));
    return out;
  };
  const cast = (name: string, x: string, to: DataTypeCode) => emit('Cast', name, [x], { to });
  /** int64 levels from an 8-bit value. */
  const wide = (name: string, v: Levels) => cast(name, v.tensor, DataType.INT64);
  /** Clip an int64 tensor to [qmin, qmax] and store it in the 8-bit type that holds that range. */
  const narrow = (name: string, x: string, qmin: number, qmax: number, where: string): Levels => {
    const type = levelType(qmin, qmax);
    if (type === null) throw new OnnxExportError(`${fn}: ${where} clamps to [${qmin}, ${qmax}], which fits neither uint8 nor int8`);
    return { tensor: cast(name, emit('Clip', name, [x, i64(`${name}.qmin`, qmin), i64(`${name}.qmax`, qmax)]), type), type };
  };
  /**
   * TFLite's MultiplyByQuantizedMultiplier on an int64 tensor, per channel when the arrays hold
   * more than one value (`dims` broadcasts them over the tensor).
   */
  const mbqm = (name: string, x: string, multiplier: ArrayLike<number>, shift: ArrayLike<number>, dims: readonly number[]) => {
    const n = multiplier.length;
    const left = Array.from({ length: n }, (_, c) => 2 ** Math.max(shift[c], 0));
    const k = Array.from({ length: n }, (_, c) => Math.max(-shift[c], 0));
    const xl = left.every((v) => v === 1) ? x : emit('Mul', name, [x, i64(`${name}.left`, left, dims)]);
    const t = emit('Add', name, [emit('Mul', name, [xl, i64(`${name}.multiplier`, Array.from(multiplier), dims)]), i64(`${name}.nudge`, TWO_30 + 2 ** 62)]);
    const h = emit('Sub', name, [emit('Div', name, [t, i64(`${name}.two31`, TWO_31)]), i64(`${name}.offset`, TWO_31)]);
    if (k.every((v) => v === 0)) return h;
    const half = k.map((e) => (e > 0 ? 2 ** (e - 1) : 0));
    const pot = k.map((e) => 2 ** e);
    const magnitude = emit('Div', name, [emit('Add', name, [emit('Abs', name, [h]), i64(`${name}.half`, half, dims)]), i64(`${name}.pot`, pot, dims)]);
    return emit('Mul', name, [magnitude, emit('Sign', name, [h])]);
  };
  const checkMbqm = (largest: number, shift: ArrayLike<number>, where: string) => {
    const left = Math.max(...Array.from(shift, (s) => 2 ** Math.max(s, 0)));
    if (largest * left >= MBQM_LIMIT) throw new OnnxExportError(`${fn}: ${where} can reach |x| = ${largest * left} before its fixed-point rescale, more than int32 holds (TFLite's arithmetic, and the integer form's, need |x| < 2^31)`);
  };
  /** roundDiv(n, d) on an int64 tensor n (scalar d > 0), with the engine's tie rule. */
  const roundDiv = (name: string, n: string, d: number, rounding: string | undefined) => {
    const D = i64(`${name}.d`, d);
    const r = emit('Mod', name, [n, D]);
    const f = emit('Div', name, [emit('Sub', name, [n, r]), D]);
    const twice = emit('Mul', name, [r, i64(`${name}.two`, 2)]);
    const above = emit('Greater', name, [twice, D]);
    const tie = emit('Equal', name, [twice, D]);
    const tieUp = (rounding ?? 'halfEven') === 'halfEven'
      ? emit('Equal', name, [emit('Mod', name, [f, i64(`${name}.two_`, 2)]), i64(`${name}.one`, 1)])
      : emit('GreaterOrEqual', name, [n, i64(`${name}.zero`, 0)]);
    const up = emit('Or', name, [above, emit('And', name, [tie, tieUp])]);
    return emit('Add', name, [f, cast(name, up, DataType.INT64)]);
  };
  /** Converts 8-bit levels to uint8 for ConvInteger/MatMulInteger: int8 levels shift by 128 (as does their zero point). */
  const asUint8 = (name: string, v: Levels, zeroPoint: number): { tensor: string; zeroPoint: number } => {
    if (v.type === DataType.UINT8) return { tensor: v.tensor, zeroPoint };
    const shifted = emit('Add', name, [cast(name, v.tensor, DataType.INT32), constant(`${name}.offset`, DataType.INT32, [], [128])]);
    return { tensor: cast(name, shifted, DataType.UINT8), zeroPoint: zeroPoint + 128 };
  };

  const weighted = (l: Conv2dLayer | LinearLayer, x: Levels, span: number, name: string, where: string): Levels => {
    const O = l.weightShape[0];
    const K = l.weight.length / O;
    const centered = new Int32Array(l.weight.length);
    let largest = 0;
    for (let o = 0; o < O; o++) {
      let sum = Math.abs(l.bias?.[o] ?? 0) / Math.max(span, 1);
      for (let j = 0; j < K; j++) {
        const w = l.weight[o * K + j] - l.weightZeroPoint[o];
        if (w < -128 || w > 127) throw new OnnxExportError(`${fn}: ${where} has a centered weight level ${w} (output channel ${o}), which does not fit ONNX int8`);
        centered[o * K + j] = w;
        sum += Math.abs(w);
      }
      largest = Math.max(largest, sum * span);
    }
    checkMbqm(Math.ceil(largest), l.shift, where);
    const xu = asUint8(name, x, l.inZeroPoint);
    const xz = constant(`${name}.x_zero_point`, DataType.UINT8, [], [xu.zeroPoint]);
    let acc: string;
    let dims: number[];
    if (l.kind === 'conv2d') {
      const [ph, pw] = l.padding;
      const w = constant(`${name}.weight`, DataType.INT8, l.weightShape, centered);
      acc = emit('ConvInteger', name, [xu.tensor, w, xz], { kernel_shape: l.weightShape.slice(2), strides: l.stride, pads: [ph, pw, ph, pw], dilations: l.dilation, group: l.groups });
      dims = [O, 1, 1];
    } else {
      const wt = new Int32Array(K * O);
      for (let o = 0; o < O; o++) for (let j = 0; j < K; j++) wt[j * O + o] = centered[o * K + j];
      acc = emit('MatMulInteger', name, [xu.tensor, constant(`${name}.weight_t`, DataType.INT8, [K, O], wt), xz]);
      dims = [O];
    }
    let acc64 = cast(name, acc, DataType.INT64);
    if (l.bias) acc64 = emit('Add', name, [acc64, i64(`${name}.bias`, Array.from(l.bias), dims)]);
    const y = emit('Add', name, [mbqm(name, acc64, l.multiplier, l.shift, dims), i64(`${name}.out_zero_point`, l.outZeroPoint)]);
    return narrow(`${name}.out`, y, l.qmin, l.qmax, where);
  };

  plans.forEach((p, i) => {
    const n = p.node, op = p.op;
    const where = labels.label(n.name, i, op.kind);
    const name = labels.prefix(n.name, i, op.kind);
    const ins = n.inputs.map((input) => (input === GRAPH_INPUT ? null : values.get(input) ?? null));
    if (op.kind !== 'quantize' && ins.some((v) => v === null)) throw new OnnxExportError(`${fn}: ${where} reads the float input or a dequantized value; only a quantize node may read the input`);
    const x = ins[0]!;
    /** Largest |q - z| of input k's levels. */
    const span = (k: number, z: number) => {
      const r = p.inRanges[k];
      return Math.max(Math.abs(r.qmax - z), Math.abs(z - r.qmin));
    };
    const same = (t: string): Levels => ({ tensor: t, type: x.type });
    let out: Levels | null = null;
    switch (op.kind) {
      case 'quantize': {
        // qgrad: z + round(fround(fround(x) · fround(1/s))): one float32 multiply, as ONNX Mul.
        const y = emit('Mul', name, ['input', constant(`${name}.inv_scale`, DataType.FLOAT, [], [Math.fround(1 / Math.fround(op.scale))])]);
        let r: string;
        if ((op.rounding ?? 'halfEven') === 'halfEven') r = emit('Round', name, [y]);
        else {
          // Half away from zero as Sign(y)·Floor(|y| + 0.5), in double: |y| + 0.5 is exact there for
          // any float32 y below 2^28 (in float32 it could round up, e.g. 0.49999997 + 0.5 -> 1).
          const yd = cast(name, y, DataType.DOUBLE);
          const away = emit('Mul', name, [emit('Floor', name, [emit('Add', name, [emit('Abs', name, [yd]), constant(`${name}.half`, DataType.DOUBLE, [], [0.5])])]), emit('Sign', name, [yd])]);
          r = cast(name, away, DataType.FLOAT);
        }
        const lv = emit('Clip', name, [emit('Add', name, [r, constant(`${name}.zero_point`, DataType.FLOAT, [], [op.zeroPoint])]), constant(`${name}.qmin`, DataType.FLOAT, [], [op.qmin]), constant(`${name}.qmax`, DataType.FLOAT, [], [op.qmax])]);
        const type = levelType(op.qmin, op.qmax);
        if (type === null) throw new OnnxExportError(`${fn}: ${where} quantizes to [${op.qmin}, ${op.qmax}], which fits neither uint8 nor int8`);
        out = { tensor: cast(name, lv, type), type };
        break;
      }
      case 'conv2d':
      case 'linear':
        if (op.kind === 'linear' && p.inShapes[0].length !== 1) throw new OnnxExportError(`${fn}: ${where} gets a rank-${p.inShapes[0].length + 1} input; put a flatten before it`);
        out = weighted(op, x, span(0, op.inZeroPoint), name, where);
        break;
      case 'maxpool2d': {
        const [ph, pw] = op.padding;
        out = same(emit('MaxPool', name, [x.tensor], { kernel_shape: op.kernel, strides: op.stride, pads: [ph, pw, ph, pw], dilations: op.dilation ?? [1, 1] }));
        break;
      }
      case 'relu':
        out = same(emit('Clip', name, [x.tensor, constant(`${name}.min`, x.type, [], [op.zeroPoint]), constant(`${name}.max`, x.type, [], [x.type === DataType.UINT8 ? 255 : 127])]));
        break;
      case 'flatten':
        out = same(emit('Flatten', name, [x.tensor], { axis: 1 }));
        break;
      case 'reshape':
        out = same(emit('Reshape', name, [x.tensor, i64(`${name}.shape`, [-1, ...op.shape], [1 + op.shape.length])]));
        break;
      case 'add':
      case 'mul': {
        const a = emit('Sub', name, [wide(name, x), i64(`${name}.a_zero_point`, op.a.zeroPoint)]);
        const b = emit('Sub', name, [wide(name, ins[1]!), i64(`${name}.b_zero_point`, op.b.zeroPoint)]);
        let y: string;
        if (op.mode === 'float') {
          // The seed formulas in float64, the operations in int8-arith.ts's order; Round is half to even.
          if ((op.rounding ?? 'halfEven') !== 'halfEven') throw new OnnxExportError(`${fn}: ${where} rounds '${op.rounding}' in mode 'float'; the integer form writes only 'halfEven' (ONNX Round)`);
          const f64 = (t: string) => cast(name, t, DataType.DOUBLE);
          const dbl = (label: string, v: number) => constant(`${name}.${label}`, DataType.DOUBLE, [], [v]);
          const sa = Math.fround(op.a.scale), sb = Math.fround(op.b.scale), so = Math.fround(op.out.scale);
          let real: string;
          if (op.kind === 'add') {
            const mXY = 2 * Math.max(sa, sb);
            const inner = emit('Add', name, [emit('Mul', name, [dbl('mx', sa / mXY), f64(a)]), emit('Mul', name, [dbl('my', sb / mXY), f64(b)])]);
            real = emit('Mul', name, [dbl('mxyz', mXY / so), inner]);
          } else {
            real = emit('Mul', name, [dbl('m', (sa * sb) / so), f64(emit('Mul', name, [a, b]))]);
          }
          y = cast(name, emit('Round', name, [real]), DataType.INT64);
        } else if (op.kind === 'add') {
          // TFLite's ADD (int8-arith.ts): both inputs rescaled to 2·max(s_a, s_b)/2^20, summed, rescaled to s_out.
          const params = addParams(op.a.scale, op.b.scale, op.out.scale);
          const left = i64(`${name}.left_shift`, 2 ** 20);
          const s1 = mbqm(`${name}.a`, emit('Mul', name, [a, left]), [params.m1], [params.s1], []);
          const s2 = mbqm(`${name}.b`, emit('Mul', name, [b, left]), [params.m2], [params.s2], []);
          checkMbqm(Math.max(span(0, op.a.zeroPoint), span(1, op.b.zeroPoint)) * 2 ** 20, [0], where);
          y = mbqm(`${name}.out`, emit('Add', name, [s1, s2]), [params.mo], [params.so], []);
        } else {
          const params = mulParams(op.a.scale, op.b.scale, op.out.scale);
          checkMbqm(span(0, op.a.zeroPoint) * span(1, op.b.zeroPoint), [params.shift], where);
          y = mbqm(name, emit('Mul', name, [a, b]), [params.multiplier], [params.shift], []);
        }
        out = narrow(`${name}.out`, emit('Add', name, [y, i64(`${name}.out_zero_point`, op.out.zeroPoint)]), op.out.qmin, op.out.qmax, where);
        break;
      }
      case 'concat': {
        const parts = ins.map((v, k) => {
          const c = op.inputs[k];
          checkMbqm(span(k, c.zeroPoint), [c.shift], where);
          const r = mbqm(`${name}.in${k}`, emit('Sub', name, [wide(name, v!), i64(`${name}.in${k}.zero_point`, c.zeroPoint)]), [c.multiplier], [c.shift], []);
          return emit('Add', name, [r, i64(`${name}.out_zero_point`, op.outZeroPoint)]);
        });
        out = narrow(`${name}.out`, emit('Concat', name, parts, { axis: op.axis + 1 }), op.qmin, op.qmax, where);
        break;
      }
      case 'clamp': {
        checkMbqm(span(0, op.inZeroPoint), [op.shift], where);
        const r = mbqm(name, emit('Sub', name, [wide(name, x), i64(`${name}.in_zero_point`, op.inZeroPoint)]), [op.multiplier], [op.shift], []);
        out = narrow(`${name}.out`, emit('Add', name, [r, i64(`${name}.out_zero_point`, op.outZeroPoint)]), op.qmin, op.qmax, where);
        break;
      }
      case 'avgpool2d': {
        // Window sums of (q - z): a depthwise Conv with a ones kernel; every partial sum is an integer below 2^24, so float32 is exact.
        const C = p.inShapes[0][0];
        const [kh, kw] = op.kernel;
        const centered = emit('Sub', name, [cast(name, x.tensor, DataType.FLOAT), constant(`${name}.zero_point_f`, DataType.FLOAT, [], [op.zeroPoint])]);
        const sums = emit('Conv', name, [centered, constant(`${name}.ones`, DataType.FLOAT, [C, 1, kh, kw], new Float32Array(C * kh * kw).fill(1))], { kernel_shape: [kh, kw], strides: op.stride, group: C });
        const avg = roundDiv(name, cast(name, sums, DataType.INT64), kh * kw, op.rounding);
        out = narrow(`${name}.out`, emit('Add', name, [avg, i64(`${name}.zero_point`, op.zeroPoint)]), p.inRanges[0].qmin, p.inRanges[0].qmax, where);
        break;
      }
      case 'globalavgpool': {
        const [, H, W] = p.inShapes[0];
        const centered = emit('Sub', name, [wide(name, x), i64(`${name}.zero_point`, op.zeroPoint)]);
        const sums = emit('ReduceSum', name, [centered, i64(`${name}.axes`, [2, 3], [2])], { keepdims: 0 });
        const avg = roundDiv(name, sums, H * W, op.rounding);
        out = narrow(`${name}.out`, emit('Add', name, [avg, i64(`${name}.zero_point_out`, op.zeroPoint)]), p.inRanges[0].qmin, p.inRanges[0].qmax, where);
        break;
      }
      case 'dequantize': {
        const t = emit('DequantizeLinear', name, [x.tensor, constant(`${name}.scale`, DataType.FLOAT, [], [op.scale]), constant(`${name}.zero_point`, x.type, [], [op.zeroPoint])]);
        if (n.name === spec.output) outputTensor = { tensor: t, dims: ['N', ...p.outShape] };
        break;
      }
      default: {
        const kind: string = (op as { kind: string }).kind;
        throw new OnnxExportError(`${fn}: ${labels.label(n.name, i, kind)} has no ONNX counterpart in this exporter`);
      }
    }
    if (out) values.set(n.name, out);
  });
  const output = outputTensor as { tensor: string; dims: (number | string)[] } | null;
  if (!output) throw new OnnxExportError(`${fn}: the graph's output '${spec.output}' is not a dequantize node`);
  for (const m of nodes) {
    m.output = m.output.map((t) => (t === output.tensor ? 'output' : t));
    m.input = m.input.map((t) => (t === output.tensor ? 'output' : t));
  }
  const taps: Record<string, unknown>[] = [];
  if (opts.tapLevels) {
    for (const p of plans) {
      const v = values.get(p.name);
      if (!v) continue;
      nodes.push(node('Identity', `${p.name} levels`, [v.tensor], [`${p.name}:levels`]));
      taps.push(valueInfo(`${p.name}:levels`, v.type, ['N', ...p.outShape]));
    }
  }
  const metadata = { ...(opts.metadata ?? {}), ...(spec.meta ? { 'qgrad.meta': JSON.stringify(spec.meta) } : {}), 'qgrad.form': 'integer' };
  return {
    graph: {
      name: opts.name ?? 'qgrad-int8-integer',
      nodes,
      initializers: inits,
      inputs: [valueInfo('input', DataType.FLOAT, ['N', ...spec.inputShape])],
      outputs: [valueInfo('output', DataType.FLOAT, output.dims), ...taps],
      docString: `${labels.docString}; integer form: qgrad's fixed-point arithmetic in ONNX integer operators`,
    },
    metadata,
  };
}

function addParams(sa: number, sb: number, so: number) {
  const p = addFixedPointParams(sa, sb, so);
  return { m1: p.input1.multiplier, s1: p.input1.shift, m2: p.input2.multiplier, s2: p.input2.shift, mo: p.output.multiplier, so: p.output.shift };
}

function mulParams(sa: number, sb: number, so: number) {
  return mulFixedPointParams(sa, sb, so).output;
}
