/**
 * The layering rules of docs/architecture.md, checked on the source text:
 *   - no import loops anywhere in src/ (a depth-first search over every static import and
 *     re-export, type-only ones included: a loop of types is still a loop a reader must untangle);
 *   - the reference cpu backend (src/tensor/cpu) mentions no WebAssembly, threads, workers or
 *     buffer pool: those belong to the wasm backend;
 *   - src/quant imports no backend internals: from src/tensor it may use the public modules
 *     (anything outside the backends' folders) and a backend's index.ts (its public face).
 *   - nothing imports upward: tensor <- autograd <- nn <- quant (io beside them).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const files = walk(src).map((f) => relative(root, f).split('\\').join('/'));
const text = new Map(files.map((f) => [f, readFileSync(join(root, f), 'utf8')]));

/** The relative module specifiers a file imports or re-exports statically, resolved to files. */
function importsOf(file: string): string[] {
  const s = text.get(file)!;
  const out: string[] = [];
  for (const m of s.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'|(?:^|\n)\s*import\s+'(\.[^']+)'/g)) {
    const spec = m[1] ?? m[2];
    const target = join(dirname(file), spec).split('\\').join('/').replace(/\.js$/, '.ts');
    if (!text.has(target)) throw new Error(`${file} imports ${spec}, which is not a file in src/`);
    out.push(target);
  }
  return out;
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe('architecture', () => {
  it('reads the import graph (sanity: known edges are found)', () => {
    expect(graph.get('src/tensor/wasm/backend.ts')).toContain('src/tensor/cpu/index.ts');
    expect(graph.get('src/index.ts')).toContain('src/tensor/index.ts');
    expect(files.length).toBeGreaterThan(100);
  });

  it('has no import loops in src/', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const t of graph.get(f)!) {
        if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].join(' -> '));
        else if (!state.has(t)) visit(t);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('the DFS finds a loop when there is one (self-test on a made-up graph)', () => {
    const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', []]]);
    const seen = new Set<string>(), open = new Set<string>();
    let found = false;
    const visit = (f: string) => {
      open.add(f);
      seen.add(f);
      for (const t of g.get(f)!) if (open.has(t)) found = true; else if (!seen.has(t)) visit(t);
      open.delete(f);
    };
    visit('a');
    expect(found).toBe(true);
  });

  it('the reference cpu backend mentions no WebAssembly, threads, workers or buffer pool', () => {
    const banned = /WebAssembly|\bwasm|simd|thread|worker|buffer[ -]?pool|bufferPool/i;
    const cpu = files.filter((f) => f.startsWith('src/tensor/cpu/'));
    expect(cpu.length).toBeGreaterThan(4);
    const hits = cpu.flatMap((f) => text.get(f)!.split('\n').map((l, i) => (banned.test(l) ? `${f}:${i + 1}: ${l.trim()}` : '')).filter(Boolean));
    expect(hits).toEqual([]);
  });

  it('src/quant imports no backend internals (only public tensor modules and backend index files)', () => {
    const internal = (t: string) => /^src\/tensor\/(cpu|wasm|gpu)\//.test(t) && !/^src\/tensor\/(cpu|wasm|gpu)\/index\.ts$/.test(t);
    const bad = files.filter((f) => f.startsWith('src/quant/')).flatMap((f) => graph.get(f)!.filter(internal).map((t) => `${f} -> ${t}`));
    expect(bad).toEqual([]);
  });

  it('nothing imports upward (tensor <- autograd <- nn <- quant)', () => {
    const floor: Record<string, number> = { tensor: 0, io: 0, autograd: 1, nn: 2, quant: 3 };
    const level = (f: string) => floor[f.split('/')[1]] ?? 4;
    const bad = files.filter((f) => level(f) < 4).flatMap((f) => graph.get(f)!.filter((t) => level(t) > level(f)).map((t) => `${f} -> ${t}`));
    expect(bad).toEqual([]);
  });
});
