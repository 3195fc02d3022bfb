/**
 * `npm start -- --study NAME`: the main job's side studies (issue 14). Each study is its own file
 * (examples/lib/study-NAME.ts) exporting `runStudy(ctx)`; the main job trains or reuses the float
 * model, hands it over here, and exits when the study is done instead of running the bit sweep.
 *
 * The context carries what every study needs and nothing model-specific: the trained float model
 * (never modified: clone it), the three data splits (training without the validation split, the
 * validation split carved from the end of the training set, the test set) and the run's settings.
 */
import type { Sequential, MnistDataset } from '../../src/nn/index.js';

export interface StudyContext {
  /** The trained float model. Studies must not modify it: use `cloneFloat()`. */
  floatModel: Sequential;
  /** A fresh copy of the float model (same architecture and weights, on the run's device). */
  cloneFloat: () => Sequential;
  /** Float test accuracy (0..1), already measured on `test`. */
  floatAccuracy: number;
  train: MnistDataset;
  val: MnistDataset;
  test: MnistDataset;
  device: string;
  seed: number;
  quick: boolean;
  /** Bit widths from --bits, or undefined when the flag was not given (each study has its own default). */
  bits: number[] | undefined;
  /** Training images for PTQ calibration (--calib-images or the job's default). */
  calibImages: number;
  /** --qat-alpha: the level of the McNemar test that lets a QAT snapshot replace PTQ (examples/lib/qat-selection.ts). */
  qatAlpha: number;
  outDir: string;
}

/** The studies and the module that runs each (loaded only when asked for). */
export const STUDIES: Record<string, () => Promise<{ runStudy: (ctx: StudyContext) => Promise<void> }>> = {
  dynamic: () => import('./study-dynamic.js'),
  'weight-only': () => import('./study-weight-only.js'),
  mixed: () => import('./study-mixed.js'),
  pow2: () => import('./study-pow2.js'),
};

export async function runStudy(name: string, ctx: StudyContext): Promise<void> {
  const load = STUDIES[name];
  if (!load) throw new Error(`unknown study '${name}' (known: ${Object.keys(STUDIES).join(', ') || 'none'})`);
  const mod = await load();
  await mod.runStudy(ctx);
}
