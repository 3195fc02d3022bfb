/**
 * The playground's Web Worker: holds the data, the float model, the quantized (fake-quant) model
 * and the integer-only Int8Model, and does all the work the page asks for (protocol.ts). It imports
 * qgrad's browser entries only (the core, quant, gpu): no Node built-ins.
 *
 * Training is the seed tutorial's CNN (mnistCnn: conv 3x3, ReLU, maxpool, twice, then linear) with
 * SGD + momentum on the device the page picks: 'gpu' (gpu.js, WebGL2 in a worker through
 * OffscreenCanvas), 'wasm' (the WebAssembly SIMD backend) or 'cpu' (the plain TypeScript reference).
 */
import { F, fromArray, Generator, getBackend, mnistCnn, MNIST_MEAN, MNIST_STD, MnistLoader, noGrad, SGD, tidy, trainEpoch, evaluate } from '../../src/index.js';
import type { MnistDataset, Module, Sequential, Tensor } from '../../src/index.js';
import {
  calibrate, convert, fakeQuantizers, FakeQuantize, Int8Model, prepareQAT, qconfig, QConv2d, QLinear, setQuantState,
  type QatConfig,
} from '../../src/quant/index.js';
import { useGpuMode, type GpuBackend } from '../../src/tensor/gpu/index.js';
import type { Accuracies, DeviceName, Inspection, QuantSettings, Reply, Request } from './protocol.js';

const post = (r: Reply, transfer: Transferable[] = []): void => (self as unknown as Worker).postMessage(r, transfer);

let train: MnistDataset, test: MnistDataset;
let device: DeviceName = 'wasm';
let channels = 40;
let floatModel: Sequential | null = null;
let floatOpt: SGD | null = null;
let floatStep = 0;
let quantModel: Sequential | null = null;
let intModel: Int8Model | null = null;
let gpuModeChosen = false;

/** The compact MNIST file scripts/build-demo.mjs writes: u32 train count, u32 test count, then images and labels of each. */
function parseData(buf: ArrayBuffer): void {
  const v = new DataView(buf);
  const nTrain = v.getUint32(0, true), nTest = v.getUint32(4, true);
  const bytes = new Uint8Array(buf);
  let at = 8;
  const take = (n: number) => bytes.subarray(at, (at += n));
  const split = (count: number): MnistDataset => ({ images: take(count * 784), labels: take(count), count, rows: 28, cols: 28 });
  train = split(nTrain);
  test = split(nTest);
  if (at !== bytes.length) throw new Error(`mnist data file: expected ${at} bytes, got ${bytes.length}`);
}

const testLoader = () => new MnistLoader(test, { batchSize: 250 });

function newModel(): Sequential {
  return mnistCnn({ channels, generator: new Generator(1) }).to(device);
}

function cloneFloat(): Sequential {
  const m = newModel();
  m.loadStateDict(floatModel!.stateDict());
  return m;
}

function trainFloat(r: Extract<Request, { type: 'train' }>): void {
  if (r.device === 'gpu' && !gpuModeChosen) {
    useGpuMode('webgl2');
    gpuModeChosen = true;
  }
  if (r.reset || !floatModel || r.device !== device || r.channels !== channels) {
    device = r.device;
    channels = r.channels;
    floatModel = newModel();
    floatOpt = new SGD(floatModel.parameters(), { lr: r.lr, momentum: 0.9 });
    floatStep = 0;
    quantModel = null;
  }
  floatOpt!.lr = r.lr;
  const loader = new MnistLoader(train, { batchSize: r.batch, shuffle: true, seed: 7 });
  const t0 = performance.now();
  let seen = 0;
  // Batches continue from where the last call stopped (epoch = how many loader passes so far).
  const perEpoch = loader.numBatches;
  let done = 0;
  while (done < r.steps) {
    const epoch = Math.floor(floatStep / perEpoch);
    const skip = floatStep % perEpoch;
    const batches = skipBatches(loader.batches(epoch), skip);
    trainEpoch(floatModel!, floatOpt!, batches, {
      device,
      maxBatches: Math.min(r.steps - done, perEpoch - skip),
      onStep: (s) => {
        seen += r.batch;
        done++;
        floatStep++;
        post({ type: 'step', phase: 'float', step: done, steps: r.steps, loss: s.loss, imagesPerSec: seen / ((performance.now() - t0) / 1000) });
      },
    });
  }
  const imagesPerSec = seen / ((performance.now() - t0) / 1000);
  const acc = evaluate(floatModel!, testLoader(), { device }).accuracy;
  const gpuMode = device === 'gpu' ? (getBackend('gpu') as GpuBackend).mode : undefined;
  post({ type: 'trained', device, accuracy: acc, imagesPerSec, gpuMode });
}

function* skipBatches<T>(it: Iterable<T>, n: number): IterableIterator<T> {
  let i = 0;
  for (const b of it) if (i++ >= n) yield b;
}

/**
 * The QAT config at b bits, as examples/mnist-quant.ts: the chosen settings for weights and hidden
 * activations, 8 bits for the network input (pixels are 8-bit data already) and the logits.
 */
function configFor(s: QuantSettings, observer: QuantSettings['observer']): QatConfig {
  const opts = { bits: s.bits, weightScheme: s.scheme, perChannel: s.perChannel, activationObserver: observer, calibration: 'mse' as const };
  const eight = qconfig({ ...opts, bits: 8 });
  const last = String(floatModel!.namedChildren().length - 1);
  return { default: qconfig(opts), input: eight, layers: { [last]: { ...qconfig(opts), activation: eight.activation } } };
}

function accuracies(q: Sequential, im: Int8Model): Accuracies {
  const float = evaluate(floatModel!, testLoader(), { device }).accuracy;
  const fake = evaluate(q, testLoader(), { device }).accuracy;
  const int = evaluate(q, testLoader(), { forward: (x, shape) => im.forward(x, shape[0]) }).accuracy;
  return { float, fake, int };
}

/** PTQ (calibrate observers on float activations) or QAT (calibrate, then fine-tune with fake quantization). */
function quantize(mode: 'ptq' | 'qat', s: QuantSettings, qatSteps: number, report: boolean): { q: Sequential; im: Int8Model } {
  if (!floatModel) throw new Error('train the float model first');
  const calibLoader = new MnistLoader(train, { batchSize: 128, subset: { size: Math.min(512, train.count), seed: 3 } });
  const q = prepareQAT(cloneFloat(), configFor(s, mode === 'ptq' && s.observer === 'movingAverage' ? 'histogram' : s.observer));
  calibrate(q, calibLoader, { device, maxBatches: mode === 'ptq' ? 4 : 2 });
  if (mode === 'qat') {
    setQuantState(q, { observe: true, fakeQuant: true });
    const lr0 = s.bits >= 5 ? 5e-3 : s.bits >= 3 ? 1e-2 : 2e-2;
    const opt = new SGD(q.parameters(), { lr: lr0, momentum: 0.9 });
    const loader = new MnistLoader(train, { batchSize: 32, shuffle: true, seed: 11 });
    const t0 = performance.now();
    trainEpoch(q, opt, loader.batches(0), {
      device,
      maxBatches: qatSteps,
      onStep: (st) => {
        opt.lr = (lr0 * (1 + Math.cos((Math.PI * st.step) / qatSteps))) / 2;
        // Freeze the activation ranges for the last 20% of the steps, so the converted model is the trained one.
        if (st.step === Math.floor(qatSteps * 0.8)) for (const fq of fakeQuantizers(q)) if (!fq.config.signed) fq.observerEnabled = false;
        if (report) post({ type: 'step', phase: 'qat', step: st.step, steps: qatSteps, loss: st.loss, imagesPerSec: st.seen / ((performance.now() - t0) / 1000) });
      },
    });
  }
  setQuantState(q, { observe: false, fakeQuant: true });
  const im = new Int8Model(convert(q, { inputShape: [1, 28, 28], meta: { bits: s.bits, kind: mode, source: 'qgrad playground' } }));
  return { q, im };
}

/** The quantized layers (conv1, conv2, fc) of the current quantized model. */
function qLayers(): { name: string; layer: QConv2d | QLinear; weight: Tensor }[] {
  if (!quantModel) throw new Error('quantize (PTQ or QAT) first');
  const out: { name: string; layer: QConv2d | QLinear; weight: Tensor }[] = [];
  for (const [, m] of quantModel.namedChildren()) {
    if (m instanceof QConv2d) out.push({ name: `conv${out.length + 1}`, layer: m, weight: m.conv.weight });
    if (m instanceof QLinear) out.push({ name: 'fc', layer: m, weight: m.linear.weight });
  }
  return out;
}

/** Captures what a FakeQuantize module receives during one forward pass. */
function captureInput(fq: FakeQuantize, run: () => void): Float32Array {
  let seen: Float32Array | null = null;
  const original = fq.forward.bind(fq);
  fq.forward = (x: Tensor) => {
    seen = Float32Array.from(x.toTypedArray() as Float32Array);
    return original(x);
  };
  try {
    run();
  } finally {
    delete (fq as { forward?: unknown }).forward;
  }
  if (!seen) throw new Error('the quantizer saw no input');
  return seen;
}

/**
 * A layer's weights or output activations with the grid they are quantized to, and the STE mask of
 * the last backward pass through its fake quantizer: one forward + backward on a training batch,
 * where the mask is 1 exactly where the level round(x/s) + z was inside [qmin, qmax] (Bengio et al.
 * 2013's straight-through estimator as PyTorch's fake_quantize backward clips it).
 */
function inspect(layerIndex: number, what: 'weight' | 'activation', channel: number): Inspection {
  const layers = qLayers();
  const l = layers[Math.min(Math.max(layerIndex, 0), layers.length - 1)]!;
  const fq = what === 'weight' ? l.layer.weightFq : l.layer.activationFq;
  const batch = new MnistLoader(train, { batchSize: 32 }).batches(0)[Symbol.iterator]().next().value!;
  let values!: Float32Array;
  quantModel!.train();
  setQuantState(quantModel!, { observe: false, fakeQuant: true });
  values = captureInput(fq, () => {
    tidy(() => {
      const loss = F.crossEntropy(quantModel!.call(fromArray(batch.x, batch.xShape, { device })), batch.y);
      loss.backward();
    });
  });
  for (const p of quantModel!.parameters()) p.grad = null;
  quantModel!.eval();
  const p = fq.computeQParams();
  let c = 0, rows: number, cols: number;
  if (what === 'weight') {
    const O = l.weight.shape[0]!, K = values.length / O;
    if (p.scale.length > 1) {
      c = Math.min(Math.max(channel, 0), O - 1);
      values = values.slice(c * K, (c + 1) * K);
      rows = l.name === 'fc' ? 25 : Math.max(1, K / 9);
      cols = K / rows;
    } else {
      rows = O;
      cols = K;
    }
  } else {
    // One image's activations: channels x (H*W).
    const perImage = values.length / batch.size;
    values = values.slice(0, perImage);
    const C = l.name === 'fc' ? 1 : channels;
    rows = C;
    cols = perImage / C;
  }
  const scale = p.scale[c]!, zeroPoint = p.zeroPoint[c]!;
  const mask = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const level = Math.round(values[i]! / scale) + zeroPoint;
    mask[i] = level >= fq.qmin && level <= fq.qmax ? 1 : 0;
  }
  const note = what === 'weight'
    ? (p.scale.length > 1 ? `output channel ${c} of ${l.weight.shape[0]} (per-channel scale)` : 'all weights (one scale for the tensor)')
    : `first image of a training batch, ${rows} channel(s) x ${cols} positions`;
  return { layer: l.name, what, values, scale, zeroPoint, qmin: fq.qmin, qmax: fq.qmax, mask, maskShape: [rows, cols], note };
}

function softmax(logits: Float32Array): Float32Array {
  const m = Math.max(...logits);
  const e = Array.from(logits, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return Float32Array.from(e, (v) => v / s);
}

function predict(pixels: Float32Array): void {
  const input = Float32Array.from(pixels, (p) => (p - MNIST_MEAN) / MNIST_STD);
  const run = (m: Module | null) => m && noGrad(() => tidy(() => {
    m.eval();
    return softmax(m.call(fromArray(input, [1, 1, 28, 28], { device })).toTypedArray() as Float32Array);
  }));
  const intLogits = intModel ? intModel.forward(input, 1) : null;
  post({ type: 'prediction', data: { input, float: run(floatModel), fake: run(quantModel), int: intLogits && softmax(intLogits), intLogits } });
}

function handle(r: Request): void {
  switch (r.type) {
    case 'init':
      return;
    case 'train':
      return trainFloat(r);
    case 'quantize': {
      const { q, im } = quantize(r.mode, r.settings, r.qatSteps, true);
      quantModel = q;
      intModel = im;
      post({ type: 'quantized', mode: r.mode, settings: r.settings, acc: accuracies(q, im), bytes: im.sizeBytes(), describe: im.describe() });
      return;
    }
    case 'sweep':
      for (const bits of r.bits) {
        const { q, im } = quantize('ptq', { ...r.settings, bits }, 0, false);
        post({ type: 'sweepPoint', bits, acc: accuracies(q, im) });
      }
      return;
    case 'inspect':
      post({ type: 'inspection', data: inspect(r.layer, r.what, r.channel) });
      return;
    case 'predict':
      return predict(r.pixels);
    case 'download': {
      if (!intModel) throw new Error('no integer model yet: quantize first, or load one');
      post({ type: 'model', bytes: intModel.toBytes() });
      return;
    }
    case 'load': {
      intModel = Int8Model.fromBytes(r.bytes, r.name);
      const acc = evaluate(floatModel ?? newModel(), testLoader(), { forward: (x, shape) => intModel!.forward(x, shape[0]) }).accuracy;
      post({ type: 'loaded', name: r.name, accuracy: acc, describe: intModel.describe() });
      return;
    }
  }
}

self.onmessage = async (e: MessageEvent<Request>) => {
  try {
    if (e.data.type === 'init') {
      const res = await fetch(e.data.dataUrl);
      if (!res.ok) throw new Error(`${e.data.dataUrl}: HTTP ${res.status}`);
      parseData(await res.arrayBuffer());
      post({ type: 'ready', train: train.count, test: test.count });
      return;
    }
    handle(e.data);
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
