/**
 * Where the QDQ export's requantization differs from qgrad's, value by value, for one convolution
 * fed by the quantize node (docs/onnx.md, "How close onnxruntime and qgrad are"):
 *
 *   npx tsx examples/onnx-rounding.ts runs/mnist-cnn-int8.qgrd layer1 [images=200]
 *   npx tsx examples/onnx-rounding.ts runs/resnet-full/mnist-resnet-int8.qgrd stem.0
 *
 * It runs the model's QDQ export in onnxruntime-node with the levels tapped (tapLevels), rebuilds
 * each int32 accumulator of the convolution from onnxruntime's own input levels, and classifies
 * every value where onnxruntime and qgrad disagree: does qgrad's result (TFLite's
 * MultiplyByQuantizedMultiplier, two roundings) or onnxruntime's differ from the single rounding
 * (half to even) of the exact product acc·M (float64: acc < 2^24 and M has 31 significant bits,
 * so the product is exact)? It also checks a model of onnxruntime's arithmetic,
 * rne(f32(f32(acc) · f32(f32(s_in·s_w)/s_out))), against the real levels.
 */
import * as ort from 'onnxruntime-node';
import { MnistLoader } from '../src/index.js';
import { exportInt8GraphOnnx } from '../src/quant/index.js';
import { multiplyByQuantizedMultiplier } from '../src/quant/numerics/index.js';
import { loadInt8GraphModel, loadMnist } from '../src/node.js';
const [path, convName, K] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 200)];
if (!path || !convName || !(Number.isSafeInteger(K) && K > 0 && K <= 2000)) {
  console.error('usage: npx tsx examples/onnx-rounding.ts <int8 model .qgrd> <conv node fed by the quantize node> [images, 1..2000]');
  process.exit(2);
}
const m = loadInt8GraphModel(path);
const spec = m.toSpec();
const [b] = new MnistLoader(loadMnist({ split: 'test', limit: K }), { batchSize: K });
const s = await ort.InferenceSession.create(exportInt8GraphOnnx(spec, { tapLevels: true }), { intraOpNumThreads: 1, executionProviders: ['cpu'] });
const r = await s.run({ input: new ort.Tensor('float32', b.x, [K, 1, 28, 28]) });
const node = spec.nodes.find((n) => n.name === convName);
if (!node) throw new Error(`${path}: no node '${convName}' (nodes: ${spec.nodes.map((n) => n.name).join(', ')})`);
const op = node.op;
if (op.kind !== 'conv2d') throw new Error(`${path}: node '${convName}' is a ${op.kind}, not a conv2d`);
const inNode = spec.nodes.find((n) => n.name === node.inputs[0])!;
const xin = Int32Array.from(r[`${inNode.name}:levels`].data as Uint8Array);
const theirs = r[`${convName}:levels`].data as Uint8Array;
const [O, C, KH, KW] = op.weightShape;
const H = Math.round(Math.sqrt(xin.length / K / C)), W = H; // MNIST: square planes
const [sh, sw] = op.stride, [ph, pw] = op.padding;
const OH = Math.floor((H + 2 * ph - KH) / sh) + 1, OW = Math.floor((W + 2 * pw - KW) / sw) + 1;
// scales as the exporter writes them
if (inNode.op.kind !== 'quantize') throw new Error(`node '${convName}' reads '${inNode.name}' (${inNode.op.kind}); pick a convolution fed by the quantize node (its input scale is known)`);
const sIn = inNode.op.scale;
if (op.outScale === undefined) throw new Error(`node '${convName}' has no outScale`);
const sOut = op.outScale;
let total = 0, diff = 0, qgDouble = 0, ortFloat = 0, both = 0, ortSimMismatch = 0, exactTies = 0;
for (let n = 0; n < K; n++) for (let o = 0; o < O; o++) {
  const M = op.multiplier[o] * 2 ** (op.shift[o] - 31);
  const sW = Math.fround((M * sOut) / sIn);
  const Mf = Math.fround(Math.fround(Math.fround(sIn) * sW) / Math.fround(sOut));
  for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let acc = op.bias ? op.bias[o] : 0;
    for (let c = 0; c < C; c++) for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) {
      const ih = oh * sh - ph + i, iw = ow * sw - pw + j;
      const xv = ih < 0 || ih >= H || iw < 0 || iw >= W ? 0 : xin[((n * C + c) * H + ih) * W + iw] - op.inZeroPoint;
      acc += xv * (op.weight[((o * C + c) * KH + i) * KW + j] - op.weightZeroPoint[o]);
    }
    const clamp = (v: number) => Math.min(op.qmax, Math.max(op.qmin, v));
    const qg = clamp(op.outZeroPoint + multiplyByQuantizedMultiplier(acc, op.multiplier[o], op.shift[o]));
    const exact = acc * M; // float64: acc < 2^24, M has 31 bits: exact product
    const rne = (v: number) => { const f = Math.floor(v); const d = v - f; return d > 0.5 ? f + 1 : d < 0.5 ? f : f + (f & 1); };
    const single = clamp(op.outZeroPoint + rne(exact));
    const ortSim = clamp(op.outZeroPoint + rne(Math.fround(Math.fround(acc) * Mf)));
    const t = theirs[((n * O + o) * OH + oh) * OW + ow];
    total++;
    if (ortSim !== t) ortSimMismatch++;
    if (exact - Math.floor(exact) === 0.5) exactTies++;
    if (qg !== t) { diff++; const a = qg !== single, bb = t !== single; if (a && bb) both++; else if (a) qgDouble++; else if (bb) ortFloat++; }
  }
}
console.log(`${convName}: ${total} values, qgrad != onnxruntime on ${diff}; of these, qgrad's double rounding differs from the single rounding of the exact product on ${qgDouble}, onnxruntime's float32 multiply on ${ortFloat}, both on ${both}; simulated onnxruntime (rne(f32(f32(acc)*f32(f32(s_in*s_w)/s_out)))) mismatches the real one on ${ortSimMismatch}; exact .5 products: ${exactTies}`);
