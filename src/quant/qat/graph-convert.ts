/**
 * convertGraph: a prepared (QAT- or PTQ-calibrated) GraphModule -> an integer-only Int8GraphSpec
 * (src/quant/int8/graph.ts) that Int8GraphModel runs. Node names are kept, so every integer node
 * can be compared with the fake-quant node of the same name. Each node takes exactly the
 * quantization parameters its fake-quant forward uses:
 *
 *   QuantStub                 quantize (reads 'input')
 *   QConv2d/QConvBn2d/QLinear as convert() (convert.ts): int8 weights, int32 bias, Q31 multipliers
 *   MaxPool2d, ReLU, qf.relu  maxpool2d, relu (the input's grid)
 *   Flatten, qf.flatten       flatten (from dim 1) or reshape; qf.reshape -> reshape
 *   Dropout, Identity         no node: readers read the input directly
 *   QFunctional add / mul     add / mul with the inputs' and output's (scale, zero point) and the
 *                             arithmetic named by opts.arith (default TFLite's 'fixedPoint')
 *   QFunctional cat           concat, each input requantized by quantizeMultiplier(s_i / s_out)
 *   QFunctional clamp         clamp: requantize by s_in / s_out, clamp to the levels of the bounds
 *   QAvgPool                  avgpool2d / globalavgpool, the input's zero point
 *   the output                dequantize with the output's (scale, zero point)
 * Nothing is half-converted: the spec is validated by building an Int8GraphModel from it before
 * it is returned.
 */
import { noGrad } from '../../autograd/grad-mode.js';
import { Dropout, Flatten, Identity, MaxPool2d, ReLU } from '../../nn/layers.js';
import type { GraphModule } from '../../nn/graph/graph.js';
import type { JsonObject } from '../../io/container.js';
import { quantizeMultiplier, roundWith, type Int8ArithMode, type Rounding } from '../numerics/index.js';
import type { Int8GraphNode, Int8GraphSpec } from '../int8/graph.js';
import { GRAPH_INPUT } from '../int8/graph.js';
import { Int8GraphModel } from '../int8/graph-engine.js';
import { computeQParamsFor, weighted } from './convert.js';
import { QConv2d, QConvBn2d, QLinear, QuantStub } from './modules.js';
import { QAvgPool, QFunctional } from './functional-modules.js';
import { quantizerOf } from './graph-prepare.js';

export interface ConvertGraphOptions {
  meta?: JsonObject;
  /** How add / mul nodes compute: TFLite's integer kernels (default) or the seed's float formulas. */
  arith?: { mode: Int8ArithMode; rounding?: Rounding };
}

const pair = (v: number | [number, number] | undefined, d: [number, number]): [number, number] => (v === undefined ? d : typeof v === 'number' ? [v, v] : v);

export function convertGraph(model: GraphModule, opts: ConvertGraphOptions = {}): Int8GraphSpec {
  const nodes: Int8GraphNode[] = [];
  const alias = new Map<string, string>();
  const arith = opts.arith ?? { mode: 'fixedPoint' as const };
  const input = model.graph.nodes[0];
  if (input.op !== 'input') throw new Error('convertGraph: the graph does not start with its input');
  const grid = (name: string, who: string) => computeQParamsFor(quantizerOf(model, name), who);
  for (const n of model.graph.nodes) {
    if (n.op === 'input') continue;
    const inputs = n.args.map((a) => alias.get(a) ?? a);
    const push = (op: Int8GraphNode['op']) => nodes.push({ name: n.name, inputs, op });
    if (n.op === 'call_function') {
      const g = grid(n.args[0], `the input of '${n.name}'`);
      if (n.fn === 'relu') push({ kind: 'relu', zeroPoint: g.zeroPoint });
      else if (n.fn === 'flatten') push(n.attrs.startDim === 1 ? { kind: 'flatten' } : { kind: 'reshape', shape: n.shape.slice(1) });
      else if (n.fn === 'reshape') push({ kind: 'reshape', shape: [...(n.attrs.shape as number[])] });
      else throw new Error(`convertGraph: node '${n.name}' (qf.${n.fn}) has no integer form here; prepare the model with prepareQAT first`);
      continue;
    }
    const m = model.moduleAt(n.target);
    const who = `node '${n.name}' (${m.constructor.name})`;
    if (m instanceof QuantStub) {
      if (n.args[0] !== input.name) throw new Error(`convertGraph: ${who} must read the graph input`);
      const p = computeQParamsFor(m.activationFq, 'the input quantizer');
      nodes.push({ name: n.name, inputs: [GRAPH_INPUT], op: { kind: 'quantize', scale: p.scale, zeroPoint: p.zeroPoint, qmin: m.activationFq.qmin, qmax: m.activationFq.qmax, rounding: m.activationFq.range.rounding ?? 'halfEven' } });
    } else if (m instanceof QConv2d || m instanceof QConvBn2d || m instanceof QLinear) {
      const g = grid(n.args[0], `the input of ${who}`);
      if (m instanceof QLinear) {
        const { fields } = weighted({ weight: m.linear.weight, bias: m.linear.bias, layer: m }, g.scale, g.zeroPoint, who);
        push({ kind: 'linear', ...fields, weightShape: m.linear.weight.shape as [number, number] });
      } else {
        const parts = m instanceof QConvBn2d ? { ...noGrad(() => m.folded()), layer: m } : { weight: m.conv.weight, bias: m.conv.bias, layer: m };
        const { fields } = weighted(parts, g.scale, g.zeroPoint, who);
        const o = m.conv.opts;
        push({
          kind: 'conv2d', ...fields, weightShape: m.conv.weight.shape as [number, number, number, number],
          stride: pair(o.stride, [1, 1]), padding: pair(o.padding, [0, 0]), dilation: pair(o.dilation, [1, 1]), groups: o.groups ?? 1,
        });
      }
    } else if (m instanceof MaxPool2d) {
      const k = pair(m.kernelSize, [1, 1]);
      push({ kind: 'maxpool2d', kernel: k, stride: pair(m.opts.stride, k), padding: pair(m.opts.padding, [0, 0]), dilation: pair(m.opts.dilation, [1, 1]) });
    } else if (m instanceof ReLU) {
      push({ kind: 'relu', zeroPoint: grid(n.args[0], who).zeroPoint });
    } else if (m instanceof Flatten) {
      const rank = model.node(n.args[0]).shape.length;
      const end = m.endDim < 0 ? m.endDim + rank : m.endDim;
      if (end !== rank - 1 || m.startDim < 1) throw new Error(`convertGraph: ${who} must flatten from a non-batch dim to the last`);
      push(m.startDim === 1 ? { kind: 'flatten' } : { kind: 'reshape', shape: n.shape.slice(1) });
    } else if (m instanceof Dropout || m instanceof Identity) {
      alias.set(n.name, inputs[0]);
    } else if (m instanceof QAvgPool) {
      const g = computeQParamsFor(m.inputFq, `the input quantizer of ${who}`);
      const rounding = m.inputFq.range.rounding ?? 'halfEven';
      push(m.pool.kernel ? { kind: 'avgpool2d', kernel: m.pool.kernel, stride: m.pool.stride, zeroPoint: g.zeroPoint, rounding } : { kind: 'globalavgpool', zeroPoint: g.zeroPoint, rounding });
    } else if (m instanceof QFunctional) {
      const out = computeQParamsFor(m.activationFq, `the output quantizer of ${who}`);
      const { qmin, qmax } = m.activationFq;
      const ins = n.args.map((a, i) => grid(a, `input ${i} of ${who}`));
      if (m.fn === 'add' || m.fn === 'mul') {
        push({
          kind: m.fn, a: ins[0], b: ins[1], out: { ...out, qmin, qmax }, mode: arith.mode,
          ...(arith.mode === 'float' && arith.rounding ? { rounding: arith.rounding } : {}),
        });
      } else if (m.fn === 'cat') {
        const inputsParams = ins.map((p) => {
          const q = quantizeMultiplier(p.scale / out.scale);
          return { zeroPoint: p.zeroPoint, multiplier: q.multiplier, shift: q.shift };
        });
        push({ kind: 'concat', axis: (m.attrs.dim as number) - 1, inputs: inputsParams, outZeroPoint: out.zeroPoint, qmin, qmax });
      } else {
        // clamp: round(c / s_out) + z_out are the levels of the bounds (fake quantization rounds the same way).
        const rounding = m.activationFq.range.rounding ?? 'halfEven';
        const inv = Math.fround(1 / Math.fround(out.scale));
        const lo = out.zeroPoint + roundWith(Math.fround(Math.fround(m.attrs.min as number) * inv), rounding);
        const hi = out.zeroPoint + roundWith(Math.fround(Math.fround(m.attrs.max as number) * inv), rounding);
        const q = quantizeMultiplier(ins[0].scale / out.scale);
        push({ kind: 'clamp', inZeroPoint: ins[0].zeroPoint, multiplier: q.multiplier, shift: q.shift, outZeroPoint: out.zeroPoint, qmin: Math.max(qmin, lo), qmax: Math.min(qmax, Math.max(hi, Math.max(qmin, lo))) });
      }
    } else {
      throw new Error(`convertGraph: ${who} has no integer counterpart; prepare the model with prepareQAT first`);
    }
  }
  const last = alias.get(model.graph.output) ?? model.graph.output;
  const g = grid(model.graph.output, 'the output');
  nodes.push({ name: 'dequantize', inputs: [last], op: { kind: 'dequantize', scale: g.scale, zeroPoint: g.zeroPoint } });
  const spec: Int8GraphSpec = { inputShape: input.shape.slice(1), nodes, output: 'dequantize', ...(opts.meta ? { meta: opts.meta } : {}) };
  new Int8GraphModel(spec); // validates everything now, so a bad conversion fails here, not at load time
  return spec;
}
