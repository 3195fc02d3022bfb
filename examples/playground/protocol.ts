/**
 * The messages between the playground page (main.ts) and its Web Worker (worker.ts). All training,
 * quantization and inference run in the worker, so the page stays responsive; the page only draws.
 */
export type DeviceName = 'gpu' | 'wasm' | 'cpu';
export type QuantMode = 'ptq' | 'qat';

export interface QuantSettings {
  bits: number;
  /** Weight scheme: symmetric (zero point 0) or affine. Activations are always affine uint. */
  scheme: 'symmetric' | 'affine';
  /** Weight granularity: one scale per output channel, or one per tensor. */
  perChannel: boolean;
  /** Activation observer (weights always track their current min/max). */
  observer: 'minmax' | 'movingAverage' | 'histogram';
}

export type Request =
  | { type: 'init'; dataUrl: string }
  | { type: 'train'; device: DeviceName; channels: number; steps: number; batch: number; lr: number; reset: boolean }
  | { type: 'quantize'; mode: QuantMode; settings: QuantSettings; qatSteps: number }
  | { type: 'sweep'; settings: QuantSettings; bits: number[] }
  | { type: 'inspect'; layer: number; what: 'weight' | 'activation'; channel: number }
  | { type: 'predict'; pixels: Float32Array }
  | { type: 'download' }
  | { type: 'load'; bytes: Uint8Array; name: string };

export interface Accuracies {
  float: number;
  fake: number;
  int: number;
}

export interface Inspection {
  layer: string;
  what: 'weight' | 'activation';
  /** The values the fake quantizer sees (one channel's weights when per channel). */
  values: Float32Array;
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
  /** STE mask of the last backward pass: 1 where qmin <= round(x/s) + z <= qmax (the gradient passes). */
  mask: Uint8Array;
  /** Rows x cols to draw the mask as an image. */
  maskShape: [number, number];
  note: string;
}

export interface Prediction {
  /** The 28x28 input the models saw, normalized as in training ((p - mean) / std). */
  input: Float32Array;
  float: Float32Array | null;
  fake: Float32Array | null;
  int: Float32Array | null;
  /** The integer-only model's raw logits (dequantized by its last layer). */
  intLogits: Float32Array | null;
}

export type Reply =
  | { type: 'ready'; train: number; test: number }
  | { type: 'step'; phase: 'float' | 'qat'; step: number; steps: number; loss: number; imagesPerSec: number }
  | { type: 'trained'; device: string; accuracy: number; imagesPerSec: number; gpuMode?: string }
  | { type: 'quantized'; mode: QuantMode; settings: QuantSettings; acc: Accuracies; bytes: number; describe: string }
  | { type: 'sweepPoint'; bits: number; acc: Accuracies }
  | { type: 'inspection'; data: Inspection }
  | { type: 'prediction'; data: Prediction }
  | { type: 'model'; bytes: Uint8Array }
  | { type: 'loaded'; name: string; accuracy: number; describe: string }
  | { type: 'error'; message: string };
