/**
 * Shared by the fused-optimizer tests: `steps` optimizer steps on two parameters (37 and 40 x 50
 * values) whose gradients are seeded (loss = Σ p · c with c drawn per step, so ∂loss/∂p = c).
 * Returns, per parameter, its values and the named state tensors, as plain arrays (null where a
 * state tensor is absent).
 */
import { F, fromArray, noGrad, type Tensor } from '../../../src/index.js';
import type { Optimizer } from '../../../src/nn/index.js';
import { mulberry32 } from '../../helpers/rng.js';

export function seededSteps(
  device: string, dtype: 'float32' | 'float64', seed: number, steps: number,
  makeOpt: (params: Tensor[]) => Optimizer<{ lr: number }>, stateKeys: string[],
): (number[] | null)[][] {
  const rand = mulberry32(seed);
  const vals = (n: number) => Array.from({ length: n }, () => rand() * 2 - 1);
  const params = [fromArray(vals(37), [37], { device, dtype, requiresGrad: true }), fromArray(vals(2000), [40, 50], { device, dtype, requiresGrad: true })];
  const opt = makeOpt(params);
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    let loss: Tensor | null = null;
    for (const p of params) {
      const term = F.mul(p, fromArray(vals(p.size), [...p.shape], { device, dtype })).sum();
      loss = loss ? loss.add(term) : term;
    }
    loss!.backward();
    opt.step();
  }
  const state = (opt as unknown as { state: Map<Tensor, Record<string, Tensor>> }).state;
  const plain = (t: Tensor | undefined) => (t ? Array.from(t.toTypedArray()) : null);
  return noGrad(() => params.map((p) => [plain(p), ...stateKeys.map((k) => plain(state.get(p)?.[k]))]));
}
