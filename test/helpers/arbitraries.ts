/**
 * Reusable fast-check generators for tensor tests, in the spirit of minitorch's strategies:
 * random shapes, broadcast-compatible shape tuples, seeded values with a chosen distribution
 * (kept away from kinks and ties when a gradient check needs it), and tensor "cases" that realise
 * the same logical values in a non-trivial memory layout (permuted, sliced with steps and negative
 * indices, offset into a larger buffer, expanded with stride 0).
 *
 * Every generator is backend-agnostic: a case only creates a Tensor when asked (`make({ device })`),
 * so the same properties can run against the cpu and the gpu backend.
 */
import fc from 'fast-check';
import { fromArray, type DType, type Device, type Tensor } from '../../src/index.js';
import { broadcastShape, nd, size, unravel, ravel, type NDArray } from './reference.js';
import { mulberry32 } from './rng.js';

// ---- shapes -------------------------------------------------------------------------------------

export interface ShapeOptions {
  minRank?: number;
  maxRank?: number;
  minDim?: number;
  maxDim?: number;
}

/** A shape of rank minRank..maxRank (default 0..4) with dims minDim..maxDim (default 1..5). */
export function shapeArb(opts: ShapeOptions = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 4, minDim = 1, maxDim = 5 } = opts;
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/**
 * `count` shapes that broadcast together (NumPy rules): a common output shape, from which each
 * operand drops some leading dims and replaces some dims by 1. `out` is what they broadcast to.
 */
export function broadcastShapesArb(count: number, opts: ShapeOptions = {}): fc.Arbitrary<{ out: number[]; inputs: number[][] }> {
  return shapeArb(opts).chain((out) => {
    const operand = fc
      .tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
      .map(([drop, ones]) => out.map((d, i) => (ones[i] ? 1 : d)).slice(drop));
    return fc.array(operand, { minLength: count, maxLength: count }).map((inputs) => ({ out: broadcastShape(...inputs), inputs }));
  });
}

/** Two broadcast-compatible shapes. */
export function broadcastPairArb(opts: ShapeOptions = {}): fc.Arbitrary<[number[], number[]]> {
  return broadcastShapesArb(2, opts).map(({ inputs }) => [inputs[0], inputs[1]] as [number[], number[]]);
}

// ---- values -------------------------------------------------------------------------------------

/**
 * How values are drawn.
 * - uniform: in [min, max).
 * - signed: magnitude in [min, max), random sign: keeps |x| >= min (away from kinks at 0).
 * - distinct: a random permutation of (k - (n-1)/2) * spacing: no ties anywhere in the tensor.
 * - lattice: offset + step * k inside [min, max]: two lattices with different offsets never meet.
 * - int: integers in [min, max].
 */
export type ValueSpec =
  | { kind: 'uniform'; min: number; max: number }
  | { kind: 'signed'; min: number; max: number }
  | { kind: 'distinct'; spacing: number }
  | { kind: 'lattice'; step: number; offset: number; min: number; max: number }
  | { kind: 'int'; min: number; max: number };

export const DEFAULT_VALUES: ValueSpec = { kind: 'uniform', min: -2, max: 2 };

/** mulberry32: a tiny seeded PRNG, independent of src/tensor/random.ts. */
export const prng = mulberry32;

/** Rounds a value to what a tensor of this dtype stores. */
export function roundTo(dtype: DType, v: number): number {
  if (dtype === 'float32') return Math.fround(v);
  if (dtype === 'int32') return Math.trunc(v) | 0;
  return v;
}

/** n values drawn deterministically from `seed` per `spec`, rounded to `dtype`. */
export function valuesFromSeed(seed: number, n: number, spec: ValueSpec = DEFAULT_VALUES, dtype: DType = 'float64'): number[] {
  const rnd = prng(seed);
  let out: number[];
  switch (spec.kind) {
    case 'uniform':
      out = Array.from({ length: n }, () => spec.min + (spec.max - spec.min) * rnd());
      break;
    case 'signed':
      out = Array.from({ length: n }, () => (rnd() < 0.5 ? -1 : 1) * (spec.min + (spec.max - spec.min) * rnd()));
      break;
    case 'distinct': {
      const ks = Array.from({ length: n }, (_, k) => k);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [ks[i], ks[j]] = [ks[j], ks[i]];
      }
      out = ks.map((k) => (k - (n - 1) / 2) * spec.spacing);
      break;
    }
    case 'lattice': {
      const lo = Math.ceil((spec.min - spec.offset) / spec.step), hi = Math.floor((spec.max - spec.offset) / spec.step);
      out = Array.from({ length: n }, () => spec.offset + spec.step * (lo + Math.floor(rnd() * (hi - lo + 1))));
      break;
    }
    case 'int':
      out = Array.from({ length: n }, () => spec.min + Math.floor(rnd() * (spec.max - spec.min + 1)));
      break;
  }
  return out.map((v) => roundTo(dtype, v));
}

// ---- layouts ------------------------------------------------------------------------------------

/** One view operation between a base tensor and the logical tensor, applied in order. */
export type ViewStep =
  | { op: 'permute'; dims: number[] }
  /** baseSize: the size of `axis` in the tensor being sliced. */
  | { op: 'slice'; axis: number; start: number; end: number; step: number; baseSize: number }
  /** baseSize: the size of the dim that select removes. */
  | { op: 'select'; axis: number; index: number; baseSize: number }
  | { op: 'expand'; shape: number[] };

/**
 * 'unit': a size-1 dim of the logical shape sits elsewhere in the base, so the view carries a
 * stride there that is not the row-major one (any stride is valid on a size-1 dim). The view is
 * still laid out contiguously in memory: the case that once sent matmul's batch indexing out of
 * bounds (issue 11, item 12).
 */
export type LayoutKind = 'contiguous' | 'permute' | 'slice' | 'offset' | 'expand' | 'unit';

export interface TensorCaseOptions {
  dtype?: DType;
  values?: ValueSpec;
  /** Which layouts may be drawn (default: all). 'expand' is skipped for 'distinct' values (it repeats them). */
  layouts?: readonly LayoutKind[];
  /** Up to this many view steps stacked under the logical tensor (default 2). */
  maxDepth?: number;
}

export interface MakeOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

/**
 * A tensor test case: the logical values (what every op should see), and a recipe that realises
 * them as a view of a larger base buffer. Base elements outside the view are NaN, so an op that
 * reads memory it should not shows it in its result.
 */
export interface TensorCase {
  readonly shape: number[];
  readonly values: number[];
  readonly dtype: DType;
  readonly baseShape: number[];
  readonly baseValues: number[];
  readonly steps: readonly ViewStep[];
  /** A fresh base tensor viewed through the steps. */
  make(opts?: MakeOptions): Tensor;
  /** The steps applied to a given base tensor (differentiable: use it inside gradCheck). */
  view(base: Tensor): Tensor;
  /** A fresh base tensor (leaf), e.g. as gradCheck's input. */
  makeBase(opts?: MakeOptions): Tensor;
  /** The logical values as a reference array. */
  ref(): NDArray;
  /** The layout in words, e.g. "permute(1,0) > slice(ax0, -5:9:2)". */
  readonly layout: string;
}

const FILL = NaN;

/** Applies one step's inverse: given the logical (shape, values) below it, the base (shape, values) above. */
function unapply(step: ViewStep, shape: number[], values: number[]): { shape: number[]; values: number[] } {
  switch (step.op) {
    case 'permute': {
      // base.permute(dims)[i] = base[j] with j[dims[k]] = i[k]
      const bshape = new Array<number>(shape.length);
      step.dims.forEach((d, k) => (bshape[d] = shape[k]));
      const bvals = new Array<number>(values.length);
      for (let f = 0; f < values.length; f++) {
        const i = unravel(f, shape);
        const j = new Array<number>(shape.length);
        step.dims.forEach((d, k) => (j[d] = i[k]));
        bvals[ravel(j, bshape)] = values[f];
      }
      return { shape: bshape, values: bvals };
    }
    case 'slice': {
      const bshape = [...shape];
      const n = (bshape[step.axis] = step.baseSize);
      const bvals = new Array<number>(size(bshape)).fill(FILL);
      const s = step.start < 0 ? step.start + n : step.start;
      for (let f = 0; f < values.length; f++) {
        const i = unravel(f, shape);
        i[step.axis] = s + i[step.axis] * step.step;
        bvals[ravel(i, bshape)] = values[f];
      }
      return { shape: bshape, values: bvals };
    }
    case 'select': {
      const bshape = [...shape];
      bshape.splice(step.axis, 0, step.baseSize);
      const bvals = new Array<number>(size(bshape)).fill(FILL);
      for (let f = 0; f < values.length; f++) {
        const i = unravel(f, shape);
        i.splice(step.axis, 0, step.index < 0 ? step.index + bshape[step.axis] : step.index);
        bvals[ravel(i, bshape)] = values[f];
      }
      return { shape: bshape, values: bvals };
    }
    case 'expand':
      throw new Error('expand is realised from a smaller base, not inverted');
  }
}

function applyStep(t: Tensor, step: ViewStep): Tensor {
  switch (step.op) {
    case 'permute':
      return t.permute(step.dims);
    case 'slice':
      return t.slice(step.axis, step.start, step.end, step.step);
    case 'select':
      return t.select(step.axis, step.index);
    case 'expand':
      return t.expand(step.shape);
  }
}

function describeStep(step: ViewStep): string {
  switch (step.op) {
    case 'permute':
      return `permute(${step.dims.join(',')})`;
    case 'slice':
      return `slice(ax${step.axis}, ${step.start}:${step.end}:${step.step})`;
    case 'select':
      return `select(ax${step.axis}, ${step.index})`;
    case 'expand':
      return `expand([${step.shape.join(',')}])`;
  }
}

/**
 * Draws the view steps (from the logical tensor downwards) that realise `shape`, with random
 * parameters from `rnd`. Slices get a start, a step of 1..3 and spare elements on both sides, and
 * half the time negative start/end indices.
 */
function drawStep(kind: LayoutKind, shape: number[], rnd: () => number): ViewStep | null {
  const pick = (n: number) => Math.floor(rnd() * n);
  switch (kind) {
    case 'permute': {
      if (shape.length < 2) return null;
      let dims: number[];
      do {
        dims = shape.map((_, i) => i);
        for (let i = dims.length - 1; i > 0; i--) {
          const j = pick(i + 1);
          [dims[i], dims[j]] = [dims[j], dims[i]];
        }
      } while (dims.every((d, i) => d === i));
      return { op: 'permute', dims };
    }
    case 'slice': {
      if (shape.length === 0) return null;
      const axis = pick(shape.length);
      const len = shape[axis];
      const step = 1 + pick(3);
      const start = pick(3);
      const used = start + (len - 1) * step + 1;
      const baseSize = used + pick(3);
      const negative = rnd() < 0.5;
      // end: exactly `used`, or anything up to the next element that would be taken.
      const end = Math.min(used + pick(step), baseSize + (negative ? 0 : 2));
      return negative
        ? { op: 'slice', axis, start: start - baseSize, end: end >= baseSize ? baseSize + 5 : end - baseSize, step, baseSize }
        : { op: 'slice', axis, start, end, step, baseSize };
    }
    case 'unit': {
      // Move one size-1 dim of the view to another place in the base: a permute step.
      const ones = shape.flatMap((d, i) => (d === 1 ? [i] : []));
      if (ones.length === 0 || shape.length < 2) return null;
      const u = ones[pick(ones.length)];
      let p = pick(shape.length - 1);
      if (p >= u) p++;
      // base order: the view's dims without u, with u inserted at position p.
      const order = shape.map((_, i) => i).filter((i) => i !== u);
      order.splice(p, 0, u);
      // view = base.permute(dims): view dim k is base dim dims[k], i.e. dims = inverse of order.
      const dims = new Array<number>(shape.length);
      order.forEach((viewDim, baseDim) => (dims[viewDim] = baseDim));
      return { op: 'permute', dims };
    }
    case 'offset': {
      // A new leading dim, selected: the view starts part-way into the buffer. (Leading, and
      // applied first on the base, because selecting inside an already strided view may copy.)
      const baseSize = 2 + pick(3);
      const index = 1 + pick(baseSize - 1);
      return { op: 'select', axis: 0, index: rnd() < 0.5 ? index - baseSize : index, baseSize };
    }
    default:
      return null;
  }
}

/**
 * A TensorCase of exactly this shape. The layout is drawn from opts.layouts: 'expand' makes the
 * outermost step a broadcast of a smaller tensor (so the logical values repeat along those dims);
 * the others stack up to maxDepth view steps below it.
 */
export function tensorCaseArb(shape: readonly number[], opts: TensorCaseOptions = {}): fc.Arbitrary<TensorCase> {
  const dtype = opts.dtype ?? 'float64';
  const spec = opts.values ?? DEFAULT_VALUES;
  const allowed = (opts.layouts ?? ['contiguous', 'permute', 'slice', 'offset', 'expand', 'unit']).filter(
    (k) => !(k === 'expand' && spec.kind === 'distinct'),
  );
  const inner = allowed.filter((k) => k !== 'expand' && k !== 'contiguous');
  const maxDepth = opts.maxDepth ?? 2;
  const canExpand = allowed.includes('expand');
  return fc
    .record({
      valueSeed: fc.integer({ min: 0, max: 0x7fffffff }),
      layoutSeed: fc.integer({ min: 0, max: 0x7fffffff }),
      expand: canExpand ? fc.boolean() : fc.constant(false),
      kinds: inner.length && maxDepth > 0 ? fc.array(fc.constantFrom(...inner), { maxLength: maxDepth }) : fc.constant<LayoutKind[]>([]),
    })
    .map(({ valueSeed, layoutSeed, expand, kinds }) => buildCase([...shape], dtype, spec, valueSeed, layoutSeed, expand, kinds));
}

/** A TensorCase for a shape drawn from shapeArb(shapeOpts). */
export function anyTensorCaseArb(shapeOpts: ShapeOptions = {}, opts: TensorCaseOptions = {}): fc.Arbitrary<TensorCase> {
  return shapeArb(shapeOpts).chain((s) => tensorCaseArb(s, opts));
}

export function buildCase(
  shape: number[], dtype: DType, spec: ValueSpec, valueSeed: number, layoutSeed: number, expand: boolean, kinds: readonly LayoutKind[],
): TensorCase {
  const rnd = prng(layoutSeed ^ 0x5bd1e995);
  const steps: ViewStep[] = [];
  // 1. The outermost step: expand a smaller tensor (some dims 1, maybe fewer leading dims).
  let below = shape;
  let belowValues: number[];
  let values: number[];
  if (expand && shape.some((d) => d > 1)) {
    const drop = Math.floor(rnd() * (shape.length + 1));
    let small = shape.map((d) => (d > 1 && rnd() < 0.5 ? 1 : d)).slice(drop);
    if (size(small) === size(shape)) {
      // Nothing was broadcast: force a size-1 dim where there is something to repeat.
      const k = shape.findIndex((d) => d > 1);
      small = shape.map((d, i) => (i === k ? 1 : d));
    }
    steps.push({ op: 'expand', shape: [...shape] });
    below = small;
    belowValues = valuesFromSeed(valueSeed, size(small), spec, dtype);
    const lead = shape.length - small.length;
    values = Array.from({ length: size(shape) }, (_, f) => {
      const i = unravel(f, shape).slice(lead).map((x, k) => (small[k] === 1 ? 0 : x));
      return belowValues[ravel(i, small)];
    });
  } else {
    values = belowValues = valuesFromSeed(valueSeed, size(shape), spec, dtype);
  }
  // 2. The view steps under it, drawn from the logical tensor down to the base.
  let cur = { shape: below, values: belowValues };
  // At most one offset step, and it goes next to the base (see drawStep).
  const ordered = [...kinds.filter((k) => k !== 'offset'), ...(kinds.includes('offset') ? ['offset' as const] : [])];
  for (const kind of ordered) {
    const step = drawStep(kind, cur.shape, rnd);
    if (!step) continue;
    steps.push(step);
    cur = unapply(step, cur.shape, cur.values);
  }
  const baseShape = cur.shape, baseValues = cur.values;
  const forward = [...steps].reverse(); // base -> logical
  const view = (base: Tensor): Tensor => forward.reduce(applyStep, base);
  const makeBase = (o: MakeOptions = {}): Tensor =>
    fromArray(baseValues, baseShape, { dtype: o.dtype ?? dtype, device: o.device, requiresGrad: o.requiresGrad });
  const layout = forward.length ? forward.map(describeStep).join(' > ') : 'contiguous';
  const c: TensorCase = {
    shape, values, dtype, baseShape, baseValues, steps: forward, layout, view, makeBase,
    make: (o = {}) => {
      const t = view(makeBase({ ...o, requiresGrad: false }));
      if (o.requiresGrad) t.requiresGrad = true; // views of a non-grad base are leaves
      return t;
    },
    ref: () => nd(shape, values),
  };
  // fast-check prints counterexamples with this.
  Object.defineProperty(c, fc.toStringMethod, { value: () => `TensorCase([${shape.join(',')}] ${dtype}, ${layout}, values=${JSON.stringify(values)})` });
  return c;
}
