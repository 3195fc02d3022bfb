/**
 * The gemm kernels as WebAssembly SIMD, written with the emitter in ./emit.ts.
 *
 * The structure is the GotoBLAS/BLIS one (Goto & van de Geijn, "Anatomy of High-Performance
 * Matrix Multiplication", 2008): the caller packs A into panels of MR rows and B into panels of NR
 * columns, each panel stored k-major (for every k, the MR or NR values side by side), so the
 * micro-kernel reads both with unit stride. The micro-kernel keeps an MR x NR tile of C in
 * registers (MR * NR/4 f32x4 accumulators) and, per k, does one rank-1 update: NR/4 vector loads
 * of B, MR broadcast loads of A, MR * NR/4 multiply-adds. With 4 x 8 that is 8 accumulators plus
 * 2 B vectors, an A broadcast and a temporary: 12 of the 16 xmm registers V8 has on x86-64
 * (it keeps one as scratch), so nothing spills.
 *
 * The driver around it blocks K by `kc` (one B micro-panel, kc x NR floats, stays in L1 while the
 * kernel sweeps the A panels) and the rows by `mcPanels` panels (that block of A stays in L2 while
 * every B micro-panel passes over it). Both the float32 and the integer kernels share it: the
 * integer one packs pairs of int16 values into each 32-bit slot, so its "k" counts pairs.
 *
 * Float32 multiply and add are separate roundings unless relaxed SIMD is available (it is not in
 * Node 20 without a flag), in which case f32x4.relaxed_madd may fuse them. Either way each C entry
 * is a blocked float32 sum: within a kc block the products are accumulated in k order from zero,
 * and the block sums are added to C in block order. A single running accumulator over a long K
 * (the conv weight gradient sums N·OH·OW = 43,264 products per entry in the tutorial CNN) loses
 * precision ~K·u; blocks of kc keep it near (kc + K/kc)·u, which costs one load and add of the C
 * tile per kc block (1/kc of the work). The order is fixed by K and kc alone, never by threads.
 */
import type { Code } from './emit.js';
import { buildModule, call, defineFunction, doWhile, f32, f32x4, f64x2, forLoop, i32, i32x4, ifElse, local, memoryBytes, select, v128, whileLoop } from './emit.js';

/** Micro-tile rows (A panel height) and columns (B panel width). */
export const MR = 4;
export const NR = 8;
/** Memory bounds, in 64 KiB pages: the maximum is reserved address space, not memory. */
export const INITIAL_PAGES = 256; // 16 MiB
export const MAXIMUM_PAGES = 16384; // 1 GiB

type Kind = 'f32' | 'i16';

const cat = (...parts: Code[]): Code => parts.flat();

/**
 * kernel(k, a, b, c, ldc, load): C[MR x NR] (+)= A_panel[k x MR]^T B_panel[k x NR].
 * a, b, c are byte addresses; ldc is C's row pitch in bytes; with load = 0 (the first kc block)
 * C is overwritten, so it never needs clearing. The float32 kernel sums the block from zero and
 * then adds it to C (blocked summation); the integer one starts from C (exact either way).
 */
function microKernel(kind: Kind, relaxed: boolean) {
  const NV = NR / 4;
  const accs: Record<string, 'v128'> = {};
  for (let r = 0; r < MR; r++) for (let v = 0; v < NV; v++) accs[`acc${r}_${v}`] = 'v128';
  const bvs: Record<string, 'v128'> = {};
  for (let v = 0; v < NV; v++) bvs[`b${v}`] = 'v128';
  return defineFunction(
    `kernel_${kind}`,
    { k: 'i32', a: 'i32', b: 'i32', c: 'i32', ldc: 'i32', load: 'i32' },
    { ...accs, ...bvs, av: 'v128', crow: 'i32' },
    (p) => {
      const acc = (r: number, v: number) => p[`acc${r}_${v}` as keyof typeof p];
      const bv = (v: number) => p[`b${v}` as keyof typeof p];
      const rowAddr = (r: number): Code => (r === 0 ? local.get(p.c) : i32.add(local.get(p.c), i32.mul(local.get(p.ldc), i32.const(r))));
      const loads: Code[] = [], zeros: Code[] = [], stores: Code[] = [], addStores: Code[] = [];
      for (let r = 0; r < MR; r++) {
        loads.push(local.set(p.crow, rowAddr(r)));
        stores.push(local.set(p.crow, rowAddr(r)));
        addStores.push(local.set(p.crow, rowAddr(r)));
        for (let v = 0; v < NV; v++) {
          loads.push(local.set(acc(r, v), v128.load(local.get(p.crow), 16 * v)));
          zeros.push(local.set(acc(r, v), v128.zero()));
          stores.push(v128.store(local.get(p.crow), local.get(acc(r, v)), 16 * v));
          addStores.push(v128.store(local.get(p.crow), f32x4.add(v128.load(local.get(p.crow), 16 * v), local.get(acc(r, v))), 16 * v));
        }
      }
      const step: Code[] = [];
      for (let v = 0; v < NV; v++) step.push(local.set(bv(v), v128.load(local.get(p.b), 16 * v)));
      for (let r = 0; r < MR; r++) {
        step.push(local.set(p.av, v128.load32Splat(local.get(p.a), 4 * r)));
        for (let v = 0; v < NV; v++) {
          const a = local.get(p.av), b = local.get(bv(v)), c = local.get(acc(r, v));
          let update: Code;
          if (kind === 'i16') update = i32x4.add(c, i32x4.dotI16x8S(a, b));
          else if (relaxed) update = f32x4.relaxedMadd(a, b, c);
          else update = f32x4.add(c, f32x4.mul(a, b));
          step.push(local.set(acc(r, v), update));
        }
      }
      step.push(
        local.set(p.a, i32.add(local.get(p.a), i32.const(4 * MR))),
        local.set(p.b, i32.add(local.get(p.b), i32.const(4 * NR))),
        local.set(p.k, i32.sub(local.get(p.k), i32.const(1))),
      );
      if (kind === 'i16') {
        // Integer sums are exact (modulo 2^32) in any order: keep one running accumulator.
        return [ifElse(local.get(p.load), loads, zeros), doWhile(step, local.get(p.k)), ...stores];
      }
      // Float32: every kc block is summed from zero in registers and its sum then added to C, so
      // C holds a blocked sum (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed.,
      // sec. 4.2): error bound (kc + K/kc)·u·Σ|a·b| instead of K·u·Σ|a·b| for one running sum.
      return [...zeros, doWhile(step, local.get(p.k)), ifElse(local.get(p.load), addStores, stores)];
    },
  );
}

/**
 * gemm(ip0, ip1, jp0, jp1, K, a, b, c, ldc, kc, mcPanels): for A panels [ip0, ip1) and B panels
 * [jp0, jp1), C[ip, jp] = sum over k of A[ip]·B[jp]. Panel ip of A starts at a + ip*K*MR*4 bytes,
 * panel jp of B at b + jp*K*NR*4; tile (ip, jp) of C at c + ip*MR*ldc + jp*NR*4. Threads run
 * the same function on disjoint panel ranges. K >= 1.
 */
function driver(kind: Kind, kernelIndex: number) {
  return defineFunction(
    `gemm_${kind}`,
    { ip0: 'i32', ip1: 'i32', jp0: 'i32', jp1: 'i32', K: 'i32', a: 'i32', b: 'i32', c: 'i32', ldc: 'i32', kc: 'i32', mcPanels: 'i32' },
    { pc: 'i32', kb: 'i32', ic: 'i32', icEnd: 'i32', jp: 'i32', ip: 'i32', bPanel: 'i32', aPanelBytes: 'i32', bPanelBytes: 'i32' },
    (p) => {
      const g = local.get;
      return [
        // Bytes from one panel to the next, and from one k to the next within a panel.
        local.set(p.aPanelBytes, i32.mul(g(p.K), i32.const(MR * 4))),
        local.set(p.bPanelBytes, i32.mul(g(p.K), i32.const(NR * 4))),
        local.set(p.pc, i32.const(0)),
        whileLoop(i32.ltU(g(p.pc), g(p.K)), [
          local.set(p.kb, i32.minU(g(p.kc), i32.sub(g(p.K), g(p.pc)))),
          local.set(p.ic, g(p.ip0)),
          whileLoop(i32.ltU(g(p.ic), g(p.ip1)), [
            local.set(p.icEnd, i32.minU(i32.add(g(p.ic), g(p.mcPanels)), g(p.ip1))),
            forLoop(p.jp, g(p.jp0), g(p.jp1), 1, [
              local.set(p.bPanel, i32.add(g(p.b), i32.add(i32.mul(g(p.jp), g(p.bPanelBytes)), i32.mul(g(p.pc), i32.const(NR * 4))))),
              forLoop(p.ip, g(p.ic), g(p.icEnd), 1, [
                call(
                  kernelIndex,
                  g(p.kb),
                  i32.add(g(p.a), i32.add(i32.mul(g(p.ip), g(p.aPanelBytes)), i32.mul(g(p.pc), i32.const(MR * 4)))),
                  g(p.bPanel),
                  i32.add(g(p.c), i32.add(i32.mul(g(p.ip), i32.mul(g(p.ldc), i32.const(MR))), i32.mul(g(p.jp), i32.const(NR * 4)))),
                  g(p.ldc),
                  g(p.pc), // nonzero after the first kc block: accumulate into C
                ),
              ]),
            ]),
            local.set(p.ic, g(p.icEnd)),
          ]),
          local.set(p.pc, i32.add(g(p.pc), g(p.kb))),
        ]),
      ];
    },
    true,
  );
}

/**
 * Sets `flag` to whether the Int32 table entries at byte addresses [start, end) increase by at
 * least one float each (t[i+1] - t[i] >= 4), using `at` as the cursor. In such a table four
 * entries step by one float exactly when the last is 12 bytes past the first, so a group costs
 * one comparison in the loops that test every group for every k (col2im) or every panel (the
 * packer along k), instead of three; this pass over the table costs one comparison per entry,
 * once per call. Every convolution table (conv.ts) increases so; any other table still gives
 * correct results, by the scalar path.
 */
function increasing(flag: number, at: number, start: Code, end: Code): Code {
  const g = local.get;
  return cat(
    local.set(flag, i32.const(1)),
    forLoop(at, start, i32.sub(end, i32.const(4)), 4, [
      local.set(flag, i32.and(g(flag), i32.geS(i32.sub(i32.load(g(at), 4), i32.load(g(at))), i32.const(4)))),
    ]),
  );
}

/** 1 where the increasing table at `t` has t[3] = t[0] + 12 (`first` = t[0]): four consecutive floats. */
const run4 = (t: Code, first: Code): Code => i32.eq(i32.sub(i32.load(t, 12), first), i32.const(12));

/**
 * pack_gather<R>(src, pOff, kOff, K, dst, pp0, pp1, P): the packed layout of a P x K matrix whose
 * entries are gathered through two offset tables, X(p, k) = src[pOff[p] + kOff[k]] (tables hold
 * byte offsets): for panels pp in [pp0, pp1), dst[(pp * K + k) * R + r] = X(pp * R + r, k), and 0
 * for rows p >= P of a partial last panel. This is im2col fused with packing (see conv.ts). K >= 1.
 *
 * It is a copy, so any order of loads and stores gives the same bits; vector loads are used where
 * the addresses are contiguous, which in a stride-1 convolution they mostly are (issue 17):
 * - along p (the forward operand, and the input gradient's: p an output position): four rows
 *   r = 4h..4h+3 whose offsets step by one float are, for every k, four consecutive floats: one
 *   v128 load and store per k and per such group of four. A group that straddles one output row
 *   (one break in its steps) is two runs: lanes before the break from a vector load at the first
 *   run, the others from one that ends at the second run's last float, blended (bitselect) with
 *   a mask made once per panel; the floats these loads read past their runs are never used, and
 *   the blend is taken only where kOff increases and both loads stay inside the memory for
 *   every k. Groups with more breaks (stride > 1, rows shorter than 4) copy float by float.
 * - along k (the weight gradient's operands: p a tap or channel, k an output position): four
 *   consecutive k whose offsets step by one float are, in every row, four consecutive floats, so
 *   each row loads one vector and a 4 x 4 transpose (eight shuffles) turns the rows' vectors into
 *   the four k's columns of R. Groups of four k start at k = 0 (aligned: each k is tested once);
 *   a group that straddles an output row copies its four k one by one, as do the last K % 4.
 * A panel whose groups of rows are all contiguous goes along p; else it goes along k where kOff
 * increases (see increasing()) and at least half of its k lie in runs of four (counted once per
 * call); else along p with blends, float by float where a group cannot blend.
 */
function packGather(R: number, gatherK: number /* the index of gather_k<R> in the module */) {
  const H = R / 4;
  const qs: Record<string, 'i32'> = {}, hs: Record<string, 'i32' | 'v128'> = {};
  for (let r = 0; r < R; r++) qs[`q${r}`] = 'i32';
  for (let h = 0; h < H; h++) Object.assign(hs, { [`c${h}`]: 'i32', [`qb${h}`]: 'i32', [`m${h}`]: 'v128' });
  return defineFunction(
    `pack_gather${R}`,
    { src: 'i32', pOff: 'i32', kOff: 'i32', K: 'i32', dst: 'i32', pp0: 'i32', pp1: 'i32', P: 'i32' },
    {
      ...qs, ...hs, r: 'i32', pp: 'i32', d: 'i32', kp: 'i32', kEnd: 'i32', kEnd4: 'i32', s: 'i32', all: 'i32', allBlend: 'i32', mono: 'i32', kMin: 'i32', kMax: 'i32', memEnd: 'i32', nf: 'i32', brk: 'i32', useK: 'i32',
    },
    (v) => {
      const g = local.get, set = local.set;
      const q = (r: number) => v[`q${r}` as keyof typeof v];
      const ch = (h: number) => v[`c${h}` as keyof typeof v];
      const qb = (h: number) => v[`qb${h}` as keyof typeof v];
      const mk = (h: number) => v[`m${h}` as keyof typeof v];
      const rows: Code[] = [];
      for (let r = 0; r < R; r++) rows.push(set(q(r), i32.add(g(v.src), i32.load(i32.add(g(v.pOff), i32.mul(g(v.pp), i32.const(4 * R))), 4 * r))));
      /** One k, float by float (rows r0..r1-1), at s = kOff[k], into d. */
      const scalar = (r0: number, r1: number, at = 0): Code[] => {
        const out: Code[] = [];
        for (let r = r0; r < r1; r++) out.push(f32.store(g(v.d), f32.load(i32.add(g(q(r)), g(v.s))), at + 4 * r));
        return out;
      };
      /** One k, group of rows h as one vector. */
      const vector = (h: number): Code => v128.store(g(v.d), v128.load(i32.add(g(q(4 * h)), g(v.s))), 16 * h);
      const kLoop = (body: Code[]): Code => cat(
        set(v.kp, g(v.kOff)),
        doWhile([
          set(v.s, i32.load(g(v.kp))),
          ...body,
          set(v.d, i32.add(g(v.d), i32.const(4 * R))),
          set(v.kp, i32.add(g(v.kp), i32.const(4))),
        ], i32.ltU(g(v.kp), g(v.kEnd))),
      );
      // Contiguous along p: every group of rows a vector, or each group its own way.
      const alongPAll = kLoop(Array.from({ length: H }, (_, h) => vector(h)));
      /** One k, group of rows h as two vectors blended: lanes < b from the run at q(4h), the others from the run ending at q(4h+3). */
      const blend = (h: number): Code => v128.store(g(v.d), v128.bitselect(
        v128.load(i32.add(g(qb(h)), g(v.s))), v128.load(i32.add(g(q(4 * h)), g(v.s))), g(mk(h)),
      ), 16 * h);
      const alongPBlend = kLoop(Array.from({ length: H }, (_, h) => blend(h)));
      const alongPMixed = kLoop(Array.from({ length: H }, (_, h) => ifElse(g(ch(h)), [blend(h)], scalar(4 * h, 4 * h + 4))));
      // Per group of rows h: its steps between rows (e_i: row 4h+i is one float after row 4h+i-1).
      // No break: one vector (c_h, and all if every group). One break, before row 4h+b: the run
      // from row 4h fills lanes < b and the run that ends at row 4h+3 (it starts 12 bytes before
      // that row's float, at qb_h) lanes >= b, where both vector loads stay inside the memory for
      // every k (the floats they read past the runs are not used). More breaks: float by float.
      const groups: Code[] = [set(v.all, i32.const(1)), set(v.allBlend, i32.const(1))];
      for (let h = 0; h < H; h++) {
        const e = (i: number) => i32.eq(i32.sub(g(q(4 * h + i)), g(q(4 * h + i - 1))), i32.const(4));
        const notE = (i: number) => i32.sub(i32.const(1), e(i));
        groups.push(
          set(v.nf, i32.add(i32.add(notE(1), notE(2)), notE(3))),
          set(v.all, i32.and(g(v.all), i32.eqz(g(v.nf)))),
          // b: the row of the break, or 4 (no lane from the second run) where there is none.
          set(v.brk, select(i32.const(4), i32.add(i32.add(notE(1), i32.mul(notE(2), i32.const(2))), i32.mul(notE(3), i32.const(3))), i32.eqz(g(v.nf)))),
          set(qb(h), i32.sub(g(q(4 * h + 3)), i32.const(12))),
          set(mk(h), i32x4.gtS(v128.i32Const([0, 1, 2, 3]), i32x4.splat(i32.sub(g(v.brk), i32.const(1))))),
          set(ch(h), i32.or(i32.eqz(g(v.nf)), i32.and(i32.and(i32.eq(g(v.nf), i32.const(1)), g(v.mono)), i32.and(
            i32.geS(i32.add(g(qb(h)), g(v.kMin)), i32.const(0)),
            i32.ltU(i32.add(g(q(4 * h)), g(v.kMax)), g(v.memEnd)),
          )))),
          set(v.allBlend, i32.and(g(v.allBlend), g(ch(h)))),
        );
      }
      return [
        set(v.kEnd, i32.add(g(v.kOff), i32.mul(g(v.K), i32.const(4)))),
        set(v.kEnd4, i32.add(g(v.kOff), i32.mul(i32.and(g(v.K), i32.const(-4)), i32.const(4)))), // the end of the whole groups of four k
        increasing(v.mono, v.kp, g(v.kOff), g(v.kEnd)),
        // The range of an increasing kOff, and the end of the addresses a vector load may start at.
        set(v.kMin, i32.load(g(v.kOff))),
        set(v.kMax, i32.load(i32.sub(g(v.kEnd), i32.const(4)))),
        set(v.memEnd, i32.sub(memoryBytes(), i32.const(15))),
        // Panels not contiguous along p go along k where at least half the k are in runs of four.
        set(v.nf, i32.const(0)),
        forLoop(v.kp, g(v.kOff), g(v.kEnd4), 16, [set(v.nf, i32.add(g(v.nf), run4(g(v.kp), i32.load(g(v.kp)))))]),
        set(v.useK, i32.and(g(v.mono), i32.geU(i32.mul(g(v.nf), i32.const(8)), g(v.K)))),
        forLoop(v.pp, g(v.pp0), g(v.pp1), 1, [
          set(v.d, i32.add(g(v.dst), i32.mul(g(v.pp), i32.mul(g(v.K), i32.const(4 * R))))),
          ifElse(i32.gtU(i32.mul(i32.add(g(v.pp), i32.const(1)), i32.const(R)), g(v.P)), [
            // The partial last panel: zeros, then its rows one by one (its missing rows' offsets are never read).
            set(v.kp, i32.add(g(v.d), i32.mul(g(v.K), i32.const(4 * R)))),
            forLoop(v.s, g(v.d), g(v.kp), 16, [v128.store(g(v.s), v128.zero())]),
            forLoop(v.r, i32.mul(g(v.pp), i32.const(R)), g(v.P), 1, [
              set(q(0), i32.add(g(v.src), i32.load(i32.add(g(v.pOff), i32.mul(g(v.r), i32.const(4)))))),
              set(q(1), i32.add(g(v.d), i32.mul(i32.sub(g(v.r), i32.mul(g(v.pp), i32.const(R))), i32.const(4)))),
              forLoop(v.kp, g(v.kOff), g(v.kEnd), 4, [
                f32.store(g(q(1)), f32.load(i32.add(g(q(0)), i32.load(g(v.kp))))),
                set(q(1), i32.add(g(q(1)), i32.const(4 * R))),
              ]),
            ]),
          ], [
            ...rows,
            ...groups,
            ifElse(g(v.all), [alongPAll], [ifElse(g(v.useK), [call(gatherK, ...Array.from({ length: R }, (_, r) => g(q(r))), g(v.d), g(v.kOff), g(v.kEnd), g(v.kEnd4))], [ifElse(g(v.allBlend), [alongPBlend], [alongPMixed])])]),
          ]),
        ]),
      ];
    },
    true,
  );
}

/**
 * gather_k<R>(q0..q<R-1>, d, kOff, kEnd, kEnd4): one panel of pack_gather<R> along k (see there),
 * rows at byte addresses q_r, into d; kEnd and kEnd4 end kOff and its whole groups of four. Its
 * own function, so that the engine allocates registers for this loop alone.
 */
function gatherK(R: number) {
  const H = R / 4;
  const qs: Record<string, 'i32'> = {};
  for (let r = 0; r < R; r++) qs[`q${r}`] = 'i32';
  return defineFunction(
    `gather_k${R}`,
    { ...qs, d: 'i32', kOff: 'i32', kEnd: 'i32', kEnd4: 'i32' },
    { s: 'i32', kp: 'i32', a: 'v128', b: 'v128', c: 'v128', e: 'v128', t0: 'v128', t1: 'v128', t2: 'v128', t3: 'v128' },
    (v) => {
      const g = local.get, set = local.set;
      const q = (r: number) => v[`q${r}` as keyof typeof v];
      /** One k, float by float, at s = kOff[k], into d + at. */
      const scalar = (at = 0): Code[] => {
        const out: Code[] = [];
        for (let r = 0; r < R; r++) out.push(f32.store(g(v.d), f32.load(i32.add(g(q(r)), g(v.s))), at + 4 * r));
        return out;
      };
      // Contiguous along k: four k at once where their offsets step by one float.
      const transpose: Code[] = [];
      for (let h = 0; h < H; h++) {
        const load = (r: number) => v128.load(i32.add(g(q(4 * h + r)), g(v.s)));
        transpose.push(
          set(v.a, load(0)), set(v.b, load(1)), set(v.c, load(2)), set(v.e, load(3)),
          // a0 b0 a1 b1 | a2 b2 a3 b3 | c0 e0 c1 e1 | c2 e2 c3 e3, then k + i's column is lanes i of each.
          set(v.t0, v128.shuffle32(g(v.a), g(v.b), [0, 4, 1, 5])),
          set(v.t1, v128.shuffle32(g(v.a), g(v.b), [2, 6, 3, 7])),
          set(v.t2, v128.shuffle32(g(v.c), g(v.e), [0, 4, 1, 5])),
          set(v.t3, v128.shuffle32(g(v.c), g(v.e), [2, 6, 3, 7])),
          v128.store(g(v.d), v128.shuffle32(g(v.t0), g(v.t2), [0, 1, 4, 5]), 16 * h),
          v128.store(g(v.d), v128.shuffle32(g(v.t0), g(v.t2), [2, 3, 6, 7]), 16 * h + 4 * R),
          v128.store(g(v.d), v128.shuffle32(g(v.t1), g(v.t3), [0, 1, 4, 5]), 16 * h + 8 * R),
          v128.store(g(v.d), v128.shuffle32(g(v.t1), g(v.t3), [2, 3, 6, 7]), 16 * h + 12 * R),
        );
      }
      // Groups of four k from the first (aligned, so no k is tested twice); a group whose offsets
      // are not one run copies its four k one by one; the last K % 4 k are copied one by one.
      const fourScalar: Code[] = [];
      for (let i = 0; i < 4; i++) fourScalar.push(set(v.s, i32.load(g(v.kp), 4 * i)), ...scalar(4 * R * i));
      return [cat(
        set(v.kp, g(v.kOff)),
        whileLoop(i32.ltU(g(v.kp), g(v.kEnd4)), [
          set(v.s, i32.load(g(v.kp))),
          ifElse(run4(g(v.kp), g(v.s)), transpose, fourScalar),
          set(v.d, i32.add(g(v.d), i32.const(16 * R))),
          set(v.kp, i32.add(g(v.kp), i32.const(16))),
        ]),
        whileLoop(i32.ltU(g(v.kp), g(v.kEnd)), [
          set(v.s, i32.load(g(v.kp))),
          ...scalar(),
          set(v.d, i32.add(g(v.d), i32.const(4 * R))),
          set(v.kp, i32.add(g(v.kp), i32.const(4))),
        ]),
      )];
    },
  );
}

/**
 * col2im(c, ldc, pos, tap, K, j0, j1, gx): the adjoint of the gather, gx[pos[j] + tap[k]] += C[k, j]
 * for every k < K and j in [j0, j1) (tables in bytes, ldc in bytes). Each gx entry receives its
 * terms in k order; ranges of whole images write disjoint parts of gx, so threads split by image.
 * Within one k the positions j write distinct entries, so four j whose offsets step by one float
 * (consecutive outputs of a row, stride 1) are one vector load, add and store: the same float32
 * additions, each entry's terms still in k order, so the same bits. Groups of four start at j0
 * (aligned: each group is tested once, not once per j); a group that is not one run (it
 * straddles an output row, or the stride is > 1) and the last (j1 - j0) % 4 are added one by
 * one, in j order. This needs pos to increase (see increasing()), else every j is added alone.
 */
function col2im() {
  return defineFunction(
    'col2im',
    { c: 'i32', ldc: 'i32', pos: 'i32', tap: 'i32', K: 'i32', j0: 'i32', j1: 'i32', gx: 'i32' },
    { k: 'i32', o: 'i32', row: 'i32', jp: 'i32', jStart: 'i32', jEnd: 'i32', jEnd4: 'i32', s: 'i32', mono: 'i32' },
    (v) => {
      const g = local.get, set = local.set;
      /** gx[o + pos[j + i]] += C[k, j + i], at jp = &pos[j] and row = &C[k, j]. */
      const one = (i: number): Code => cat(
        set(v.s, i32.add(g(v.o), i32.load(g(v.jp), 4 * i))),
        f32.store(g(v.s), f32.add(f32.load(g(v.s)), f32.load(g(v.row), 4 * i))),
      );
      return [
        set(v.jStart, i32.add(g(v.pos), i32.mul(g(v.j0), i32.const(4)))),
        set(v.jEnd, i32.add(g(v.pos), i32.mul(g(v.j1), i32.const(4)))),
        // Groups of four j from j0 (aligned, so no j is tested twice); only in an increasing table.
        increasing(v.mono, v.jp, g(v.jStart), g(v.jEnd)),
        set(v.jEnd4, i32.add(g(v.jStart), i32.mul(g(v.mono), i32.and(i32.sub(g(v.jEnd), g(v.jStart)), i32.const(-16))))), // mono is 0 or 1
        forLoop(v.k, i32.const(0), g(v.K), 1, [
          set(v.o, i32.add(g(v.gx), i32.load(i32.add(g(v.tap), i32.mul(g(v.k), i32.const(4)))))),
          set(v.row, i32.add(g(v.c), i32.add(i32.mul(g(v.k), g(v.ldc)), i32.mul(g(v.j0), i32.const(4))))),
          set(v.jp, g(v.jStart)),
          whileLoop(i32.ltU(g(v.jp), g(v.jEnd4)), [
            set(v.s, i32.load(g(v.jp))),
            ifElse(run4(g(v.jp), g(v.s)), [
              set(v.s, i32.add(g(v.o), g(v.s))),
              v128.store(g(v.s), f32x4.add(v128.load(g(v.s)), v128.load(g(v.row)))),
            ], [one(0), one(1), one(2), one(3)]),
            set(v.row, i32.add(g(v.row), i32.const(16))),
            set(v.jp, i32.add(g(v.jp), i32.const(16))),
          ]),
          whileLoop(i32.ltU(g(v.jp), g(v.jEnd)), [
            one(0),
            set(v.row, i32.add(g(v.row), i32.const(4))),
            set(v.jp, i32.add(g(v.jp), i32.const(4))),
          ]),
        ]),
      ];
    },
    true,
  );
}

/**
 * maxpool2x2(x, out, idx, H, W, OH, OW, r0, r1, xs, os, bias, pn, xq, oq): 2 x 2 max pooling with
 * stride 2 over output rows [r0, r1) of all planes (row r is row r % OH of plane p = r / OH). Plane
 * p is plane m of group q, p = q * pn + m: its input starts at element q * xq + m * xs of x, its
 * outputs at q * oq + m * os of out and idx (planes back to back: pn = planes, xs = H * W,
 * os = OH * OW; a fused convolution's product has one group per channel row, see conv.ts). The
 * variant maxpool2x2_bias_relu pools relu(x + bias[q]) (bias a byte address, bias_rows'
 * operations), so a fused convolution reads its product once and never rewrites it. 4 outputs
 * per step: the two input rows are loaded as 8 floats each and split into the window's four
 * corners a b / c d, then a running best is updated branch-free, in window order, by the rule of
 * pool.ts: a later corner wins if it is greater, or if it is NaN (the last NaN wins, as
 * PyTorch). idx receives h * W + w in the plane. A row whose OW is not a multiple of 4 ends with
 * an overlapping step. Requires OW >= 4.
 */
function maxPool2x2(biasRelu: boolean) {
  return defineFunction(
    biasRelu ? 'maxpool2x2_bias_relu' : 'maxpool2x2',
    {
      x: 'i32', out: 'i32', idx: 'i32', H: 'i32', W: 'i32', OH: 'i32', OW: 'i32', r0: 'i32', r1: 'i32', xs: 'i32', os: 'i32', bias: 'i32',
      pn: 'i32', xq: 'i32', oq: 'i32',
    },
    {
      r: 'i32', inRow: 'i32', outRow: 'i32', idxRow: 'i32', base: 'i32', ow: 'i32', owc: 'i32', p: 'i32', q: 'i32',
      A: 'v128', B: 'v128', best: 'v128', bi: 'v128', ia: 'v128', v: 'v128', take: 'v128', wv: 'v128', bv: 'v128',
    },
    (l) => {
      const g = local.get;
      const set = local.set;
      /** relu(v) as bias_rows computes it: v & ~(v < 0). */
      const relu = (v: Code): Code => [...set(l.v, v), ...v128.andnot(g(l.v), f32x4.lt(g(l.v), v128.zero()))];
      /** An input vector as the pooling sees it: as stored, or relu(x + bias). */
      const input = (v: Code): Code => (biasRelu ? relu(f32x4.add(v, g(l.bv))) : v);
      /** Folds corner `val` with indices `iv` into the running best. */
      const fold = (val: Code, iv: Code): Code[] => [
        set(l.v, val),
        set(l.take, v128.or(f32x4.gt(g(l.v), g(l.best)), f32x4.ne(g(l.v), g(l.v)))),
        set(l.best, v128.bitselect(g(l.v), g(l.best), g(l.take))),
        set(l.bi, v128.bitselect(iv, g(l.bi), g(l.take))),
      ];
      const even: [number, number, number, number] = [0, 2, 4, 6], odd: [number, number, number, number] = [1, 3, 5, 7];
      return [
        set(l.wv, i32x4.splat(g(l.W))),
        forLoop(l.r, g(l.r0), g(l.r1), 1, [
          // Plane p = r / OH, output row oh = r % OH; its input rows start 2 oh * W into the plane.
          set(l.p, i32.divU(g(l.r), g(l.OH))),
          set(l.base, i32.mul(i32.mul(i32.sub(g(l.r), i32.mul(g(l.p), g(l.OH))), i32.const(2)), g(l.W))),
          // Output row: oh * OW into the plane (oh = r - p * OH).
          set(l.outRow, i32.mul(i32.sub(g(l.r), i32.mul(g(l.p), g(l.OH))), g(l.OW))),
          // Plane p is m of group q (p = q * pn + m): its input at q * xq + m * xs, its outputs at q * oq + m * os.
          set(l.q, i32.divU(g(l.p), g(l.pn))),
          set(l.p, i32.sub(g(l.p), i32.mul(g(l.q), g(l.pn)))),
          set(l.inRow, i32.add(g(l.x), i32.mul(i32.add(i32.add(i32.mul(g(l.q), g(l.xq)), i32.mul(g(l.p), g(l.xs))), g(l.base)), i32.const(4)))),
          set(l.outRow, i32.mul(i32.add(i32.add(i32.mul(g(l.q), g(l.oq)), i32.mul(g(l.p), g(l.os))), g(l.outRow)), i32.const(4))),
          ...(biasRelu ? [set(l.bv, f32x4.splat(f32.load(i32.add(g(l.bias), i32.mul(g(l.q), i32.const(4))))))] : []),
          set(l.idxRow, i32.add(g(l.idx), g(l.outRow))),
          set(l.outRow, i32.add(g(l.out), g(l.outRow))),
          set(l.ow, i32.const(0)),
          doWhile([
            set(l.owc, i32.minU(g(l.ow), i32.sub(g(l.OW), i32.const(4)))),
            set(l.p, i32.add(g(l.inRow), i32.mul(g(l.owc), i32.const(8)))),
            // Top row: a (even columns), b (odd); indices base + 2 ow + {0, 2, 4, 6}.
            set(l.A, input(v128.load(g(l.p)))),
            set(l.B, input(v128.load(g(l.p), 16))),
            set(l.ia, i32x4.add(i32x4.splat(i32.add(g(l.base), i32.mul(g(l.owc), i32.const(2)))), v128.i32Const([0, 2, 4, 6]))),
            set(l.best, v128.shuffle32(g(l.A), g(l.B), even)),
            set(l.bi, g(l.ia)),
            ...fold(v128.shuffle32(g(l.A), g(l.B), odd), i32x4.add(g(l.ia), v128.i32Const([1, 1, 1, 1]))),
            // Bottom row: c, d.
            set(l.p, i32.add(g(l.p), i32.mul(g(l.W), i32.const(4)))),
            set(l.A, input(v128.load(g(l.p)))),
            set(l.B, input(v128.load(g(l.p), 16))),
            set(l.ia, i32x4.add(g(l.ia), g(l.wv))),
            ...fold(v128.shuffle32(g(l.A), g(l.B), even), g(l.ia)),
            ...fold(v128.shuffle32(g(l.A), g(l.B), odd), i32x4.add(g(l.ia), v128.i32Const([1, 1, 1, 1]))),
            v128.store(i32.add(g(l.outRow), i32.mul(g(l.owc), i32.const(4))), g(l.best)),
            v128.store(i32.add(g(l.idxRow), i32.mul(g(l.owc), i32.const(4))), g(l.bi)),
            set(l.ow, i32.add(g(l.ow), i32.const(4))),
          ], i32.ltU(g(l.ow), g(l.OW))),
        ]),
      ];
    },
    true,
  );
}

/**
 * maxpool2x2_grad(gy, idx, gx, H, W, OH, OW, r0, r1): the backward of maxpool2x2 as a gather, not
 * a scatter: the 2 x 2 windows of stride 2 tile the input without overlap, so every input element
 * covered by a window gets that window's gradient if it is the recorded winner and 0 otherwise,
 * and the kernel writes each covered element once, no zeroing and no read-modify-write:
 * gx[i] = 0 + (idx[w] == i ? gy[w] : 0), 4 windows per step, the four corners selected by
 * comparing lanes of indices and interleaved back into the two input rows with shuffles. The
 * `0 +` is the reference's (a zeroed array, then +=): it turns a -0 gradient into +0, as there.
 * Input rows and columns no window covers (odd H or W) are not written: the caller zeroes them.
 * Indices must come from maxpool2x2 (within their window). Requires OW >= 4. The `pv` parameter
 * is read only by the variant maxpool2x2_relu_grad, which first masks gy by relu's backward in
 * pooled space, gy & ~(pv <= 0) with pv the pooled values (the expression of reluBackward's
 * elementwise kernel, so the same bits as masking first).
 */
function maxPool2x2Grad(masked: boolean) {
  return defineFunction(
    masked ? 'maxpool2x2_relu_grad' : 'maxpool2x2_grad',
    { gy: 'i32', idx: 'i32', gx: 'i32', H: 'i32', W: 'i32', OH: 'i32', OW: 'i32', r0: 'i32', r1: 'i32', pv: 'i32' },
    {
      r: 'i32', p: 'i32', base: 'i32', inRow: 'i32', outRow: 'i32', ow: 'i32', owc: 'i32', q: 'i32',
      g: 'v128', ix: 'v128', ia: 'v128', wv: 'v128', a: 'v128', b: 'v128', c: 'v128', d: 'v128',
    },
    (l) => {
      const get = local.get, set = local.set;
      const ONE = v128.i32Const([1, 1, 1, 1]);
      /** 0 + (gy where idx == corner), as the reference's zeroed array plus one addition. */
      const pick = (corner: Code): Code => f32x4.add(v128.zero(), v128.and(get(l.g), i32x4.eq(get(l.ix), corner)));
      return [
        set(l.wv, i32x4.splat(get(l.W))),
        forLoop(l.r, get(l.r0), get(l.r1), 1, [
          set(l.p, i32.divU(get(l.r), get(l.OH))),
          set(l.base, i32.mul(i32.mul(i32.sub(get(l.r), i32.mul(get(l.p), get(l.OH))), i32.const(2)), get(l.W))),
          set(l.inRow, i32.add(get(l.gx), i32.mul(i32.add(i32.mul(i32.mul(get(l.p), get(l.H)), get(l.W)), get(l.base)), i32.const(4)))),
          set(l.outRow, i32.mul(i32.mul(get(l.r), get(l.OW)), i32.const(4))),
          set(l.ow, i32.const(0)),
          doWhile([
            set(l.owc, i32.minU(get(l.ow), i32.sub(get(l.OW), i32.const(4)))),
            set(l.g, v128.load(i32.add(get(l.gy), i32.add(get(l.outRow), i32.mul(get(l.owc), i32.const(4)))))),
            // relu's mask in pooled space (conv.ts conv2dReluPoolBackwardF32): g & ~(pooled <= 0), reluBackward's kernel.
            ...(masked ? [set(l.g, v128.andnot(get(l.g), f32x4.le(v128.load(i32.add(get(l.pv), i32.add(get(l.outRow), i32.mul(get(l.owc), i32.const(4))))), v128.zero())))] : []),
            set(l.ix, v128.load(i32.add(get(l.idx), i32.add(get(l.outRow), i32.mul(get(l.owc), i32.const(4)))))),
            set(l.ia, i32x4.add(i32x4.splat(i32.add(get(l.base), i32.mul(get(l.owc), i32.const(2)))), v128.i32Const([0, 2, 4, 6]))),
            set(l.a, pick(get(l.ia))),
            set(l.b, pick(i32x4.add(get(l.ia), ONE))),
            set(l.ia, i32x4.add(get(l.ia), get(l.wv))),
            set(l.c, pick(get(l.ia))),
            set(l.d, pick(i32x4.add(get(l.ia), ONE))),
            // Top row: a0 b0 a1 b1 | a2 b2 a3 b3; bottom row the same with c, d.
            set(l.q, i32.add(get(l.inRow), i32.mul(get(l.owc), i32.const(8)))),
            v128.store(get(l.q), v128.shuffle32(get(l.a), get(l.b), [0, 4, 1, 5])),
            v128.store(get(l.q), v128.shuffle32(get(l.a), get(l.b), [2, 6, 3, 7]), 16),
            set(l.q, i32.add(get(l.q), i32.mul(get(l.W), i32.const(4)))),
            v128.store(get(l.q), v128.shuffle32(get(l.c), get(l.d), [0, 4, 1, 5])),
            v128.store(get(l.q), v128.shuffle32(get(l.c), get(l.d), [2, 6, 3, 7]), 16),
            set(l.ow, i32.add(get(l.ow), i32.const(4))),
          ], i32.ltU(get(l.ow), get(l.OW))),
        ]),
      ];
    },
    true,
  );
}

/**
 * bias_rows(c, ldc, bias, cols, r0, r1, relu): the convolution's epilogue, in place on the
 * product's result: C[r, j] = C[r, j] + bias[r] for rows [r0, r1) and j < cols (cols a multiple
 * of 4; ldc, the row pitch, in bytes), then, where relu is -1 (all bits), relu as the unary
 * kernel computes it (x & ~(x < 0): NaN and -0 kept). Each entry is the float32 sum of the two
 * float32 values, rounded once, exactly as the separate broadcast add would compute it, so the
 * fused result is bit-identical to conv, then add (then relu).
 */
function biasRows() {
  return defineFunction(
    'bias_rows',
    { c: 'i32', ldc: 'i32', bias: 'i32', cols: 'i32', r0: 'i32', r1: 'i32', relu: 'i32' },
    { r: 'i32', p: 'i32', end: 'i32', b: 'v128', v: 'v128', mask: 'v128' },
    (l) => {
      const g = local.get;
      return [
        local.set(l.mask, i32x4.splat(g(l.relu))),
        forLoop(l.r, g(l.r0), g(l.r1), 1, [
          local.set(l.b, f32x4.splat(f32.load(i32.add(g(l.bias), i32.mul(g(l.r), i32.const(4)))))),
          local.set(l.p, i32.add(g(l.c), i32.mul(g(l.r), g(l.ldc)))),
          local.set(l.end, i32.add(g(l.p), i32.mul(g(l.cols), i32.const(4)))),
          doWhile([
            local.set(l.v, f32x4.add(v128.load(g(l.p)), g(l.b))),
            v128.store(g(l.p), v128.andnot(g(l.v), v128.and(f32x4.lt(g(l.v), v128.zero()), g(l.mask)))),
            local.set(l.p, i32.add(g(l.p), i32.const(16))),
          ], i32.ltU(g(l.p), g(l.end))),
        ]),
      ];
    },
    true,
  );
}

/**
 * sum_channels_relu(g, pv, acc, O, N, PL, full, tail, o0, o1): for channels o in [o0, o1) of
 * [N, O, PL] arrays, the float64 sum of the masked values g & ~(pv <= 0) over N and PL (a fused
 * convolution's bias gradient from its pooled gradient, conv.ts). Each row of PL floats is read
 * as `full` whole vectors and, when PL is not a multiple of 4, one more vector whose lanes past
 * the row are cleared by the 16-byte mask at `tail` (0: no such vector; it reads up to 12 bytes past the last row:
 * the caller leaves room). Lanes 0 and 1 of each vector go to one f64x2 accumulator, 2 and 3 to
 * another, rows in n order; the two are stored at acc + 32 o (the caller adds them up). The
 * order depends on the shape only, never on threads (threads split channels).
 */
function sumChannelsRelu() {
  return defineFunction(
    'sum_channels_relu',
    { g: 'i32', pv: 'i32', acc: 'i32', O: 'i32', N: 'i32', PL: 'i32', full: 'i32', tail: 'i32', o0: 'i32', o1: 'i32' },
    { o: 'i32', n: 'i32', p: 'i32', q: 'i32', end: 'i32', s0: 'v128', s1: 'v128', v: 'v128', tm: 'v128' },
    (l) => {
      const get = local.get, set = local.set;
      const masked = (p: Code, q: Code) => v128.andnot(v128.load(p), f32x4.le(v128.load(q), v128.zero()));
      const add = (v: Code): Code[] => [
        set(l.v, v),
        set(l.s0, f64x2.add(get(l.s0), f64x2.promoteLow(get(l.v)))),
        set(l.s1, f64x2.add(get(l.s1), f64x2.promoteLow(v128.shuffle32(get(l.v), get(l.v), [2, 3, 0, 1])))),
      ];
      return [
        set(l.tm, v128.load(get(l.tail))),
        forLoop(l.o, get(l.o0), get(l.o1), 1, [
          set(l.s0, v128.zero()),
          set(l.s1, v128.zero()),
          forLoop(l.n, i32.const(0), get(l.N), 1, [
            // Row (n, o) starts at element (n * O + o) * PL.
            set(l.p, i32.mul(i32.mul(i32.add(i32.mul(get(l.n), get(l.O)), get(l.o)), get(l.PL)), i32.const(4))),
            set(l.q, i32.add(get(l.pv), get(l.p))),
            set(l.p, i32.add(get(l.g), get(l.p))),
            set(l.end, i32.add(get(l.p), i32.mul(get(l.full), i32.const(16)))),
            whileLoop(i32.ltU(get(l.p), get(l.end)), [
              ...add(masked(get(l.p), get(l.q))),
              set(l.p, i32.add(get(l.p), i32.const(16))),
              set(l.q, i32.add(get(l.q), i32.const(16))),
            ]),
            ifElse(i32.ne(get(l.tail), i32.const(0)), add(v128.and(masked(get(l.p), get(l.q)), get(l.tm))), []),
          ]),
          set(l.p, i32.add(get(l.acc), i32.mul(get(l.o), i32.const(32)))),
          v128.store(get(l.p), get(l.s0)),
          v128.store(get(l.p), get(l.s1), 16),
        ]),
      ];
    },
    true,
  );
}

/**
 * The module's bytes; `relaxed` selects f32x4.relaxed_madd for the float32 kernel; `shared`
 * (the default) imports a shared memory, which threads need and browsers allow only to
 * cross-origin-isolated pages.
 */
export function gemmModuleBytes(relaxed: boolean, shared = true): Uint8Array<ArrayBuffer> {
  // Function indices: 0 kernel_f32, 1 gemm_f32, 2 kernel_i16, 3 gemm_i16, then the helpers.
  return buildModule(
    [
      microKernel('f32', relaxed), driver('f32', 0), microKernel('i16', false), driver('i16', 2),
      packGather(MR, 10), packGather(NR, 11), col2im(), maxPool2x2(false), biasRows(), maxPool2x2Grad(false),
      gatherK(MR), gatherK(NR), // 10, 11: called by the packers
      maxPool2x2Grad(true), sumChannelsRelu(), maxPool2x2(true),
    ],
    { initialPages: INITIAL_PAGES, maximumPages: MAXIMUM_PAGES, shared },
  );
}

/** Exports of an instance of the gemm module (all addresses and pitches in bytes). */
export interface GemmExports {
  gemm_f32(ip0: number, ip1: number, jp0: number, jp1: number, K: number, a: number, b: number, c: number, ldc: number, kc: number, mcPanels: number): void;
  gemm_i16(ip0: number, ip1: number, jp0: number, jp1: number, K2: number, a: number, b: number, c: number, ldc: number, kc: number, mcPanels: number): void;
  pack_gather4(src: number, pOff: number, kOff: number, K: number, dst: number, pp0: number, pp1: number, P: number): void;
  pack_gather8(src: number, pOff: number, kOff: number, K: number, dst: number, pp0: number, pp1: number, P: number): void;
  col2im(c: number, ldc: number, pos: number, tap: number, K: number, j0: number, j1: number, gx: number): void;
  maxpool2x2(x: number, out: number, idx: number, H: number, W: number, OH: number, OW: number, r0: number, r1: number, xs: number, os: number, bias: number, pn: number, xq: number, oq: number): void;
  maxpool2x2_bias_relu(x: number, out: number, idx: number, H: number, W: number, OH: number, OW: number, r0: number, r1: number, xs: number, os: number, bias: number, pn: number, xq: number, oq: number): void;
  bias_rows(c: number, ldc: number, bias: number, cols: number, r0: number, r1: number, relu: number): void;
  maxpool2x2_grad(gy: number, idx: number, gx: number, H: number, W: number, OH: number, OW: number, r0: number, r1: number, pv: number): void;
  maxpool2x2_relu_grad(gy: number, idx: number, gx: number, H: number, W: number, OH: number, OW: number, r0: number, r1: number, pv: number): void;
  sum_channels_relu(g: number, pv: number, acc: number, O: number, N: number, PL: number, full: number, tail: number, o0: number, o1: number): void;
}
