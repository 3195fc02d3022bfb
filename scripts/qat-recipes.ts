/**
 * QAT recipe experiments on the main job's CNN (docs/low-bit.md §7): PTQ once at one width, then
 * each recipe variant fine-tunes its own copy and is judged on the validation split. Variants are a
 * JSON list of partial QatRecipe (examples/lib/qat-recipe.ts) plus: name, weightRange ('minmax' |
 * 'mse'), images (QAT images, default 25,600), qseed (seed of the QAT subset and shuffle, default 1),
 * distillT / distillW (distillation from the float model). Needs the main job's float checkpoint
 * (copy it from a full run: runs/x/float-bn-seed1-e2-val2000.qgrd).
 *
 *   npx tsx scripts/qat-recipes.ts '[{"name":"minmax"},{"name":"mse","weightRange":"mse"}]' [bits=2] [log=runs/qat-recipes.jsonl] [ckpt]
 *
 * Prints only validation figures (accuracy and cross-entropy at each check), so that choices are
 * made on them; the test accuracy of the kept snapshot goes to the JSON-lines log, to be read once
 * the choice is made.
 */
import { appendFileSync } from 'node:fs';
import { manualSeed, Generator } from '../src/index.js';
import { MnistLoader, mnistCnn, evaluate, type Sequential } from '../src/nn/index.js';
import { prepareQAT, qconfig, calibrate, type QatConfig } from '../src/quant/index.js';
import { loadCheckpoint } from '../src/node.js';
import { loadSplits } from '../examples/lib/splits.js';
import { selectDevice } from '../examples/lib/device.js';
import { qatTrain, type QatRecipe } from '../examples/lib/qat-recipe.js';

type Variant = Partial<QatRecipe> & { name: string; weightRange?: 'minmax' | 'mse'; images?: number; qseed?: number; distillT?: number; distillW?: number };
const [spec, bitsArg, logArg, ckptArg] = process.argv.slice(2);
if (!spec) throw new Error('usage: npx tsx scripts/qat-recipes.ts \'[{"name":"a"}, ...]\' [bits] [log] [checkpoint]');
const variants = JSON.parse(spec) as Variant[];
const bits = Number(bitsArg ?? 2);
const log = logArg ?? 'runs/qat-recipes.jsonl';
const ckpt = ckptArg ?? 'runs/x/float-bn-seed1-e2-val2000.qgrd';
const seed = 1;
await selectDevice('wasm');
manualSeed(seed);
// the main job's splits, float model, calibration subset and QAT data (examples/mnist-quant.ts)
const { train, val, test } = loadSplits(false, undefined);
const newModel = () => mnistCnn({ batchNorm: true, generator: new Generator(seed) }).to('wasm');
const floatModel = newModel();
loadCheckpoint(ckpt, floatModel);
const cloneFloat = (): Sequential => {
  const m = newModel();
  m.loadStateDict(floatModel.stateDict());
  return m;
};
function configFor(b: number, weightRange: 'minmax' | 'mse'): QatConfig {
  const opts = { bits: b, activationObserver: 'histogram' as const, calibration: 'mse' as const };
  const eight = qconfig({ ...opts, bits: 8 });
  const layer = qconfig({ ...opts, weightRange });
  return { default: layer, input: eight, layers: { [String(floatModel.namedChildren().length - 1)]: { ...layer, activation: eight.activation } } };
}
const calibLoader = new MnistLoader(train, { batchSize: 256, subset: { size: 2048, seed: seed + 2 } });
const ptqModel = prepareQAT(cloneFloat(), configFor(bits, 'minmax'));
calibrate(ptqModel, calibLoader, { device: 'wasm' });
const base: QatRecipe = { lr: 2e-2, warmupFraction: 0, bnFreezeFraction: 0.6, checkFractions: [0.8], distill: null };
for (const v of variants) {
  const t0 = performance.now();
  // activation ranges as calibrated; the weight observers recompute their ranges on the first batch
  const m = prepareQAT(cloneFloat(), configFor(bits, v.weightRange ?? 'minmax'));
  m.loadStateDict(ptqModel.stateDict());
  const recipe: QatRecipe = {
    lr: v.lr ?? base.lr, warmupFraction: v.warmupFraction ?? base.warmupFraction, bnFreezeFraction: v.bnFreezeFraction ?? base.bnFreezeFraction,
    checkFractions: v.checkFractions ?? base.checkFractions,
    distill: v.distillW ? { teacher: floatModel, temperature: v.distillT ?? 2, weight: v.distillW } : null,
  };
  const qseed = v.qseed ?? seed;
  const loader = new MnistLoader(train, { batchSize: 64, shuffle: true, seed: qseed + 1, subset: { size: v.images ?? 25_600, seed: qseed } });
  const sel = qatTrain(m, recipe, { label: v.name, loader, val: () => new MnistLoader(val, { batchSize: 500 }), valLabels: val.labels, device: 'wasm', alpha: 0.05 });
  const te = evaluate(m, new MnistLoader(test, { batchSize: 500 }), { device: 'wasm' });
  const secs = (performance.now() - t0) / 1000;
  const history = sel.history.map((h) => [h.step, +(h.accuracy * 100).toFixed(2), +h.loss.toFixed(4)] as const);
  appendFileSync(log, JSON.stringify({ name: v.name, bits, variant: v, kept: sel.kept, history, b: sel.test.b, c: sel.test.c, test: +(te.accuracy * 100).toFixed(2), secs: Math.round(secs) }) + '\n');
  console.log(`RESULT ${v.name}: validation (step:accuracy:loss) ${history.map((h) => h.join(':')).join(' ')}; kept ${sel.kept} | ${secs.toFixed(0)} s`);
}
