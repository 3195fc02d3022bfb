/**
 * TensorFlow.js peers for bench/run.ts: the same cases on @tensorflow/tfjs-backend-cpu and
 * @tensorflow/tfjs-backend-wasm (XNNPACK), when those packages can be loaded: from the project's
 * node_modules, or from runs/peers/node_modules, where
 *   npm install --prefix runs/peers @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0
 * puts them without touching the project's dependencies. Layouts are tfjs's own (NHWC).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { BenchCase } from '../cases.js';
import { CONVS, INFER_BATCH, INFER_IMAGES, MATMUL_SIZES, TRAIN_BATCH } from '../cases.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- tfjs is an optional peer, typed loosely here */
type Tf = any;

/** Loads tfjs-core with both backends registered, or returns why not. */
export function loadTfjs(root: string): { tf: Tf } | { error: string } {
  const tries = [join(root, 'package.json'), join(root, 'runs/peers/package.json')];
  const errors: string[] = [];
  for (const from of tries) {
    try {
      const req = createRequire(from);
      // tfjs greets Node users on the console; keep the benchmark output clean.
      const warn = console.warn, log = console.log;
      console.warn = () => {};
      console.log = () => {};
      try {
        const tf = req('@tensorflow/tfjs-core');
        // tfjs-core alone registers no gradients (the tfjs umbrella package does this).
        req('@tensorflow/tfjs-core/dist/register_all_gradients');
        req('@tensorflow/tfjs-backend-cpu');
        req('@tensorflow/tfjs-backend-wasm');
        return { tf };
      } finally {
        console.warn = warn;
        console.log = log;
      }
    } catch (e) {
      errors.push(String((e as Error).message).split('\n')[0]);
    }
  }
  return { error: errors.join('; ') };
}

export async function useBackend(tf: Tf, name: 'cpu' | 'wasm'): Promise<void> {
  if (tf.getBackend() === name) return;
  const warn = console.warn, log = console.log;
  console.warn = () => {};
  console.log = () => {};
  try {
    await tf.setBackend(name);
    await tf.ready();
  } finally {
    console.warn = warn;
    console.log = log;
  }
}

/** The cases tfjs runs (async: results are read back, which waits for the work). */
export function tfjsCases(tf: Tf): (Omit<BenchCase, 'setup'> & { setup: () => () => Promise<unknown> })[] {
  const cases: (Omit<BenchCase, 'setup'> & { setup: () => () => Promise<unknown> })[] = [];
  for (const n of MATMUL_SIZES) {
    cases.push({
      name: `matmul ${n}`,
      group: 'matmul',
      flops: 2 * n ** 3,
      setup: () => {
        const a = tf.randomNormal([n, n]), b = tf.randomNormal([n, n]);
        return async () => {
          const c = tf.matMul(a, b);
          await c.data();
          c.dispose();
        };
      },
    });
  }
  for (const c of CONVS) {
    const [N, C, H, W] = c.x, [O, , KH, KW] = c.w;
    cases.push({
      name: `${c.name} forward`,
      group: 'conv',
      setup: () => {
        const x = tf.randomNormal([N, H, W, C]), w = tf.randomNormal([KH, KW, C, O]);
        return async () => {
          const y = tf.conv2d(x, w, 1, 'valid');
          await y.data();
          y.dispose();
        };
      },
    });
  }
  const params = () => ({
    w1: tf.variable(tf.randomNormal([3, 3, 1, 40], 0, 0.3)),
    b1: tf.variable(tf.zeros([40])),
    w2: tf.variable(tf.randomNormal([3, 3, 40, 40], 0, 0.05)),
    b2: tf.variable(tf.zeros([40])),
    w3: tf.variable(tf.randomNormal([1000, 10], 0, 0.03)),
    b3: tf.variable(tf.zeros([10])),
  });
  const forward = (p: ReturnType<typeof params>, x: Tf) => {
    let h = tf.maxPool(tf.relu(tf.add(tf.conv2d(x, p.w1, 1, 'valid'), p.b1)), 2, 2, 'valid');
    h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, p.w2, 1, 'valid'), p.b2)), 2, 2, 'valid');
    return tf.add(tf.matMul(tf.reshape(h, [-1, 1000]), p.w3), p.b3);
  };
  cases.push({
    name: `CNN train step (batch ${TRAIN_BATCH})`,
    group: 'cnn',
    setup: () => {
      const p = params();
      const opt = tf.train.momentum(0.01, 0.5);
      const x = tf.randomNormal([TRAIN_BATCH, 28, 28, 1]);
      const y = tf.oneHot(tf.tensor1d(Array.from({ length: TRAIN_BATCH }, (_, i) => i % 10), 'int32'), 10);
      return async () => {
        const cost = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, forward(p, x)), true);
        await cost.data();
        cost.dispose();
      };
    },
  });
  cases.push({
    name: `CNN inference ${INFER_IMAGES} images`,
    group: 'cnn',
    setup: () => {
      const p = params();
      const x = tf.randomNormal([INFER_BATCH, 28, 28, 1]);
      return async () => {
        for (let b = 0; b < INFER_IMAGES / INFER_BATCH; b++) {
          const y = tf.tidy(() => forward(p, x));
          await y.data();
          y.dispose();
        }
      };
    },
  });
  return cases;
}
