/**
 * The smallest end-to-end use of qgrad's nn library: a multi-layer perceptron fits y = sin(x)
 * on [−π, π] with full-batch Adam and a mean-squared-error loss. Runs in a few seconds on a CPU.
 *
 *   npx tsx examples/mlp-toy.ts                    # 600 steps of Adam lr 0.003, hidden layers 32-32
 *   npx tsx examples/mlp-toy.ts --help             # every flag with its meaning and default
 *
 * Each step: zero the gradients, forward, loss, backward, optimizer step, all inside tidy() so
 * the step's intermediate tensors are freed (parameters, gradients and Adam's state are kept).
 */
import { fromArray, Generator, noGrad, tidy } from '../src/index.js';
import { Adam, mlp, mseLoss } from '../src/nn/index.js';
import { runCli } from './lib/cli.js';
import { MLP_TOY_FLAGS } from './lib/flags.js';

const flags = runCli('npx tsx examples/mlp-toy.ts', 'An MLP fits sin(x) with Adam.', MLP_TOY_FLAGS);
const { steps, hidden, points } = flags;

// Training data: evenly spaced x in [−π, π] and y = sin(x), as [points, 1] columns.
const xs = Array.from({ length: points }, (_, i) => -Math.PI + (2 * Math.PI * i) / (points - 1));
const x = fromArray(xs, [points, 1]);
const y = fromArray(xs.map(Math.sin), [points, 1]);

const model = mlp([1, hidden, hidden, 1], new Generator(flags.seed));
const opt = new Adam(model.parameters(), { lr: flags.lr });
console.log(`MLP 1-${hidden}-${hidden}-1 (${model.numParameters()} parameters), Adam lr ${flags.lr}, ${points} points, ${steps} steps`);

const t0 = performance.now();
let first = NaN;
for (let step = 1; step <= steps; step++) {
  const loss = tidy(() => {
    opt.zeroGrad();
    const l = mseLoss(model.call(x), y);
    l.backward();
    opt.step();
    return l.item();
  });
  if (step === 1) first = loss;
  if (step === 1 || step % Math.max(1, Math.floor(steps / 10)) === 0) console.log(`step ${String(step).padStart(5)}  mse ${loss.toExponential(3)}`);
}
const secs = (performance.now() - t0) / 1000;

// A few predictions next to the truth.
const probe = [-Math.PI / 2, -1, 0, 1, Math.PI / 2];
const pred = noGrad(() => Array.from(model.eval().call(fromArray(probe, [probe.length, 1])).toTypedArray()));
console.log('x        sin(x)   model');
probe.forEach((p, i) => console.log(`${p.toFixed(3).padStart(6)}  ${Math.sin(p).toFixed(4).padStart(7)}  ${pred[i].toFixed(4).padStart(7)}`));
const last = tidy(() => noGrad(() => mseLoss(model.call(x), y).item()));
console.log(`mse ${first.toExponential(3)} -> ${last.toExponential(3)} (${(first / last).toFixed(0)}x lower) in ${secs.toFixed(1)} s`);
