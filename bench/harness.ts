/**
 * Timing helpers for bench/run.ts: repeated samples with medians, min and max, configurations
 * interleaved round-robin (so a burst of load from elsewhere hits every column alike), and a
 * time budget per cell so that a slow peer cannot stall the run.
 */

export interface Stats {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const median = n % 2 ? s[(n - 1) >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { median, min: s[0], max: s[n - 1], n };
}

/** One configuration of a benchmark: how to enter it, and the function timed. */
export interface Variant {
  name: string;
  /** Called before each sample of this variant (e.g. switching kernels); not timed. */
  enter?: () => void | Promise<void>;
  /** One sample: the timed work. May be async (peers that read results back). */
  run: () => unknown;
}

export interface MeasureOptions {
  /** Samples per variant (at most). */
  reps: number;
  /** Untimed runs per variant first (JIT, wasm tier-up, worker start-up, caches). */
  warmup: number;
  /** Stop sampling a variant once its samples add up to this many ms (after at least 1). */
  budgetMs: number;
}

/** Times every variant, round-robin, and returns its stats (milliseconds per run). */
export async function measure(variants: Variant[], opts: MeasureOptions): Promise<Map<string, Stats>> {
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const spent = new Map<string, number>(variants.map((v) => [v.name, 0]));
  for (const v of variants) {
    for (let i = 0; i < opts.warmup; i++) {
      await v.enter?.();
      const t0 = performance.now();
      await v.run();
      // A warm-up that alone blows the budget counts as the one sample.
      const dt = performance.now() - t0;
      if (dt > opts.budgetMs) {
        samples.get(v.name)!.push(dt);
        spent.set(v.name, dt);
        break;
      }
    }
  }
  for (let r = 0; r < opts.reps; r++) {
    let any = false;
    for (const v of variants) {
      const xs = samples.get(v.name)!;
      if (xs.length > 0 && spent.get(v.name)! >= opts.budgetMs) continue;
      await v.enter?.();
      const t0 = performance.now();
      await v.run();
      const dt = performance.now() - t0;
      xs.push(dt);
      spent.set(v.name, spent.get(v.name)! + dt);
      any = true;
    }
    if (!any) break;
  }
  return new Map([...samples].map(([k, xs]) => [k, stats(xs)]));
}

/** Formats a table with a header row; columns are left-aligned strings. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function fmtMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}
