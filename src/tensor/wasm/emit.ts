/**
 * A tiny WebAssembly binary emitter: just enough of the format (spec "Binary Format", sections
 * 5.1-5.5) to write the gemm kernels in TypeScript, so the runtime needs no assembler and no
 * build step: src/tensor/wasm/kernels.ts builds the module bytes when it is first imported
 * (well under a millisecond) and V8 compiles them.
 *
 * Code is written in the folded form of the text format: every helper returns the bytes of one
 * expression, operands first, then the opcode, so that
 *   f32x4.add(local.get(acc), f32x4.mul(local.get(a), local.get(b)))
 * reads like `(f32x4.add (local.get $acc) (f32x4.mul (local.get $a) (local.get $b)))`.
 * Control flow is limited to counted loops (`forLoop`, `doWhile`) and `ifElse`, whose branches
 * only target their own block, so no label bookkeeping is needed.
 */

export type Code = number[];
export type ValType = 'i32' | 'f32' | 'v128';

const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

/** Unsigned LEB128. */
export function uleb(v: number): Code {
  const out: Code = [];
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(v: number): Code {
  const out: Code = [];
  v |= 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const cat = (...parts: Code[]): Code => parts.flat();

// ---- instructions ---------------------------------------------------------------------------

export const local = {
  get: (i: number): Code => [0x20, ...uleb(i)],
  set: (i: number, v: Code): Code => [...v, 0x21, ...uleb(i)],
};

const bin = (op: number) => (a: Code, b: Code): Code => [...a, ...b, op];

export const i32 = {
  const: (v: number): Code => [0x41, ...sleb(v)],
  add: bin(0x6a),
  sub: bin(0x6b),
  mul: bin(0x6c),
  and: bin(0x71),
  or: bin(0x72),
  shl: bin(0x74),
  eq: bin(0x46),
  ne: bin(0x47),
  ltU: bin(0x49),
  gtU: bin(0x4b),
  geU: bin(0x4f),
  geS: bin(0x4e),
  eqz: (a: Code): Code => [...a, 0x45],
  load: (addr: Code, offset = 0): Code => [...addr, 0x28, ...memarg(2, offset)],
  store: (addr: Code, value: Code, offset = 0): Code => [...addr, ...value, 0x36, ...memarg(2, offset)],
  /** a < b ? a : b for unsigned values. */
  minU: (a: Code, b: Code): Code => [...a, ...b, ...a, ...b, 0x49, 0x1b],
  divU: bin(0x6e),
  remU: bin(0x70),
};

/** memarg: log2 of the alignment hint, and a constant byte offset folded into the address. */
const memarg = (align: number, offset: number): Code => [...uleb(align), ...uleb(offset)];
const simd = (op: number): Code => [0xfd, ...uleb(op)];

export const f32 = {
  load: (addr: Code, offset = 0): Code => [...addr, 0x2a, ...memarg(2, offset)],
  store: (addr: Code, value: Code, offset = 0): Code => [...addr, ...value, 0x38, ...memarg(2, offset)],
  add: bin(0x92),
};

export const v128 = {
  load: (addr: Code, offset = 0): Code => [...addr, ...simd(0x00), ...memarg(4, offset)],
  /** Loads 4 bytes and broadcasts them to all four 32-bit lanes. */
  load32Splat: (addr: Code, offset = 0): Code => [...addr, ...simd(0x09), ...memarg(2, offset)],
  store: (addr: Code, value: Code, offset = 0): Code => [...addr, ...value, ...simd(0x0b), ...memarg(4, offset)],
  zero: (): Code => [...simd(0x0c), ...new Array<number>(16).fill(0)],
  /** Four 32-bit lanes given as integers. */
  i32Const: (lanes: [number, number, number, number]): Code => [...simd(0x0c), ...lanes.flatMap((v) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff])],
  and: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x4e)],
  or: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x50)],
  /** a & ~b */
  andnot: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x4f)],
  /** Bits of a where mask is 1, of b where it is 0. */
  bitselect: (a: Code, b: Code, mask: Code): Code => [...a, ...b, ...mask, ...simd(0x52)],
  /** The 32-bit lanes lanes[i] of the concatenation a ++ b (0-3 from a, 4-7 from b). */
  shuffle32: (a: Code, b: Code, lanes: [number, number, number, number]): Code =>
    [...a, ...b, ...simd(0x0d), ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])],
};

export const f32x4 = {
  eq: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x41)],
  ne: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x42)],
  lt: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x43)],
  gt: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x44)],
  le: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x45)],
  /** Broadcasts an f32 to all four lanes. */
  splat: (a: Code): Code => [...a, ...simd(0x13)],
  add: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe4)],
  mul: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe6)],
  /** Relaxed SIMD: a * b + c, fused or not at the engine's choice. */
  relaxedMadd: (a: Code, b: Code, c: Code): Code => [...a, ...b, ...c, ...simd(0x105)],
};

export const i32x4 = {
  splat: (a: Code): Code => [...a, ...simd(0x11)],
  add: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xae)],
  eq: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x37)],
  /** Lane-wise a > b as signed integers: all ones or zero. */
  gtS: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x3b)],
  /** Lane i = a[2i] * b[2i] + a[2i+1] * b[2i+1] over signed 16-bit lanes, wrapping to 32 bits. */
  dotI16x8S: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xba)],
};

export const f64x2 = {
  add: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xf0)],
  /** Lanes 0 and 1 of an f32x4, widened to float64 (exact). */
  promoteLow: (a: Code): Code => [...a, ...simd(0x5f)],
};

/** cond ? a : b (both evaluated), for values of one type. */
export function select(a: Code, b: Code, cond: Code): Code {
  return [...a, ...b, ...cond, 0x1b];
}

/** The memory's size in bytes (memory.size counts 64 KiB pages; exact up to 32767 pages). */
export const memoryBytes = (): Code => [0x3f, 0x00, 0x41, 16, 0x74];

export function call(fn: number, ...args: Code[]): Code {
  return [...args.flat(), 0x10, ...uleb(fn)];
}

/** `while (cond) body`: cond is evaluated before every iteration. */
export function whileLoop(cond: Code, body: Code[]): Code {
  return cat(
    [0x02, 0x40], // block: the exit target
    i32.eqz(cond), [0x0d, 0], // br_if 0 (the block) when there is nothing to do
    [0x03, 0x40], // loop
    ...body,
    cond, [0x0d, 0], // br_if 0 (the loop) while cond holds
    [0x0b, 0x0b], // end loop, end block
  );
}

/** `for (i = start; i < end; i += step) body`, comparing unsigned. */
export function forLoop(i: number, start: Code, end: Code, step: number, body: Code[]): Code {
  return cat(
    local.set(i, start),
    whileLoop(i32.ltU(local.get(i), end), [...body, local.set(i, i32.add(local.get(i), i32.const(step)))]),
  );
}

/** Runs `body`, then repeats it while `cond` holds (the loop body always executes at least once). */
export function doWhile(body: Code[], cond: Code): Code {
  return cat([0x03, 0x40], ...body, cond, [0x0d, 0, 0x0b]);
}

export function ifElse(cond: Code, then: Code[], otherwise: Code[]): Code {
  return cat(cond, [0x04, 0x40], ...then, [0x05], ...otherwise, [0x0b]);
}

// ---- functions and modules ------------------------------------------------------------------

export interface FuncSpec {
  name: string;
  params: ValType[];
  locals: ValType[];
  body: Code[];
  export: boolean;
}

/**
 * A function whose parameters and locals are named: `p.x` is the index of parameter x, so the
 * body reads `local.get(p.x)`. Locals are declared after the parameters, as the format requires.
 */
export function defineFunction<P extends string, L extends string>(
  name: string,
  params: Record<P, ValType>,
  locals: Record<L, ValType>,
  build: (v: Record<P | L, number>) => Code[],
  exported = false,
): FuncSpec {
  const v = {} as Record<P | L, number>;
  const pNames = Object.keys(params) as P[];
  const lNames = Object.keys(locals) as L[];
  pNames.forEach((n, i) => (v[n] = i));
  lNames.forEach((n, i) => (v[n] = pNames.length + i));
  return {
    name,
    params: pNames.map((n) => params[n]),
    locals: lNames.map((n) => locals[n]),
    body: build(v),
    export: exported,
  };
}

function section(id: number, payload: Code): Code {
  return [id, ...uleb(payload.length), ...payload];
}

function vec(items: Code[]): Code {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): Code {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

/**
 * A module that imports one memory as env.memory (shared, so that worker threads can instantiate
 * the same module over it, unless `shared` is false) and defines the given functions, none
 * returning a value. Functions call each other by their index in `funcs`.
 */
export function buildModule(funcs: FuncSpec[], memory: { initialPages: number; maximumPages: number; shared?: boolean }): Uint8Array<ArrayBuffer> {
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((t) => [VALTYPE[t]])), 0x00]);
  // limits flag: 0x01 has a maximum, 0x03 has a maximum and is shared.
  const limits = memory.shared === false ? 0x01 : 0x03;
  const importMem = [...name('env'), ...name('memory'), 0x02, limits, ...uleb(memory.initialPages), ...uleb(memory.maximumPages)];
  const bodies = funcs.map((f) => {
    // Locals are declared as runs of one type; one run per local keeps it simple.
    const decls = vec(f.locals.map((t) => [1, VALTYPE[t]]));
    const code = [...decls, ...f.body.flat(), 0x0b];
    return [...uleb(code.length), ...code];
  });
  const exports = funcs.flatMap((f, i) => (f.export ? [[...name(f.name), 0x00, ...uleb(i)]] : []));
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vec(types)),
    ...section(2, vec([importMem])),
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...section(7, vec(exports)),
    ...section(10, vec(bodies)),
  ];
  return new Uint8Array(bytes);
}

/**
 * A private, fixed-size (unshared) module built from `funcs` and instantiated over its own memory
 * of `pages` pages: its exports and that memory, or null where the engine refuses the module (no
 * SIMD) or fails to instantiate it. For the small single-threaded kernels that stage their data in
 * their own memory (quant-kernels.ts, quant/qat/requant-kernel.ts).
 */
export function instantiatePrivate(funcs: FuncSpec[], pages: number): { exports: Record<string, unknown>; memory: WebAssembly.Memory } | null {
  try {
    const bytes = buildModule(funcs, { initialPages: pages, maximumPages: pages, shared: false });
    if (!WebAssembly.validate(bytes)) return null;
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as Record<string, unknown>;
    return { exports, memory };
  } catch {
    return null;
  }
}
