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
