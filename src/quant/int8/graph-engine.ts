/**
 * Int8GraphModel: runs an Int8GraphSpec (graph.ts) with integer arithmetic only.
 *
 * Two paths, chosen once in the constructor after validation (validate-graph.ts):
 *   - a graph that is a plain chain of chain-kind nodes (each reads the one before, in order) is
 *     handed to Int8Model (engine.ts) as a chain spec, so it keeps Int8Model's fast path
 *     (fast.ts) and fused conv+pool steps exactly as before;
 *   - any other graph runs here, node by node in topological order, with the reference kernels
 *     (kernels.ts) for the chain kinds and the graph kinds below. This is the plain engine: the
 *     definition the tests compare against.
 * forwardLevels() and runNode() always use the plain engine (debugging and tests).
 */
import { decodeContainer, encodeContainer, type Container } from '../../io/container.js';
import { FileFormatError } from '../../io/format-error.js';
import { int8Add, int8Mul, multiplyByQuantizedMultiplier, quantize } from '../numerics/index.js';
import { Int8Model, type Int8ModelOptions } from './engine.js';
import { selectGemm } from './gemm.js';
import { conv2dLevels, linearLevels, maxPool2dLevels, reluLevels } from './kernels.js';
import type { Int8Layer } from './model.js';
import { GRAPH_INPUT, type Int8GraphSpec } from './graph.js';
import { graphSpecFromContainer, graphSpecToContainer } from './graph-format.js';
import { MAX_LEVELS, planInt8Graph, type NodePlan } from './validate-graph.js';
import { cloneSpec } from './validate.js';
import type { Rounding } from '../numerics/index.js';
import { argmaxRows } from './argmax.js';

/** round(n / d) for integers n and d > 0, exactly, with the named tie rule. */
export function roundDiv(n: number, d: number, rounding: Rounding = 'halfEven'): number {
  const f = Math.floor(n / d);
  const r = n - f * d;
  if (2 * r > d) return f + 1;
  if (2 * r < d) return f;
  return rounding === 'halfEven' ? f + (f & 1) : n >= 0 ? f + 1 : f;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
/** Examples per chunk: about this many levels in the largest node value. */
const CHUNK_LEVELS = 1 << 20;

export class Int8GraphModel {
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  private readonly spec: Int8GraphSpec;
  private readonly plans: NodePlan[];
  /** The chain engine, when the graph is a chain; else why not. */
  private readonly chain: Int8Model | string;
  private readonly lastUse = new Map<string, number>();

  constructor(spec: Int8GraphSpec, options: Int8ModelOptions = {}) {
    this.spec = cloneSpec(spec as never) as unknown as Int8GraphSpec;
    this.plans = planInt8Graph(this.spec);
    this.inputShape = [...this.spec.inputShape];
    this.outputShape = this.plans[this.plans.length - 1].outShape;
    this.plans.forEach((p, i) => p.node.inputs.forEach((x) => this.lastUse.set(x, i)));
    this.chain = this.asChain(options);
  }

  private asChain(options: Int8ModelOptions): Int8Model | string {
    const layers: Int8Layer[] = [];
    let prev = GRAPH_INPUT;
    for (const p of this.plans) {
      if (!p.chain) return `node '${p.name}' (${p.op.kind}) is a graph operation`;
      if (p.node.inputs[0] !== prev) return `node '${p.name}' does not read the node before it (the graph is not a chain)`;
      const readers = this.plans.filter((q) => q.node.inputs.includes(p.name)).length;
      if (readers > 1) return `node '${p.name}' is read ${readers} times`;
      layers.push(p.op as Int8Layer);
      prev = p.name;
    }
    return new Int8Model({ inputShape: [...this.spec.inputShape], layers, ...(this.spec.meta ? { meta: this.spec.meta } : {}) }, options);
  }

  /** Which engine forward() uses: the chain engine (with its own wasm/js choice) or the plain graph engine. */
  forwardPath(): { engine: 'chain' | 'graph'; kernels: 'wasm' | 'js'; reason?: string } {
    if (typeof this.chain === 'string') return { engine: 'graph', kernels: 'js', reason: this.chain };
    return { engine: 'chain', ...this.chain.forwardPath() };
  }

  forward(x: ArrayLike<number>, batch: number): Float32Array {
    this.checkInput(x, batch);
    if (typeof this.chain !== 'string') return this.chain.forward(x, batch);
    const inSize = size(this.inputShape), outSize = size(this.outputShape);
    const biggest = Math.max(...this.plans.map((p) => size(p.outShape)));
    const chunk = Math.max(1, Math.min(batch, Math.floor(CHUNK_LEVELS / biggest)));
    const out = new Float32Array(batch * outSize);
    for (let n0 = 0; n0 < batch; n0 += chunk) {
      const count = Math.min(chunk, batch - n0);
      const xs = Array.prototype.slice.call(x, n0 * inSize, (n0 + count) * inSize) as number[];
      const y = this.run(xs, count, false).output;
      out.set(y, n0 * outSize);
    }
    return out;
  }

  /** Every node's levels (plain engine, whole batch at once) and the float output. */
  forwardLevels(x: ArrayLike<number>, batch: number): { levels: Map<string, Int32Array>; output: Float32Array } {
    this.checkInput(x, batch);
    return this.run(x, batch, true);
  }

  predict(x: ArrayLike<number>, batch: number): Int32Array {
    const logits = this.forward(x, batch);
    const C = size(this.outputShape);
    return argmaxRows(logits, batch, C);
  }

  private checkInput(x: ArrayLike<number>, batch: number): void {
    if (!Number.isSafeInteger(batch) || batch < 0) throw new Error(`Int8GraphModel: batch must be a non-negative integer, got ${batch}`);
    if (x.length !== batch * size(this.inputShape)) {
      throw new Error(`Int8GraphModel: x has ${x.length} elements, but ${batch} example(s) of shape [${this.inputShape.join(', ')}] need ${batch * size(this.inputShape)}`);
    }
  }

  private run(x: ArrayLike<number>, batch: number, keep: boolean): { levels: Map<string, Int32Array>; output: Float32Array } {
    const env = new Map<string, Int32Array>();
    let output = new Float32Array(0);
    this.plans.forEach((p, i) => {
      if (p.op.kind === 'quantize') {
        const { scale, zeroPoint, qmin, qmax, rounding } = p.op;
        env.set(p.name, quantize(x, { scale, zeroPoint, qmin, qmax, ...(rounding !== undefined ? { rounding } : {}) }));
      } else if (p.op.kind === 'dequantize') {
        const q = env.get(p.node.inputs[0])!;
        const s = Math.fround(p.op.scale), z = p.op.zeroPoint;
        output = new Float32Array(q.length);
        for (let k = 0; k < q.length; k++) output[k] = (q[k] - z) * s;
      } else {
        env.set(p.name, this.runPlan(p, p.node.inputs.map((n) => env.get(n)!), batch));
      }
      if (!keep) for (const name of p.node.inputs) if (this.lastUse.get(name) === i) env.delete(name);
    });
    return { levels: env, output };
  }

  /** Runs one integer node on given input levels ([batch, ...] each); for tests and debugging. */
  runNode(name: string, inputs: Int32Array[], batch: number): Int32Array {
    const p = this.plans.find((q) => q.name === name);
    if (!p) throw new Error(`Int8GraphModel.runNode: no node '${name}'`);
    if (p.op.kind === 'quantize' || p.op.kind === 'dequantize') throw new Error(`Int8GraphModel.runNode: '${name}' is a ${p.op.kind} node, not an integer one`);
    if (inputs.length !== p.inShapes.length) throw new Error(`Int8GraphModel.runNode: '${name}' takes ${p.inShapes.length} inputs, got ${inputs.length}`);
    inputs.forEach((q, i) => {
      if (q.length !== batch * size(p.inShapes[i])) throw new Error(`Int8GraphModel.runNode: input ${i} of '${name}' has ${q.length} levels, expected ${batch} x [${p.inShapes[i].join(', ')}]`);
    });
    return this.runPlan(p, inputs, batch);
  }

  private runPlan(p: NodePlan, ins: Int32Array[], batch: number): Int32Array {
    const outSize = size(p.outShape);
    if (batch * outSize > MAX_LEVELS * 64) throw new Error(`Int8GraphModel: a batch of ${batch} needs ${batch * outSize} levels at node '${p.name}'; use smaller batches`);
    const out = new Int32Array(batch * outSize);
    const x = ins[0];
    const op = p.op;
    const c = p.chain;
    switch (op.kind) {
      case 'conv2d': {
        if (c?.kind !== 'conv2d') throw new Error('unreachable');
        const { weighted, geometry } = c;
        const gemm = selectGemm(weighted.maxAbsWeight, weighted.maxAbsInput, weighted.K);
        const cols = new Int32Array(geometry.OH * geometry.OW * weighted.K);
        conv2dLevels(x, batch, geometry, weighted.centeredWeight, op.inZeroPoint, stage(op, weighted.bias), gemm, cols, out);
        return out;
      }
      case 'linear': {
        if (c?.kind !== 'linear') throw new Error('unreachable');
        const { weighted } = c;
        const gemm = selectGemm(weighted.maxAbsWeight, weighted.maxAbsInput, weighted.K);
        const rows = new Int32Array(Math.min(batch, 64) * weighted.K);
        linearLevels(x, batch, weighted.K, weighted.O, weighted.centeredWeight, op.inZeroPoint, stage(op, weighted.bias), gemm, rows, out);
        return out;
      }
      case 'maxpool2d': {
        if (c?.kind !== 'maxpool2d') throw new Error('unreachable');
        maxPool2dLevels(x, { ...c.geometry, planes: batch * p.inShapes[0][0] }, out);
        return out;
      }
      case 'relu':
        reluLevels(x, x.length, op.zeroPoint, out);
        return out;
      case 'flatten':
      case 'reshape':
        out.set(x);
        return out;
      case 'dynamicLinear':
      case 'weightOnlyLinear':
      case 'weightOnlyConv2d':
        throw new Error(`unreachable: graph models hold no float-segment layers (validate-graph.ts refuses '${op.kind}')`);
      case 'add':
      case 'mul': {
        const [ra, rb] = p.inRanges;
        const pa = { scale: op.a.scale, zeroPoint: op.a.zeroPoint, qmin: ra.qmin, qmax: ra.qmax };
        const pb = { scale: op.b.scale, zeroPoint: op.b.zeroPoint, qmin: rb.qmin, qmax: rb.qmax };
        const opts = op.mode === 'float' ? { mode: 'float' as const, ...(op.rounding ? { rounding: op.rounding } : {}) } : { mode: 'fixedPoint' as const };
        return (op.kind === 'add' ? int8Add : int8Mul)(x, pa, ins[1], pb, op.out, opts);
      }
      case 'concat': {
        // Per example: outer = dims before axis, inner = dims after; each input contributes a block.
        const shape0 = p.inShapes[0];
        const outer = size(shape0.slice(0, op.axis));
        const inner = size(shape0.slice(op.axis + 1));
        const outAxis = p.outShape[op.axis];
        for (let n = 0; n < batch * outer; n++) {
          let offset = 0;
          ins.forEach((q, i) => {
            const len = p.inShapes[i][op.axis] * inner;
            const { zeroPoint, multiplier, shift } = op.inputs[i];
            const src = n * len;
            for (let k = 0; k < len; k++) {
              const v = op.outZeroPoint + multiplyByQuantizedMultiplier(q[src + k] - zeroPoint, multiplier, shift);
              out[n * outAxis * inner + offset + k] = v < op.qmin ? op.qmin : v > op.qmax ? op.qmax : v;
            }
            offset += len;
          });
        }
        return out;
      }
      case 'avgpool2d': {
        const [C, H, W] = p.inShapes[0];
        const [, OH, OW] = p.outShape;
        const [kh, kw] = op.kernel, [sh, sw] = op.stride, z = op.zeroPoint, count = kh * kw;
        let o = 0;
        for (let pl = 0; pl < batch * C; pl++) {
          for (let oh = 0; oh < OH; oh++) {
            for (let ow = 0; ow < OW; ow++) {
              let sum = 0;
              for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) sum += x[pl * H * W + (oh * sh + i) * W + ow * sw + j] - z;
              out[o++] = z + roundDiv(sum, count, op.rounding);
            }
          }
        }
        return out;
      }
      case 'globalavgpool': {
        const [C, H, W] = p.inShapes[0];
        const z = op.zeroPoint, hw = H * W;
        for (let pl = 0; pl < batch * C; pl++) {
          let sum = 0;
          for (let k = 0; k < hw; k++) sum += x[pl * hw + k] - z;
          out[pl] = z + roundDiv(sum, hw, op.rounding);
        }
        return out;
      }
      case 'clamp': {
        for (let k = 0; k < x.length; k++) {
          const v = op.outZeroPoint + multiplyByQuantizedMultiplier(x[k] - op.inZeroPoint, op.multiplier, op.shift);
          out[k] = v < op.qmin ? op.qmin : v > op.qmax ? op.qmax : v;
        }
        return out;
      }
      case 'quantize':
      case 'dequantize':
        throw new Error('unreachable: quantize/dequantize are not integer nodes');
    }
  }

  // ------------------------------------------------------------------- persistence

  toSpec(): Int8GraphSpec {
    return cloneSpec(this.spec as never) as unknown as Int8GraphSpec;
  }

  toBytes(): Uint8Array {
    return encodeContainer(graphSpecToContainer(this.spec));
  }

  /**
   * Reads version 2 (graph) and version 1 (chain) int8 model bytes; errors name `sourceName`.
   * Files: saveInt8GraphModel / loadInt8GraphModel in qgrad/node (file.ts).
   */
  static fromBytes(bytes: Uint8Array, sourceName = '<bytes>', options: Int8ModelOptions = {}): Int8GraphModel {
    return fromContainer(() => decodeContainer(bytes, sourceName), sourceName, options);
  }

  describe(): string {
    const path = this.forwardPath();
    const lines = [`Int8GraphModel: input [${this.inputShape.join(', ')}] -> output [${this.outputShape.join(', ')}], ${this.plans.length} nodes; forward: ${path.engine} engine (${path.kernels}${path.reason ? `: ${path.reason}` : ''})`];
    for (const p of this.plans) lines.push(`  ${p.name.padEnd(24)} ${p.op.kind.padEnd(13)} (${p.node.inputs.join(', ')}) -> [${p.outShape.join(', ')}]`);
    return lines.join('\n');
  }
}

function stage(op: { multiplier: Int32Array; shift: Int32Array; outZeroPoint: number; qmin: number; qmax: number }, bias: Int32Array) {
  return { bias, multiplier: op.multiplier, shift: op.shift, outZeroPoint: op.outZeroPoint, qmin: op.qmin, qmax: op.qmax };
}

function fromContainer(read: () => Container, source: string, options: Int8ModelOptions): Int8GraphModel {
  const spec = graphSpecFromContainer(read(), source);
  try {
    return new Int8GraphModel(spec, options);
  } catch (error) {
    if (error instanceof FileFormatError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new FileFormatError(source, `invalid int8 model: ${message.replace(/^Int8Model: /, '')}`);
  }
}
