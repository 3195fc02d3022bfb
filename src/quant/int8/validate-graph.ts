/**
 * Validation of an Int8GraphSpec (graph.ts), run before anything is allocated or executed:
 *
 *   structure   node names unique and not the reserved 'input'; every input names a node (no
 *               dangling inputs); only quantize reads 'input'; the graph is acyclic (Kahn's
 *               algorithm; a cycle is reported with the nodes on it); `output` is the one
 *               dequantize node; every node is used by the output (no dead nodes)
 *   sizes       at most MAX_NODES nodes, MAX_INPUTS inputs per node, and every per-example shape
 *               at most MAX_LEVELS levels, checked while planning, before any buffer is made
 *   nodes       chain kinds by the chain validator (validate.ts planChainLayer: weights, ranges,
 *               int32 accumulator bounds); the graph kinds here: shapes consistent, zero points equal
 *               to those their input levels have, multipliers in Q31 form, int8Add / int8Mul's limits
 *
 * Errors start with "Int8Model: node '<name>' (<kind>): ...".
 */
import { addFixedPointParams, mulFixedPointParams } from '../numerics/int8-arith.js';
import { checkRange, checkScaleZeroPoint } from '../numerics/qparams.js';

function checkQParamsQuiet(p: { scale: number; zeroPoint: number; qmin: number; qmax: number }, name: string): void {
  checkRange(p.qmin, p.qmax, name);
  checkScaleZeroPoint(p.scale, p.zeroPoint, p.qmin, p.qmax, name);
}
import { GRAPH_INPUT, type Int8GraphNode, type Int8GraphOp, type Int8GraphSpec } from './graph.js';
import type { Int8Layer } from './model.js';
import { planChainLayer, type LayerPlan, type LevelRange } from './validate.js';

export const MAX_NODES = 4096;
export const MAX_INPUTS = 64;
/** Levels of one example's value at any node (2^24: 64 MiB of int32 per example). */
export const MAX_LEVELS = 2 ** 24;
const TWO_30 = 2 ** 30;
const CHAIN_KINDS = new Set(['quantize', 'conv2d', 'linear', 'maxpool2d', 'relu', 'flatten', 'dequantize']);
const GRAPH_KINDS = new Set(['add', 'mul', 'concat', 'avgpool2d', 'globalavgpool', 'clamp', 'reshape']);

export interface NodePlan {
  name: string;
  node: Int8GraphNode;
  op: Int8GraphOp;
  /** Per-example shapes of the inputs and of the output. */
  inShapes: number[][];
  outShape: number[];
  inRanges: LevelRange[];
  /** null for dequantize (float output). */
  outRange: LevelRange | null;
  /** The chain plan, for chain kinds. */
  chain: LayerPlan | null;
}

function fail(where: string, problem: string): never {
  throw new Error(`Int8Model: ${where}: ${problem}`);
}

const show = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

/** Check `spec` completely; returns the nodes' plans in execution (topological) order. */
export function planInt8Graph(spec: Int8GraphSpec): NodePlan[] {
  if (spec === null || typeof spec !== 'object') fail('spec', `must be an object, got ${show(spec)}`);
  const inputShape = spec.inputShape;
  if (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    fail('inputShape', `must be a non-empty array of positive integers, got ${show(inputShape)}`);
  }
  if (inputShape.reduce((a, b) => a * b, 1) > MAX_LEVELS) fail('inputShape', `[${inputShape.join(', ')}] exceeds ${MAX_LEVELS} values per example`);
  if (!Array.isArray(spec.nodes)) fail('spec', `'nodes' must be an array, got ${show(spec.nodes)}`);
  if (spec.nodes.length > MAX_NODES) fail('spec', `${spec.nodes.length} nodes exceed the limit of ${MAX_NODES}`);

  // ---- structure
  const byName = new Map<string, Int8GraphNode>();
  spec.nodes.forEach((n, i) => {
    if (n === null || typeof n !== 'object' || typeof n.name !== 'string' || n.name === '') fail(`node ${i}`, `must be an object with a non-empty string 'name', got ${show(n)}`);
    const where = `node '${n.name}'`;
    if (n.name === GRAPH_INPUT) fail(where, `'${GRAPH_INPUT}' is reserved for the float input`);
    if (byName.has(n.name)) fail(where, 'the name is used by two nodes');
    if (n.op === null || typeof n.op !== 'object' || !(CHAIN_KINDS.has(n.op.kind) || GRAPH_KINDS.has(n.op.kind))) {
      fail(where, `'op.kind' must be one of ${[...CHAIN_KINDS, ...GRAPH_KINDS].join(', ')}, got ${show((n.op as { kind?: unknown } | null)?.kind ?? n.op)}`);
    }
    if (!Array.isArray(n.inputs) || !n.inputs.every((s) => typeof s === 'string')) fail(where, `'inputs' must be an array of node names, got ${show(n.inputs)}`);
    const arity = n.op.kind === 'add' || n.op.kind === 'mul' ? [2, 2] : n.op.kind === 'concat' ? [1, MAX_INPUTS] : [1, 1];
    if (n.inputs.length < arity[0] || n.inputs.length > arity[1]) {
      fail(`${where} (${n.op.kind})`, `takes ${arity[0] === arity[1] ? arity[0] : `${arity[0]} to ${arity[1]}`} input(s), got ${n.inputs.length}`);
    }
    byName.set(n.name, n);
  });
  for (const n of spec.nodes) {
    const where = `node '${n.name}' (${n.op.kind})`;
    for (const input of n.inputs) {
      if (input === GRAPH_INPUT) {
        if (n.op.kind !== 'quantize') fail(where, `reads the float input '${GRAPH_INPUT}'; only a quantize node may`);
      } else if (!byName.has(input)) fail(where, `input '${input}' is not a node of the graph (dangling input)`);
    }
    if (n.op.kind === 'quantize' && n.inputs[0] !== GRAPH_INPUT) fail(where, `must read the float input '${GRAPH_INPUT}', reads '${n.inputs[0]}'`);
    if (n.op.kind === 'dequantize' && n.name !== spec.output) fail(where, `dequantize may only be the output node ('${spec.output}')`);
  }
  if (typeof spec.output !== 'string' || !byName.has(spec.output)) fail('spec', `'output' must name a node, got ${show(spec.output)}`);
  if (byName.get(spec.output)!.op.kind !== 'dequantize') fail(`node '${spec.output}'`, 'the output node must be a dequantize (levels -> float)');
  const order = topologicalOrder(spec.nodes, byName);
  if (!spec.nodes.some((n) => n.op.kind === 'quantize')) fail('spec', 'has no quantize node reading the input');

  // ---- nodes, in execution order
  const plans = new Map<string, NodePlan>();
  const out: NodePlan[] = [];
  order.forEach((n, index) => {
    const label = `node '${n.name}'`;
    const ins = n.inputs.map((i) => (i === GRAPH_INPUT ? null : plans.get(i)!));
    for (const p of ins) if (p && p.outRange === null) fail(`${label} (${n.op.kind})`, `reads '${p.name}', a dequantize (float) node`);
    const inShapes = ins.map((p) => (p ? p.outShape : [...inputShape]));
    const inRanges = ins.map((p) => (p ? p.outRange! : null)).filter((r): r is LevelRange => r !== null);
    let plan: NodePlan;
    if (CHAIN_KINDS.has(n.op.kind)) {
      const setBy = ins[0] ? `node '${ins[0].name}'` : 'the input';
      const chain = planChainLayer(n.op as Int8Layer, label, index, inShapes[0], ins[0]?.outRange ?? null, setBy);
      plan = { name: n.name, node: n, op: n.op, inShapes, outShape: chain.outShape, inRanges, outRange: chain.outRange, chain };
    } else {
      const r = planGraphOp(n, `${label} (${n.op.kind})`, inShapes, inRanges, ins.map((p) => p!.name));
      plan = { name: n.name, node: n, op: n.op, inShapes, outShape: r.outShape, inRanges, outRange: r.outRange, chain: null };
    }
    const levels = plan.outShape.reduce((a, b) => a * b, 1);
    if (levels > MAX_LEVELS) fail(`${label} (${n.op.kind})`, `its output [${plan.outShape.join(', ')}] exceeds ${MAX_LEVELS} levels per example`);
    plans.set(n.name, plan);
    out.push(plan);
  });
  // Every node must feed the output.
  const live = new Set<string>();
  const stack = [spec.output];
  while (stack.length) {
    const name = stack.pop()!;
    if (live.has(name) || name === GRAPH_INPUT) continue;
    live.add(name);
    stack.push(...byName.get(name)!.inputs);
  }
  for (const n of spec.nodes) if (!live.has(n.name)) fail(`node '${n.name}' (${n.op.kind})`, 'is not used by the output (dead node)');
  return out;
}

/** Kahn's algorithm; on a cycle, names the nodes that lie on one. */
function topologicalOrder(nodes: Int8GraphNode[], byName: Map<string, Int8GraphNode>): Int8GraphNode[] {
  const indegree = new Map<string, number>();
  const readers = new Map<string, string[]>();
  for (const n of nodes) {
    const deps = n.inputs.filter((i) => i !== GRAPH_INPUT);
    indegree.set(n.name, deps.length);
    for (const d of deps) readers.set(d, [...(readers.get(d) ?? []), n.name]);
  }
  const ready = nodes.filter((n) => indegree.get(n.name) === 0).map((n) => n.name);
  const order: Int8GraphNode[] = [];
  while (ready.length) {
    const name = ready.shift()!;
    order.push(byName.get(name)!);
    for (const r of readers.get(name) ?? []) {
      const d = indegree.get(r)! - 1;
      indegree.set(r, d);
      if (d === 0) ready.push(r);
    }
  }
  if (order.length < nodes.length) {
    // Walk back from a blocked node through blocked inputs until a name repeats: that is a cycle.
    let at = nodes.find((n) => indegree.get(n.name)! > 0)!.name;
    const seen: string[] = [];
    while (!seen.includes(at)) {
      seen.push(at);
      at = byName.get(at)!.inputs.find((i) => i !== GRAPH_INPUT && indegree.get(i)! > 0)!;
    }
    const cycle = [...seen.slice(seen.indexOf(at)).reverse(), at];
    fail('spec', `the graph has a cycle: ${cycle.map((c) => `'${c}'`).join(' -> ')}`);
  }
  return order;
}

function isLevel(v: unknown): v is number {
  return Number.isInteger(v) && Math.abs(v as number) <= 2 ** 24;
}

function checkGrid(where: string, name: string, qmin: unknown, qmax: unknown, zeroPoint: unknown): LevelRange {
  if (!isLevel(qmin) || !isLevel(qmax) || !(qmin <= qmax)) fail(where, `${name}: qmin/qmax must be integers in [-2^24, 2^24] with qmin <= qmax, got ${show(qmin)}, ${show(qmax)}`);
  if (!Number.isInteger(zeroPoint)) fail(where, `${name}: zero point must be an integer, got ${show(zeroPoint)}`);
  return { zeroPoint: zeroPoint as number, qmin, qmax };
}

/** A Q31 multiplier whose left shift (shift > 0) cannot push any offset input level out of int32. */
function checkMultiplier(where: string, name: string, m: unknown, s: unknown, range: LevelRange): void {
  if (!Number.isInteger(m) || !((m as number) === 0 || ((m as number) >= TWO_30 && (m as number) < 2 * TWO_30))) fail(where, `${name} multiplier ${show(m)} is not a Q31 multiplier (0, or in [2^30, 2^31))`);
  if (!Number.isInteger(s) || (s as number) < -31 || (s as number) > 30) fail(where, `${name} shift ${show(s)} must be an integer in [-31, 30]`);
  const span = Math.max(range.qmax - range.zeroPoint, range.zeroPoint - range.qmin);
  if (span * 2 ** Math.max(s as number, 0) > 2147483647) fail(where, `${name} shift ${show(s)} shifts input levels up to ${span} from the zero point out of int32`);
}

function matchZeroPoint(where: string, field: string, value: unknown, range: LevelRange, from: string): void {
  if (value !== range.zeroPoint) fail(where, `${field} = ${show(value)} does not match the zero point ${range.zeroPoint} of its input levels (from node '${from}')`);
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function planGraphOp(n: Int8GraphNode, where: string, inShapes: number[][], inRanges: LevelRange[], from: string[]): { outShape: number[]; outRange: LevelRange } {
  const op = n.op;
  switch (op.kind) {
    case 'add':
    case 'mul': {
      if (!sameShape(inShapes[0], inShapes[1])) fail(where, `inputs have shapes [${inShapes[0].join(', ')}] and [${inShapes[1].join(', ')}]; they must be equal`);
      if (op.mode !== 'float' && op.mode !== 'fixedPoint') fail(where, `mode must be 'float' or 'fixedPoint', got ${show(op.mode)}`);
      if (op.mode === 'fixedPoint' && op.rounding !== undefined) fail(where, "mode 'fixedPoint' rounds as TFLite does; 'rounding' applies only to mode 'float'");
      if (op.rounding !== undefined && op.rounding !== 'halfEven' && op.rounding !== 'halfAwayFromZero') fail(where, `rounding must be 'halfEven' or 'halfAwayFromZero', got ${show(op.rounding)}`);
      const sides = [['a', op.a], ['b', op.b]] as const;
      for (const [k, [side, p]] of sides.entries()) {
        if (p === null || typeof p !== 'object') fail(where, `'${side}' must be {scale, zeroPoint}, got ${show(p)}`);
        matchZeroPoint(where, `${side}.zeroPoint`, p.zeroPoint, inRanges[k], from[k]);
      }
      if (op.out === null || typeof op.out !== 'object') fail(where, `'out' must be {scale, zeroPoint, qmin, qmax}, got ${show(op.out)}`);
      const outRange = checkGrid(where, 'out', op.out.qmin, op.out.qmax, op.out.zeroPoint);
      // int8Add / int8Mul's own checks (scales, zero points, fixed-point limits), now rather than mid-forward.
      const pa = { ...op.a, qmin: inRanges[0].qmin, qmax: inRanges[0].qmax };
      const pb = { ...op.b, qmin: inRanges[1].qmin, qmax: inRanges[1].qmax };
      try {
        checkQParamsQuiet(pa, 'a');
        checkQParamsQuiet(pb, 'b');
        checkQParamsQuiet(op.out, 'out');
        if (op.mode === 'fixedPoint') {
          if (op.kind === 'add') {
            const limit = Math.floor(2147483647 / 2 ** 20);
            for (const [s, p] of [['a', pa], ['b', pb]] as const) {
              const span = Math.max(p.zeroPoint - p.qmin, p.qmax - p.zeroPoint);
              if (span > limit) throw new Error(`input ${s}'s levels lie up to ${span} from its zero point; the fixed-point add allows at most ${limit}`);
            }
            addFixedPointParams(op.a.scale, op.b.scale, op.out.scale);
          } else {
            const { shift } = mulFixedPointParams(op.a.scale, op.b.scale, op.out.scale).output;
            const span = (p: typeof pa) => Math.max(p.zeroPoint - p.qmin, p.qmax - p.zeroPoint);
            if (shift > 30 || span(pa) * span(pb) * 2 ** Math.max(shift, 0) > 2147483647) throw new Error('the fixed-point product of offset inputs can overflow int32');
          }
        }
      } catch (e) {
        fail(where, e instanceof Error ? e.message : String(e));
      }
      return { outShape: inShapes[0], outRange };
    }
    case 'concat': {
      const rank = inShapes[0].length;
      if (!Number.isInteger(op.axis) || op.axis < 0 || op.axis >= rank) fail(where, `axis must be an integer in [0, ${rank - 1}], got ${show(op.axis)}`);
      if (!Array.isArray(op.inputs) || op.inputs.length !== n.inputs.length) fail(where, `'inputs' must hold one {zeroPoint, multiplier, shift} per input (${n.inputs.length}), got ${show(op.inputs)}`);
      const outShape = [...inShapes[0]];
      outShape[op.axis] = 0;
      inShapes.forEach((s, i) => {
        if (s.length !== rank || s.some((d, j) => j !== op.axis && d !== inShapes[0][j])) {
          fail(where, `input ${i} has shape [${s.join(', ')}], which does not match [${inShapes[0].join(', ')}] outside axis ${op.axis}`);
        }
        outShape[op.axis] += s[op.axis];
        const p = op.inputs[i];
        if (p === null || typeof p !== 'object') fail(where, `inputs[${i}] must be {zeroPoint, multiplier, shift}`);
        matchZeroPoint(where, `inputs[${i}].zeroPoint`, p.zeroPoint, inRanges[i], from[i]);
        checkMultiplier(where, `inputs[${i}]`, p.multiplier, p.shift, inRanges[i]);
      });
      const outRange = checkGrid(where, 'output', op.qmin, op.qmax, op.outZeroPoint);
      return { outShape, outRange };
    }
    case 'avgpool2d': {
      const s = inShapes[0];
      if (s.length !== 3) fail(where, `input must be [C, H, W] per example, got [${s.join(', ')}]`);
      const ok = (t: unknown) => Array.isArray(t) && t.length === 2 && t.every((d) => Number.isSafeInteger(d) && d >= 1 && d <= 4096);
      if (!ok(op.kernel)) fail(where, `kernel must be 2 integers in [1, 4096], got ${show(op.kernel)}`);
      if (!ok(op.stride)) fail(where, `stride must be 2 integers in [1, 4096], got ${show(op.stride)}`);
      const OH = Math.floor((s[1] - op.kernel[0]) / op.stride[0]) + 1, OW = Math.floor((s[2] - op.kernel[1]) / op.stride[1]) + 1;
      if (OH < 1 || OW < 1) fail(where, `a ${op.kernel.join('x')} window does not fit the ${s[1]}x${s[2]} input`);
      checkRounding(where, op.rounding);
      matchZeroPoint(where, 'zeroPoint', op.zeroPoint, inRanges[0], from[0]);
      return { outShape: [s[0], OH, OW], outRange: inRanges[0] };
    }
    case 'globalavgpool': {
      const s = inShapes[0];
      if (s.length !== 3) fail(where, `input must be [C, H, W] per example, got [${s.join(', ')}]`);
      checkRounding(where, op.rounding);
      matchZeroPoint(where, 'zeroPoint', op.zeroPoint, inRanges[0], from[0]);
      return { outShape: [s[0]], outRange: inRanges[0] };
    }
    case 'clamp': {
      matchZeroPoint(where, 'inZeroPoint', op.inZeroPoint, inRanges[0], from[0]);
      checkMultiplier(where, 'the', op.multiplier, op.shift, inRanges[0]);
      const outRange = checkGrid(where, 'output', op.qmin, op.qmax, op.outZeroPoint);
      return { outShape: inShapes[0], outRange };
    }
    case 'reshape': {
      if (!Array.isArray(op.shape) || op.shape.length === 0 || !op.shape.every((d) => Number.isSafeInteger(d) && d >= 1)) fail(where, `shape must be positive integers, got ${show(op.shape)}`);
      const a = op.shape.reduce((x, y) => x * y, 1), b = inShapes[0].reduce((x, y) => x * y, 1);
      if (a !== b) fail(where, `cannot reshape [${inShapes[0].join(', ')}] (${b} levels) to [${op.shape.join(', ')}] (${a})`);
      return { outShape: [...op.shape], outRange: inRanges[0] };
    }
    default:
      return fail(where, 'unreachable: chain kind');
  }
}

function checkRounding(where: string, r: unknown): void {
  if (r !== undefined && r !== 'halfEven' && r !== 'halfAwayFromZero') fail(where, `rounding must be 'halfEven' or 'halfAwayFromZero', got ${show(r)}`);
}
