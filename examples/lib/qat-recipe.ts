/**
 * The main job's QAT fine-tuning of a PTQ model, with the snapshot selection on the validation
 * split: the recipe (learning-rate schedule, batch-norm freeze, weight ranges, distillation) as
 * data, so that the rule choosing it per bit width is one readable function in mnist-quant.ts
 * and experiments can vary one knob at a time.
 *
 * Schedule: SGD with momentum 0.9, a linear warm-up over the first `warmupFraction` of the steps
 * (Goyal et al. 2017), then cosine decay to 0 (Loshchilov & Hutter 2017). The activation ranges stay
 * the ones PTQ calibrated (observers off); weight ranges follow the weights by the model's own
 * weight observers (min/max, or the MSE search of src/quant/mse-weight-observer.ts where the
 * qconfig asks for it). Batch-norm statistics freeze
 * after `bnFreezeFraction` of the steps (Jacob et al. 2018 §3.2, Krishnamoorthi 2018 §3.4). With
 * `distill`, the loss is Hinton et al. 2015's: (1 − w)·CE(labels) + w·T²·CE(softmax(t/T), s/T),
 * the float model as teacher (Mishra & Marr 2018, "Apprentice", use it for low-bit networks).
 *
 * The validation split is measured at the start (= PTQ), at each of `checkFractions` and at the
 * end; the most accurate snapshot replaces PTQ only if the exact McNemar test says it is better at
 * level alpha (examples/lib/qat-selection.ts). The test set is never seen here.
 */
import { noGrad, tidy, Tensor, type Device } from '../../src/index.js';
import { MnistLoader, SGD, evaluate, batchInput, type Module, type Sequential, type Batch } from '../../src/nn/index.js';
import * as F from '../../src/autograd/functional.js';
import { fakeQuantizers, freezeBn } from '../../src/quant/index.js';
import { Progress } from './progress.js';
import { chooseQatSnapshot, type PairedCounts } from './qat-selection.js';

export interface QatRecipe {
  /** peak learning rate */
  lr: number;
  /** fraction of the steps with a linear warm-up from 0 (0: none) */
  warmupFraction: number;
  /** batch-norm statistics freeze after this fraction of the steps */
  bnFreezeFraction: number;
  /** validation checks before the end, as fractions of the steps */
  checkFractions: number[];
  /** knowledge distillation from a float teacher (null: plain cross-entropy) */
  distill: { teacher: Module; temperature: number; weight: number } | null;
}

export interface QatSelection {
  /** 'ptq' (the starting point) or the step whose snapshot was kept. */
  kept: string;
  history: { step: string; accuracy: number; loss: number }[];
  /** the most accurate QAT snapshot on validation, and its exact McNemar test against PTQ there */
  bestStep: string;
  test: PairedCounts;
  alpha: number;
}

export interface QatRun {
  label: string;
  loader: MnistLoader;
  val: () => Iterable<Batch>;
  valLabels: ArrayLike<number>;
  device: Device;
  alpha: number;
}

/** Learning rate at step s of total (1-based, the value used for the next step). */
export function scheduledLr(r: Pick<QatRecipe, 'lr' | 'warmupFraction'>, step: number, total: number): number {
  const warm = Math.floor(total * r.warmupFraction);
  if (step < warm) return (r.lr * (step + 1)) / warm;
  const t = warm >= total ? 1 : (step - warm) / (total - warm);
  return (r.lr * (1 + Math.cos(Math.PI * t))) / 2;
}

export function qatTrain(model: Sequential, recipe: QatRecipe, run: QatRun): QatSelection {
  for (const fq of fakeQuantizers(model)) fq.observerEnabled = !!fq.config.signed;
  const opt = new SGD(model.parameters(), { lr: scheduledLr(recipe, 0, run.loader.numBatches), momentum: 0.9 });
  const total = run.loader.numBatches;
  const history: QatSelection['history'] = [];
  // stateDict() holds the live tensors, which training updates in place: a snapshot must copy them
  const snapshot = () => new Map([...model.stateDict()].map(([k, t]) => [k, noGrad(() => t.detach().clone())] as const));
  const ptqState = snapshot();
  const snaps: { step: string; predictions: ArrayLike<number>; state: ReturnType<typeof snapshot> }[] = [];
  let ptqPredictions: ArrayLike<number> = [];
  const consider = (step: string) => {
    const r = evaluate(model, run.val(), { device: run.device });
    history.push({ step, accuracy: r.accuracy, loss: r.loss });
    if (step === 'ptq') ptqPredictions = r.predictions;
    else snaps.push({ step, predictions: r.predictions, state: snapshot() });
  };
  consider('ptq');
  const checkpoints = new Set(recipe.checkFractions.map((f) => Math.floor(total * f)));
  const freezeAt = Math.floor(total * recipe.bnFreezeFraction);
  const bar = new Progress(`QAT ${run.label}`, total);
  const teacher = recipe.distill?.teacher;
  teacher?.eval();
  model.train();
  let step = 0, seen = 0;
  for (const b of run.loader.batches(0)) {
    const loss = tidy(() => {
      opt.zeroGrad();
      const x = batchInput(b, run.device);
      const logits = model.call(x);
      let l = F.crossEntropy(logits, b.y as ArrayLike<number>);
      if (recipe.distill && teacher) {
        const { temperature: T, weight: w } = recipe.distill;
        const soft = noGrad(() => F.softmax(teacher.call(x).div(T), 1).detach());
        const kd = soft.mul(F.logSoftmax(logits.div(T), 1)).sum().neg().div(x.shape[0]).mul(T * T);
        l = l.mul(1 - w).add(kd.mul(w));
      }
      l.backward();
      opt.step();
      return l.item();
    });
    if (!Number.isFinite(loss)) throw new Error(`QAT ${run.label} diverged: loss is ${loss} at step ${step}`);
    step++;
    seen += b.x instanceof Tensor ? b.x.shape[0] : b.xShape![0];
    opt.lr = scheduledLr(recipe, step, total);
    bar.update(step, { loss, lr: opt.lr }, seen);
    if (checkpoints.has(step)) {
      consider(String(step));
      model.train();
    }
    if (step === freezeAt) freezeBn(model);
  }
  freezeBn(model);
  consider(String(total));
  const d = chooseQatSnapshot(run.valLabels, ptqPredictions, snaps, run.alpha);
  model.loadStateDict(d.kept === 'ptq' ? ptqState : snaps.find((s) => s.step === d.kept)!.state);
  return { kept: d.kept, history, bestStep: d.bestStep, test: d.test, alpha: d.alpha };
}
