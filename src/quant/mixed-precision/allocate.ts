/**
 * Choosing bits per layer under a size budget, exactly: the Pareto frontier of
 * (model size, estimated loss) over every per-layer assignment.
 *
 * The model (HAWQ, Dong et al. 2019, "HAWQ: Hessian AWare Quantization of Neural Networks with
 * Mixed-Precision", ICCV; the frontier itself in HAWQ-V2, Dong et al. 2020, NeurIPS, and ZeroQ,
 * Cai et al. 2020, CVPR §3.3): each layer's quantization perturbs the loss by an amount measured
 * with that layer alone quantized (its sensitivity at b bits), and the perturbations of different
 * layers add up. A configuration's estimated loss is then the sum of its layers' sensitivities and
 * its size the sum of their sizes (size.ts; the size-constrained framing is HAQ's, Wang et al. 2019).
 *
 * Minimising a sum of losses under a sum of sizes is a multiple-choice knapsack. It is solved
 * exactly by the list algorithm of Nemhauser & Ullmann (1969, "Discrete dynamic programming and
 * capital allocation", Management Science 15(9)): keep the non-dominated (size, loss) pairs of the
 * first k layers; the frontier of k+1 layers is the non-dominated part of every pair combined
 * with every option of layer k+1. A configuration dominated on its first k layers can never be
 * completed into a non-dominated one (sizes and losses add), so nothing optimal is pruned. The work
 * is (frontier length) × (options) per layer, and the frontier holds at most one point per distinct
 * size; no size grid is needed, so it scales to models with millions of weights.
 */

/** One way to quantize a layer: its bits, its packed size and its estimated loss (sensitivity). */
export interface LayerOption {
  bits: number;
  bytes: number;
  loss: number;
}

export interface LayerChoices {
  name: string;
  options: readonly LayerOption[];
}

/** A non-dominated configuration: total size, total estimated loss, and each layer's bits. */
export interface FrontierPoint {
  bytes: number;
  loss: number;
  bits: Record<string, number>;
}

function checkLayers(layers: readonly LayerChoices[], who: string): void {
  if (layers.length === 0) throw new Error(`${who}: no layers given`);
  const seen = new Set<string>();
  for (const l of layers) {
    if (seen.has(l.name)) throw new Error(`${who}: layer '${l.name}' is given twice`);
    seen.add(l.name);
    if (l.options.length === 0) throw new Error(`${who}: layer '${l.name}' has no options`);
    for (const o of l.options) {
      if (!Number.isFinite(o.bytes) || o.bytes < 0) throw new Error(`${who}: layer '${l.name}' at ${o.bits} bits: bytes must be finite and >= 0, got ${o.bytes}`);
      if (!Number.isFinite(o.loss)) throw new Error(`${who}: layer '${l.name}' at ${o.bits} bits: loss must be finite, got ${o.loss}`);
    }
  }
}

/** Non-dominated subset: sorted by size ascending, each point strictly lower in loss than every smaller one. */
function prune<T extends { bytes: number; loss: number }>(points: T[]): T[] {
  points.sort((a, b) => a.bytes - b.bytes || a.loss - b.loss);
  const out: T[] = [];
  for (const p of points) if (out.length === 0 || p.loss < out[out.length - 1].loss) out.push(p);
  return out;
}

/**
 * The exact Pareto frontier, smallest configuration first: sizes strictly increase and estimated
 * losses strictly decrease along it. Of configurations with equal size and loss, the one found
 * first (earlier options of earlier layers) is kept.
 */
export function paretoFrontier(layers: readonly LayerChoices[]): FrontierPoint[] {
  checkLayers(layers, 'paretoFrontier');
  // choice[k] = index of the option of layer k; kept as arrays until the end
  let front: { bytes: number; loss: number; choice: number[] }[] = [{ bytes: 0, loss: 0, choice: [] }];
  for (const layer of layers) {
    const next: typeof front = [];
    for (const p of front) {
      layer.options.forEach((o, i) => next.push({ bytes: p.bytes + o.bytes, loss: p.loss + o.loss, choice: [...p.choice, i] }));
    }
    front = prune(next);
  }
  return front.map((p) => ({
    bytes: p.bytes,
    loss: p.loss,
    bits: Object.fromEntries(layers.map((l, k) => [l.name, l.options[p.choice[k]].bits])),
  }));
}

/** The smallest configuration's size: every layer at its smallest option. */
export function minimumBytes(layers: readonly LayerChoices[]): number {
  checkLayers(layers, 'minimumBytes');
  return layers.reduce((s, l) => s + Math.min(...l.options.map((o) => o.bytes)), 0);
}

/**
 * The configuration of least estimated loss whose size is within `budgetBytes` (of equal
 * losses, the smaller). A budget below the smallest configuration is an error naming that size.
 */
export function allocateBits(layers: readonly LayerChoices[], budgetBytes: number): FrontierPoint {
  checkLayers(layers, 'allocateBits');
  if (!Number.isFinite(budgetBytes)) throw new Error(`allocateBits: the budget must be a finite number of bytes, got ${budgetBytes}`);
  const min = minimumBytes(layers);
  if (budgetBytes < min) {
    throw new Error(`allocateBits: a budget of ${budgetBytes} bytes is below the smallest configuration, ${min} bytes (every layer at its smallest option)`);
  }
  const front = paretoFrontier(layers);
  // the frontier's losses decrease with size: the last point within the budget is the best
  let best = front[0];
  for (const p of front) if (p.bytes <= budgetBytes) best = p;
  return best;
}
