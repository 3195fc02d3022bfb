/** Shared by the ONNX export suites: MNIST test batches and running exported bytes in onnxruntime-node (CPU, 1 thread). */
import * as ort from 'onnxruntime-node';
import { MnistLoader } from '../../../src/index.js';
import { loadMnist } from '../../../src/node.js';

export function mnistTest(count: number, offset = 0): { x: Float32Array; y: Int32Array } {
  const [batch] = new MnistLoader(loadMnist({ split: 'test', limit: offset + count }), { batchSize: offset + count });
  return { x: batch.x.slice(offset * 784), y: batch.y.slice(offset) };
}

export async function runOnnx(bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
    return out.output.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** max over elements of |a - b| / max(1, |b|). */
export function worstRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}
