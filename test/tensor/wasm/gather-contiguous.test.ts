/**
 * The gather-packer and col2im of the wasm module take vector paths where the gathered addresses
 * are contiguous (issue 17): groups of four rows along p, groups of four k (with a transpose),
 * groups of four positions in col2im. They must give exactly what the plain scalar definitions
 * give, whichever path each panel or group takes. The oracle here is those definitions written
 * as naive loops over a copy of the memory:
 *   pack:   dst[(pp * K + k) * R + r] = mem[src + pOff[p] + kOff[k]] (p = pp * R + r; 0 past P),
 *   col2im: gx[pos[j] + tap[k]] += C[k, j], k ascending, then j ascending, in float32.
 * Tables come from convolution geometries (computed here, not from conv.ts) chosen so that every
 * path is taken: all-contiguous panels, panels straddling output rows (OW = 11, 13, 26), stride 2,
 * dilation 2, padding, a second group's channels, K not a multiple of 4, a partial last panel;
 * plus random tables. Data holds NaNs with payloads, infinities and -0, compared bit for bit.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { buildModule, defineFunction, i32, i32x4, local, memoryBytes, select, v128 } from '../../../src/tensor/wasm/emit.js';
import { setWasmKernelConfig, shutdownThreads, threadedCallCounts } from '../../../src/tensor/wasm/index.js';
import { col2imWasm, gemmWorkspace, packGatherWasm } from '../../../src/tensor/wasm/runtime.js';
import { mulberry32 } from '../../helpers/rng.js';
import { useThreads } from './util.js';

afterAll(async () => {
  await shutdownThreads();
  setWasmKernelConfig();
});

interface Geo { N: number; C: number; H: number; W: number; O: number; KH: number; KW: number; s: [number, number]; pad: [number, number]; dil: [number, number]; G: number }

/** The gather tables of a convolution, in bytes (the definitions of conv.ts's tables(), re-derived). */
function convTables(g: Geo) {
  const Hp = g.H + 2 * g.pad[0], Wp = g.W + 2 * g.pad[1];
  const OH = Math.floor((Hp - g.dil[0] * (g.KH - 1) - 1) / g.s[0]) + 1;
  const OW = Math.floor((Wp - g.dil[1] * (g.KW - 1) - 1) / g.s[1]) + 1;
  const L = OH * OW, Cg = g.C / g.G, Og = g.O / g.G, CKK = Cg * g.KH * g.KW;
  const pos: number[] = [], posY: number[] = [], tap: number[] = [], rowsY: number[] = [];
  for (let n = 0; n < g.N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        pos.push(4 * (n * g.C * Hp * Wp + oh * g.s[0] * Wp + ow * g.s[1]));
        posY.push(4 * (n * g.O * L + oh * OW + ow));
      }
    }
  }
  for (let c = 0; c < Cg; c++) for (let kh = 0; kh < g.KH; kh++) for (let kw = 0; kw < g.KW; kw++) tap.push(4 * (c * Hp * Wp + kh * g.dil[0] * Wp + kw * g.dil[1]));
  for (let o = 0; o < Og; o++) rowsY.push(4 * o * L);
  return { Hp, Wp, OH, OW, L, Cg, Og, CKK, pos, posY, tap, rowsY, xWords: g.N * g.C * Hp * Wp, yWords: g.N * g.O * L };
}

/** Bit patterns for float32 data: mostly uniform values, with NaNs (two payloads, both signs), infinities and -0. */
function randomBits(n: number, rand: () => number): Uint32Array {
  const f = new Float32Array(n), u = new Uint32Array(f.buffer);
  const specials = [0x7fc12345, 0xffc00001, 0x7f800000, 0xff800000, 0x80000000, 0];
  for (let i = 0; i < n; i++) {
    if (rand() < 0.05) u[i] = specials[Math.floor(rand() * specials.length)];
    else f[i] = rand() * 2 - 1;
  }
  return u;
}

/**
 * Which paths the kernels take, counted from the tables by their rule (kernels.ts). A pack's
 * panel: every group of four rows contiguous (pAll); else along k, where kOff increases by at
 * least a float per entry and at least half its k lie in runs of four counted from k = 0 (groups
 * that are runs, other groups, a tail of 1-3); else each group of rows with at most one break
 * blended from two vector loads (pBlend if all are), the others float by float (pMixed). col2im:
 * groups of four positions from the first, runs or not, and a tail.
 */
const coverage = { pAll: 0, pBlend: 0, pMixed: 0, kRun: 0, kBroken: 0, kTail: 0, kNotIncreasing: 0, jRun: 0, jBroken: 0, jTail: 0, jNotIncreasing: 0 };
const stepsBy4 = (t: number[], i: number) => i + 3 < t.length && t[i + 1] - t[i] === 4 && t[i + 2] - t[i] === 8 && t[i + 3] - t[i] === 12;
const increasing = (t: number[]) => t.every((v, i) => i === 0 || v - t[i - 1] >= 4);
/** Counts groups of four from the start of t: runs, other groups, and the tail's length. */
function countGroups(t: number[]): { run: number; broken: number; tail: number } {
  const out = { run: 0, broken: 0, tail: t.length % 4 };
  for (let i = 0; i + 4 <= t.length; i += 4) if (stepsBy4(t, i)) out.run++; else out.broken++;
  return out;
}
function countPack(pOff: number[], kOff: number[], R: number): void {
  const k = countGroups(kOff), mono = increasing(kOff);
  for (let pp = 0; (pp + 1) * R <= pOff.length; pp++) {
    let full = 0, blendable = 0;
    for (let h = 0; h < R / 4; h++) {
      let breaks = 0;
      for (let i = 1; i < 4; i++) if (pOff[pp * R + 4 * h + i] - pOff[pp * R + 4 * h + i - 1] !== 4) breaks++;
      if (breaks === 0) full++;
      if (breaks === 0 || (breaks === 1 && mono)) blendable++;
    }
    if (full === R / 4) coverage.pAll++;
    else if (mono && 8 * k.run >= kOff.length) {
      coverage.kRun += k.run;
      coverage.kBroken += k.broken;
      coverage.kTail += k.tail;
    } else if (blendable === R / 4) coverage.pBlend++;
    else coverage.pMixed++;
    if (full < R / 4 && !mono) coverage.kNotIncreasing++;
  }
}

/**
 * Packs through packGatherWasm and through the naive definition; returns both bit patterns.
 * src is a word location inside the data (a second group's planes start further in).
 */
function pack(data: Uint32Array, srcShift: number, pOff: number[], kOff: number[], R: number): { got: Uint32Array; want: Uint32Array } {
  const P = pOff.length, K = kOff.length, panels = Math.ceil(P / R);
  const at = { data: 64, pOff: 64 + data.length + 16, kOff: 0, dst: 0 };
  at.kOff = at.pOff + P + 16;
  at.dst = at.kOff + K + 16;
  const ws = gemmWorkspace('f32', 0, 0, 0, at.dst + panels * R * K + 32 - 64);
  if (!ws) throw new Error('no wasm memory');
  const u = new Uint32Array(ws.f32.buffer);
  u.set(data, at.data);
  ws.i32.set(pOff, at.pOff);
  ws.i32.set(kOff, at.kOff);
  // Past the end of kOff, offsets that continue its last run: a kernel that read past K would take them.
  for (let i = 1; i <= 4; i++) ws.i32[at.kOff + K - 1 + i] = kOff[K - 1] + 4 * i;
  u.fill(0xdeadbeef, at.dst, at.dst + panels * R * K + 16); // every slot must be written, and nothing after
  packGatherWasm(at.data + srcShift, at.pOff, P, at.kOff, K, R, at.dst);
  const after = u.slice(at.dst + panels * R * K, at.dst + panels * R * K + 16);
  expect(after.every((w) => w === 0xdeadbeef), 'nothing written past the packed panels').toBe(true);
  const got = u.slice(at.dst, at.dst + panels * R * K);
  const want = new Uint32Array(panels * R * K);
  for (let pp = 0; pp < panels; pp++) {
    for (let k = 0; k < K; k++) {
      for (let r = 0; r < R; r++) {
        const p = pp * R + r;
        want[(pp * K + k) * R + r] = p < P ? data[srcShift + (pOff[p] + kOff[k]) / 4] : 0;
      }
    }
  }
  return { got, want };
}

/** col2im through col2imWasm and naively (float32 adds, k then j ascending); gx (and a guard after it) as float32 arrays. */
function col2im(C: Float32Array, pos: number[], tap: number[], images: number, L: number, gxUsed: number): { got: Float32Array; want: Float32Array } {
  const K = tap.length, NL = pos.length;
  const gxWords = gxUsed + 16; // and a guard after it that must stay as it was
  const tables = pos.length + tap.length + 32;
  const ws = gemmWorkspace('f32', K, NL, 1, tables + gxWords + 16);
  if (!ws) throw new Error('no wasm memory');
  const posw = ws.extra, tapw = posw + pos.length + 16, gxw = tapw + tap.length + 16;
  ws.i32.set(pos, posw);
  for (let i = 1; i <= 4; i++) ws.i32[posw + NL - 1 + i] = pos[NL - 1] + 4 * i; // a run continued past the end: never to be read
  ws.i32.set(tap, tapw);
  ws.f32.fill(1, ws.c, ws.c + ws.Mp * ws.ldc); // C's padding columns and rows: nonzero, so stray reads would show
  for (let k = 0; k < K; k++) ws.f32.set(C.subarray(k * NL, (k + 1) * NL), ws.c + k * ws.ldc);
  const gx0 = new Float32Array(gxWords);
  for (let i = 0; i < gxWords; i++) gx0[i] = (i % 7) - 3.5; // a nonzero start, so adds onto existing values are checked
  ws.f32.set(gx0, gxw);
  col2imWasm(ws, posw, tapw, K, images, L, gxw);
  const got = ws.f32.slice(gxw, gxw + gxWords);
  const want = gx0.slice();
  for (let k = 0; k < K; k++) for (let j = 0; j < NL; j++) want[(pos[j] + tap[k]) / 4] = Math.fround(want[(pos[j] + tap[k]) / 4] + C[k * NL + j]);
  // On one thread the kernel takes j in [0, images * L) in one call (threads start a call at an image).
  if (increasing(pos)) {
    const c = countGroups(pos);
    coverage.jRun += c.run;
    coverage.jBroken += c.broken;
    coverage.jTail += c.tail;
  } else coverage.jNotIncreasing++;
  return { got, want };
}

/** The same bit patterns (a plain loop: toEqual on arrays of a million entries takes seconds). */
function expectSameBits(got: Uint32Array, want: Uint32Array, label: string): void {
  expect(got.length, label).toBe(want.length);
  let bad = -1;
  for (let i = 0; i < want.length && bad < 0; i++) if (got[i] !== want[i]) bad = i;
  expect(bad, `${label}: first mismatch at ${bad} (${got[bad]?.toString(16)} vs ${want[bad]?.toString(16)})`).toBe(-1);
}

/** Same float32 values bit for bit, except that any NaN matches any NaN (a sum's NaN payload is the engine's choice). */
function expectSameFloats(got: Float32Array, want: Float32Array, label: string): void {
  const gu = new Uint32Array(got.buffer, got.byteOffset, got.length), wu = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let bad = -1;
  for (let i = 0; i < want.length && bad < 0; i++) if (gu[i] !== wu[i] && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) bad = i;
  expect(bad, `${label}: first mismatch at ${bad} (${got[bad]} vs ${want[bad]})`).toBe(-1);
}

const base = { O: 4, KH: 3, KW: 3, s: [1, 1] as [number, number], pad: [0, 0] as [number, number], dil: [1, 1] as [number, number], G: 1 };
/** Chosen geometries: name, and the convolution. */
const CASES: [string, Geo][] = [
  ['OW 26 (tutorial conv1), all panels of 8 contiguous or straddling', { ...base, N: 2, C: 1, H: 28, W: 28 }],
  ['OW 11 (tutorial conv2), many straddling panels', { ...base, N: 2, C: 3, H: 13, W: 13, O: 5 }],
  ['OW 13 with padding 1 and a 5 x 5 kernel', { ...base, N: 2, C: 2, H: 13, W: 13, KH: 5, KW: 5, pad: [2, 2] }],
  ['OW 16 with padding: panels all contiguous', { ...base, N: 1, C: 2, H: 16, W: 16, pad: [1, 1] }],
  ['stride 2', { ...base, N: 2, C: 2, H: 15, W: 15, s: [2, 2] }],
  ['stride (1, 2) and (2, 1)', { ...base, N: 2, C: 2, H: 12, W: 17, s: [1, 2] }],
  ['stride 2 rows only', { ...base, N: 2, C: 2, H: 17, W: 12, s: [2, 1] }],
  ['dilation 2', { ...base, N: 2, C: 2, H: 14, W: 14, dil: [2, 2] }],
  ['groups 2 (second group)', { ...base, N: 2, C: 4, H: 10, W: 10, O: 6, G: 2 }],
  ['1 x 3 kernel, K = 3 (not a multiple of 4), one image of 1 x 7', { ...base, N: 1, C: 1, H: 1, W: 9, KH: 1, KW: 3, O: 3 }],
  ['1 x 1 kernel', { ...base, N: 3, C: 5, H: 7, W: 9, KH: 1, KW: 1, O: 7 }],
];

/** Every use conv.ts makes of the packer, for one geometry (group `gi`). */
function checkGeometry(name: string, g: Geo, seed: number, gi = g.G - 1): void {
  const t = convTables(g);
  const rand = mulberry32(seed);
  const x = randomBits(t.xWords, rand), y = randomBits(t.yWords, rand);
  const xShift = gi * t.Cg * t.Hp * t.Wp, yShift = gi * t.Og * t.L;
  const uses: [string, Uint32Array, number, number[], number[], number][] = [
    ['forward cols (p = position, k = tap), R = 8', x, xShift, t.pos, t.tap, 8],
    ['forward cols with R = 4', x, xShift, t.pos, t.tap, 4],
    ['weight gradient cols^T (p = tap, k = position), R = 8', x, xShift, t.tap, t.pos, 8],
    ['weight gradient gy (p = channel, k = position), R = 4', y, yShift, t.rowsY, t.posY, 4],
    ['input gradient gy^T (p = position, k = channel), R = 8', y, yShift, t.posY, t.rowsY, 8],
  ];
  for (const [use, data, shift, pOff, kOff, R] of uses) {
    countPack(pOff, kOff, R);
    const { got, want } = pack(data, shift, pOff, kOff, R);
    expectSameBits(got, want, `${name}: ${use}`);
  }
  const C = new Float32Array(randomBits(t.CKK * t.pos.length, rand).buffer);
  const { got, want } = col2im(C, t.pos, t.tap, g.N, t.L, t.xWords);
  expectSameFloats(got, want, `${name}: col2im`);
}

describe('wasm pack_gather and col2im, vector paths where addresses are contiguous', () => {
  it('equal the naive definitions bit for bit on chosen convolution geometries (1 thread)', () => {
    setWasmKernelConfig({ threads: 1 });
    for (const k of Object.keys(coverage) as (keyof typeof coverage)[]) coverage[k] = 0;
    CASES.forEach(([name, g], i) => checkGeometry(name, g, 1000 + i));
    // Every path was taken: along p whole panels, blends, float by float; along k runs, other
    // groups and tails; col2im runs, other groups and tails.
    for (const key of ['pAll', 'pBlend', 'pMixed', 'kRun', 'kBroken', 'kTail', 'jRun', 'jBroken', 'jTail'] as const) expect(coverage[key], key).toBeGreaterThan(0);
  });

  it('equal the naive definitions on random tables with runs, repeats and arbitrary offsets', () => {
    setWasmKernelConfig({ threads: 1 });
    const rand = mulberry32(77);
    /** A table of byte offsets below `limit` words: random runs of consecutive floats, some repeated values. */
    const table = (n: number, limit: number) => {
      const out: number[] = [];
      while (out.length < n) {
        const len = 1 + Math.floor(rand() * 9), start = Math.floor(rand() * (limit - len));
        for (let i = 0; i < len && out.length < n; i++) out.push(4 * (start + (rand() < 0.1 ? 0 : i)));
      }
      return out;
    };
    for (let trial = 0; trial < 20; trial++) {
      const P = 1 + Math.floor(rand() * 40), K = 1 + Math.floor(rand() * 40);
      const data = randomBits(600, rand);
      for (const R of [4, 8]) {
        const pOff = table(P, 300), kOff = table(K, 300);
        countPack(pOff, kOff, R);
        const { got, want } = pack(data, 0, pOff, kOff, R);
        expectSameBits(got, want, `trial ${trial}, R = ${R}, P = ${P}, K = ${K}`);
      }
      // col2im over one "image" (one thread): repeats of a position add in j order, as the naive loop.
      const images = 1, L = 1 + Math.floor(rand() * 60);
      const pos = table(L, 200), tap = table(K, 200);
      const C = new Float32Array(randomBits(K * L, rand).buffer);
      const { got, want } = col2im(C, pos, tap, images, L, 400);
      expectSameFloats(got, want, `trial ${trial}: col2im, K = ${K}, L = ${L}`);
    }
    expect(coverage.kNotIncreasing, 'packs of tables that do not increase').toBeGreaterThan(0);
    expect(coverage.jNotIncreasing, 'col2im of tables that do not increase').toBeGreaterThan(0);
  });

  it('give the same bits on 2 threads, with pack_gather4, pack_gather8 and col2im split', async () => {
    // Large enough (>= 2^20 moves) that the runtime splits panels and images across threads.
    const g: Geo = { ...base, N: 32, C: 16, H: 16, W: 16, O: 16, pad: [1, 1] };
    const g2: Geo = { ...base, N: 31, C: 16, H: 13, W: 13, O: 16 }; // OW 11: straddling panels; 3751 positions: a partial panel
    await useThreads(2);
    const before = threadedCallCounts();
    checkGeometry('32 x 16 x 16 x 16, padding 1', g, 5);
    checkGeometry('31 x 16 x 13 x 13 (OW 11)', g2, 6);
    const after = threadedCallCounts();
    for (const op of ['pack_gather4', 'pack_gather8', 'col2im']) {
      expect((after[op] ?? 0) - (before[op] ?? 0), `${op} split across threads`).toBeGreaterThan(0);
    }
  });

  it('blends two runs only where both vector loads stay inside the memory', () => {
    setWasmKernelConfig({ threads: 1 });
    // One panel of 8 rows with src = 0 and absolute offsets: rows 0-1 a run ending at the
    // memory's last float (then a break), rows 4-7 a run starting at byte 0 after a break. A
    // blend would load 16 bytes from 8 bytes before the end, or from byte -8: it must copy these
    // float by float (a trap otherwise). Bytes 0-255 are the module's unused guard.
    const ws = gemmWorkspace('f32', 0, 0, 0, 64 + 16);
    if (!ws) throw new Error('no wasm memory');
    const end = ws.f32.buffer.byteLength, u = new Uint32Array(ws.f32.buffer);
    const pOff = [end - 8, end - 4, 1024, 1028, 2048, 2052, 0, 4], kOff = [0];
    const bits = [0x7fc12345, 0x80000000, 0x3f800000, 0x40000000, 0xffc00001, 0x7f800000, 0xbf800000, 0x00000001];
    pOff.forEach((o, r) => (u[o / 4] = bits[r]));
    const t = ws.extra; // tables and the packed panel
    ws.i32.set(pOff, t);
    ws.i32.set(kOff, t + 16);
    packGatherWasm(0, t, 8, t + 16, 1, 8, t + 32);
    expect(Array.from(u.subarray(t + 32, t + 40))).toEqual(bits);
    // kOff = [0, 16, 0] does not increase, so its first and last entries do not bound it: rows
    // 0-1 (a run, then a break) reach the last float only at k = 1. No blend (a trap otherwise).
    const pOff2 = [end - 24, end - 20, 1024, 1028, 2048, 2052, 2056, 2060], kOff2 = [0, 16, 0];
    for (const o of [...pOff2, end - 8, end - 4, 1040, 1044, 2064, 2068, 2072, 2076]) u[o / 4] = (o * 2654435761) >>> 0;
    ws.i32.set(pOff2, t);
    ws.i32.set(kOff2, t + 16);
    packGatherWasm(0, t, 8, t + 16, 3, 8, t + 32);
    const want: number[] = [];
    for (const k of kOff2) for (const p of pOff2) want.push(u[(p + k) / 4]);
    expect(Array.from(u.subarray(t + 32, t + 56))).toEqual(want);
  });

  it('emits the opcodes these kernels added (i32 eq, or, ge_s, ge_u, store, select, memory size, i32x4 gt_s) as the spec defines them', () => {
    const f = defineFunction('f', { a: 'i32', b: 'i32', out: 'i32' }, {}, (v) => {
      const a = local.get(v.a), b = local.get(v.b), o = local.get(v.out);
      return [
        i32.store(o, i32.eq(a, b)),
        i32.store(o, i32.or(a, b), 4),
        i32.store(o, i32.geS(a, b), 8),
        i32.store(o, i32.geU(a, b), 12),
        i32.store(o, select(a, b, i32.geS(a, b)), 16), // signed max
        i32.store(o, memoryBytes(), 20),
        v128.store(o, i32x4.gtS(i32x4.splat(a), v128.i32Const([-1, 0, 1, 2])), 32),
      ];
    }, true);
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
    const ex = new WebAssembly.Instance(new WebAssembly.Module(buildModule([f], { initialPages: 2, maximumPages: 2 })), { env: { memory } }).exports as { f: (a: number, b: number, o: number) => void };
    const m = new Int32Array(memory.buffer);
    for (const [a, b] of [[5, 5], [5, 6], [-1, 0x0f0f], [0x50, 0x0a], [-7, -8]]) {
      ex.f(a, b, 0);
      const lanes = [-1, 0, 1, 2].map((l) => (a > l ? -1 : 0));
      expect(Array.from(m.subarray(0, 6)), `${a}, ${b}`).toEqual([a === b ? 1 : 0, a | b, a >= b ? 1 : 0, a >>> 0 >= b >>> 0 ? 1 : 0, Math.max(a, b), 2 * 65536]);
      expect(Array.from(m.subarray(8, 12)), `${a} > lanes`).toEqual(lanes);
    }
  });
});
