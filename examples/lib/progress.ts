/** A one-line progress bar with loss and throughput; plain periodic lines when not on a terminal. */
export class Progress {
  private readonly t0 = performance.now();
  private lastPrint = 0;
  constructor(private readonly label: string, private readonly total: number, private readonly stream: NodeJS.WriteStream = process.stderr) {}

  update(done: number, extra: Record<string, string | number> = {}, images?: number): void {
    const now = performance.now();
    const final = done >= this.total;
    const tty = this.stream.isTTY;
    if (!final && now - this.lastPrint < (tty ? 100 : 5000)) return;
    this.lastPrint = now;
    const secs = (now - this.t0) / 1000;
    const frac = this.total ? Math.min(done / this.total, 1) : 1;
    const width = 24;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '·');
    const parts = Object.entries(extra).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(4) : v}`);
    if (images !== undefined) parts.push(`${(images / Math.max(secs, 1e-9)).toFixed(0)} img/s`);
    const eta = frac > 0 && !final ? ` eta ${((secs / frac) * (1 - frac)).toFixed(0)}s` : '';
    const line = `${this.label} ${bar} ${done}/${this.total} ${parts.join(' ')} ${secs.toFixed(1)}s${eta}`;
    if (tty) this.stream.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
    else this.stream.write(line + '\n');
  }
}

/** Minimal --flag value parser: --epochs 3 --lr=0.01 --quick. */
export function parseFlags(argv: string[], defaults: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    let [k, v] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (!(k in defaults)) throw new Error(`unknown flag --${k}; known: ${Object.keys(defaults).map((x) => '--' + x).join(' ')}`);
    if (typeof defaults[k] === 'boolean' && v === undefined) {
      out[k] = true;
      continue;
    }
    if (v === undefined) v = argv[++i];
    if (v === undefined) throw new Error(`flag --${k} needs a value`);
    const d = defaults[k];
    if (typeof d === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`flag --${k} needs a number, got '${v}'`);
      out[k] = n;
    } else if (typeof d === 'boolean') out[k] = v === 'true' || v === '1';
    else out[k] = v;
  }
  return out;
}
