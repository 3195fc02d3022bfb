/**
 * Wall time by phase for the sweeps' reports: `phase(name, fn)` runs fn and adds its seconds to
 * `phases[name]` (a phase run several times, e.g. once per bit width, accumulates).
 */
export function phaseTimer(): { phases: Record<string, number>; phase: <T>(name: string, fn: () => T) => T } {
  const phases: Record<string, number> = {};
  const phase = <T>(name: string, fn: () => T): T => {
    const t = performance.now();
    const r = fn();
    phases[name] = (phases[name] ?? 0) + (performance.now() - t) / 1000;
    return r;
  };
  return { phases, phase };
}
