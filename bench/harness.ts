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

/** Stats plus the samples, in the order they were taken (round r of measure() is index r). */
export interface Measured extends Stats {
  samples: number[];
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
  /**
   * One sample: the timed work. May be async (peers that read results back). A run that returns
   * `{ selfTimedMs }` has timed itself (a peer in another process): that figure is the sample,
   * so the round trip to the other process is not counted.
   */
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

function sampleMs(t0: number, result: unknown): number {
  const self = (result as { selfTimedMs?: unknown } | null)?.selfTimedMs;
  return typeof self === 'number' ? self : performance.now() - t0;
}

/**
 * Times every variant, round-robin (round r takes sample r of every variant still within its
 * budget, in order), and returns its stats and samples (milliseconds per run).
 */
export async function measure(variants: Variant[], opts: MeasureOptions): Promise<Map<string, Measured>> {
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const spent = new Map<string, number>(variants.map((v) => [v.name, 0]));
  for (const v of variants) {
    for (let i = 0; i < opts.warmup; i++) {
      await v.enter?.();
      const t0 = performance.now();
      // A warm-up that alone blows the budget counts as the one sample.
      const dt = sampleMs(t0, await v.run());
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
      const dt = sampleMs(t0, await v.run());
      xs.push(dt);
      spent.set(v.name, spent.get(v.name)! + dt);
      any = true;
    }
    if (!any) break;
  }
  return new Map([...samples].map(([k, xs]) => [k, { ...stats(xs), samples: xs }]));
}

/**
 * Stats of the per-round ratios a[r] / b[r] of two variants sampled in the same measure() call:
 * each pair was taken back to back, so a change in the machine's speed between rounds cancels.
 */
export function pairedRatios(a: readonly number[], b: readonly number[]): Stats | null {
  const n = Math.min(a.length, b.length);
  if (n === 0) return null;
  return stats(Array.from({ length: n }, (_, i) => a[i] / b[i]));
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
