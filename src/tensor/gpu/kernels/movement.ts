/**
 * Data movement: pad (the backward of slicing: a zero tensor with a strided view written into it)
 * and concat. Both are gathers generated per rank / number of parts, like the elementwise kernels.
 */

/**
 * Source of the pad kernel for rank `rank`: output element j reads src at (j - begin) / step
 * along every dim when that is an integer inside src's shape, else it is 0.
 * Arguments: src_, out dims d1.., src offset so, src strides ss*, src dims sd*, begin b*, step st*.
 */
export function padSource(rank: number): string {
  const params = ['src_'];
  for (let d = 1; d < rank; d++) params.push(`d${d}`);
  params.push('so');
  for (const p of ['ss', 'sd', 'b', 'st']) for (let d = 0; d < rank; d++) params.push(`${p}${d}`);
  const body: string[] = ['let rest = this.thread.x;'];
  for (let d = rank - 1; d >= 1; d--) {
    body.push(`const q${d} = idiv(rest, d${d});`, `const j${d} = rest - q${d} * d${d};`, `rest = q${d};`);
  }
  body.push('const j0 = rest;', 'let at = so;', 'let inside = 1;');
  for (let d = 0; d < rank; d++) {
    body.push(
      `const t${d} = j${d} - b${d};`,
      `if (t${d} < 0) { inside = 0; } else { const u${d} = idiv(t${d}, st${d}); if (u${d} * st${d} !== t${d} || u${d} >= sd${d}) { inside = 0; } else { at += u${d} * ss${d}; } }`,
    );
  }
  body.push('if (inside === 0) { return 0; }', 'return src_[at];');
  return `function pad(${params.join(', ')}) {\n  ${body.join('\n  ')}\n}`;
}

/** At most this many parts per concat kernel (GL has 8 to 16 texture units); more are concatenated in rounds. */
export const CONCAT_MAX_PARTS = 8;

/**
 * Source of a concat kernel over k contiguous parts viewed as [outer, len_p, inner] at offset f_p:
 * output (o, a, i) with a in [start_p, start_p + len_p) reads part p at
 * f_p + (o len_p + a - start_p) inner + i.
 * Arguments: p0..p{k-1}, A (total length along the axis), I (inner), s1..s{k-1} (starts),
 * l0..l{k-1} (lengths), f0..f{k-1} (offsets).
 */
export function concatSource(k: number): string {
  const parts = Array.from({ length: k }, (_, p) => `p${p}`);
  const starts = Array.from({ length: k - 1 }, (_, p) => `s${p + 1}`);
  const lens = Array.from({ length: k }, (_, p) => `l${p}`);
  const offsets = Array.from({ length: k }, (_, p) => `f${p}`);
  const body: string[] = [
    'const oa = idiv(this.thread.x, I);',
    'const i = this.thread.x - oa * I;',
    'const o = idiv(oa, A);',
    'const a = oa - o * A;',
  ];
  for (let p = 0; p < k; p++) {
    const start = p === 0 ? '0' : `s${p}`;
    const read = `return p${p}[f${p} + (o * l${p} + a - ${start}) * I + i];`;
    body.push(p < k - 1 ? `if (a < s${p + 1}) { ${read} }` : read);
  }
  return `function concat(${[...parts, 'A', 'I', ...starts, ...lens, ...offsets].join(', ')}) {\n  ${body.join('\n  ')}\n}`;
}
